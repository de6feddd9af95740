// AWS Signature Version 4 primitives as S3 uses them: canonical request, string to sign,
// signing-key derivation and signature comparison. Pure functions; no request objects here.
import assert from 'node:assert';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const algorithmName = 'AWS4-HMAC-SHA256';
export const emptySha256Hex = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const signingKeyCacheMaxEntries = 256;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmac(key: Uint8Array | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

const unreserved = /[A-Za-z0-9\-_.~]/;

// AWS's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ becomes %XX (upper-case hex), and '/'
// is kept only in paths. encodeURIComponent differs on !'()* so it cannot be used directly.
export function uriEncode(text: string, keepSlash: boolean): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    if (byte < 0x80 && (unreserved.test(char) || (keepSlash && char === '/'))) out += char;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

// Decodes %XX escapes; undefined when the escapes are not valid UTF-8 or malformed.
export function uriDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

// S3 signs the path as sent, each segment encoded exactly once (unlike other services, S3 does
// not double-encode). Decoding first makes "$" and "%24" sign alike, as AWS does.
export function canonicalUri(rawPath: string): string | undefined {
  assert(rawPath.startsWith('/'), 'request path must be absolute');
  const segments = rawPath.split('/');
  const encoded: string[] = [];
  for (const segment of segments) {
    const decoded = uriDecode(segment);
    if (decoded === undefined) return undefined;
    encoded.push(uriEncode(decoded, false));
  }
  return encoded.join('/');
}

export interface QueryParam {
  name: string;
  value: string;
}

// Splits a raw query string (without '?') into decoded pairs; '+' stays a literal plus, since
// SigV4 clients encode spaces as %20. undefined on malformed escapes.
export function parseQuery(rawQuery: string): QueryParam[] | undefined {
  const params: QueryParam[] = [];
  if (rawQuery === '') return params;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = uriDecode(eq < 0 ? part : part.slice(0, eq));
    const value = uriDecode(eq < 0 ? '' : part.slice(eq + 1));
    if (name === undefined || value === undefined) return undefined;
    params.push({ name, value });
  }
  return params;
}

// Sorted by encoded name, then encoded value (byte order); `omit` drops X-Amz-Signature from
// presigned URLs.
export function canonicalQuery(params: readonly QueryParam[], omit?: string): string {
  const pairs: [string, string][] = [];
  for (const { name, value } of params) {
    if (name === omit) continue;
    pairs.push([uriEncode(name, false), uriEncode(value, false)]);
  }
  pairs.sort((a, b) => compareAscii(a[0], b[0]) || compareAscii(a[1], b[1]));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

function compareAscii(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Trims and collapses inner runs of spaces, per the SigV4 canonical header rules.
export function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/ {2,}/g, ' ');
}

// Builds the canonical header block from Node's rawHeaders (name, value, name, value, ...):
// repeated headers are joined with ',' in arrival order, as AWS does.
export function canonicalHeaders(rawHeaders: readonly string[], signed: readonly string[]): string {
  assert(rawHeaders.length % 2 === 0, 'rawHeaders holds name/value pairs');
  const values = new Map<string, string[]>();
  for (const name of signed) values.set(name, []);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const list = values.get(rawHeaders[i].toLowerCase());
    if (list !== undefined) list.push(canonicalHeaderValue(rawHeaders[i + 1]));
  }
  let out = '';
  for (const name of signed) out += `${name}:${values.get(name)!.join(',')}\n`;
  return out;
}

export interface CanonicalRequestParts {
  method: string;
  canonicalUri: string;
  canonicalQuery: string;
  canonicalHeaders: string; // each line ends with '\n'
  signedHeaders: readonly string[]; // lower-case, sorted
  payloadHash: string;
}

export function canonicalRequest(parts: CanonicalRequestParts): string {
  return [
    parts.method,
    parts.canonicalUri,
    parts.canonicalQuery,
    parts.canonicalHeaders,
    parts.signedHeaders.join(';'),
    parts.payloadHash,
  ].join('\n');
}

export function credentialScope(date: string, region: string, service: string): string {
  return `${date}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${algorithmName}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

// String to sign of one aws-chunked chunk; chained through the previous chunk's signature.
export function chunkStringToSign(
  amzDate: string,
  scope: string,
  previousSignature: string,
  chunkSha256Hex: string,
): string {
  return [
    `${algorithmName}-PAYLOAD`,
    amzDate,
    scope,
    previousSignature,
    emptySha256Hex,
    chunkSha256Hex,
  ].join('\n');
}

// String to sign of the trailing headers; `trailerSha256Hex` hashes "name:value\n" lines.
export function trailerStringToSign(
  amzDate: string,
  scope: string,
  previousSignature: string,
  trailerSha256Hex: string,
): string {
  return [`${algorithmName}-TRAILER`, amzDate, scope, previousSignature, trailerSha256Hex].join(
    '\n',
  );
}

// Derived keys are pure functions of their inputs and valid for a whole day, so a small cache
// saves four HMACs per request; it is bounded and evicts the oldest entry.
const signingKeys = new Map<string, Buffer>();

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  assert(/^\d{8}$/.test(date), 'signing date is YYYYMMDD');
  const cacheKey = `${secret}\u0000${date}\u0000${region}\u0000${service}`;
  const cached = signingKeys.get(cacheKey);
  if (cached !== undefined) return cached;
  const dateKey = hmac(`AWS4${secret}`, date);
  const key = hmac(hmac(hmac(dateKey, region), service), 'aws4_request');
  if (signingKeys.size >= signingKeyCacheMaxEntries) {
    signingKeys.delete(signingKeys.keys().next().value!);
  }
  signingKeys.set(cacheKey, key);
  assert(signingKeys.size <= signingKeyCacheMaxEntries);
  return key;
}

export function signatureHex(key: Uint8Array, toSign: string): string {
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

const signaturePattern = /^[0-9a-f]{64}$/;

export function isSignatureHex(text: string): boolean {
  return signaturePattern.test(text);
}

// Constant-time so that response timing does not reveal how many leading bytes matched.
export function signaturesEqual(expectedHex: string, actualHex: string): boolean {
  assert(isSignatureHex(expectedHex), 'expected signature is computed hex');
  if (!isSignatureHex(actualHex)) return false;
  return timingSafeEqual(Buffer.from(expectedHex, 'hex'), Buffer.from(actualHex, 'hex'));
}

// Parses ISO 8601 basic format (20130524T000000Z) to epoch ms; undefined when malformed.
export function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls over out-of-range fields; a round trip rejects "20131399T..." and the like.
  if (formatAmzDate(ms) !== text) return undefined;
  return ms;
}

export function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}
