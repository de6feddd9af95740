// Test inputs: IncomingMessage-shaped objects carrying the documented AWS example requests, and
// helpers to feed a body in arbitrary pieces.
import type { IncomingMessage } from 'node:http';
import type { AuthOptions } from '../../src/auth/types.ts';

export const exampleAccessKey = 'AKIAIOSFODNN7EXAMPLE';
export const exampleSecretKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
export const exampleTimeMs = Date.UTC(2013, 4, 24, 0, 0, 0);
export const emptySha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function exampleOptions(overrides: Partial<AuthOptions> = {}): AuthOptions {
  return {
    region: 'us-east-1',
    credentials: [
      { accessKey: exampleAccessKey, secretKey: exampleSecretKey, user: 'example', admin: false },
    ],
    allowAnonymous: false,
    maxClockSkewMs: 15 * 60 * 1000,
    nowMs: () => exampleTimeMs,
    ...overrides,
  };
}

export function fakeRequest(
  method: string,
  url: string,
  headers: readonly (readonly [string, string])[],
): IncomingMessage {
  const joined: Record<string, string> = {};
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    joined[lower] = joined[lower] === undefined ? value : `${joined[lower]}, ${value}`;
  }
  const request = { method, url, headers: joined, rawHeaders: headers.flat() };
  return request as unknown as IncomingMessage;
}

export function urlOf(request: IncomingMessage): URL {
  return new URL(request.url ?? '/', `http://${request.headers.host ?? 'localhost'}`);
}

// Yields `data` cut at the given sizes, then the rest.
export async function* inPieces(data: Buffer, sizes: readonly number[]): AsyncGenerator<Buffer> {
  let offset = 0;
  for (const size of sizes) {
    if (offset >= data.length) break;
    yield data.subarray(offset, offset + size);
    offset += size;
  }
  if (offset < data.length) yield data.subarray(offset);
}

export async function drain(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of body) parts.push(piece);
  return Buffer.concat(parts);
}

export function authorization(signedHeaders: string, signature: string, scopeDate = '20130524') {
  return (
    `AWS4-HMAC-SHA256 Credential=${exampleAccessKey}/${scopeDate}/us-east-1/s3/aws4_request,` +
    `SignedHeaders=${signedHeaders},Signature=${signature}`
  );
}
