import type { UploadInfo } from '../../metadata/types.ts';
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
import { authorizeCopySource, parseCopySource } from './object-copy.ts';
import { objectMetaFrom } from './object-meta.ts';
import { checkLength, checksumHeaders } from './object-put.ts';

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
  const upload = await ctx.client.createMultipartUpload(
    bucket,
    key,
    objectMetaFrom(ctx.req),
    ctx.owner,
  );
  sendXml(
    ctx,
    200,
    renderXml('InitiateMultipartUploadResult', {
      Bucket: bucket,
      Key: key,
      UploadId: upload.uploadId,
    }),
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
  await uploadFor(ctx, bucket, key, uploadId);
  const part = await ctx.client.uploadPart(uploadId, partNumber, objectBody(ctx));
  sendEmpty(ctx, 200, { etag: quoteEtag(part.etag), ...checksumHeaders(ctx.auth.checksums) });
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
  await uploadFor(ctx, bucket, key, uploadId);
  const source = parseCopySource(String(ctx.req.headers['x-amz-copy-source']));
  await authorizeCopySource(ctx, source);
  const inode = await ctx.client.headObject(source.bucket, source.key);
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
  const { body } = await ctx.client.getObject(source.bucket, source.key, range);
  const part = await ctx.client.uploadPart(uploadId, partNumber, body);
  sendXml(
    ctx,
    200,
    renderXml('CopyPartResult', {
      ETag: quoteEtag(part.etag),
      LastModified: isoDate(part.lastModifiedMs),
    }),
  );
}

export async function completeMultipartUpload(
  ctx: RequestContext,
  bucket: string,
  key: string,
  uploadId: string,
) {
  await uploadFor(ctx, bucket, key, uploadId);
  const request = parseXml((await readSmallBody(ctx)).toString('utf8')).CompleteMultipartUpload;
  const parts: Array<{ PartNumber?: unknown; ETag?: unknown }> = request?.Part ?? [];
  if (parts.length === 0) {
    throw new S3Error(
      'MalformedXML',
      400,
      'The XML you provided was not well-formed or did not validate against our published schema.',
    );
  }
  const list = parts.map((p) => {
    const partNumber = Number(p.PartNumber);
    if (!Number.isInteger(partNumber) || typeof p.ETag !== 'string') {
      throw new S3Error('MalformedXML', 400, 'Each Part needs a PartNumber and an ETag.');
    }
    return { partNumber, etag: p.ETag.replaceAll('"', '') };
  });
  const h = ctx.req.headers;
  const result = await ctx.client.completeMultipartUpload(uploadId, list, {
    ifMatch: typeof h['if-match'] === 'string' ? h['if-match'] : undefined,
    ifNoneMatch: typeof h['if-none-match'] === 'string' ? h['if-none-match'] : undefined,
  });
  const host = ctx.req.headers.host ?? 'localhost';
  const location = `${ctx.url.protocol}//${host}/${bucket}/${encodeURI(key)}`;
  sendXml(
    ctx,
    200,
    renderXml('CompleteMultipartUploadResult', {
      Location: location,
      Bucket: bucket,
      Key: key,
      ETag: quoteEtag(result.etag),
    }),
  );
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
  await uploadFor(ctx, bucket, key, uploadId);
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
      StorageClass: 'STANDARD',
      PartNumberMarker: marker,
      ...(truncated ? { NextPartNumberMarker: page[page.length - 1].partNumber } : {}),
      MaxParts: maxParts,
      IsTruncated: truncated,
      Part: page.map((p) => ({
        PartNumber: p.partNumber,
        LastModified: isoDate(p.lastModifiedMs),
        ETag: quoteEtag(p.etag),
        Size: p.size,
      })),
    }),
  );
}

export async function listMultipartUploads(ctx: RequestContext, bucket: string) {
  const q = ctx.url.searchParams;
  const prefix = q.get('prefix') ?? '';
  const keyMarker = q.get('key-marker') ?? '';
  const maxUploads = Math.min(Number(q.get('max-uploads') ?? LIST_LIMIT) || LIST_LIMIT, LIST_LIMIT);
  const uploads = await ctx.client.listMultipartUploads(bucket);
  const matching = uploads
    .filter((u) => u.key.startsWith(prefix) && u.key > keyMarker)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiatedAtMs - b.initiatedAtMs));
  const page = matching.slice(0, maxUploads);
  const truncated = matching.length > page.length;
  sendXml(
    ctx,
    200,
    renderXml('ListMultipartUploadsResult', {
      Bucket: bucket,
      KeyMarker: keyMarker,
      UploadIdMarker: q.get('upload-id-marker') ?? '',
      ...(truncated
        ? {
            NextKeyMarker: page[page.length - 1].key,
            NextUploadIdMarker: page[page.length - 1].uploadId,
          }
        : {}),
      Prefix: prefix,
      MaxUploads: maxUploads,
      IsTruncated: truncated,
      Upload: page.map((u) => ({
        Key: u.key,
        UploadId: u.uploadId,
        Initiator: { ID: u.owner, DisplayName: u.owner },
        Owner: { ID: u.owner, DisplayName: u.owner },
        StorageClass: 'STANDARD',
        Initiated: isoDate(u.initiatedAtMs),
      })),
    }),
  );
}
