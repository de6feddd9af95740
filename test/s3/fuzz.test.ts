// Malformed requests, generated from a seed, sent over raw sockets: bad XML, truncated and
// mis-signed aws-chunked bodies, huge headers, unsatisfiable ranges, keys that are not UTF-8 or
// are too long, broken auth headers. Each must get a 4xx S3 XML error (or, for a body cut off
// mid-stream, a closed connection); afterwards the server is still up, the objects written
// before are intact, and nothing a refused request carried was stored.
// Replay one seed: FUZZ_SEED=<n> node --test test/s3/fuzz.test.ts
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  chunkStringToSign,
  credentialScope,
  formatAmzDate,
  sha256Hex,
  signatureHex,
  signingKey,
} from '../../src/auth/sigv4.ts';
import { signHeaders } from '../auth/sign.ts';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const CASES = Number(process.env.FUZZ_CASES ?? 240);
const UNSIGNED = 'UNSIGNED-PAYLOAD';

// mulberry32: small, seedable, good enough to pick cases.
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RawRequest {
  name: string;
  method: string;
  target: string; // as sent on the request line (may hold raw bytes, as latin1)
  headers: [string, string][];
  body?: Buffer;
  sign?: { payloadHash: string; secretKey?: string } | false;
  // The body is cut: the socket is closed after these many body bytes.
  cutAfterBytes?: number;
  // Statuses acceptable for this case (default: any 4xx).
  expect?: (status: number) => boolean;
  code?: string; // the S3 error code this case must get
}

interface RawResult {
  status: number;
  text: string;
}

describe(`fuzz: malformed requests (seed ${SEED}, ${CASES} cases)`, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let host: string;
  const kept = new Map<string, Buffer>();

  before(async () => {
    server = await startStrata();
    host = new URL(server.s3Endpoint).host;
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'fuzz' }));
    for (const [key, size] of [
      ['kept/small', 10],
      ['kept/stripe', 5 * 1024 * 1024 + 11],
    ] as const) {
      const body = patternBytes(size, size);
      await s3.send(new PutObjectCommand({ Bucket: 'fuzz', Key: key, Body: body }));
      kept.set(key, body);
    }
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  function send(request: RawRequest): Promise<RawResult> {
    const url = new URL(server.s3Endpoint);
    let headers: [string, string][] = [['host', host], ...request.headers];
    if (request.sign !== false) {
      const payloadHash = request.sign?.payloadHash ?? UNSIGNED;
      const signedNames = headers.filter(([n]) => !['content-length'].includes(n.toLowerCase()));
      const withDate = signedNames.some(([n]) => n === 'x-amz-date')
        ? signedNames
        : [...signedNames, ['x-amz-date', formatAmzDate(Date.now())] as [string, string]];
      const withHash = withDate.some(([n]) => n === 'x-amz-content-sha256')
        ? withDate
        : [...withDate, ['x-amz-content-sha256', payloadHash] as [string, string]];
      headers = [
        ...signHeaders({
          method: request.method,
          target: request.target,
          headers: withHash,
          payloadHash,
          accessKey: server.accessKey,
          secretKey: request.sign?.secretKey ?? server.secretKey,
          scopeDate: formatAmzDate(Date.now()).slice(0, 8), // a fuzzed x-amz-date may not parse
        }),
        ...headers.filter(([n]) => n.toLowerCase() === 'content-length'),
      ];
    }
    const body = request.body ?? Buffer.alloc(0);
    if (!headers.some(([n]) => n.toLowerCase() === 'content-length')) {
      headers.push(['content-length', String(body.length)]);
    }
    const head = `${request.method} ${request.target} HTTP/1.1\r\n${headers
      .map(([n, v]) => `${n}: ${v}\r\n`)
      .join('')}connection: close\r\n\r\n`;
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', (error: NodeJS.ErrnoException) => {
        // The server may close a connection whose body it refused before we finished sending.
        if (error.code === 'ECONNRESET' || error.code === 'EPIPE') socket.destroy();
        else reject(error);
      });
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
        resolve({ status: match ? Number(match[1]) : 0, text });
      });
      socket.write(Buffer.from(head, 'latin1'));
      // No half-close after a whole request: Node's HTTP server drops a request whose client has
      // ended its side, and real clients wait for the answer (we asked for connection: close).
      if (request.cutAfterBytes !== undefined) {
        socket.write(body.subarray(0, request.cutAfterBytes));
        setTimeout(() => socket.destroy(), 20);
      } else {
        socket.write(body);
      }
    });
  }

  // aws-chunked with chunk signatures; `corruptChunk` flips a byte of that chunk after signing.
  function signedChunked(
    target: string,
    payload: Buffer,
    chunkBytes: number,
    corruptChunk: number | undefined,
  ): RawRequest {
    const amzDate = formatAmzDate(Date.now());
    const headers: [string, string][] = [
      ['x-amz-date', amzDate],
      ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
      ['content-encoding', 'aws-chunked'],
      ['x-amz-decoded-content-length', String(payload.length)],
    ];
    const signed = signHeaders({
      method: 'PUT',
      target,
      headers: [['host', host], ...headers],
      payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      accessKey: server.accessKey,
      secretKey: server.secretKey,
    });
    const authorization = signed.find(([n]) => n === 'Authorization')?.[1] ?? '';
    let previous = /Signature=([0-9a-f]{64})/.exec(authorization)?.[1] ?? '';
    const date = amzDate.slice(0, 8);
    const scope = credentialScope(date, 'us-east-1', 's3');
    const key = signingKey(server.secretKey, date, 'us-east-1', 's3');
    const pieces: Buffer[] = [];
    const chunks: Buffer[] = [];
    for (let at = 0; at < payload.length; at += chunkBytes) {
      chunks.push(payload.subarray(at, at + chunkBytes));
    }
    chunks.push(Buffer.alloc(0));
    chunks.forEach((chunk, i) => {
      const signature = signatureHex(
        key,
        chunkStringToSign(amzDate, scope, previous, sha256Hex(chunk)),
      );
      previous = signature;
      const sent = Buffer.from(chunk);
      if (i === corruptChunk && sent.length > 0) sent[sent.length >> 1] ^= 0x55;
      pieces.push(
        Buffer.from(`${chunk.length.toString(16)};chunk-signature=${signature}\r\n`),
        sent,
        Buffer.from('\r\n'),
      );
    });
    return {
      name: 'signed aws-chunked',
      method: 'PUT',
      target,
      headers: signed.filter(([n]) => n !== 'host'),
      body: Buffer.concat(pieces),
      sign: false,
    };
  }

  function cases(random: () => number): RawRequest[] {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
    const int = (max: number) => Math.floor(random() * max);
    const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
    const xmlTargets = [
      ['POST', '/fuzz?delete'],
      ['PUT', '/fuzz/kept/small?tagging'],
      ['PUT', '/fuzz?tagging'],
      ['PUT', '/fuzz?acl'],
      ['POST', '/fuzz/x?uploadId=nope'],
      ['PUT', '/fuzz?cors'],
    ] as const;
    const badXml = () =>
      pick([
        () => junk(1 + int(300)),
        () => Buffer.from('<Delete><Object><Key>a</Key></Object>'),
        () => Buffer.from(`<Tagging>${'<TagSet>'.repeat(500)}`),
        () =>
          Buffer.from(
            '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><Tagging><TagSet><Tag><Key>&d;&d;&d;</Key><Value>v</Value></Tag></TagSet></Tagging>',
          ),
        () => Buffer.from('<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part>'),
        () => Buffer.from('<?xml version="1.0"?>'),
        () => Buffer.from('<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>'),
      ])();
    // A browser form upload (POST Object) whose multipart body is broken.
    const badForm = (): RawRequest => {
      const boundary = 'fuzzboundary';
      const part = (name: string, value: string, file = '') =>
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file}\r\n\r\n${value}\r\n`;
      const body = pick([
        () => junk(1 + int(3000)),
        () => Buffer.from(part('key', 'x') + part('policy', 'not base64!')),
        () =>
          Buffer.from(`${part('key', 'x')}${part('file', 'data', '; filename="a"')}`.slice(0, -2)),
        () => Buffer.from(`${part('key', 'x')}${part('file', 'no file name')}--${boundary}--\r\n`),
        () => Buffer.from(`${part('key', 'x'.repeat(30_000))}--${boundary}--\r\n`),
      ])();
      const type = pick([
        `multipart/form-data; boundary=${boundary}`,
        'multipart/form-data',
        'multipart/form-data; boundary=',
        'application/x-www-form-urlencoded',
      ]);
      return {
        name: `broken form upload (${type})`,
        method: 'POST',
        target: '/fuzz',
        headers: [['content-type', type]],
        body,
        sign: false,
      };
    };
    const generators: Array<() => RawRequest> = [
      badForm,
      () => {
        const [method, target] = pick(xmlTargets);
        const body = badXml();
        return {
          name: `bad XML to ${method} ${target}`,
          method,
          target,
          headers: [['content-md5', createHash('md5').update(body).digest('base64')]],
          body,
        };
      },
      () => {
        const payload = patternBytes(1 + int(200_000), int(1000));
        const request = signedChunked(
          `/fuzz/bad-chunk-${int(1e9)}`,
          payload,
          8192,
          int(Math.ceil(payload.length / 8192)),
        );
        return { ...request, name: 'aws-chunked with a wrong chunk signature' };
      },
      () => {
        const payload = patternBytes(64 * 1024 + int(200_000), int(1000));
        const request = signedChunked(`/fuzz/cut-chunk-${int(1e9)}`, payload, 65536, undefined);
        const cut = 1 + int((request.body?.length ?? 2) - 2);
        return {
          ...request,
          name: 'aws-chunked body cut off',
          cutAfterBytes: cut,
          expect: (status) => status === 0 || (status >= 400 && status < 500),
        };
      },
      () => {
        const size = 1 + int(100_000);
        return {
          name: 'Content-Length larger than the body sent',
          method: 'PUT',
          target: `/fuzz/short-${int(1e9)}`,
          headers: [['content-length', String(size + 1 + int(1000))]],
          body: patternBytes(size, 3),
          cutAfterBytes: size,
          expect: (status) => status === 0 || (status >= 400 && status < 500),
        };
      },
      () => ({
        name: 'huge header',
        method: 'GET',
        target: '/fuzz/kept/small',
        headers: [['x-amz-meta-big', 'x'.repeat(20_000 + int(100_000))]],
        sign: false,
      }),
      () => ({
        name: 'too many user metadata bytes',
        method: 'PUT',
        target: `/fuzz/meta-${int(1e9)}`,
        headers: [['x-amz-meta-big', 'y'.repeat(2100 + int(4000))]],
        body: Buffer.from('x'),
      }),
      () => {
        const start = kept.get('kept/small')!.length + int(1000);
        return {
          name: 'unsatisfiable range',
          method: 'GET',
          target: '/fuzz/kept/small',
          headers: [['range', `bytes=${start}-${start + int(100)}`]],
          expect: (status) => status === 416,
        };
      },
      () => {
        const bad = pick([
          '%C3%28',
          '%FF%FE',
          '%ED%A0%80',
          '%E2%82',
          '%',
          '%zz',
          '\xff\xfe',
          '\xc3\x28',
        ]);
        return {
          name: `key that is not UTF-8 (${JSON.stringify(bad)})`,
          method: pick(['GET', 'PUT', 'HEAD', 'DELETE']),
          target: `/fuzz/bad${bad}key`,
          headers: [],
          body: Buffer.from('x'),
          expect: (status) => status === 400,
        };
      },
      () => {
        // At least 11 segments of 100 bytes: always over the 1,024-byte limit.
        const key = Array.from({ length: 11 + int(6) }, () => 'k'.repeat(100 + int(150))).join('/');
        return {
          name: `key of ${Buffer.byteLength(key)} bytes`,
          method: 'PUT',
          target: `/fuzz/${key}`,
          headers: [],
          body: Buffer.from('x'),
          expect: (status) => status === 400,
          code: 'KeyTooLongError',
        };
      },
      () => ({
        name: 'wrong secret',
        method: pick(['GET', 'PUT', 'DELETE']),
        target: `/fuzz/kept/${pick(['small', 'stripe'])}`,
        headers: [],
        body: Buffer.from('overwrite'),
        sign: { payloadHash: UNSIGNED, secretKey: 'not-the-secret' },
        expect: (status) => status === 403,
      }),
      () => {
        const body = patternBytes(10 + int(1000), 9);
        return {
          name: 'payload hash that does not match',
          method: 'PUT',
          target: `/fuzz/hash-${int(1e9)}`,
          headers: [],
          body,
          sign: { payloadHash: sha256Hex(Buffer.from('something else')) },
        };
      },
      () => ({
        name: 'garbage Authorization',
        method: 'GET',
        target: '/fuzz/kept/small',
        headers: [
          [
            'authorization',
            pick([
              'AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=',
              'AWS4-HMAC-SHA256',
              `AWS4-HMAC-SHA256 Credential=${server.accessKey}/20990101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`,
              'Bearer abc',
              'AWS key:sig',
              junk(40)
                .toString('latin1')
                .replace(/[\r\n]/g, ''),
            ]),
          ],
        ],
        sign: false,
      }),
      () => ({
        name: 'bad x-amz-date',
        method: 'GET',
        target: '/fuzz/kept/small',
        headers: [['x-amz-date', pick(['yesterday', '20260101T000000', '19700101T000000Z', ''])]],
      }),
      () => ({
        name: 'bad checksum header',
        method: 'PUT',
        target: `/fuzz/sum-${int(1e9)}`,
        headers: [
          [
            pick(['x-amz-checksum-crc32', 'x-amz-checksum-sha256', 'content-md5']),
            pick(['AAAA', 'not base64!', 'AAAAAAAAAAAAAAAAAAAAAA==']),
          ],
        ],
        body: patternBytes(100, 1),
      }),
      () => ({
        name: 'bad part number',
        method: 'PUT',
        target: `/fuzz/x?uploadId=u&partNumber=${pick(['0', '-1', '10001', 'abc', '1.5'])}`,
        headers: [],
        body: Buffer.from('x'),
      }),
    ];
    return Array.from({ length: CASES }, () => pick(generators)());
  }

  test('every malformed request gets a 4xx S3 error, and the server keeps serving', async () => {
    const random = prng(SEED);
    const requests = cases(random);
    const replay = `FUZZ_SEED=${SEED} FUZZ_CASES=${CASES} node --test test/s3/fuzz.test.ts`;
    for (const [i, request] of requests.entries()) {
      const result = await send(request);
      const ok = request.expect ?? ((status: number) => status >= 400 && status < 500);
      assert.ok(
        ok(result.status),
        `case ${i} (${request.name}): status ${result.status}\n${result.text.slice(0, 600)}\nreplay: ${replay}`,
      );
      if (result.status >= 400 && request.method !== 'HEAD') {
        assert.match(
          result.text,
          /<Error><Code>[A-Za-z0-9]+<\/Code><Message>/,
          `case ${i} (${request.name}): an S3 XML error\nreplay: ${replay}`,
        );
      }
      if (request.code !== undefined) {
        assert.ok(
          result.text.includes(`<Code>${request.code}</Code>`),
          `case ${i}: ${request.code}`,
        );
      }
      assert.equal(server.process.exitCode, null, `server exited after case ${i}: ${replay}`);
    }
  });

  test('after the fuzzing, the objects written before are intact and nothing else was stored', async () => {
    for (const [key, body] of kept) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'fuzz', Key: key }));
      assert.ok((await bodyBytes(got.Body)).equals(body), key);
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'fuzz' }));
    assert.deepEqual(
      listed.Contents?.map((o) => o.Key),
      [...kept.keys()].sort(),
      'refused requests stored nothing',
    );
  });
});
