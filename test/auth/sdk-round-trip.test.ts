// Real round trips: a node:http server on port 0 that authenticates with authenticate() and
// drains body(), driven by @aws-sdk/client-s3 and by presigned URLs over a real socket.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Transform } from 'node:stream';
import { after, before, test } from 'node:test';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { authenticate } from '../../src/auth/authenticate.ts';
import { checksumBase64 } from '../../src/auth/checksums.ts';
import { formatAmzDate } from '../../src/auth/sigv4.ts';
import { type AuthOptions, S3AuthError } from '../../src/auth/types.ts';
import { exampleAccessKey, exampleOptions, exampleSecretKey } from './fake-request.ts';
import { presignQuery } from './sign.ts';

interface Received {
  method: string;
  path: string;
  bytes: Buffer;
  checksums: Record<string, string>;
  contentSha256: string | undefined;
  contentEncoding: string | undefined;
}

const received: Received[] = [];
let nowOffsetMs = 0;
let server: Server;
let endpoint: string;

const serverOptions: AuthOptions = {
  ...exampleOptions(),
  nowMs: () => Date.now() + nowOffsetMs,
};

async function handle(request: IncomingMessage): Promise<[number, string]> {
  const url = new URL(request.url ?? '/', `http://${request.headers.host}`);
  const auth = authenticate(request, url, serverOptions);
  const parts: Buffer[] = [];
  for await (const piece of auth.body(request)) parts.push(piece);
  received.push({
    method: request.method ?? '',
    path: url.pathname,
    bytes: Buffer.concat(parts),
    checksums: { ...auth.checksums },
    contentSha256: request.headers['x-amz-content-sha256'] as string | undefined,
    contentEncoding: request.headers['content-encoding'],
  });
  return [200, request.method === 'GET' ? 'object bytes' : ''];
}

before(async () => {
  server = createServer((request, response) => {
    handle(request).then(
      ([status, body]) => {
        response.writeHead(status, { ETag: '"0"' }).end(body);
      },
      (error: unknown) => {
        const s3 = error instanceof S3AuthError ? error : undefined;
        const code = s3?.s3Code ?? 'InternalError';
        const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${
          (error as Error).message
        }</Message></Error>`;
        request.resume();
        response.writeHead(s3?.httpStatus ?? 500, { 'Content-Type': 'application/xml' }).end(xml);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
});

function client(secretAccessKey = exampleSecretKey): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: exampleAccessKey, secretAccessKey },
  });
}

async function rejectsWithCode(promise: Promise<unknown>, code: string, status: number) {
  await assert.rejects(promise, (e: any) => {
    assert.equal(e.name, code, e.message);
    assert.equal(e.$metadata?.httpStatusCode, status);
    return true;
  });
}

// Hands the body over in several reads so the SDK frames several aws-chunked chunks.
function streamOf(data: Buffer, pieceBytes: number): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += pieceBytes) pieces.push(data.subarray(i, i + pieceBytes));
  return Readable.from(pieces, { objectMode: false });
}

test('PutObject with a Buffer body: exact bytes arrive and the CRC32 header verifies', async () => {
  const data = randomBytes(300_000);
  received.length = 0;
  await client().send(
    new PutObjectCommand({ Bucket: 'bucket', Key: 'dir/buffer.bin', Body: data }),
  );
  const [got] = received;
  assert.equal(got.path, '/bucket/dir/buffer.bin');
  assert.ok(got.bytes.equals(data), 'server received the exact bytes');
  assert.match(got.contentSha256 ?? '', /^[0-9a-f]{64}$|^UNSIGNED-PAYLOAD$/);
  assert.equal(got.checksums.CRC32, checksumBase64('CRC32', data));
});

test('PutObject with a stream body: aws-chunked with a CRC32 trailer verifies', async () => {
  const data = randomBytes(1_000_000);
  received.length = 0;
  await client().send(
    new PutObjectCommand({
      Bucket: 'bucket',
      Key: 'streamed key with spaces+plus',
      Body: streamOf(data, 65_536),
      ContentLength: data.length,
    }),
  );
  const [got] = received;
  assert.equal(got.contentSha256, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
  assert.match(got.contentEncoding ?? '', /aws-chunked/);
  assert.ok(got.bytes.equals(data), 'server received the exact decoded bytes');
  assert.equal(got.checksums.CRC32, checksumBase64('CRC32', data), 'trailer checksum recorded');
});

test('a client with the wrong secret gets SignatureDoesNotMatch 403', async () => {
  await rejectsWithCode(
    client('wrong-secret').send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' })),
    'SignatureDoesNotMatch',
    403,
  );
});

// Rewrites the trailing x-amz-checksum-crc32 value on the wire after the SDK has signed the
// request; the trailer of STREAMING-UNSIGNED-PAYLOAD-TRAILER is not covered by a signature.
function corruptTrailer(): Transform {
  const held: Buffer[] = [];
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      held.push(Buffer.from(chunk));
      done();
    },
    flush(done) {
      const wire = Buffer.concat(held).toString('latin1');
      const corrupted = wire.replace(
        /x-amz-checksum-crc32:[A-Za-z0-9+/=]+/,
        'x-amz-checksum-crc32:AAAAAA==',
      );
      assert.notEqual(corrupted, wire, 'the trailer was found and changed');
      done(null, Buffer.from(corrupted, 'latin1'));
    },
  });
}

test('a corrupted trailing CRC32 is BadDigest 400', async () => {
  const s3 = client();
  s3.middlewareStack.add(
    (next) => async (args: any) => {
      args.request.body = (args.request.body as Readable).pipe(corruptTrailer());
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'corruptTrailer' },
  );
  const data = randomBytes(200_000);
  await rejectsWithCode(
    s3.send(
      new PutObjectCommand({
        Bucket: 'b',
        Key: 'k',
        Body: streamOf(data, 50_000),
        ContentLength: data.length,
      }),
    ),
    'BadDigest',
    400,
  );
});

test('a server clock an hour ahead answers RequestTimeTooSkewed 403', async () => {
  nowOffsetMs = 60 * 60 * 1000;
  try {
    await rejectsWithCode(
      client().send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })),
      'RequestTimeTooSkewed',
      403,
    );
  } finally {
    nowOffsetMs = 0;
  }
});

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${endpoint}${path}`, (response) => {
      const parts: Buffer[] = [];
      response.on('data', (b: Buffer) => parts.push(b));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts).toString() }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('presigned GET over a socket, by a presigner checked on the documented URL', async () => {
  const documented = presignQuery(
    'GET',
    '/test.txt',
    'examplebucket.s3.amazonaws.com',
    '20130524T000000Z',
    86400,
  );
  assert.ok(
    documented.endsWith('aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404'),
    'the test presigner reproduces the documented signature',
  );
  const host = new URL(endpoint).host;
  const fresh = presignQuery('GET', '/bucket/photo.jpg', host, formatAmzDate(Date.now()), 60);
  const ok = await get(`/bucket/photo.jpg?${fresh}`);
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.body, 'object bytes');
  const old = presignQuery(
    'GET',
    '/bucket/photo.jpg',
    host,
    formatAmzDate(Date.now() - 120_000),
    60,
  );
  const expired = await get(`/bucket/photo.jpg?${old}`);
  assert.equal(expired.status, 403);
  assert.match(expired.body, /<Code>AccessDenied<\/Code><Message>Request has expired/);
});
