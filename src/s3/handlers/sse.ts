// SSE-S3 at the gateway: what a write asks for (x-amz-server-side-encryption: AES256, checked by
// src/s3/request-headers.ts), the refusal when this gateway cannot seal (no master key), and the
// response header, which echoes only what the object's record says. The record is the state
// machine's to set (src/metadata/object-encryption.ts): it holds only while every stripe is sealed.
import type { ObjectMeta, SseAlgorithm } from '../../metadata/types.ts';
import { s3RefusedRequests } from '../../observability/metrics.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';

export const SSE_HEADER = 'x-amz-server-side-encryption';

export function requestedSse(ctx: RequestContext): SseAlgorithm | undefined {
  const value = ctx.req.headers[SSE_HEADER];
  // Any other value was refused before dispatch (request-headers.ts).
  return value === 'AES256' ? value : undefined;
}

// Counted with the header refusals (strata_s3_refused_requests_total): a client asked for
// encryption this gateway cannot provide as configured.
export function sseKeyMissing(): S3Error {
  s3RefusedRequests.inc({ header: SSE_HEADER });
  return new S3Error(
    'NotImplemented',
    501,
    'Server-side encryption (SSE-S3) needs a master key on this gateway, and it has none: ' +
      'configure [encryption] key_file (or enabled = true); see docs/guides/security.md.',
  );
}

// A write that must be sealed (asked for, or the bucket's default) on a gateway without a master
// key is refused before its body is read. Only such a gateway pays the bucket read.
export async function checkCanSeal(
  ctx: RequestContext,
  bucket: string,
  requested: SseAlgorithm | undefined,
): Promise<void> {
  if (ctx.client.sealsOnRequest()) return;
  if (requested !== undefined) throw sseKeyMissing();
  if ((await ctx.client.getBucket(bucket)).encryption !== undefined) throw sseKeyMissing();
}

export function sseHeaders(object: Pick<ObjectMeta, 'sse'> | undefined): Record<string, string> {
  return object?.sse === undefined ? {} : { [SSE_HEADER]: object.sse };
}
