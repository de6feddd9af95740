import assert from 'node:assert';
import type { ChecksumAlgorithm } from '../../auth/checksums.ts';
import { checkCustomerKey } from '../../client/customer-key.ts';
import { BodyDigests } from '../../common/body-digests.ts';
import { isStrataError } from '../../common/errors.ts';
import type { Inode, UploadInfo } from '../../metadata/types.ts';
import { objectWriteAcl } from '../acl-request.ts';
import {
  objectBody,
  quoteEtag,
  type RequestContext,
  readSmallBody,
  sendEmpty,
  sendXml,
} from '../context.ts';
import { S3Error } from '../errors.ts';
import { isoDate, parseXml, renderXml } from '../xml.ts';
import { checksumTap, completionChecksums, uploadChecksumFrom } from './multipart-checksum.ts';
import { authorizeCopySource, parseCopySource, refuseDeleteMarkerSource } from './object-copy.ts';
import { lockFromHeaders } from './object-lock.ts';
import { objectMetaFrom } from './object-meta.ts';
import { checkLength, checksumHeaders } from './object-put.ts';
import { checkCanSeal, requestedSse, sseHeaders, sseKeyMissing } from './sse.ts';
import {
  type CustomerKeyRequest,
  checkPartKey,
  checkReadKey,
  customerKeyFrom,
  partKeyMismatch,
  refuseBothEncryptions,
  sseCHeaders,
} from './sse-c.ts';

const PART_SIZE_BYTES_MAX = 5 * 1024 ** 3;
const LIST_LIMIT = 1000;

// The upload must exist and belong to this bucket and key.
async function uploadFor(
  ctx: RequestContext,
  bucket: string,
  key: string,
  uploadId: string,
): Promise<UploadInfo> {
  await ctx.client.getBucket(bucket);
  const upload = await ctx.client.getUpload(uploadId);
  if (upload.bucket !== bucket || upload.key !== key) {
    throw new S3Error('NoSuchUpload', 404, 'The specified multipart upload does not exist.');
  }
  return upload;
}

export async function createMultipartUpload(ctx: RequestContext, bucket: string, key: string) {
  const checksum = uploadChecksumFrom(ctx);
  refuseBothEncryptions(ctx);
  const customer = customerKeyFrom(ctx, 'object');
  const sse = requestedSse(ctx);
  if (customer === undefined) await checkCanSeal(ctx, bucket, sse);
  const acl = await objectWriteAcl(ctx, bucket);
  const upload = await ctx.client.createMultipartUpload(
    bucket,
    key,
    { ...objectMetaFrom(ctx.req, acl), ...checksum, ...sse },
    ctx.owner,
    lockFromHeaders(ctx),
    { customerKey: customer?.key },
  );
  const headers: Record<string, string> = checksum
    ? {
        'x-amz-checksum-algorithm': checksum.checksumAlgorithm,
        'x-amz-checksum-type': checksum.checksumType,
      }
    : {};
  Object.assign(
    headers,
    sseHeaders(ctx, upload.object, { context: true }),
    sseCHeaders(upload.object.sseCustomer, customer),
  );
  sendXml(
    ctx,
    200,
    renderXml('InitiateMultipartUploadResult', {
      Bucket: bucket,
      Key: key,
      UploadId: upload.uploadId,
    }),
    headers,
  );
}

export async function uploadPart(
  ctx: RequestContext,
  bucket: string,
  key: string,
  uploadId: string,
  partNumber: number,
) {
  checkLength(ctx, PART_SIZE_BYTES_MAX);
  const upload = await uploadFor(ctx, bucket, key, uploadId);
  if (upload.object.sse !== undefined && !ctx.client.sealsOnRequest()) throw sseKeyMissing();
  const customer = partCustomerKey(ctx, upload);
  const algorithm = upload.object.checksumAlgorithm as ChecksumAlgorithm | undefined;
  const digests = new BodyDigests(); // in the body check's hashing session, as a PUT's
  const body = objectBody(ctx, digests);
  const tap = algorithm ? checksumTap(algorithm, body) : undefined;
  const part = await ctx.client.uploadPart(uploadId, partNumber, tap?.body ?? body, {
    checksum: tap?.value,
    customerKey: customer?.key,
    digests,
  });
  const checksums = { ...ctx.auth.checksums };
  if (algorithm && part.checksum) checksums[algorithm] = part.checksum;
  sendEmpty(ctx, 200, {
    etag: quoteEtag(part.etag),
    ...checksumHeaders(checksums),
    ...sseHeaders(ctx, upload.object),
    ...sseCHeaders(upload.object.sseCustomer, customer),
  });
}

// A part's SSE-C key, checked against the upload's before its body is read.
function partCustomerKey(ctx: RequestContext, upload: UploadInfo): CustomerKeyRequest | undefined {
  const customer = customerKeyFrom(ctx, 'object');
  const record = upload.object.sseCustomer;
  checkPartKey(record, customer);
  try {
    checkCustomerKey(record, customer?.key, 'the multipart upload');
  } catch (error) {
    if (isStrataError(error, 'CUSTOMER_KEY_MISMATCH')) throw partKeyMismatch();
    throw error;
  }
  return customer;
}

// UploadPartCopy: the part's bytes are read from the source object (optionally a range of it) and
// written as a new part, so the part has its own MD5 ETag as S3 requires.
export async function uploadPartCopy(
  ctx: RequestContext,
  bucket: string,
  key: string,
  uploadId: string,
  partNumber: number,
) {
  const upload = await uploadFor(ctx, bucket, key, uploadId);
  if (upload.object.sse !== undefined && !ctx.client.sealsOnRequest()) throw sseKeyMissing();
  const customer = partCustomerKey(ctx, upload);
  const sourceCustomer = customerKeyFrom(ctx, 'copy-source');
  const source = parseCopySource(String(ctx.req.headers['x-amz-copy-source']));
  await authorizeCopySource(ctx, source);
  const version = await ctx.client.objectVersion(source.bucket, source.key, source.versionId);
  const inode = version.inode ?? refuseDeleteMarkerSource();
  checkReadKey(inode.object?.sseCustomer, sourceCustomer);
  const rangeHeader = ctx.req.headers['x-amz-copy-source-range'];
  let range: { offset: number; length: number } | undefined;
  if (typeof rangeHeader === 'string') {
    const match = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
    if (!match || Number(match[2]) < Number(match[1]) || Number(match[2]) >= inode.size) {
      throw new S3Error(
        'InvalidArgument',
        400,
        'The x-amz-copy-source-range value must be of the form bytes=first-last where first ' +
          'and last are the zero-based offsets of the first and last bytes to copy',
      );
    }
    range = { offset: Number(match[1]), length: Number(match[2]) - Number(match[1]) + 1 };
  }
  if ((range?.length ?? inode.size) > PART_SIZE_BYTES_MAX) {
    throw new S3Error('EntityTooLarge', 400, 'A copied part may be at most 5 GiB.');
  }
  const readVersion = version.versioned ? version.versionId : undefined;
  const { body } = await ctx.client.getObject(source.bucket, source.key, range, readVersion, {
    customerKey: sourceCustomer?.key,
  });
  const algorithm = upload.object.checksumAlgorithm as ChecksumAlgorithm | undefined;
  const tap = algorithm ? checksumTap(algorithm, body) : undefined;
  const part = await ctx.client.uploadPart(uploadId, partNumber, tap?.body ?? body, {
    checksum: tap?.value,
    customerKey: customer?.key,
  });
  sendXml(
    ctx,
    200,
    renderXml('CopyPartResult', {
      ETag: quoteEtag(part.etag),
      LastModified: isoDate(part.lastModifiedMs),
      ...(algorithm && part.checksum ? { [`Checksum${algorithm}`]: part.checksum } : {}),
    }),
    { ...sseHeaders(ctx, upload.object), ...sseCHeaders(upload.object.sseCustomer, customer) },
  );
}

// The parts a CompleteMultipartUpload body lists, in its order.
function completedPartsOf(body: string) {
  const request = parseXml(body).CompleteMultipartUpload;
  const parts: Array<Record<string, unknown>> = request?.Part ?? [];
  if (parts.length === 0) {
    throw new S3Error(
      'MalformedXML',
      400,
      'The XML you provided was not well-formed or did not validate against our published schema.',
    );
  }
  return parts.map((p) => {
    const partNumber = Number(p.PartNumber);
    if (!Number.isInteger(partNumber) || typeof p.ETag !== 'string') {
      throw new S3Error('MalformedXML', 400, 'Each Part needs a PartNumber and an ETag.');
    }
    const declared: Record<string, string> = {};
    for (const [name, value] of Object.entries(p)) {
      if (name.startsWith('Checksum') && typeof value === 'string')
        declared[name.slice('Checksum'.length).toUpperCase()] = value;
    }
    return { partNumber, etag: p.ETag.replaceAll('"', ''), declared };
  });
}

export async function completeMultipartUpload(
  ctx: RequestContext,
  bucket: string,
  key: string,
  uploadId: string,
) {
  await ctx.client.getBucket(bucket);
  const list = completedPartsOf((await readSmallBody(ctx)).toString('utf8'));
  const parts = list.map(({ partNumber, etag }) => ({ partNumber, etag }));
  const upload = await ctx.client.getUpload(uploadId).catch((error: unknown) => {
    if (isStrataError(error, 'NO_SUCH_UPLOAD')) return undefined;
    throw error;
  });
  if (upload === undefined) {
    // Gone: perhaps completed by an earlier try of this request whose answer was lost. The
    // metadata service answers such a retry with the object it made, or NO_SUCH_UPLOAD.
    const result = await ctx.client.completeMultipartUpload(uploadId, parts, { bucket, key });
    return sendCompleted(ctx, bucket, key, result.inode, result.versionId);
  }
  if (upload.bucket !== bucket || upload.key !== key) {
    throw new S3Error('NoSuchUpload', 404, 'The specified multipart upload does not exist.');
  }
  // SSE-C: the key is optional here (AWS's too); one sent must be the upload's, and is echoed.
  const customer = customerKeyFrom(ctx, 'object');
  if (customer !== undefined) partCustomerKey(ctx, upload);
  const stored = new Map((await ctx.client.listParts(uploadId)).map((p) => [p.partNumber, p]));
  const checksum = completionChecksums(upload.object, list, stored);
  checkDeclaredObjectChecksum(ctx, upload.object.checksumAlgorithm, checksum?.checksums);
  const h = ctx.req.headers;
  const result = await ctx.client.completeMultipartUpload(uploadId, parts, {
    bucket,
    key,
    ifMatch: typeof h['if-match'] === 'string' ? h['if-match'] : undefined,
    ifNoneMatch: typeof h['if-none-match'] === 'string' ? h['if-none-match'] : undefined,
    ...checksum,
  });
  sendCompleted(ctx, bucket, key, result.inode, result.versionId, customer);
}

// The answer names the object made, so a retry gets the same one as the first try.
function sendCompleted(
  ctx: RequestContext,
  bucket: string,
  key: string,
  inode: Inode,
  versionId?: string,
  customer?: CustomerKeyRequest,
) {
  const object = inode.object;
  assert(object?.uploadId !== undefined, 'a completed upload made this object');
  const host = ctx.req.headers.host ?? 'localhost';
  const location = `${ctx.url.protocol}//${host}/${bucket}/${encodeURI(key)}`;
  const checksums = object.checksumAlgorithm ? (object.checksums ?? {}) : {};
  sendXml(
    ctx,
    200,
    renderXml('CompleteMultipartUploadResult', {
      Location: location,
      Bucket: bucket,
      Key: key,
      ETag: quoteEtag(object.etag),
      ...Object.fromEntries(Object.entries(checksums).map(([alg, v]) => [`Checksum${alg}`, v])),
      ...(Object.keys(checksums).length > 0 ? { ChecksumType: object.checksumType } : {}),
    }),
    {
      ...sseHeaders(ctx, object),
      ...sseCHeaders(object.sseCustomer, customer),
      ...(versionId !== undefined ? { 'x-amz-version-id': versionId } : {}),
    },
  );
}

// A full-object checksum header on CompleteMultipartUpload (SDKs send one for FULL_OBJECT
// uploads) must equal what the parts combine to.
function checkDeclaredObjectChecksum(
  ctx: RequestContext,
  algorithm: string | undefined,
  computed: Record<string, string> | undefined,
): void {
  if (algorithm === undefined || computed === undefined) return;
  const declared = ctx.req.headers[`x-amz-checksum-${algorithm.toLowerCase()}`];
  if (typeof declared !== 'string') return;
  const value = computed[algorithm];
  if (declared !== value && `${declared}` !== value.replace(/-\d+$/, '')) {
    throw new S3Error(
      'BadDigest',
      400,
      `The ${algorithm} you specified did not match the calculated checksum.`,
    );
  }
}

export async function abortMultipartUpload(
  ctx: RequestContext,
  bucket: string,
  key: string,
  uploadId: string,
) {
  await uploadFor(ctx, bucket, key, uploadId);
  await ctx.client.abortMultipartUpload(uploadId);
  sendEmpty(ctx, 204);
}

export async function listParts(
  ctx: RequestContext,
  bucket: string,
  key: string,
  uploadId: string,
) {
  const upload = await uploadFor(ctx, bucket, key, uploadId);
  const q = ctx.url.searchParams;
  const marker = Number(q.get('part-number-marker') ?? 0) || 0;
  const maxParts = Math.min(Number(q.get('max-parts') ?? LIST_LIMIT) || LIST_LIMIT, LIST_LIMIT);
  const all = (await ctx.client.listParts(uploadId)).filter((p) => p.partNumber > marker);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  sendXml(
    ctx,
    200,
    renderXml('ListPartsResult', {
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      Initiator: { ID: ctx.owner, DisplayName: ctx.owner },
      Owner: { ID: ctx.owner, DisplayName: ctx.owner },
      StorageClass: upload.object.storageClass ?? 'STANDARD',
      ...(upload.object.checksumAlgorithm
        ? {
            ChecksumAlgorithm: upload.object.checksumAlgorithm,
            ChecksumType: upload.object.checksumType,
          }
        : {}),
      PartNumberMarker: marker,
      ...(truncated ? { NextPartNumberMarker: page[page.length - 1].partNumber } : {}),
      MaxParts: maxParts,
      IsTruncated: truncated,
      Part: page.map((p) => ({
        PartNumber: p.partNumber,
        LastModified: isoDate(p.lastModifiedMs),
        ETag: quoteEtag(p.etag),
        Size: p.size,
        ...(p.checksum && upload.object.checksumAlgorithm
          ? { [`Checksum${upload.object.checksumAlgorithm}`]: p.checksum }
          : {}),
      })),
    }),
  );
}

export async function listMultipartUploads(ctx: RequestContext, bucket: string) {
  const q = ctx.url.searchParams;
  const prefix = q.get('prefix') ?? '';
  const keyMarker = q.get('key-marker') ?? '';
  const uploadIdMarker = q.get('upload-id-marker') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxUploads = Math.min(Number(q.get('max-uploads') ?? LIST_LIMIT) || LIST_LIMIT, LIST_LIMIT);
  const uploads = await ctx.client.listMultipartUploads(bucket);
  const sorted = uploads
    .filter((u) => u.key.startsWith(prefix))
    .sort(
      (a, b) =>
        Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) ||
        a.initiatedAtMs - b.initiatedAtMs ||
        (a.uploadId < b.uploadId ? -1 : 1),
    );
  // After the markers: keys past key-marker, or, with upload-id-marker, the key-marker's later uploads.
  let start = 0;
  if (keyMarker !== '') {
    const markerAt =
      uploadIdMarker === ''
        ? -1
        : sorted.findIndex((u) => u.key === keyMarker && u.uploadId === uploadIdMarker);
    start =
      markerAt >= 0
        ? markerAt + 1
        : sorted.findIndex((u) => Buffer.compare(Buffer.from(u.key), Buffer.from(keyMarker)) > 0);
    if (start < 0) start = sorted.length;
  }
  // A delimiter folds every key with it after the prefix into one CommonPrefix entry.
  const entries: Array<{ upload?: UploadInfo; commonPrefix?: string }> = [];
  const seenPrefixes = new Set<string>();
  for (const u of sorted.slice(start)) {
    const cut = delimiter === '' ? -1 : u.key.indexOf(delimiter, prefix.length);
    if (cut >= 0) {
      const common = u.key.slice(0, cut + delimiter.length);
      if (common === keyMarker || seenPrefixes.has(common)) continue;
      seenPrefixes.add(common);
      entries.push({ commonPrefix: common });
    } else {
      entries.push({ upload: u });
    }
    if (entries.length > maxUploads) break;
  }
  const truncated = entries.length > maxUploads;
  const shown = entries.slice(0, maxUploads);
  const page = shown.flatMap((e) => (e.upload ? [e.upload] : []));
  const last = shown[shown.length - 1];
  sendXml(
    ctx,
    200,
    renderXml('ListMultipartUploadsResult', {
      Bucket: bucket,
      KeyMarker: keyMarker,
      UploadIdMarker: q.get('upload-id-marker') ?? '',
      ...(truncated && last
        ? {
            NextKeyMarker: last.upload?.key ?? last.commonPrefix,
            NextUploadIdMarker: last.upload?.uploadId ?? '',
          }
        : {}),
      Prefix: prefix,
      ...(delimiter ? { Delimiter: delimiter } : {}),
      MaxUploads: maxUploads,
      IsTruncated: truncated,
      Upload: page.map((u) => ({
        Key: u.key,
        UploadId: u.uploadId,
        Initiator: { ID: u.owner, DisplayName: u.owner },
        Owner: { ID: u.owner, DisplayName: u.owner },
        StorageClass: u.object.storageClass ?? 'STANDARD',
        Initiated: isoDate(u.initiatedAtMs),
        ...(u.object.checksumAlgorithm
          ? { ChecksumAlgorithm: u.object.checksumAlgorithm, ChecksumType: u.object.checksumType }
          : {}),
      })),
      CommonPrefixes: shown.flatMap((e) => (e.commonPrefix ? [{ Prefix: e.commonPrefix }] : [])),
    }),
  );
}
