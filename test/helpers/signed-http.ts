// Raw S3 requests signed with SigV4 (every header signed), for tests that must choose each header
// themselves, below any SDK's own validation of values.
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { XMLParser } from 'fast-xml-parser';
import { signHeaders } from '../auth/sign.ts';
import type { StrataProcess } from './server.ts';

export interface RawRequest {
  method: string;
  target: string; // path and query, already encoded
  headers?: Record<string, string>;
  body?: string | Buffer;
  payloadHash?: string; // default: the SHA-256 of the body
  amzDate?: string;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  code: string | undefined; // the S3 error code, from the XML body or (HEAD) x-amz-error-code
  xml: Record<string, unknown> | undefined;
}

export function amzDateOf(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

const parser = new XMLParser({ parseTagValue: false, ignoreAttributes: true });

export function sendSigned(server: StrataProcess, input: RawRequest): Promise<RawResponse> {
  const host = new URL(server.s3Endpoint).host;
  const body = Buffer.from(input.body ?? '');
  const payloadHash = input.payloadHash ?? createHash('sha256').update(body).digest('hex');
  const headers = signHeaders({
    method: input.method,
    target: input.target,
    headers: [
      ['host', host],
      ['x-amz-date', input.amzDate ?? amzDateOf(Date.now())],
      ['x-amz-content-sha256', payloadHash],
      ...Object.entries(input.headers ?? {}),
    ],
    payloadHash,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
  });
  return new Promise((resolve, reject) => {
    const req = request(`${server.s3Endpoint}${input.target}`, {
      method: input.method,
      headers: { ...Object.fromEntries(headers), 'content-length': body.length },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks);
        const xml =
          text.length > 0 && String(res.headers['content-type']).includes('xml')
            ? (parser.parse(text.toString('utf8')) as Record<string, unknown>)
            : undefined;
        const error = xml?.Error as { Code?: string } | undefined;
        const headerCode = res.headers['x-amz-error-code'];
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: text,
          code: error?.Code ?? (typeof headerCode === 'string' ? headerCode : undefined),
          xml,
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
