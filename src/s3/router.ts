// Every request becomes one typed endpoint before anything else happens (Garage's router.rs);
// what Strata does not implement is an explicit NotImplemented, never a silent fallthrough.
import { S3Error } from './errors.ts';

export type Endpoint =
  | { kind: 'ListBuckets' }
  | { kind: 'CreateBucket'; bucket: string }
  | { kind: 'HeadBucket'; bucket: string }
  | { kind: 'DeleteBucket'; bucket: string }
  | { kind: 'GetBucketLocation'; bucket: string }
  | { kind: 'ListObjects'; bucket: string }
  | { kind: 'ListObjectsV2'; bucket: string }
  | { kind: 'ListObjectVersions'; bucket: string }
  | { kind: 'GetObjectAttributes'; bucket: string; key: string }
  | { kind: 'ListMultipartUploads'; bucket: string }
  | { kind: 'DeleteObjects'; bucket: string }
  | { kind: 'PutObject'; bucket: string; key: string }
  | { kind: 'GetObject'; bucket: string; key: string }
  | { kind: 'HeadObject'; bucket: string; key: string }
  | { kind: 'DeleteObject'; bucket: string; key: string }
  | { kind: 'CopyObject'; bucket: string; key: string }
  | { kind: 'GetObjectTagging'; bucket: string; key: string }
  | { kind: 'PutObjectTagging'; bucket: string; key: string }
  | { kind: 'DeleteObjectTagging'; bucket: string; key: string }
  | { kind: 'UploadPartCopy'; bucket: string; key: string; uploadId: string; partNumber: number }
  | { kind: 'CreateMultipartUpload'; bucket: string; key: string }
  | { kind: 'UploadPart'; bucket: string; key: string; uploadId: string; partNumber: number }
  | { kind: 'CompleteMultipartUpload'; bucket: string; key: string; uploadId: string }
  | { kind: 'AbortMultipartUpload'; bucket: string; key: string; uploadId: string }
  | { kind: 'ListParts'; bucket: string; key: string; uploadId: string }
  | { kind: 'GetBucketPolicy'; bucket: string }
  | { kind: 'PutBucketPolicy'; bucket: string }
  | { kind: 'DeleteBucketPolicy'; bucket: string }
  | { kind: 'GetBucketTagging'; bucket: string }
  | { kind: 'PutBucketTagging'; bucket: string }
  | { kind: 'DeleteBucketTagging'; bucket: string }
  | { kind: 'GetBucketVersioning'; bucket: string }
  | { kind: 'PutBucketVersioning'; bucket: string }
  | { kind: 'GetBucketEncryption'; bucket: string }
  | { kind: 'PutBucketEncryption'; bucket: string }
  | { kind: 'DeleteBucketEncryption'; bucket: string }
  | { kind: 'GetBucketAcl'; bucket: string }
  | { kind: 'PutBucketAcl'; bucket: string }
  | { kind: 'GetObjectAcl'; bucket: string; key: string }
  | { kind: 'PutObjectAcl'; bucket: string; key: string }
  | { kind: 'GetBucketLifecycleConfiguration'; bucket: string }
  | { kind: 'PutBucketLifecycleConfiguration'; bucket: string }
  | { kind: 'DeleteBucketLifecycle'; bucket: string }
  | { kind: 'GetObjectLockConfiguration'; bucket: string }
  | { kind: 'PutObjectLockConfiguration'; bucket: string }
  | { kind: 'GetObjectRetention'; bucket: string; key: string }
  | { kind: 'PutObjectRetention'; bucket: string; key: string }
  | { kind: 'GetObjectLegalHold'; bucket: string; key: string }
  | { kind: 'PutObjectLegalHold'; bucket: string; key: string }
  | { kind: 'SelectObjectContent'; bucket: string; key: string }
  | { kind: 'RestoreObject'; bucket: string; key: string }
  | { kind: 'GetBucketCors'; bucket: string }
  | { kind: 'PutBucketCors'; bucket: string }
  | { kind: 'DeleteBucketCors'; bucket: string }
  // OPTIONS on a bucket or object URL, whatever its query: the browser's CORS preflight.
  | { kind: 'CorsPreflight'; bucket: string; key: string | undefined }
  // POST to the bucket URL with a multipart/form-data body: a browser form upload.
  | { kind: 'PostObject'; bucket: string }
  | { kind: 'GetBucketPolicyStatus'; bucket: string }
  | { kind: 'GetPublicAccessBlock'; bucket: string }
  | { kind: 'PutPublicAccessBlock'; bucket: string }
  | { kind: 'DeletePublicAccessBlock'; bucket: string }
  | { kind: 'GetBucketOwnershipControls'; bucket: string }
  | { kind: 'PutBucketOwnershipControls'; bucket: string }
  | { kind: 'DeleteBucketOwnershipControls'; bucket: string }
  | { kind: 'GetBucketReplication'; bucket: string }
  | { kind: 'PutBucketReplication'; bucket: string }
  | { kind: 'DeleteBucketReplication'; bucket: string }
  | { kind: 'NotImplemented'; operation: string };

export type EndpointKind = Endpoint['kind'];

// Sub-resources of the full S3 API that are recognised but not built yet.
const UNIMPLEMENTED_SUBRESOURCES = [
  // Routed on a bucket (GET, PUT, DELETE); on an object, or by another method, it is refused here
  // rather than fall through to the object or the bucket itself.
  'cors',
  // Routed on a bucket (GET, PUT, DELETE); on an object it must not reach the object itself.
  'encryption',
  'website',
  'logging',
  'notification',
  // Routed on a bucket (GET, PUT, DELETE); never through to an object.
  'replication',
  // Routed where they exist (a bucket's object-lock and lifecycle, an object's retention and
  // legal-hold); anywhere else they must not fall through to the bucket or object itself.
  'lifecycle',
  'object-lock',
  'retention',
  'legal-hold',
  // Routed on an object by POST (RestoreObject); anywhere else it must not fall through.
  'restore',
  // Routed on an object by POST (SelectObjectContent); a bucket has no ?select.
  'select',
  'accelerate',
  'requestPayment',
  // Routed on a bucket (bucketControl); on an object they must not reach the object itself.
  'policyStatus',
  'ownershipControls',
  'publicAccessBlock',
  'analytics',
  'inventory',
  'metrics',
  'intelligent-tiering',
  'torrent',
];

export interface RouteInput {
  method: string;
  url: URL;
  // The path exactly as sent: WHATWG URL parsing would resolve "." and ".." segments, which are
  // legal bytes of an S3 key (and are refused as keys later, with a clear error).
  rawPath: string;
  host: string | undefined;
  virtualHostDomains: string[];
  headers: Record<string, string | string[] | undefined>;
}

// The bucket's domain when Host is "<bucket>.<domain>[:port]": the longest domain wins, so with
// ['localhost', 's3.localhost'] "b.s3.localhost" is bucket "b", and a Host equal to a domain
// ("s3.localhost") is path-style rather than a bucket named "s3".
function virtualHostBucket(hostname: string, domains: string[]): string | undefined {
  if (domains.includes(hostname)) return undefined;
  let best: string | undefined;
  for (const domain of domains) {
    if (!hostname.endsWith(`.${domain}`)) continue;
    if (best === undefined || domain.length > best.length) best = domain;
  }
  return best === undefined ? undefined : hostname.slice(0, -best.length - 1);
}

export function bucketAndKey(input: RouteInput): { bucket?: string; key?: string } {
  const hostname = (input.host ?? '').replace(/:\d+$/, '').toLowerCase();
  const rawPath = input.rawPath;
  const virtualBucket = virtualHostBucket(hostname, input.virtualHostDomains);
  if (virtualBucket !== undefined) {
    const key = decode(rawPath.slice(1));
    return { bucket: virtualBucket, key: key.length > 0 ? key : undefined };
  }
  const slash = rawPath.indexOf('/', 1);
  if (rawPath === '/' || rawPath === '') return {};
  if (slash < 0) return { bucket: decode(rawPath.slice(1)) };
  const key = decode(rawPath.slice(slash + 1));
  return { bucket: decode(rawPath.slice(1, slash)), key: key.length > 0 ? key : undefined };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// Percent-decoding, then UTF-8: Node hands the request line over as latin1, so raw bytes above
// 0x7f (a client that did not percent-encode) are turned back into bytes and must be valid UTF-8,
// like percent-encoded ones.
function decode(text: string): string {
  try {
    const decoded = decodeURIComponent(text);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test is for bytes above 0x7f
    if (/^[\u0000-\u007f]*$/.test(text)) return decoded;
    return decodeURIComponent(strictUtf8.decode(Buffer.from(text, 'latin1')));
  } catch {
    throw new S3Error('InvalidURI', 400, "Couldn't parse the specified URI.");
  }
}

export function route(input: RouteInput): Endpoint {
  const { bucket, key } = bucketAndKey(input);
  const q = input.url.searchParams;
  const method = input.method.toUpperCase();
  if (method === 'OPTIONS' && bucket !== undefined) return { kind: 'CorsPreflight', bucket, key };
  if (key !== undefined && bucket !== undefined && q.has('tagging')) {
    if (method === 'GET') return { kind: 'GetObjectTagging', bucket, key };
    if (method === 'PUT') return { kind: 'PutObjectTagging', bucket, key };
    if (method === 'DELETE') return { kind: 'DeleteObjectTagging', bucket, key };
  }
  if (key !== undefined && bucket !== undefined) {
    const lock = objectLockSubresource(method, bucket, key, q);
    if (lock !== undefined) return lock;
  }
  if (key !== undefined && bucket !== undefined && q.has('select')) {
    return selectEndpoint(method, bucket, key, q);
  }
  if (key !== undefined && bucket !== undefined && q.has('restore') && method === 'POST')
    return { kind: 'RestoreObject', bucket, key };
  if (key !== undefined && bucket !== undefined && q.has('acl')) {
    if (method === 'GET') return { kind: 'GetObjectAcl', bucket, key };
    if (method === 'PUT') return { kind: 'PutObjectAcl', bucket, key };
  }
  if (key === undefined && bucket !== undefined) {
    const sub = bucketSubresource(method, bucket, q) ?? bucketControl(method, bucket, q);
    if (sub !== undefined) return sub;
  }
  const unimplemented = UNIMPLEMENTED_SUBRESOURCES.find((name) => q.has(name));
  if (unimplemented) return { kind: 'NotImplemented', operation: `${method} ?${unimplemented}` };
  if (bucket === undefined) {
    if (method === 'GET') return { kind: 'ListBuckets' };
    return { kind: 'NotImplemented', operation: `${method} /` };
  }
  if (key === undefined) return bucketEndpoint(method, bucket, q);
  return objectEndpoint(method, bucket, key, q, input.headers);
}

// POST ?select&select-type=2 on an object; ?select anywhere else is not routed (below).
function selectEndpoint(method: string, bucket: string, key: string, q: URLSearchParams): Endpoint {
  if (method !== 'POST') return { kind: 'NotImplemented', operation: `${method} ?select` };
  if (q.get('select-type') !== '2')
    throw new S3Error('InvalidArgument', 400, 'SelectObjectContent needs select-type=2.');
  return { kind: 'SelectObjectContent', bucket, key };
}

// ?retention and ?legal-hold on an object (GET and PUT; another method is not routed to the
// object itself).
function objectLockSubresource(
  method: string,
  bucket: string,
  key: string,
  q: URLSearchParams,
): Endpoint | undefined {
  if (q.has('retention')) {
    if (method === 'GET') return { kind: 'GetObjectRetention', bucket, key };
    if (method === 'PUT') return { kind: 'PutObjectRetention', bucket, key };
    return { kind: 'NotImplemented', operation: `${method} ?retention` };
  }
  if (q.has('legal-hold')) {
    if (method === 'GET') return { kind: 'GetObjectLegalHold', bucket, key };
    if (method === 'PUT') return { kind: 'PutObjectLegalHold', bucket, key };
    return { kind: 'NotImplemented', operation: `${method} ?legal-hold` };
  }
  return undefined;
}

// ?policy, ?tagging, ?acl, ?versioning, ?object-lock, ?encryption, ?cors, ?lifecycle and
// ?replication on a bucket.
function bucketSubresource(
  method: string,
  bucket: string,
  q: URLSearchParams,
): Endpoint | undefined {
  if (q.has('policy')) {
    if (method === 'GET') return { kind: 'GetBucketPolicy', bucket };
    if (method === 'PUT') return { kind: 'PutBucketPolicy', bucket };
    if (method === 'DELETE') return { kind: 'DeleteBucketPolicy', bucket };
  }
  if (q.has('tagging')) {
    if (method === 'GET') return { kind: 'GetBucketTagging', bucket };
    if (method === 'PUT') return { kind: 'PutBucketTagging', bucket };
    if (method === 'DELETE') return { kind: 'DeleteBucketTagging', bucket };
  }
  if (q.has('acl')) {
    if (method === 'GET') return { kind: 'GetBucketAcl', bucket };
    if (method === 'PUT') return { kind: 'PutBucketAcl', bucket };
  }
  if (q.has('versioning')) {
    if (method === 'GET') return { kind: 'GetBucketVersioning', bucket };
    if (method === 'PUT') return { kind: 'PutBucketVersioning', bucket };
    // Never the bucket itself: DELETE /b?versioning must not delete the bucket.
    return { kind: 'NotImplemented', operation: `${method} ?versioning` };
  }
  if (q.has('replication')) {
    if (method === 'GET') return { kind: 'GetBucketReplication', bucket };
    if (method === 'PUT') return { kind: 'PutBucketReplication', bucket };
    if (method === 'DELETE') return { kind: 'DeleteBucketReplication', bucket };
    return { kind: 'NotImplemented', operation: `${method} ?replication` };
  }
  if (q.has('object-lock')) {
    if (method === 'GET') return { kind: 'GetObjectLockConfiguration', bucket };
    if (method === 'PUT') return { kind: 'PutObjectLockConfiguration', bucket };
    return { kind: 'NotImplemented', operation: `${method} ?object-lock` };
  }
  if (q.has('encryption')) {
    if (method === 'GET') return { kind: 'GetBucketEncryption', bucket };
    if (method === 'PUT') return { kind: 'PutBucketEncryption', bucket };
    if (method === 'DELETE') return { kind: 'DeleteBucketEncryption', bucket };
    return { kind: 'NotImplemented', operation: `${method} ?encryption` };
  }
  if (q.has('cors')) {
    if (method === 'GET') return { kind: 'GetBucketCors', bucket };
    if (method === 'PUT') return { kind: 'PutBucketCors', bucket };
    if (method === 'DELETE') return { kind: 'DeleteBucketCors', bucket };
    return { kind: 'NotImplemented', operation: `${method} ?cors` };
  }
  if (q.has('lifecycle')) {
    if (method === 'GET') return { kind: 'GetBucketLifecycleConfiguration', bucket };
    if (method === 'PUT') return { kind: 'PutBucketLifecycleConfiguration', bucket };
    if (method === 'DELETE') return { kind: 'DeleteBucketLifecycle', bucket };
    return { kind: 'NotImplemented', operation: `${method} ?lifecycle` };
  }
  return undefined;
}

// ?publicAccessBlock, ?ownershipControls and ?policyStatus on a bucket; another method is never
// the bucket itself (DELETE /b?policyStatus must not delete the bucket).
function bucketControl(method: string, bucket: string, q: URLSearchParams): Endpoint | undefined {
  if (q.has('publicAccessBlock')) {
    if (method === 'GET') return { kind: 'GetPublicAccessBlock', bucket };
    if (method === 'PUT') return { kind: 'PutPublicAccessBlock', bucket };
    if (method === 'DELETE') return { kind: 'DeletePublicAccessBlock', bucket };
    return { kind: 'NotImplemented', operation: `${method} ?publicAccessBlock` };
  }
  if (q.has('ownershipControls')) {
    if (method === 'GET') return { kind: 'GetBucketOwnershipControls', bucket };
    if (method === 'PUT') return { kind: 'PutBucketOwnershipControls', bucket };
    if (method === 'DELETE') return { kind: 'DeleteBucketOwnershipControls', bucket };
    return { kind: 'NotImplemented', operation: `${method} ?ownershipControls` };
  }
  if (q.has('policyStatus')) {
    if (method === 'GET') return { kind: 'GetBucketPolicyStatus', bucket };
    return { kind: 'NotImplemented', operation: `${method} ?policyStatus` };
  }
  return undefined;
}

function bucketEndpoint(method: string, bucket: string, q: URLSearchParams): Endpoint {
  switch (method) {
    case 'PUT':
      return { kind: 'CreateBucket', bucket };
    case 'HEAD':
      return { kind: 'HeadBucket', bucket };
    case 'DELETE':
      return { kind: 'DeleteBucket', bucket };
    case 'POST':
      if (q.has('delete')) return { kind: 'DeleteObjects', bucket };
      // A form upload carries everything in its body; a query would name some other operation.
      if (q.size === 0) return { kind: 'PostObject', bucket };
      break;
    case 'GET':
      if (q.has('location')) return { kind: 'GetBucketLocation', bucket };
      if (q.has('uploads')) return { kind: 'ListMultipartUploads', bucket };
      if (q.has('versions')) return { kind: 'ListObjectVersions', bucket };
      if (q.get('list-type') === '2') return { kind: 'ListObjectsV2', bucket };
      return { kind: 'ListObjects', bucket };
  }
  return { kind: 'NotImplemented', operation: `${method} bucket` };
}

function objectEndpoint(
  method: string,
  bucket: string,
  key: string,
  q: URLSearchParams,
  headers: RouteInput['headers'],
): Endpoint {
  const uploadId = q.get('uploadId') ?? undefined;
  switch (method) {
    case 'PUT':
      if (uploadId !== undefined) {
        const partNumber = Number(q.get('partNumber'));
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
          throw new S3Error(
            'InvalidArgument',
            400,
            'Part number must be an integer between 1 and 10000, inclusive',
          );
        }
        const kind = headers['x-amz-copy-source'] !== undefined ? 'UploadPartCopy' : 'UploadPart';
        return { kind, bucket, key, uploadId, partNumber };
      }
      if (headers['x-amz-copy-source'] !== undefined) return { kind: 'CopyObject', bucket, key };
      return { kind: 'PutObject', bucket, key };
    case 'GET':
      if (uploadId !== undefined) return { kind: 'ListParts', bucket, key, uploadId };
      if (q.has('attributes')) return { kind: 'GetObjectAttributes', bucket, key };
      return { kind: 'GetObject', bucket, key };
    case 'HEAD':
      return { kind: 'HeadObject', bucket, key };
    case 'DELETE':
      if (uploadId !== undefined) return { kind: 'AbortMultipartUpload', bucket, key, uploadId };
      return { kind: 'DeleteObject', bucket, key };
    case 'POST':
      if (q.has('uploads')) return { kind: 'CreateMultipartUpload', bucket, key };
      if (uploadId !== undefined) return { kind: 'CompleteMultipartUpload', bucket, key, uploadId };
      break;
  }
  return { kind: 'NotImplemented', operation: `${method} object` };
}
