// SSE-S3 (x-amz-server-side-encryption: AES256) and bucket default encryption, against real
// servers with the AWS SDK and awscli. The rule under test: the header is echoed only for objects
// whose bytes are sealed on disk, which a grep of the data directory for a plaintext marker
// checks (and the same grep finds the marker of an unencrypted object, so it can fail).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketEncryptionCommand,
  GetBucketEncryptionCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { aws, bodyBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

type SdkError = Error & { name: string; $metadata?: { httpStatusCode?: number } };

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

function filesContaining(dir: string, needle: string): string[] {
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

// A key file as an operator makes one (docs/guides/security.md): 32 random bytes, base64, 0600.
function writeKeyFile(dir: string): void {
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, {
    mode: 0o600,
  });
}

async function refusal(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (error) {
    return error as SdkError;
  }
  assert.fail('the request succeeded');
}

const MiB = 1024 * 1024;

describe('SSE-S3 with encryption at rest off and a key file: each object sealed on request', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const dataDir = tempDir('strata-sse-');
  const disks = join(dataDir, 'disks');
  before(async () => {
    writeKeyFile(dataDir);
    server = await startStrata({ dataDir });
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'plain' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'sealed' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('PutObject with AES256 is sealed on disk and echoed by PUT, HEAD and GET', async () => {
    const body = markerBytes('SSE-PUT-MARKER-91c2', 3 * MiB + 5);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'plain',
        Key: 'sse',
        Body: body,
        ServerSideEncryption: 'AES256',
      }),
    );
    assert.equal(put.ServerSideEncryption, 'AES256');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'plain', Key: 'sse' }));
    assert.equal(head.ServerSideEncryption, 'AES256');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'plain', Key: 'sse' }));
    assert.equal(got.ServerSideEncryption, 'AES256');
    assert.ok((await bodyBytes(got.Body)).equals(body), 'the bytes read back');
    assert.deepEqual(filesContaining(disks, 'SSE-PUT-MARKER-91c2'), [], 'no plaintext on disk');
  });

  test('a small object with AES256 is sealed in stripes, never inline in the metadata', async () => {
    const body = markerBytes('SSE-SMALL-MARKER-5e1f', 2000);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'plain',
        Key: 'small-sse',
        Body: body,
        ServerSideEncryption: 'AES256',
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: 'plain', Key: 'small-sse' }));
    assert.equal(got.ServerSideEncryption, 'AES256');
    assert.ok((await bodyBytes(got.Body)).equals(body));
    // The whole data directory: the disks, and the metadata's LMDB and Raft log.
    assert.deepEqual(filesContaining(dataDir, 'SSE-SMALL-MARKER-5e1f'), [], 'no plaintext');
    // The same small object without it is inline: in the metadata, not on the disks (so the
    // grep above does look where inline bytes would be).
    const plain = markerBytes('PLAIN-SMALL-MARKER-7a20', 2000);
    await s3.send(new PutObjectCommand({ Bucket: 'plain', Key: 'small-plain', Body: plain }));
    assert.deepEqual(filesContaining(disks, 'PLAIN-SMALL-MARKER-7a20'), []);
    assert.notDeepEqual(filesContaining(dataDir, 'PLAIN-SMALL-MARKER-7a20'), []);
  });

  test('an object written without it is stored as it is, and says nothing', async () => {
    const body = markerBytes('PLAIN-PUT-MARKER-44d0', 2 * MiB);
    const put = await s3.send(new PutObjectCommand({ Bucket: 'plain', Key: 'clear', Body: body }));
    assert.equal(put.ServerSideEncryption, undefined);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'plain', Key: 'clear' }));
    assert.equal(head.ServerSideEncryption, undefined);
    // The grep does find plaintext where there is some: the checks above and below can fail.
    assert.notDeepEqual(filesContaining(disks, 'PLAIN-PUT-MARKER-44d0'), []);
  });

  test('a multipart upload with AES256 seals every part and echoes the header at each step', async () => {
    const parts = [
      markerBytes('SSE-MP-MARKER-0a7e', 5 * MiB),
      markerBytes('SSE-MP-MARKER-0a7e', 77),
    ];
    const created = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: 'plain',
        Key: 'mp',
        ServerSideEncryption: 'AES256',
      }),
    );
    assert.equal(created.ServerSideEncryption, 'AES256');
    const done = [];
    for (const [i, body] of parts.entries()) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: 'plain',
          Key: 'mp',
          UploadId: created.UploadId,
          PartNumber: i + 1,
          Body: body,
        }),
      );
      assert.equal(part.ServerSideEncryption, 'AES256', `part ${i + 1}`);
      done.push({ ETag: part.ETag, PartNumber: i + 1 });
    }
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'plain',
        Key: 'mp',
        UploadId: created.UploadId,
        MultipartUpload: { Parts: done },
      }),
    );
    assert.equal(completed.ServerSideEncryption, 'AES256');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'plain', Key: 'mp' }));
    assert.equal(got.ServerSideEncryption, 'AES256');
    assert.ok((await bodyBytes(got.Body)).equals(Buffer.concat(parts)));
    assert.deepEqual(filesContaining(disks, 'SSE-MP-MARKER-0a7e'), [], 'no plaintext on disk');
  });

  test('CopyObject takes its own encryption, not the source’s', async () => {
    const sealed = await s3.send(
      new CopyObjectCommand({
        Bucket: 'plain',
        Key: 'sse-copy',
        CopySource: 'plain/sse',
        ServerSideEncryption: 'AES256',
      }),
    );
    assert.equal(sealed.ServerSideEncryption, 'AES256');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'plain', Key: 'sse-copy' }));
    assert.equal(head.ServerSideEncryption, 'AES256');
    // Without the header (and no bucket default) a copy does not claim encryption, as on AWS.
    const unsaid = await s3.send(
      new CopyObjectCommand({ Bucket: 'plain', Key: 'copy-unsaid', CopySource: 'plain/sse' }),
    );
    assert.equal(unsaid.ServerSideEncryption, undefined);
  });

  test('CopyObject with AES256 of an unencrypted source writes its bytes again, sealed', async () => {
    const marker = 'COPY-REWRITE-MARKER-2d6b';
    const body = markerBytes(marker, 5 * MiB + 11);
    await s3.send(new PutObjectCommand({ Bucket: 'plain', Key: 'clear-src', Body: body }));
    const before = filesContaining(disks, marker);
    assert.notDeepEqual(before, [], 'the source is plaintext on disk');
    const copied = await s3.send(
      new CopyObjectCommand({
        Bucket: 'plain',
        Key: 'rewritten',
        CopySource: 'plain/clear-src',
        ServerSideEncryption: 'AES256',
      }),
    );
    assert.equal(copied.ServerSideEncryption, 'AES256');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'plain', Key: 'rewritten' }));
    assert.equal(got.ServerSideEncryption, 'AES256');
    assert.ok((await bodyBytes(got.Body)).equals(body), 'the copy reads back');
    assert.deepEqual(filesContaining(disks, marker), before, 'the copy added no plaintext');
    // Onto itself: how an existing object is encrypted in place.
    const inPlace = await s3.send(
      new CopyObjectCommand({
        Bucket: 'plain',
        Key: 'clear-src',
        CopySource: 'plain/clear-src',
        ServerSideEncryption: 'AES256',
      }),
    );
    assert.equal(inPlace.ServerSideEncryption, 'AES256');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'plain', Key: 'clear-src' }));
    assert.equal(head.ServerSideEncryption, 'AES256');
    const after = filesContaining(disks, marker);
    assert.ok(
      after.every((path) => before.includes(path)),
      'no new plaintext (the old stripes wait for collection)',
    );
  });

  test('bucket default encryption: set, read, applied to new objects, removed', async () => {
    const none = await refusal(s3.send(new GetBucketEncryptionCommand({ Bucket: 'sealed' })));
    assert.equal(none.name, 'ServerSideEncryptionConfigurationNotFoundError');
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'sealed',
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
      }),
    );
    const config = await s3.send(new GetBucketEncryptionCommand({ Bucket: 'sealed' }));
    const rule = config.ServerSideEncryptionConfiguration?.Rules?.[0];
    assert.equal(rule?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm, 'AES256');

    const body = markerBytes('SSE-DEFAULT-MARKER-5be1', MiB + 3);
    const put = await s3.send(new PutObjectCommand({ Bucket: 'sealed', Key: 'd', Body: body }));
    assert.equal(put.ServerSideEncryption, 'AES256', 'the default applies to a plain PUT');
    const copied = await s3.send(
      new CopyObjectCommand({ Bucket: 'sealed', Key: 'd-copy', CopySource: 'plain/sse' }),
    );
    assert.equal(copied.ServerSideEncryption, 'AES256', 'and to a copy');
    assert.deepEqual(filesContaining(disks, 'SSE-DEFAULT-MARKER-5be1'), [], 'no plaintext');
    // A copy of plaintext into the bucket is encrypted too (its bytes written again).
    const fromClear = await s3.send(
      new CopyObjectCommand({ Bucket: 'sealed', Key: 'c', CopySource: 'plain/clear' }),
    );
    assert.equal(fromClear.ServerSideEncryption, 'AES256');

    await s3.send(new DeleteBucketEncryptionCommand({ Bucket: 'sealed' }));
    await refusal(s3.send(new GetBucketEncryptionCommand({ Bucket: 'sealed' })));
    const after = await s3.send(new PutObjectCommand({ Bucket: 'sealed', Key: 'e', Body: 'x' }));
    assert.equal(after.ServerSideEncryption, undefined);
    // The objects made under the default keep their record.
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'sealed', Key: 'd' }));
    assert.equal(head.ServerSideEncryption, 'AES256');
  });

  test('awscli: put-bucket-encryption, then cp and head-object report AES256', async () => {
    assert.equal((await aws(server, ['s3', 'mb', 's3://cli-sealed'])).code, 0);
    const config = JSON.stringify({
      Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    const set = await aws(server, [
      's3api',
      'put-bucket-encryption',
      '--bucket',
      'cli-sealed',
      '--server-side-encryption-configuration',
      config,
    ]);
    assert.equal(set.code, 0, set.stderr);
    const shown = await aws(server, ['s3api', 'get-bucket-encryption', '--bucket', 'cli-sealed']);
    assert.match(shown.stdout, /"SSEAlgorithm": "AES256"/);
    const file = join(tempDir('strata-sse-cli-'), 'f.bin');
    writeFileSync(file, markerBytes('SSE-CLI-MARKER-e3f9', 2 * MiB));
    const up = await aws(server, ['s3', 'cp', file, 's3://cli-sealed/f.bin']);
    assert.equal(up.code, 0, up.stderr);
    const head = await aws(server, [
      's3api',
      'head-object',
      '--bucket',
      'cli-sealed',
      '--key',
      'f.bin',
    ]);
    assert.match(head.stdout, /"ServerSideEncryption": "AES256"/);
    const explicit = await aws(server, [
      's3',
      'cp',
      file,
      's3://plain/cli-sse.bin',
      '--sse',
      'AES256',
    ]);
    assert.equal(explicit.code, 0, explicit.stderr);
    const head2 = await aws(server, [
      's3api',
      'head-object',
      '--bucket',
      'plain',
      '--key',
      'cli-sse.bin',
    ]);
    assert.match(head2.stdout, /"ServerSideEncryption": "AES256"/);
    assert.deepEqual(filesContaining(disks, 'SSE-CLI-MARKER-e3f9'), [], 'no plaintext');
  });

  // SSE-KMS is implemented (test/s3/sse-kms.test.ts); its dual-layer variant is not.
  test('DSSE-KMS stays NotImplemented, on objects and as a bucket default', async () => {
    const put = await refusal(
      s3.send(
        new PutObjectCommand({
          Bucket: 'plain',
          Key: 'kms',
          Body: 'x',
          ServerSideEncryption: 'aws:kms:dsse',
        }),
      ),
    );
    assert.equal(put.$metadata?.httpStatusCode, 501);
    const config = await refusal(
      s3.send(
        new PutBucketEncryptionCommand({
          Bucket: 'plain',
          ServerSideEncryptionConfiguration: {
            Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms:dsse' } }],
          },
        }),
      ),
    );
    assert.equal(config.$metadata?.httpStatusCode, 501);
    await refusal(s3.send(new GetBucketEncryptionCommand({ Bucket: 'plain' })));
  });
});

describe('SSE-S3 with encryption at rest on', () => {
  let server: StrataProcess;
  let s3: S3Client;
  before(async () => {
    server = await startStrata({ env: { STRATA_ENCRYPTION_ENABLED: 'true' } });
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'bkt' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('the object asked for is recorded and echoed; the others are sealed but say nothing', async () => {
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'bkt',
        Key: 'sse',
        Body: 'x',
        ServerSideEncryption: 'AES256',
      }),
    );
    assert.equal(put.ServerSideEncryption, 'AES256');
    assert.equal(
      (await s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'sse' }))).ServerSideEncryption,
      'AES256',
    );
    const plain = await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'other', Body: 'y' }));
    // Small objects are not inline while new stripes are sealed: no plaintext in the metadata.
    const small = markerBytes('AT-REST-SMALL-MARKER-2b9c', 3000);
    await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'small', Body: small }));
    assert.deepEqual(filesContaining(server.dataDir, 'AT-REST-SMALL-MARKER-2b9c'), []);
    assert.equal(plain.ServerSideEncryption, undefined);
    // With every stripe sealed, a copy of any object may take SSE-S3.
    const copied = await s3.send(
      new CopyObjectCommand({
        Bucket: 'bkt',
        Key: 'other-sse',
        CopySource: 'bkt/other',
        ServerSideEncryption: 'AES256',
      }),
    );
    assert.equal(copied.ServerSideEncryption, 'AES256');
  });
});

describe('SSE-S3 on a gateway without a master key', () => {
  let server: StrataProcess;
  let s3: S3Client;
  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'bkt' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('PutObject with AES256 is refused, saying the key file is needed, and stores nothing', async () => {
    const error = await refusal(
      s3.send(
        new PutObjectCommand({
          Bucket: 'bkt',
          Key: 'k',
          Body: 'x',
          ServerSideEncryption: 'AES256',
        }),
      ),
    );
    assert.equal(error.$metadata?.httpStatusCode, 501);
    assert.match(error.message, /key_file/);
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'k' })));
    const metrics = await (await fetch(server.metricsUrl)).text();
    const series = 'strata_s3_refused_requests_total{header="x-amz-server-side-encryption"}';
    assert.ok(metrics.includes(`${series} 1`), 'the refusal is counted');
  });

  test('PutBucketEncryption is refused rather than make every later PUT fail', async () => {
    const error = await refusal(
      s3.send(
        new PutBucketEncryptionCommand({
          Bucket: 'bkt',
          ServerSideEncryptionConfiguration: {
            Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
          },
        }),
      ),
    );
    assert.equal(error.$metadata?.httpStatusCode, 501);
    await refusal(s3.send(new GetBucketEncryptionCommand({ Bucket: 'bkt' })));
  });
});
