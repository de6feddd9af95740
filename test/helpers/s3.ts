import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { runProcess } from './process.ts';
import type { StrataProcess } from './server.ts';
import { awsEnv } from './tools.ts';

// An SDK client at its default settings (checksums, aws-chunked streaming), pointed at Strata.
export function s3Client(server: StrataProcess, secretKey = server.secretKey): S3Client {
  return new S3Client({
    endpoint: server.s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: secretKey },
    maxAttempts: 1,
  });
}

// An SDK client signing as one of the config's users (tests with several credentials).
export function userClient(server: StrataProcess, user: { key: string; secret: string }): S3Client {
  return new S3Client({
    endpoint: server.s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: user.key, secretAccessKey: user.secret },
    maxAttempts: 1,
  });
}

// The SDK call fails with this S3 error code.
export async function rejectsWith(promise: Promise<unknown>, code: string, what: string) {
  await assert.rejects(promise, (e: { name?: string; Code?: string }) => {
    assert.equal(e.name ?? e.Code, code, what);
    return true;
  });
}

// Runs awscli against the server; resolves with exit code and output.
export async function aws(
  server: StrataProcess,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { status, stdout, stderr } = await runProcess(
    'aws',
    ['--endpoint-url', server.s3Endpoint, ...args],
    { env: { ...process.env, ...awsEnv(server) } },
  );
  return { code: status, stdout, stderr };
}

export async function bodyBytes(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

// Deterministic pseudo-random bytes (xorshift), so a failure reproduces with the same content.
export function patternBytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  for (; i < length; i++) out[i] = (x >>> (8 * (i % 4))) & 0xff;
  return out;
}

// The hex MD5 of a body: what the tests record at PUT and compare after GET.
export function md5Hex(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}
