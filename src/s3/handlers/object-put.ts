import type { PutObjectResult } from '../../client/types.ts';
import { BodyDigests } from '../../common/body-digests.ts';
import { objectWriteAcl } from '../acl-request.ts';
import { objectBody, quoteEtag, type RequestContext, sendEmpty } from '../context.ts';
import { S3Error } from '../errors.ts';
import { expirationHeader } from './lifecycle.ts';
import { lockFromHeaders } from './object-lock.ts';
import { objectMetaFrom } from './object-meta.ts';
import { isReplicaHeld, replicaVersionOf } from './replica.ts';
import { checkCanSeal, requestedSse, sseHeaders } from './sse.ts';
import { customerKeyFrom, refuseBothEncryptions, sseCHeaders } from './sse-c.ts';

const CHECKSUM_HEADERS: Record<string, string> = {
  CRC32: 'x-amz-checksum-crc32',
  CRC32C: 'x-amz-checksum-crc32c',
  CRC64NVME: 'x-amz-checksum-crc64nvme',
  SHA1: 'x-amz-checksum-sha1',
  SHA256: 'x-amz-checksum-sha256',
};

export function checkLength(ctx: RequestContext, maxBytes: number): void {
  const declared = ctx.auth.decodedContentLength;
  const chunkedTransfer = ctx.req.headers['transfer-encoding'] !== undefined;
  if (
    declared === undefined &&
    !chunkedTransfer &&
    ctx.req.headers['content-length'] === undefined
  ) {
    throw new S3Error(
      'MissingContentLength',
      411,
      'You must provide the Content-Length HTTP header.',
    );
  }
  if (declared !== undefined && declared > maxBytes) {
    throw new S3Error(
      'EntityTooLarge',
      400,
      'Your proposed upload exceeds the maximum allowed object size.',
    );
  }
}

export function checksumHeaders(checksums: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [algorithm, value] of Object.entries(checksums)) {
    const name = CHECKSUM_HEADERS[algorithm];
    if (name) out[name] = value;
  }
  return out;
}

function conditional(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

export async function putObject(ctx: RequestContext, bucket: string, key: string) {
  checkLength(ctx, ctx.options.maxObjectSizeBytes ?? 5 * 1024 ** 4);
  // Conditional writes: decided by the metadata service atomically with the commit (If-None-Match
  // "*": the key must not exist; ETags: it must not have one of them; If-Match: it must).
  const ifNoneMatch = conditional(ctx, 'if-none-match');
  const acl = await objectWriteAcl(ctx, bucket);
  // The same object as auth.checksums: trailing checksums land in it before the commit reads it.
  const object = { ...objectMetaFrom(ctx.req, acl), checksums: ctx.auth.checksums };
  refuseBothEncryptions(ctx);
  const customer = customerKeyFrom(ctx, 'object');
  const sse = requestedSse(ctx);
  // SSE-C needs no master key: the request brings its own (and wins over a bucket default).
  const bucketInfo = customer === undefined ? await checkCanSeal(ctx, bucket, sse) : undefined;
  if (sse !== undefined) Object.assign(object, sse);
  const replicaVersionId = await replicaVersionOf(ctx, {
    bucket,
    key,
    action: 's3:ReplicateObject',
  });
  // The body's MD5 and CRC32C in its check's hashing session: its bytes copied there once.
  const digests = new BodyDigests();
  const put = ctx.client.putObject(bucket, key, objectBody(ctx, digests), {
    object,
    digests,
    ifMatch: conditional(ctx, 'if-match'),
    ifNoneMatch,
    lock: lockFromHeaders(ctx),
    replicaVersionId,
    customerKey: customer?.key,
    bucketInfo,
  });
  const result = await put.catch(async (error) => {
    if (!isReplicaHeld(error, replicaVersionId)) throw error;
    return heldReplica(ctx, bucket, key, replicaVersionId as string);
  });
  // A short body never gets here: the socket's early end (or auth's length check) fails the
  // stream, and so the put, before anything is committed.
  sendEmpty(ctx, 200, {
    etag: quoteEtag(result.etag),
    ...checksumHeaders(ctx.auth.checksums),
    ...sseHeaders(ctx, result.inode.object, { context: true }),
    ...sseCHeaders(result.inode.object?.sseCustomer, customer),
    ...(result.versionId !== undefined ? { 'x-amz-version-id': result.versionId } : {}),
    ...expirationHeader(ctx, key, result.inode, (await ctx.access.get(ctx, bucket))?.info),
  });
}

// The replica the destination had already, answered as the PUT that made it was.
async function heldReplica(
  ctx: RequestContext,
  bucket: string,
  key: string,
  versionId: string,
): Promise<PutObjectResult> {
  const version = await ctx.client.objectVersion(bucket, key, versionId);
  const inode = version.inode;
  if (inode === undefined)
    throw new S3Error('InvalidRequest', 400, `${versionId} is a delete marker`);
  return { etag: inode.object?.etag ?? '', size: inode.size, inode, versionId };
}
