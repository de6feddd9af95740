// A minimal SigV4 client signer for tests, built on the primitives the documented examples
// check (test/auth/documented-examples.test.ts), so requests can vary one thing at a time.
import {
  canonicalHeaders,
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  credentialScope,
  parseQuery,
  signatureHex,
  signingKey,
  stringToSign,
} from '../../src/auth/sigv4.ts';
import { exampleAccessKey, exampleSecretKey } from './fake-request.ts';

export interface SignInput {
  method: string;
  target: string; // path and query as sent
  headers: [string, string][]; // all are signed; must include host and x-amz-date
  payloadHash: string;
  secretKey?: string;
  accessKey?: string;
  region?: string;
  scopeDate?: string;
}

// Returns the headers with Authorization added.
export function signHeaders(input: SignInput): [string, string][] {
  const q = input.target.indexOf('?');
  const path = q < 0 ? input.target : input.target.slice(0, q);
  const query = parseQuery(q < 0 ? '' : input.target.slice(q + 1)) ?? [];
  const amzDate = input.headers.find(([n]) => n.toLowerCase() === 'x-amz-date')?.[1] ?? '';
  const names = [...new Set(input.headers.map(([n]) => n.toLowerCase()))].sort();
  const canonical = canonicalRequest({
    method: input.method,
    canonicalUri: canonicalUri(path) ?? '',
    canonicalQuery: canonicalQuery(query),
    canonicalHeaders: canonicalHeaders(input.headers.flat(), names),
    signedHeaders: names,
    payloadHash: input.payloadHash,
  });
  const date = input.scopeDate ?? amzDate.slice(0, 8);
  const region = input.region ?? 'us-east-1';
  const scope = credentialScope(date, region, 's3');
  const key = signingKey(input.secretKey ?? exampleSecretKey, date, region, 's3');
  const signature = signatureHex(key, stringToSign(amzDate, scope, canonical));
  const credential = `${input.accessKey ?? exampleAccessKey}/${scope}`;
  return [
    ...input.headers,
    [
      'Authorization',
      `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${names.join(';')}, ` +
        `Signature=${signature}`,
    ],
  ];
}

// A presigned URL query (X-Amz-*), signed over host only, as presigners do for GET.
export function presignQuery(
  method: string,
  path: string,
  host: string,
  amzDate: string,
  expiresSeconds: number,
): string {
  const date = amzDate.slice(0, 8);
  const scope = credentialScope(date, 'us-east-1', 's3');
  const params = [
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${exampleAccessKey}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(expiresSeconds)],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  const query = params.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('&');
  const canonical = canonicalRequest({
    method,
    canonicalUri: canonicalUri(path) ?? '',
    canonicalQuery: canonicalQuery(parseQuery(query) ?? []),
    canonicalHeaders: `host:${host}\n`,
    signedHeaders: ['host'],
    payloadHash: 'UNSIGNED-PAYLOAD',
  });
  const key = signingKey(exampleSecretKey, date, 'us-east-1', 's3');
  return `${query}&X-Amz-Signature=${signatureHex(key, stringToSign(amzDate, scope, canonical))}`;
}
