import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthOptions, AuthResult } from '../auth/types.ts';
import type { StrataClientApi } from '../client/types.ts';
import type { BodyDigests } from '../common/body-digests.ts';
import type { LifecycleTiming, RestoreTier } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { s3Bytes } from '../observability/metrics.ts';
import type { BucketAccessCache } from './access.ts';
import { BODY_IDLE_TIMEOUT_MS_DEFAULT, idleLimitedBody } from './body-timeout.ts';
import { S3Error } from './errors.ts';
import type { S3TlsFiles } from './tls.ts';

export interface S3GatewayOptions {
  client: StrataClientApi;
  region: string;
  auth: AuthOptions;
  virtualHostDomains: string[];
  log?: Logger;
  maxObjectSizeBytes?: number;
  bodyIdleTimeoutMs?: number; // a body silent this long fails with RequestTimeout
  tls?: S3TlsFiles; // HTTPS with these files; absent: plain HTTP
  // SSE-C over plain HTTP from loopback peers ([s3] sse_c_over_http; src/s3/handlers/sse-c.ts).
  sseCustomerOverHttp?: boolean;
  lifecycleTiming?: LifecycleTiming; // for x-amz-expiration (absent: AWS's day)
  // How long a RestoreObject of each tier stays in progress (lifecycle.restore_delay_seconds_*);
  // absent: the configuration's defaults.
  restoreDelayMs?: Record<RestoreTier, number>;
  // The destination buckets bucket replication can send to (replication.targets' buckets).
  replicationBuckets?: readonly string[];
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  requestId: string;
  auth: AuthResult;
  client: StrataClientApi;
  options: S3GatewayOptions;
  log: Logger;
  owner: string;
  access: BucketAccessCache; // the gateway's bucket records, for authorization
  conditions: Record<string, string[]>; // IAM condition keys of this request
}

const XML_BODY_BYTES_MAX = 4 * 1024 * 1024;

export function sendXml(
  ctx: RequestContext,
  status: number,
  xml: string,
  headers: Record<string, string> = {},
) {
  const body = Buffer.from(xml, 'utf8');
  ctx.res.writeHead(status, {
    ...headers,
    'content-type': 'application/xml',
    'content-length': body.length,
  });
  ctx.res.end(body);
}

export function sendEmpty(
  ctx: RequestContext,
  status: number,
  headers: Record<string, string | number> = {},
) {
  ctx.res.writeHead(status, { ...headers, 'content-length': 0 });
  ctx.res.end();
}

// The raw body as it arrives, failing with RequestTimeout when it stalls.
function rawBody(ctx: RequestContext): AsyncIterable<Buffer> {
  return idleLimitedBody(ctx.req, ctx.options.bodyIdleTimeoutMs ?? BODY_IDLE_TIMEOUT_MS_DEFAULT);
}

// The request body through authentication (chunk signatures, checksums), for small XML bodies.
export async function readSmallBody(ctx: RequestContext): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.auth.body(rawBody(ctx))) {
    total += chunk.length;
    if (total > XML_BODY_BYTES_MAX)
      throw new S3Error('MaxMessageLengthExceeded', 400, 'Your request was too big.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// The object body, counted for metrics, straight from the socket through authentication, which
// also takes its MD5 and CRC32C when `digests` is given (the writer then hashes nothing).
export async function* objectBody(
  ctx: RequestContext,
  digests?: BodyDigests,
): AsyncIterable<Buffer> {
  for await (const chunk of ctx.auth.body(rawBody(ctx), digests)) {
    s3Bytes.inc({ direction: 'in' }, chunk.length);
    yield chunk;
  }
}

export function quoteEtag(etag: string): string {
  return `"${etag}"`;
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

// Resolves when a response that refused a write (backpressure) can take more; rejects when the
// client closes the connection first. A streamed body (GetObject, SelectObjectContent) awaits it
// so a slow reader holds the read of the object, not the gateway's memory.
export function responseDrained(ctx: Pick<RequestContext, 'res'>): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      ctx.res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      ctx.res.off('drain', onDrain);
      reject(new Error('the client closed the connection'));
    };
    ctx.res.once('drain', onDrain);
    ctx.res.once('close', onClose);
  });
}
