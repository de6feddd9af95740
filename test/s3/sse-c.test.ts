// SSE-C (x-amz-server-side-encryption-customer-*) against a real server with the AWS SDK
// (SSECustomerKey), awscli (--sse-c / --sse-customer-key fileb://) and raw signed requests. The
// rules under test: an object written with a key reads back only with that key (none: 400
// InvalidRequest, another: 403 AccessDenied); copies and multipart uploads keep to their keys;
// the bytes on disk are sealed (a grep for a plaintext marker finds nothing, and finds the marker
// of a plain copy, so it can fail); the key shows up in no log line, even at debug level; and
// `strata fs get` refuses the object with a clear error. The gateway speaks plain HTTP here,
// allowed for loopback peers by [s3] sse_c_over_http (test/s3/request-headers.test.ts checks
// the refusal without it).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  S3Client as SdkClient,
  SelectObjectContentCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { issueCertificate } from '../../src/rpc/certificates.ts';
import { testCa } from '../helpers/certs.ts';
import { runProcess } from '../helpers/process.ts';
import { aws, bodyBytes, rejectsWith, s3Client } from '../helpers/s3.ts';
import {
  configWriter,
  STRATA_BIN,
  type StrataProcess,
  startStrata,
  tempDir,
} from '../helpers/server.ts';
import { sendSigned } from '../helpers/signed-http.ts';
import { awsEnv, has } from '../helpers/tools.ts';

const MiB = 1024 * 1024;
const ALGORITHM = 'AES256';

// `length` bytes of one marker string over and over: any plaintext fragment of 64 bytes or more
// holds it whole.
function markerBytes(marker: string, length: number): Buffer {
  return Buffer.alloc(length, Buffer.from(`${marker}|`));
}

function readIfThere(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function filesContaining(dir: string, needle: string | Buffer): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    // A shard file may go between the listing and the read (a replaced object's collected).
    const bytes = statSync(path, { throwIfNoEntry: false })?.isFile()
      ? readIfThere(path)
      : undefined;
    if (bytes?.includes(needle)) found.push(path);
  }
  return found;
}

const md5Base64 = (key: Buffer) => createHash('md5').update(key).digest('base64');
// The SDK types SSECustomerKey as a string; its middleware takes base64 as the key's bytes.
const b64 = (key: Buffer) => key.toString('base64');

// The SSE-C headers of a raw request.
function keyHeaders(key: Buffer, prefix = 'x-amz-server-side-encryption-customer-') {
  return {
    [`${prefix}algorithm`]: ALGORITHM,
    [`${prefix}key`]: key.toString('base64'),
    [`${prefix}key-md5`]: md5Base64(key),
  };
}

describe('SSE-C on a gateway that allows it over loopback HTTP', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const dataDir = tempDir('strata-ssec-');
  const disks = join(dataDir, 'disks');
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  // Every key a test sends; none may appear in the log, in any encoding.
  const keysSent = [keyA, keyB];

  before(async () => {
    // A master key file (encryption at rest off) so SSE-S3 copies can be sealed too.
    writeFileSync(join(dataDir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, {
      mode: 0o600,
    });
    const env = configWriter(dataDir)('strata', ['[s3]', 'sse_c_over_http = true']);
    server = await startStrata({ dataDir, env, args: ['--log-level', 'debug'] });
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'vault' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('PUT, HEAD and GET with the key: the bytes come back and every answer echoes the key', async () => {
    const body = markerBytes('SSEC-PUT-MARKER-5e1a', 3 * MiB + 7);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'vault',
        Key: 'secret',
        Body: body,
        SSECustomerAlgorithm: ALGORITHM,
        SSECustomerKey: b64(keyA),
      }),
    );
    assert.equal(put.SSECustomerAlgorithm, ALGORITHM);
    assert.equal(put.SSECustomerKeyMD5, md5Base64(keyA));
    assert.equal(put.ServerSideEncryption, undefined, 'SSE-C is not SSE-S3');
    const keyed = { Bucket: 'vault', Key: 'secret', SSECustomerAlgorithm: ALGORITHM };
    const head = await s3.send(new HeadObjectCommand({ ...keyed, SSECustomerKey: b64(keyA) }));
    assert.equal(head.SSECustomerAlgorithm, ALGORITHM);
    assert.equal(head.SSECustomerKeyMD5, md5Base64(keyA));
    assert.equal(head.ContentLength, body.length);
    const got = await s3.send(new GetObjectCommand({ ...keyed, SSECustomerKey: b64(keyA) }));
    assert.equal(got.SSECustomerKeyMD5, md5Base64(keyA));
    assert.ok((await bodyBytes(got.Body)).equals(body), 'the bytes read back');
  });

  test('without the key: 400 InvalidRequest; with another key: 403 AccessDenied', async () => {
    await rejectsWith(
      s3.send(new GetObjectCommand({ Bucket: 'vault', Key: 'secret' })),
      'InvalidRequest',
      'GET without the key',
    );
    const head = await sendSigned(server, { method: 'HEAD', target: '/vault/secret' });
    assert.equal(head.status, 400, 'HEAD without the key');
    const wrong = {
      Bucket: 'vault',
      Key: 'secret',
      SSECustomerAlgorithm: ALGORITHM,
      SSECustomerKey: b64(keyB),
    };
    await rejectsWith(s3.send(new GetObjectCommand(wrong)), 'AccessDenied', 'GET, another key');
    const wrongHead = await sendSigned(server, {
      method: 'HEAD',
      target: '/vault/secret',
      headers: keyHeaders(keyB),
    });
    assert.equal(wrongHead.status, 403, 'HEAD with another key');
    // GetObjectAttributes holds to the same rule as HEAD.
    const attributes = (headers: Record<string, string>) =>
      sendSigned(server, {
        method: 'GET',
        target: '/vault/secret?attributes',
        headers: { 'x-amz-object-attributes': 'ObjectSize', ...headers },
      });
    assert.equal((await attributes({})).status, 400, 'attributes without the key');
    assert.equal((await attributes(keyHeaders(keyB))).status, 403, 'attributes, another key');
    assert.equal((await attributes(keyHeaders(keyA))).status, 200, 'attributes with the key');
    // Select does not take the key yet: refused as not implemented, never read without it.
    await rejectsWith(
      s3.send(
        new SelectObjectContentCommand({
          Bucket: 'vault',
          Key: 'secret',
          Expression: 'SELECT * FROM S3Object',
          ExpressionType: 'SQL',
          InputSerialization: { CSV: {} },
          OutputSerialization: { CSV: {} },
        }),
      ),
      'NotImplemented',
      'SelectObjectContent of an SSE-C object',
    );
    // A key sent for an object that has none is refused too, as AWS does.
    await s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'open', Body: 'hello' }));
    await rejectsWith(
      s3.send(new GetObjectCommand({ ...wrong, Key: 'open' })),
      'InvalidRequest',
      'a key for a plain object',
    );
  });

  test('malformed key headers are 400 InvalidArgument and store nothing', async () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['an MD5 that does not match', { ...keyHeaders(keyA), ...md5Of(keyB) }],
      ['a 128-bit key', keyHeaders(randomBytes(16))],
      ['no MD5', withoutMd5(keyHeaders(keyA))],
      ['no key', { 'x-amz-server-side-encryption-customer-algorithm': ALGORITHM }],
      [
        'another algorithm',
        { ...keyHeaders(keyA), 'x-amz-server-side-encryption-customer-algorithm': 'AES128' },
      ],
      ['SSE-S3 as well', { ...keyHeaders(keyA), 'x-amz-server-side-encryption': 'AES256' }],
    ];
    for (const [what, headers] of cases) {
      const response = await sendSigned(server, {
        method: 'PUT',
        target: '/vault/malformed',
        headers,
        body: 'x',
      });
      assert.equal(response.status, 400, what);
      assert.equal(response.code, 'InvalidArgument', what);
    }
    const head = await sendSigned(server, { method: 'HEAD', target: '/vault/malformed' });
    assert.equal(head.status, 404, 'nothing was stored');
  });

  test('range GETs open only what they ask, across chunk and stripe boundaries', async () => {
    const body = randomBytes(5 * MiB + 123);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'vault',
        Key: 'ranged',
        Body: body,
        SSECustomerAlgorithm: ALGORITHM,
        SSECustomerKey: b64(keyA),
      }),
    );
    const ranges: Array<[number, number]> = [
      [0, 0],
      [65_519, 65_540], // a sealed chunk's edge (64 KiB less its tag)
      [MiB - 10, MiB + 10],
      [4 * MiB - 1, 4 * MiB + 70_000], // the first stripe's edge (4 data shards of 1 MiB)
      [body.length - 5, body.length - 1],
    ];
    for (const [first, last] of ranges) {
      const got = await s3.send(
        new GetObjectCommand({
          Bucket: 'vault',
          Key: 'ranged',
          Range: `bytes=${first}-${last}`,
          SSECustomerAlgorithm: ALGORITHM,
          SSECustomerKey: b64(keyA),
        }),
      );
      const bytes = await bodyBytes(got.Body);
      assert.ok(bytes.equals(body.subarray(first, last + 1)), `bytes ${first}-${last}`);
    }
  });

  test('awscli: cp --sse-c up and down, head-object with --sse-customer-key', {
    skip: has('aws') ? false : 'awscli is not installed (.ci/run installs it)',
  }, async () => {
    const work = tempDir('strata-ssec-cli-');
    const keyFile = join(work, 'key.bin');
    writeFileSync(keyFile, keyA);
    const local = join(work, 'up.bin');
    const body = markerBytes('SSEC-CLI-MARKER-77b3', 2 * MiB);
    writeFileSync(local, body);
    const sse = ['--sse-c', ALGORITHM, '--sse-c-key', `fileb://${keyFile}`];
    const up = await aws(server, ['s3', 'cp', local, 's3://vault/cli.bin', ...sse]);
    assert.equal(up.code, 0, up.stderr);
    const down = join(work, 'down.bin');
    const back = await aws(server, ['s3', 'cp', 's3://vault/cli.bin', down, ...sse]);
    assert.equal(back.code, 0, back.stderr);
    assert.ok(readFileSync(down).equals(body), 'awscli round trip');
    const head = await aws(server, [
      's3api',
      'head-object',
      '--bucket',
      'vault',
      '--key',
      'cli.bin',
      '--sse-customer-algorithm',
      ALGORITHM,
      '--sse-customer-key',
      `fileb://${keyFile}`,
    ]);
    assert.equal(head.code, 0, head.stderr);
    assert.equal(JSON.parse(head.stdout).SSECustomerKeyMD5, md5Base64(keyA));
    const without = await aws(server, ['s3', 'cp', 's3://vault/cli.bin', join(work, 'no.bin')]);
    assert.notEqual(without.code, 0, 'a download without the key fails');
  });

  test('a presigned GET still needs the key headers', {
    skip: has('aws') ? false : 'awscli is not installed (.ci/run installs it)',
  }, async () => {
    const config = join(tempDir('strata-ssec-presign-'), 'aws-config');
    writeFileSync(config, '[default]\ns3 =\n  signature_version = s3v4\n');
    const { stdout, status } = await runProcess(
      'aws',
      ['--endpoint-url', server.s3Endpoint, 's3', 'presign', 's3://vault/secret'],
      { env: { ...process.env, ...awsEnv(server), AWS_CONFIG_FILE: config } },
    );
    assert.equal(status, 0);
    const url = stdout.trim();
    const bare = await fetch(url);
    assert.equal(bare.status, 400, 'the URL alone does not read an SSE-C object');
    const keyed = await fetch(url, { headers: keyHeaders(keyA) });
    assert.equal(keyed.status, 200, await keyed.clone().text());
    const bytes = Buffer.from(await keyed.arrayBuffer());
    assert.ok(bytes.equals(markerBytes('SSEC-PUT-MARKER-5e1a', 3 * MiB + 7)));
  });

  test('CopyObject: SSE-C to SSE-C under a new key, to plain, to SSE-S3; plain to SSE-C', async () => {
    const source = {
      CopySource: 'vault/secret',
      CopySourceSSECustomerAlgorithm: ALGORITHM,
      CopySourceSSECustomerKey: b64(keyA),
    };
    const expected = markerBytes('SSEC-PUT-MARKER-5e1a', 3 * MiB + 7);
    // Under a new key: the copy reads with B only, the source still with A.
    const rekeyed = await s3.send(
      new CopyObjectCommand({
        ...source,
        Bucket: 'vault',
        Key: 'rekeyed',
        SSECustomerAlgorithm: ALGORITHM,
        SSECustomerKey: b64(keyB),
      }),
    );
    assert.equal(rekeyed.SSECustomerKeyMD5, md5Base64(keyB));
    const readAs = async (key: string, customerKey?: Buffer) => {
      const keyed = customerKey && {
        SSECustomerAlgorithm: ALGORITHM,
        SSECustomerKey: b64(customerKey),
      };
      const got = await s3.send(new GetObjectCommand({ Bucket: 'vault', Key: key, ...keyed }));
      return bodyBytes(got.Body);
    };
    assert.ok((await readAs('rekeyed', keyB)).equals(expected), 'the copy under key B');
    await rejectsWith(
      s3.send(
        new GetObjectCommand({
          Bucket: 'vault',
          Key: 'rekeyed',
          SSECustomerAlgorithm: ALGORITHM,
          SSECustomerKey: b64(keyA),
        }),
      ),
      'AccessDenied',
      'the copy does not open with the source key',
    );
    assert.ok((await readAs('secret', keyA)).equals(expected), 'the source under key A');
    // Without the source key the copy is refused.
    await rejectsWith(
      s3.send(new CopyObjectCommand({ CopySource: 'vault/secret', Bucket: 'vault', Key: 'nokey' })),
      'InvalidRequest',
      'a copy of an SSE-C source without its key',
    );
    // To plain: readable without a key (its own marker: the last test finds it on disk).
    const toPlain = markerBytes('SSEC-TO-PLAIN-MARKER-0d2b', MiB + 9);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'vault',
        Key: 'secret2',
        Body: toPlain,
        SSECustomerAlgorithm: ALGORITHM,
        SSECustomerKey: b64(keyA),
      }),
    );
    const plain = await s3.send(
      new CopyObjectCommand({
        ...source,
        CopySource: 'vault/secret2',
        Bucket: 'vault',
        Key: 'plain',
      }),
    );
    assert.equal(plain.SSECustomerAlgorithm, undefined);
    assert.ok((await readAs('plain')).equals(toPlain), 'the plain copy');
    // To SSE-S3.
    const s3sealed = await s3.send(
      new CopyObjectCommand({
        ...source,
        Bucket: 'vault',
        Key: 'sse-s3',
        ServerSideEncryption: 'AES256',
      }),
    );
    assert.equal(s3sealed.ServerSideEncryption, 'AES256');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'vault', Key: 'sse-s3' }));
    assert.equal(head.ServerSideEncryption, 'AES256');
    assert.ok((await readAs('sse-s3')).equals(expected), 'the SSE-S3 copy');
    // Plain to SSE-C.
    const clear = markerBytes('SSEC-FROM-PLAIN-MARKER-3c9d', MiB + 3);
    await s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'clear', Body: clear }));
    const sealed = await s3.send(
      new CopyObjectCommand({
        CopySource: 'vault/clear',
        Bucket: 'vault',
        Key: 'from-plain',
        SSECustomerAlgorithm: ALGORITHM,
        SSECustomerKey: b64(keyB),
      }),
    );
    assert.equal(sealed.SSECustomerKeyMD5, md5Base64(keyB));
    assert.ok((await readAs('from-plain', keyB)).equals(clear), 'plain to SSE-C');
    await rejectsWith(
      s3.send(new GetObjectCommand({ Bucket: 'vault', Key: 'from-plain' })),
      'InvalidRequest',
      'the SSE-C copy of a plain object needs its key',
    );
    // Same key: the copy shares the source's stripes and reads with that key.
    await s3.send(
      new CopyObjectCommand({
        ...source,
        Bucket: 'vault',
        Key: 'same-key',
        SSECustomerAlgorithm: ALGORITHM,
        SSECustomerKey: b64(keyA),
      }),
    );
    assert.ok((await readAs('same-key', keyA)).equals(expected), 'a copy under the same key');
    // Onto itself under a new key: how an object's key is changed.
    await s3.send(
      new CopyObjectCommand({
        CopySource: 'vault/same-key',
        CopySourceSSECustomerAlgorithm: ALGORITHM,
        CopySourceSSECustomerKey: b64(keyA),
        Bucket: 'vault',
        Key: 'same-key',
        SSECustomerAlgorithm: ALGORITHM,
        SSECustomerKey: b64(keyB),
      }),
    );
    assert.ok((await readAs('same-key', keyB)).equals(expected), 'rekeyed in place');
    // HEAD has no body: the SDK names the error by nothing but its status.
    await assert.rejects(
      s3.send(
        new HeadObjectCommand({
          Bucket: 'vault',
          Key: 'same-key',
          SSECustomerAlgorithm: ALGORITHM,
          SSECustomerKey: b64(keyA),
        }),
      ),
      (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 403,
      'the old key no longer opens it',
    );
  });

  test('multipart: parts must carry the upload key; UploadPartCopy reads an SSE-C source', async () => {
    const sse = { SSECustomerAlgorithm: ALGORITHM, SSECustomerKey: b64(keyB) };
    const created = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'vault', Key: 'mp', ...sse }),
    );
    assert.equal(created.SSECustomerKeyMD5, md5Base64(keyB));
    const upload = { Bucket: 'vault', Key: 'mp', UploadId: created.UploadId };
    const first = markerBytes('SSEC-MP-MARKER-a41f', 5 * MiB);
    await rejectsWith(
      s3.send(new UploadPartCommand({ ...upload, PartNumber: 1, Body: first })),
      'InvalidRequest',
      'a part without the key',
    );
    await rejectsWith(
      s3.send(
        new UploadPartCommand({
          ...upload,
          PartNumber: 1,
          Body: Buffer.from('refused before it is read'), // small: drained, so the answer is the 400
          SSECustomerAlgorithm: ALGORITHM,
          SSECustomerKey: b64(keyA),
        }),
      ),
      'InvalidArgument',
      'a part under another key',
    );
    const part1 = await s3.send(
      new UploadPartCommand({ ...upload, PartNumber: 1, Body: first, ...sse }),
    );
    assert.equal(part1.SSECustomerKeyMD5, md5Base64(keyB));
    // Part 2 copied from the SSE-C object under key A, a range of it.
    const part2 = await s3.send(
      new UploadPartCopyCommand({
        ...upload,
        PartNumber: 2,
        CopySource: 'vault/secret',
        CopySourceRange: 'bytes=0-99999',
        CopySourceSSECustomerAlgorithm: ALGORITHM,
        CopySourceSSECustomerKey: b64(keyA),
        ...sse,
      }),
    );
    assert.equal(part2.SSECustomerKeyMD5, md5Base64(keyB));
    // Raw, because the SDK's CompleteMultipartUpload output has no SSE-C fields to read.
    const partXml = (n: number, etag?: string) =>
      `<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag></Part>`;
    const done = await sendSigned(server, {
      method: 'POST',
      target: `/vault/mp?uploadId=${encodeURIComponent(String(created.UploadId))}`,
      headers: keyHeaders(keyB),
      body:
        `<CompleteMultipartUpload>${partXml(1, part1.ETag)}` +
        `${partXml(2, part2.CopyPartResult?.ETag)}</CompleteMultipartUpload>`,
    });
    assert.equal(done.status, 200, done.body.toString());
    assert.equal(done.headers['x-amz-server-side-encryption-customer-key-md5'], md5Base64(keyB));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'vault', Key: 'mp', ...sse }));
    const source = markerBytes('SSEC-PUT-MARKER-5e1a', 100_000);
    assert.ok((await bodyBytes(got.Body)).equals(Buffer.concat([first, source])));
    await rejectsWith(
      s3.send(new GetObjectCommand({ Bucket: 'vault', Key: 'mp' })),
      'InvalidRequest',
      'the completed object needs its key',
    );
  });

  test('strata fs get refuses an SSE-C object, naming why', async () => {
    const result = await runProcess(process.execPath, [
      STRATA_BIN,
      'fs',
      'get',
      '/vault/secret',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.notEqual(result.status, 0);
    assert.equal(result.stdout, '', 'no bytes');
    assert.match(result.stderr, /customer-provided key \(SSE-C\)/);
  });

  test('no plaintext of an SSE-C object on disk; a plain copy is there (the grep can fail)', () => {
    for (const marker of ['SSEC-PUT-MARKER-5e1a', 'SSEC-MP-MARKER-a41f', 'SSEC-CLI-MARKER-77b3'])
      assert.deepEqual(filesContaining(disks, marker), [], `no ${marker} on disk`);
    assert.notDeepEqual(filesContaining(disks, 'SSEC-TO-PLAIN-MARKER-0d2b'), [], 'the plain copy');
  });

  test('the keys appear nowhere in the debug log, the metrics nor on disk', async () => {
    const metrics = await (await fetch(server.metricsUrl)).text();
    const log = `${server.output()}\n${metrics}`;
    assert.match(log, /"level":"debug"|debug/i, 'the log is at debug level');
    for (const key of keysSent) {
      for (const form of [key.toString('base64'), key.toString('hex'), key.toString('base64url')])
        assert.ok(!log.includes(form), 'a customer key in the log');
      assert.deepEqual(filesContaining(dataDir, key), [], 'a customer key in a file');
      assert.deepEqual(filesContaining(dataDir, key.toString('base64')), [], 'a key in a file');
    }
  });
});

function md5Of(key: Buffer): Record<string, string> {
  return { 'x-amz-server-side-encryption-customer-key-md5': md5Base64(key) };
}

function withoutMd5(headers: Record<string, string>): Record<string, string> {
  const { 'x-amz-server-side-encryption-customer-key-md5': _md5, ...rest } = headers;
  return rest;
}

// Without sse_c_over_http: HTTPS is the way SSE-C is meant to travel, and needs no setting.
describe('SSE-C over HTTPS', () => {
  let server: StrataProcess;
  let s3: SdkClient;
  const ca = testCa('strata-ssec-tls-');
  const key = randomBytes(32);

  before(async () => {
    issueCertificate(ca.dir, 's3-ssec', 'gateway', ['127.0.0.1']);
    const cert = join(ca.dir, 's3-ssec.crt');
    server = await startStrata({
      env: { STRATA_S3_TLS_CERT: cert, STRATA_S3_TLS_KEY: join(ca.dir, 's3-ssec.key') },
    });
    s3 = new SdkClient({
      endpoint: server.s3Endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({
        httpsAgent: new Agent({ ca: readFileSync(join(ca.dir, 'ca.crt')), keepAlive: false }),
      }),
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'tls' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('PUT and GET with the key over HTTPS; without it, 400', async () => {
    assert.match(server.s3Endpoint, /^https:/);
    const body = randomBytes(300_000);
    const sse = { SSECustomerAlgorithm: ALGORITHM, SSECustomerKey: b64(key) };
    await s3.send(new PutObjectCommand({ Bucket: 'tls', Key: 'k', Body: body, ...sse }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'tls', Key: 'k', ...sse }));
    assert.equal(got.SSECustomerKeyMD5, md5Base64(key));
    assert.ok((await bodyBytes(got.Body)).equals(body));
    await rejectsWith(
      s3.send(new GetObjectCommand({ Bucket: 'tls', Key: 'k' })),
      'InvalidRequest',
      'GET without the key',
    );
  });
});
