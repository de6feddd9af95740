// SSE-C at the gateway: the three x-amz-server-side-encryption-customer-* headers (and their
// x-amz-copy-source-* twins for a copy's source) parsed and checked as AWS checks them, the
// HTTPS rule, and the headers responses echo. The key goes to the client layer for this one
// request and nowhere else: never into a log field, an error message or a metric label. What is
// stored is the state machine's (src/metadata/object-encryption.ts) and the crypto's
// (src/crypto/customer-key.ts) business; docs/guides/security.md, "SSE-C", says what it is.
import assert from 'node:assert';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { checkCustomerKey } from '../../client/customer-key.ts';
import type { SseCustomer } from '../../metadata/types.ts';
import { s3RefusedRequests } from '../../observability/metrics.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';

const KEY_BYTES = 32; // AES256, the one algorithm
export const SSE_C_ALGORITHM_HEADER = 'x-amz-server-side-encryption-customer-algorithm';
export const SSE_C_KEY_MD5_HEADER = 'x-amz-server-side-encryption-customer-key-md5';
// The headers of the object's key and of a copy source's: algorithm, key, MD5 (all lower case).
const KEY_HEADERS = {
  object: [
    SSE_C_ALGORITHM_HEADER,
    'x-amz-server-side-encryption-customer-key',
    SSE_C_KEY_MD5_HEADER,
  ],
  'copy-source': [
    'x-amz-copy-source-server-side-encryption-customer-algorithm',
    'x-amz-copy-source-server-side-encryption-customer-key',
    'x-amz-copy-source-server-side-encryption-customer-key-md5',
  ],
} as const;

// A key a request carries, checked: 32 bytes whose MD5 is the one the client sent.
export interface CustomerKeyRequest {
  key: Buffer;
  keyMd5: string; // base64, as sent: echoed in the response
}

function invalidArgument(message: string): S3Error {
  return new S3Error('InvalidArgument', 400, message);
}

function header(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

// The object's key (`object`: PutObject, GetObject, HeadObject, the copy's destination, the
// multipart operations) or the copy source's; undefined when the request has none of the three.
export function customerKeyFrom(
  ctx: RequestContext,
  which: 'object' | 'copy-source',
): CustomerKeyRequest | undefined {
  const [algorithmHeader, keyHeader, md5Header] = KEY_HEADERS[which];
  const algorithm = header(ctx, algorithmHeader);
  const encodedKey = header(ctx, keyHeader);
  const keyMd5 = header(ctx, md5Header);
  if (algorithm === undefined && encodedKey === undefined && keyMd5 === undefined) return undefined;
  checkSecure(ctx, algorithmHeader);
  const what =
    'Requests specifying Server Side Encryption with Customer provided keys must provide';
  if (algorithm !== 'AES256') throw invalidArgument(`${what} a valid encryption algorithm.`);
  if (encodedKey === undefined) throw invalidArgument(`${what} an appropriate secret key.`);
  if (keyMd5 === undefined)
    throw invalidArgument(`${what} the client calculated MD5 of the secret key.`);
  const key = Buffer.from(encodedKey, 'base64');
  if (key.length !== KEY_BYTES || key.toString('base64') !== encodedKey.trim()) {
    key.fill(0);
    throw invalidArgument('The secret key was invalid for the specified algorithm.');
  }
  if (createHash('md5').update(key).digest('base64') !== keyMd5) {
    key.fill(0);
    throw invalidArgument(
      'The calculated MD5 hash of the key did not match the hash that was provided.',
    );
  }
  assert.equal(key.length, KEY_BYTES, 'a checked 256-bit key');
  return { key, keyMd5 };
}

// AWS refuses SSE-C over plain HTTP: the key would cross the network in clear. A loopback peer
// may send it in clear when [s3] sse_c_over_http says so (a TLS-terminating proxy on this host).
// Counted with the header table's refusals (strata_s3_refused_requests_total).
function checkSecure(ctx: RequestContext, label: string): void {
  if ('encrypted' in ctx.req.socket) return;
  if (ctx.options.sseCustomerOverHttp === true && isLoopback(ctx.req.socket.remoteAddress)) return;
  s3RefusedRequests.inc({ header: label });
  throw new S3Error(
    'InvalidRequest',
    400,
    'Requests specifying Server Side Encryption with Customer provided keys must be made over ' +
      'a secure connection.',
  );
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined || isIP(address) === 0) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4 === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'));
}

// SSE-C and SSE-S3 in one request are AWS's 400.
export function refuseBothEncryptions(ctx: RequestContext): void {
  if (header(ctx, 'x-amz-server-side-encryption') === undefined) return;
  if (header(ctx, SSE_C_ALGORITHM_HEADER) === undefined) return;
  throw invalidArgument(
    'Server Side Encryption with Customer provided key is incompatible with the encryption ' +
      'method specified',
  );
}

// A read (GET, HEAD, a copy's source) of an object recorded with `record`, by a request with
// `request`: the key is required for an SSE-C object and meaningless for any other. Whether it
// is the right key is the client layer's check (CUSTOMER_KEY_MISMATCH, 403); HEAD checks here.
export function checkReadKey(
  record: SseCustomer | undefined,
  request: CustomerKeyRequest | undefined,
): void {
  if (record !== undefined && request === undefined) {
    throw new S3Error(
      'InvalidRequest',
      400,
      'The object was stored using a form of Server Side Encryption. The correct parameters ' +
        'must be provided to retrieve the object.',
    );
  }
  if (record === undefined && request !== undefined) {
    throw new S3Error(
      'InvalidRequest',
      400,
      'The encryption parameters are not applicable to this object.',
    );
  }
}

// The request's key for reading an object recorded with `record` (GET, HEAD,
// GetObjectAttributes): required and right (403 otherwise) for an SSE-C object, absent for any
// other. Checked before anything about the object goes out.
export function objectReadKey(
  ctx: RequestContext,
  record: SseCustomer | undefined,
): CustomerKeyRequest | undefined {
  const request = customerKeyFrom(ctx, 'object');
  checkReadKey(record, request);
  checkCustomerKey(record, request?.key, 'the object');
  return request;
}

// UploadPart (and UploadPartCopy's destination) against the upload's record: AWS's answers when
// the key is missing, not wanted, or another one.
export function checkPartKey(
  record: SseCustomer | undefined,
  request: CustomerKeyRequest | undefined,
): void {
  if (record !== undefined && request === undefined) {
    throw new S3Error(
      'InvalidRequest',
      400,
      'The multipart upload initiate requested encryption. Subsequent part requests must ' +
        'include the appropriate encryption parameters.',
    );
  }
  if (record === undefined && request !== undefined) {
    throw invalidArgument(
      'The multipart upload initiate did not request encryption. Subsequent part requests ' +
        'must not include encryption parameters.',
    );
  }
}

// The part's key is another than the upload's: AWS answers 400, not the 403 of a read.
export function partKeyMismatch(): S3Error {
  return invalidArgument(
    'The provided encryption parameters did not match the ones used originally.',
  );
}

// Echoed on every response about an SSE-C object: the algorithm always, the key's MD5 when the
// request carried the key (Strata does not keep it).
export function sseCHeaders(
  record: SseCustomer | undefined,
  request: CustomerKeyRequest | undefined,
): Record<string, string> {
  if (record === undefined) return {};
  const headers: Record<string, string> = { [SSE_C_ALGORITHM_HEADER]: record.algorithm };
  if (request !== undefined) headers[SSE_C_KEY_MD5_HEADER] = request.keyMd5;
  return headers;
}
