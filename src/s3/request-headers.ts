// Every request header of the S3 API reference that asks for a behaviour, and what Strata does
// with it: honour it (which operations), or refuse it with the error AWS gives. A storage system
// that answers 200 and quietly drops what the client asked for (encryption, object lock, a storage
// class) lies about protection the client relies on, so nothing here is "accepted and ignored".
// The gateway applies the refusals in one place, after authorization and before dispatch
// (src/s3/request-refusals.ts); docs/api/s3.md lists the same table and a test keeps them equal.
// Later issues turn a refusal into the feature by changing its row.
import assert from 'node:assert';
import { isStorageClass } from '../metadata/storage-class.ts';
import { isVersionId, NULL_VERSION } from '../metadata/version-id.ts';
import type { EndpointKind } from './router.ts';

export interface Refusal {
  httpStatus: 400 | 403 | 501;
  s3Code: string;
  message: string;
}

// 'all': whatever the operation. A header honoured by a list of operations has no meaning in the
// AWS API for the others, which ignore it (as AWS does).
export type Operations = 'all' | readonly EndpointKind[];

export type HeaderRule =
  | { kind: 'honoured'; by: Operations; note: string }
  | { kind: 'refused'; refusal: Refusal; note: string }
  // Value- or operation-dependent: check() returns the refusal, or undefined when honoured.
  | {
      kind: 'checked';
      by: Operations;
      note: string;
      check: (value: string, operation: EndpointKind) => Refusal | undefined;
    };

const notImplemented = (what: string): Refusal => ({
  httpStatus: 501,
  s3Code: 'NotImplemented',
  message: `${what} is not implemented by Strata yet.`,
});

const invalidArgument = (message: string): Refusal => ({
  httpStatus: 400,
  s3Code: 'InvalidArgument',
  message,
});

const OBJECT_WRITES = ['PutObject', 'CopyObject', 'CreateMultipartUpload'] as const;
const OBJECT_READS = ['GetObject', 'HeadObject'] as const;
const ACL_SETTERS = [...OBJECT_WRITES, 'CreateBucket', 'PutBucketAcl', 'PutObjectAcl'] as const;

// AWS's storage classes (PutObject, "x-amz-storage-class"). Strata stores STANDARD and
// STANDARD_IA on the cluster's erasure profile, GLACIER and DEEP_ARCHIVE archived on the cold
// pool (src/metadata/storage-class.ts); the others are refused.
export const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'GLACIER_IR',
  'OUTPOSTS',
  'SNOW',
  'EXPRESS_ONEZONE',
] as const;

function storageClass(value: string): Refusal | undefined {
  if (isStorageClass(value)) return undefined;
  if ((STORAGE_CLASSES as readonly string[]).includes(value))
    return notImplemented(
      `Storage class ${value} (Strata stores STANDARD, STANDARD_IA, GLACIER and DEEP_ARCHIVE)`,
    );
  return { httpStatus: 400, s3Code: 'InvalidStorageClass', message: INVALID_STORAGE_CLASS };
}
const INVALID_STORAGE_CLASS = 'The storage class you specified is not valid';

const DSSE_KMS = 'Dual-layer server-side encryption with KMS keys (DSSE-KMS, aws:kms:dsse)';

// AES256 (SSE-S3) and aws:kms (SSE-KMS) are honoured: the object's stripes are sealed
// (src/s3/handlers/sse.ts).
function serverSideEncryption(value: string): Refusal | undefined {
  if (value === 'AES256' || value === 'aws:kms') return undefined;
  if (value === 'aws:kms:dsse') return notImplemented(DSSE_KMS);
  // AWS's answer to an unknown algorithm.
  return invalidArgument('The encryption method specified is not supported');
}

// SSE-C's one algorithm; anything else is AWS's 400 InvalidArgument.
function customerAlgorithm(value: string): Refusal | undefined {
  if (value === 'AES256') return undefined;
  return invalidArgument(
    'Requests specifying Server Side Encryption with Customer provided keys must provide a ' +
      'valid encryption algorithm.',
  );
}

const SSE_C_OPERATIONS = [
  'PutObject',
  'GetObject',
  'HeadObject',
  'GetObjectAttributes',
  'CopyObject',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
] as const;
const SSE_C_NOTE =
  'AES256 (SSE-C): with the key and its MD5, over HTTPS (plain HTTP: 400 InvalidRequest); the ' +
  'object is sealed under the key, which is never stored; reads need it (missing: 400 ' +
  'InvalidRequest, another key: 403 AccessDenied); other values 400 InvalidArgument';

function oneOf(values: readonly string[], header: string) {
  return (value: string): Refusal | undefined =>
    values.includes(value)
      ? undefined
      : invalidArgument(`${header} must be one of ${values.join(', ')}; it was "${value}".`);
}

// Refused on the listed operations, honoured on the others that list it in `by`.
function refusedOn(operations: readonly EndpointKind[], refusal: Refusal) {
  return (_value: string, operation: EndpointKind): Refusal | undefined =>
    operations.includes(operation) ? refusal : undefined;
}

function replicaVersionRefusal(value: string): Refusal | undefined {
  if (isVersionId(value) && value !== NULL_VERSION) return undefined;
  return invalidArgument('x-strata-replica-version-id must be a Strata version id (14 hex digits)');
}

const CHECKSUM_VERIFIED =
  'verified against the body (BadDigest); stored by PutObject, per part by UploadPart; ' +
  "compared with the whole object's by CompleteMultipartUpload";

export const REQUEST_HEADERS = {
  // Authentication and body framing (src/auth).
  'x-amz-date': { kind: 'honoured', by: 'all', note: 'signature time (SigV4)' },
  'x-amz-content-sha256': { kind: 'honoured', by: 'all', note: 'payload hash, verified' },
  'x-amz-decoded-content-length': {
    kind: 'honoured',
    by: 'all',
    note: 'length of an aws-chunked body, verified',
  },
  'x-amz-trailer': { kind: 'honoured', by: 'all', note: 'trailing checksum, verified' },
  'x-amz-security-token': {
    kind: 'refused',
    refusal: notImplemented('Temporary credentials (session tokens)'),
    note: 'users are the configured access keys; there is no STS to issue tokens',
  },
  'x-amz-user-agent': { kind: 'honoured', by: 'all', note: 'informational' },
  // Integrity.
  'content-md5': { kind: 'honoured', by: 'all', note: 'verified (BadDigest, InvalidDigest)' },
  'x-amz-sdk-checksum-algorithm': {
    kind: 'honoured',
    by: 'all',
    note: 'names the algorithm of the x-amz-checksum-* header or trailer, which is verified',
  },
  'x-amz-checksum-crc32': { kind: 'honoured', by: 'all', note: CHECKSUM_VERIFIED },
  'x-amz-checksum-crc32c': { kind: 'honoured', by: 'all', note: CHECKSUM_VERIFIED },
  'x-amz-checksum-crc64nvme': { kind: 'honoured', by: 'all', note: CHECKSUM_VERIFIED },
  'x-amz-checksum-sha1': { kind: 'honoured', by: 'all', note: CHECKSUM_VERIFIED },
  'x-amz-checksum-sha256': { kind: 'honoured', by: 'all', note: CHECKSUM_VERIFIED },
  'x-amz-checksum-algorithm': {
    kind: 'checked',
    by: ['CreateMultipartUpload'],
    note: 'multipart uploads compute it per part; CopyObject shares the source bytes and cannot compute a new checksum (501)',
    check: refusedOn(['CopyObject'], notImplemented('A new checksum algorithm on CopyObject')),
  },
  'x-amz-checksum-type': {
    kind: 'honoured',
    by: ['CreateMultipartUpload'],
    note: 'COMPOSITE or FULL_OBJECT',
  },
  'x-amz-checksum-mode': {
    kind: 'honoured',
    by: OBJECT_READS,
    note: 'ENABLED returns the stored checksum',
  },
  'x-amz-mp-object-size': {
    kind: 'refused',
    refusal: notImplemented('x-amz-mp-object-size (the object size check at completion)'),
    note: 'CompleteMultipartUpload does not compare the declared size yet',
  },
  // Ownership and payment.
  'x-amz-expected-bucket-owner': {
    kind: 'honoured',
    by: 'all',
    note: "compared with the bucket's owner (its user name): 403 AccessDenied when it differs",
  },
  'x-amz-source-expected-bucket-owner': {
    kind: 'honoured',
    by: ['CopyObject', 'UploadPartCopy'],
    note: "compared with the source bucket's owner: 403 AccessDenied when it differs",
  },
  'x-amz-request-payer': {
    kind: 'checked',
    by: 'all',
    note: 'requester: the caller agrees to pay; Strata charges no one, so the consent is kept',
    check: oneOf(['requester'], 'x-amz-request-payer'),
  },
  // ACLs (src/s3/acl-request.ts, src/s3/handlers/acl.ts), refused by the bucket's controls
  // (BucketOwnerEnforced: 400 AccessControlListNotSupported; BlockPublicAcls: 403 AccessDenied).
  'x-amz-acl': {
    kind: 'honoured',
    by: ACL_SETTERS,
    note: 'canned ACLs',
  },
  'x-amz-grant-full-control': {
    kind: 'honoured',
    by: ACL_SETTERS,
    note: 'grants to users by id (user name) and to the AllUsers/AuthenticatedUsers groups; emailAddress: 400',
  },
  'x-amz-grant-read': {
    kind: 'honoured',
    by: ACL_SETTERS,
    note: 'grants to users by id (user name) and to the AllUsers/AuthenticatedUsers groups; emailAddress: 400',
  },
  'x-amz-grant-read-acp': {
    kind: 'honoured',
    by: ACL_SETTERS,
    note: 'grants to users by id (user name) and to the AllUsers/AuthenticatedUsers groups; emailAddress: 400',
  },
  'x-amz-grant-write': {
    kind: 'honoured',
    by: ['CreateBucket', 'PutBucketAcl'], // WRITE means nothing on an object
    note: 'grants to users by id (user name) and to the AllUsers/AuthenticatedUsers groups; emailAddress: 400',
  },
  'x-amz-grant-write-acp': {
    kind: 'honoured',
    by: ACL_SETTERS,
    note: 'grants to users by id (user name) and to the AllUsers/AuthenticatedUsers groups; emailAddress: 400',
  },
  'x-amz-object-ownership': {
    kind: 'checked',
    by: ['CreateBucket'],
    note: 'BucketOwnerEnforced, BucketOwnerPreferred; ObjectWriter: 501 NotImplemented (Strata records no object owner but the bucket owner)',
    check: (value, operation) =>
      operation !== 'CreateBucket' ||
      value === 'BucketOwnerEnforced' ||
      value === 'BucketOwnerPreferred'
        ? undefined
        : value === 'ObjectWriter'
          ? notImplemented('ObjectWriter object ownership')
          : invalidArgument('Invalid x-amz-object-ownership header'),
  },
  // Storage class.
  'x-amz-storage-class': {
    kind: 'checked',
    by: OBJECT_WRITES,
    note: 'STANDARD, STANDARD_IA (the erasure profile), GLACIER, DEEP_ARCHIVE (archived: a wider code on the cold pool, read after RestoreObject; CopyObject re-encodes into them); other AWS classes 501 NotImplemented; anything else 400 InvalidStorageClass',
    check: storageClass,
  },
  // Server-side encryption.
  'x-amz-server-side-encryption': {
    kind: 'checked',
    by: OBJECT_WRITES,
    note:
      'AES256 (SSE-S3): sealed under the master key; aws:kms (SSE-KMS): sealed under a key of ' +
      'the built-in KMS; echoed on writes and reads; a gateway without a master key: 501 ' +
      'NotImplemented. aws:kms:dsse: 501 NotImplemented; other values 400 InvalidArgument',
    check: serverSideEncryption,
  },
  // SSE-KMS's companions: without x-amz-server-side-encryption: aws:kms they are refused with
  // 400 InvalidArgument by the handlers (src/s3/handlers/sse.ts), as AWS does.
  'x-amz-server-side-encryption-aws-kms-key-id': {
    kind: 'honoured',
    by: OBJECT_WRITES,
    note:
      'the KMS key (id, ARN or alias/NAME); unknown: 400 KMS.NotFoundException, disabled: 400 ' +
      'KMS.DisabledException; without aws:kms: 400 InvalidArgument',
  },
  'x-amz-server-side-encryption-context': {
    kind: 'honoured',
    by: OBJECT_WRITES,
    note: "base64 JSON of strings, bound into the data keys' wrapping; without aws:kms: 400",
  },
  'x-amz-server-side-encryption-bucket-key-enabled': {
    kind: 'honoured',
    by: OBJECT_WRITES,
    note: 'true or false, recorded and echoed (Strata has no per-request KMS calls to save)',
  },
  // SSE-C (src/s3/handlers/sse-c.ts): the three headers together, over HTTPS (or from a loopback
  // peer with [s3] sse_c_over_http); the key is never stored (docs/guides/security.md, "SSE-C").
  'x-amz-server-side-encryption-customer-algorithm': {
    kind: 'checked',
    by: SSE_C_OPERATIONS,
    note: SSE_C_NOTE,
    check: customerAlgorithm,
  },
  'x-amz-server-side-encryption-customer-key': {
    kind: 'honoured',
    by: SSE_C_OPERATIONS,
    note: 'base64 of a 256-bit key; another length: 400 InvalidArgument',
  },
  'x-amz-server-side-encryption-customer-key-md5': {
    kind: 'honoured',
    by: SSE_C_OPERATIONS,
    note: 'base64 MD5 of the key, verified: 400 InvalidArgument when it differs',
  },
  'x-amz-copy-source-server-side-encryption-customer-algorithm': {
    kind: 'checked',
    by: ['CopyObject', 'UploadPartCopy'],
    note: `the copy source's SSE-C key, as above. ${SSE_C_NOTE}`,
    check: customerAlgorithm,
  },
  'x-amz-copy-source-server-side-encryption-customer-key': {
    kind: 'honoured',
    by: ['CopyObject', 'UploadPartCopy'],
    note: "the copy source's key (base64, 256 bits)",
  },
  'x-amz-copy-source-server-side-encryption-customer-key-md5': {
    kind: 'honoured',
    by: ['CopyObject', 'UploadPartCopy'],
    note: "the copy source's key's MD5, verified",
  },
  // Object Lock (src/s3/handlers/object-lock.ts; the rules are the state machine's).
  'x-amz-bucket-object-lock-enabled': {
    kind: 'checked',
    by: ['CreateBucket'],
    note: 'true: the bucket has Object Lock, and versioning Enabled; false: without',
    check: (value) =>
      ['true', 'false'].includes(value.toLowerCase())
        ? undefined
        : invalidArgument('x-amz-bucket-object-lock-enabled must be true or false'),
  },
  'x-amz-object-lock-mode': {
    kind: 'checked',
    by: OBJECT_WRITES,
    note: 'GOVERNANCE or COMPLIANCE, with the date; a bucket without Object Lock: 400 InvalidRequest',
    check: oneOf(['GOVERNANCE', 'COMPLIANCE'], 'x-amz-object-lock-mode'),
  },
  'x-amz-object-lock-retain-until-date': {
    kind: 'honoured',
    by: OBJECT_WRITES,
    note: 'ISO 8601, in the future, with the mode',
  },
  'x-amz-object-lock-legal-hold': {
    kind: 'checked',
    by: OBJECT_WRITES,
    note: 'ON or OFF; a bucket without Object Lock: 400 InvalidRequest',
    check: oneOf(['ON', 'OFF'], 'x-amz-object-lock-legal-hold'),
  },
  'x-amz-object-lock-token': {
    kind: 'refused',
    refusal: notImplemented('Object Lock tokens (bucket replication)'),
    note: 'PutObjectLockConfiguration on a bucket with replication, which Strata does not have',
  },
  // Bucket replication from another Strata cluster (src/s3/handlers/replica.ts): not an AWS
  // header, so anything else than the two writes it means something for refuses it.
  'x-strata-replica-version-id': {
    kind: 'checked',
    by: ['PutObject', 'DeleteObject'],
    note:
      "the source's version id (14 hex digits), kept by the replica, which is marked REPLICA; " +
      'needs s3:ReplicateObject (PutObject) or s3:ReplicateDelete (DeleteObject, no versionId) ' +
      'and versioning Enabled',
    check: (value, operation) =>
      operation === 'PutObject' || operation === 'DeleteObject'
        ? replicaVersionRefusal(value)
        : notImplemented(`x-strata-replica-version-id on ${operation}`),
  },
  'x-amz-bypass-governance-retention': {
    kind: 'honoured',
    by: ['DeleteObject', 'DeleteObjects', 'PutObjectRetention'],
    note:
      'true lifts GOVERNANCE retention when the caller also holds s3:BypassGovernanceRetention; ' +
      'never COMPLIANCE or a legal hold',
  },
  'x-amz-mfa': {
    kind: 'refused',
    refusal: notImplemented('MFA delete'),
    note: 'a second factor Strata cannot verify; accepting it unchecked would pretend MFA delete protects the bucket',
  },
  // Object writes.
  'x-amz-meta-*': {
    kind: 'honoured',
    by: OBJECT_WRITES,
    note: 'user metadata, 2 KiB (CopyObject: with x-amz-metadata-directive REPLACE)',
  },
  'x-amz-tagging': {
    kind: 'honoured',
    by: OBJECT_WRITES,
    note: 'CopyObject: with x-amz-tagging-directive REPLACE',
  },
  'x-amz-tagging-directive': { kind: 'honoured', by: ['CopyObject'], note: 'COPY or REPLACE' },
  'x-amz-metadata-directive': { kind: 'honoured', by: ['CopyObject'], note: 'COPY or REPLACE' },
  'x-amz-website-redirect-location': {
    kind: 'refused',
    refusal: notImplemented('Website redirects'),
    note: 'static website hosting',
  },
  'x-amz-write-offset-bytes': {
    kind: 'refused',
    refusal: notImplemented('Appending to an object (x-amz-write-offset-bytes)'),
    note: 'appends (directory buckets on AWS)',
  },
  // Copies.
  'x-amz-copy-source': {
    kind: 'honoured',
    by: ['CopyObject', 'UploadPartCopy'],
    note: '`versionId` other than null: 400 InvalidArgument',
  },
  'x-amz-copy-source-range': { kind: 'honoured', by: ['UploadPartCopy'], note: 'bytes=a-b' },
  'x-amz-copy-source-if-match': {
    kind: 'checked',
    by: ['CopyObject'],
    note: 'UploadPartCopy does not check source conditions yet (501)',
    check: refusedOn(['UploadPartCopy'], notImplemented('Source conditions on UploadPartCopy')),
  },
  'x-amz-copy-source-if-none-match': {
    kind: 'checked',
    by: ['CopyObject'],
    note: 'UploadPartCopy does not check source conditions yet (501)',
    check: refusedOn(['UploadPartCopy'], notImplemented('Source conditions on UploadPartCopy')),
  },
  'x-amz-copy-source-if-modified-since': {
    kind: 'checked',
    by: ['CopyObject'],
    note: 'UploadPartCopy does not check source conditions yet (501)',
    check: refusedOn(['UploadPartCopy'], notImplemented('Source conditions on UploadPartCopy')),
  },
  'x-amz-copy-source-if-unmodified-since': {
    kind: 'checked',
    by: ['CopyObject'],
    note: 'UploadPartCopy does not check source conditions yet (501)',
    check: refusedOn(['UploadPartCopy'], notImplemented('Source conditions on UploadPartCopy')),
  },
  // Conditional requests.
  'if-match': {
    kind: 'checked',
    by: [...OBJECT_READS, 'PutObject', 'CopyObject', 'CompleteMultipartUpload'],
    note: 'conditional deletes are not implemented (501 on DeleteObject)',
    check: refusedOn(['DeleteObject'], notImplemented('Conditional deletes (If-Match)')),
  },
  'if-none-match': {
    kind: 'honoured',
    by: [...OBJECT_READS, 'PutObject', 'CopyObject', 'CompleteMultipartUpload'],
    note: 'writes: only `*` (another value on PutObject is 501)',
  },
  'if-modified-since': { kind: 'honoured', by: OBJECT_READS, note: '304' },
  'if-unmodified-since': { kind: 'honoured', by: OBJECT_READS, note: '412' },
  'x-amz-if-match-last-modified-time': {
    kind: 'refused',
    refusal: notImplemented('Conditional deletes'),
    note: 'DeleteObject',
  },
  'x-amz-if-match-size': {
    kind: 'refused',
    refusal: notImplemented('Conditional deletes'),
    note: 'DeleteObject',
  },
  'x-amz-if-match-initiated-time': {
    kind: 'refused',
    refusal: notImplemented('Conditional aborts'),
    note: 'AbortMultipartUpload',
  },
  range: { kind: 'honoured', by: OBJECT_READS, note: 'one range; 416 InvalidRange' },
  // Reads.
  'x-amz-object-attributes': {
    kind: 'honoured',
    by: ['GetObjectAttributes'],
    note: 'ETag, Checksum, ObjectParts, StorageClass, ObjectSize',
  },
  'x-amz-max-parts': { kind: 'honoured', by: ['GetObjectAttributes'], note: 'paging of parts' },
  'x-amz-part-number-marker': {
    kind: 'honoured',
    by: ['GetObjectAttributes'],
    note: 'paging of parts',
  },
  'x-amz-optional-object-attributes': {
    kind: 'honoured',
    by: ['ListObjectsV2', 'ListObjects', 'ListObjectVersions'],
    note: 'RestoreStatus is reported only for restored archive objects, and Strata has none',
  },
  // Bucket policy.
  'x-amz-confirm-remove-self-bucket-access': {
    kind: 'checked',
    by: ['PutBucketPolicy'],
    note: 'false; true would let a policy lock the owner out, which Strata never does (501)',
    check: (value) =>
      value.toLowerCase() === 'true'
        ? notImplemented('A bucket policy that removes the owner’s access')
        : undefined,
  },
  // RenameObject (directory buckets on AWS): not routed, so refused before it becomes a PutObject.
  'x-amz-rename-source': {
    kind: 'refused',
    refusal: notImplemented('RenameObject'),
    note: 'RenameObject',
  },
  'x-amz-rename-source-if-match': {
    kind: 'refused',
    refusal: notImplemented('RenameObject'),
    note: 'RenameObject',
  },
  'x-amz-rename-source-if-none-match': {
    kind: 'refused',
    refusal: notImplemented('RenameObject'),
    note: 'RenameObject',
  },
  'x-amz-rename-source-if-modified-since': {
    kind: 'refused',
    refusal: notImplemented('RenameObject'),
    note: 'RenameObject',
  },
  'x-amz-rename-source-if-unmodified-since': {
    kind: 'refused',
    refusal: notImplemented('RenameObject'),
    note: 'RenameObject',
  },
  'x-amz-client-token': {
    kind: 'refused',
    refusal: notImplemented('RenameObject'),
    note: 'RenameObject idempotency token',
  },
} as const satisfies Record<string, HeaderRule>;

export type RequestHeaderName = keyof typeof REQUEST_HEADERS;

// Rows are matched against Node's lower-case header names; a refusal is an error status; an
// honoured row names who honours it (the doc and the test rely on both).
for (const [name, rule] of Object.entries(REQUEST_HEADERS as Record<string, HeaderRule>)) {
  assert(name === name.toLowerCase(), `request header row ${name} must be lower case`);
  assert(rule.note.length > 0, `request header row ${name} needs a note`);
  if (rule.kind === 'refused') assert(rule.refusal.httpStatus >= 400, `${name}: not an error`);
  if (rule.kind === 'honoured') assert(rule.by === 'all' || rule.by.length > 0, `${name}: by whom`);
}

// The table's row for a header name as Node gives it (lower case); x-amz-meta-<name> is one row.
export function headerRule(name: string): HeaderRule | undefined {
  const row = name.startsWith('x-amz-meta-') ? 'x-amz-meta-*' : name;
  return (REQUEST_HEADERS as Record<string, HeaderRule>)[row];
}
