// SSE-S3 and SSE-KMS at the gateway: what a write asks for (x-amz-server-side-encryption: AES256
// or aws:kms, checked by src/s3/request-headers.ts, with SSE-KMS's key id, encryption context and
// bucket key headers), the refusal when this gateway cannot seal (no master key), and the
// response headers, which echo only what the object's record says. The record is the state
// machine's to set (src/metadata/object-encryption.ts): it holds only while every stripe is
// sealed as it says. KMS keys named by ARN or alias are resolved by the client
// (src/client/object-sse.ts).
import { kmsKeyArn } from '../../client/kms-keys.ts';
import { isStrataError } from '../../common/errors.ts';
import { canonicalContext } from '../../crypto/index.ts';
import type { BucketInfo, ObjectMeta } from '../../metadata/types.ts';
import { s3RefusedRequests } from '../../observability/metrics.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';

export const SSE_HEADER = 'x-amz-server-side-encryption';
const KMS_KEY_HEADER = 'x-amz-server-side-encryption-aws-kms-key-id';
const CONTEXT_HEADER = 'x-amz-server-side-encryption-context';
const BUCKET_KEY_HEADER = 'x-amz-server-side-encryption-bucket-key-enabled';
const KMS_KEY_REF_MAX = 2048; // AWS KMS's longest key id / ARN / alias

export type SseRequest = Pick<ObjectMeta, 'sse' | 'kmsKeyId' | 'sseContext' | 'bucketKeyEnabled'>;

function header(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

// The encryption the request asks for; undefined when none. SSE-KMS's companion headers without
// aws:kms are refused as AWS refuses them (400 InvalidArgument).
export function requestedSse(ctx: RequestContext): SseRequest | undefined {
  const sse = header(ctx, SSE_HEADER);
  const keyId = header(ctx, KMS_KEY_HEADER);
  const context = header(ctx, CONTEXT_HEADER);
  const bucketKey = header(ctx, BUCKET_KEY_HEADER);
  if (sse !== 'aws:kms') {
    for (const [name, value] of [
      [KMS_KEY_HEADER, keyId],
      [CONTEXT_HEADER, context],
      [BUCKET_KEY_HEADER, bucketKey],
    ]) {
      if (value !== undefined)
        throw new S3Error(
          'InvalidArgument',
          400,
          `${name} is only valid with ${SSE_HEADER}: aws:kms.`,
        );
    }
    // Any other value was refused before dispatch (request-headers.ts).
    return sse === 'AES256' ? { sse } : undefined;
  }
  const request: SseRequest = { sse };
  if (keyId !== undefined) {
    if (keyId === '' || keyId.length > KMS_KEY_REF_MAX)
      throw new S3Error('KMS.NotFoundException', 400, `Invalid keyId ${keyId.slice(0, 64)}`);
    request.kmsKeyId = keyId;
  }
  if (context !== undefined) request.sseContext = contextOf(context);
  if (bucketKey !== undefined) {
    const value = bucketKey.toLowerCase();
    if (value !== 'true' && value !== 'false')
      throw new S3Error('InvalidArgument', 400, `${BUCKET_KEY_HEADER} must be true or false.`);
    if (value === 'true') request.bucketKeyEnabled = true;
  }
  return request;
}

function contextOf(value: string): string {
  try {
    return canonicalContext(value);
  } catch (error) {
    if (!isStrataError(error, 'EINVAL')) throw error;
    throw new S3Error('InvalidArgument', 400, error.message);
  }
}

// Counted with the header refusals (strata_s3_refused_requests_total): a client asked for
// encryption this gateway cannot provide as configured.
export function sseKeyMissing(): S3Error {
  s3RefusedRequests.inc({ header: SSE_HEADER });
  return new S3Error(
    'NotImplemented',
    501,
    'Server-side encryption (SSE-S3, SSE-KMS) needs a master key on this gateway, and it has ' +
      'none: configure [encryption] key_file (or enabled = true); see docs/guides/security.md.',
  );
}

// A write that must be sealed (asked for, or the bucket's default) on a gateway without a master
// key is refused before its body is read. Only such a gateway pays the bucket read, and hands
// the record on (the write needs it too: one read, and one record for both decisions).
export async function checkCanSeal(
  ctx: RequestContext,
  bucket: string,
  requested: SseRequest | undefined,
): Promise<BucketInfo | undefined> {
  if (ctx.client.sealsOnRequest()) return undefined;
  if (requested !== undefined) throw sseKeyMissing();
  const info = await ctx.client.getBucket(bucket);
  if (info.encryption !== undefined) throw sseKeyMissing();
  return info;
}

// What AWS answers about an object's encryption: the algorithm, and for SSE-KMS the key's ARN
// and whether the bucket key is on. The encryption context goes back on writes only (AWS's
// PutObject, CopyObject and CreateMultipartUpload responses).
export function sseHeaders(
  ctx: RequestContext,
  object: SseRequest | undefined,
  options: { context?: boolean } = {},
): Record<string, string> {
  if (object?.sse === undefined) return {};
  const headers: Record<string, string> = { [SSE_HEADER]: object.sse };
  if (object.sse !== 'aws:kms' || object.kmsKeyId === undefined) return headers;
  headers[KMS_KEY_HEADER] = kmsKeyArn(ctx.options.region, object.kmsKeyId);
  if (object.bucketKeyEnabled === true) headers[BUCKET_KEY_HEADER] = 'true';
  if (options.context === true && object.sseContext !== undefined)
    headers[CONTEXT_HEADER] = object.sseContext;
  return headers;
}
