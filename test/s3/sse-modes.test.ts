// The three ways a stripe's data key is wrapped side by side (src/client/stripe-crypt.ts,
// DataKeyWrapper: master key for SSE-S3, KMS key for SSE-KMS, customer key for SSE-C), against a
// real server with the AWS SDK: a copy from every mode (plain, SSE-S3, SSE-KMS, SSE-C) into every
// mode reads back the same bytes under the copy's own encryption and nothing of the source's; a
// request's SSE-C wins over a bucket default of aws:kms (single and multipart); SSE-C with
// aws:kms in one request is refused. The gateway speaks plain HTTP, allowed for loopback peers
// by [s3] sse_c_over_http (as in test/s3/sse-c.test.ts).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  type CopyObjectCommandInput,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, rejectsWith, s3Client } from '../helpers/s3.ts';
import { configWriter, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const MiB = 1024 * 1024;
const ALGORITHM = 'AES256';
const md5Base64 = (key: Buffer) => createHash('md5').update(key).digest('base64');

type Mode = 'plain' | 'sse-s3' | 'sse-kms' | 'sse-c';
const MODES: readonly Mode[] = ['plain', 'sse-s3', 'sse-kms', 'sse-c'];

// `length` bytes of one marker string over and over: any plaintext fragment of 64 bytes or more
// holds it whole.
const markerBytes = (marker: string, length: number) =>
  Buffer.alloc(length, Buffer.from(`${marker}|`));

// The files under `dir` (the disks' shards, the metadata's LMDB and Raft log) holding `needle`.
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    if (statSync(path, { throwIfNoEntry: false })?.isFile() !== true) continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      // A shard file may go between the listing and the read (a replaced object's collected).
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (bytes.includes(needle)) found.push(path);
  }
  return found;
}

describe('SSE-S3, SSE-KMS and SSE-C together', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const dataDir = tempDir('strata-sse-modes-');
  const sourceKey = randomBytes(32); // the SSE-C source's
  const copyKey = randomBytes(32); // every SSE-C copy's

  // The request fields that write an object (or a copy) in `mode`.
  function writeFields(mode: Mode, key: Buffer): Partial<PutObjectCommandInput> {
    if (mode === 'sse-s3') return { ServerSideEncryption: 'AES256' };
    if (mode === 'sse-kms') return { ServerSideEncryption: 'aws:kms' };
    if (mode === 'sse-c')
      return { SSECustomerAlgorithm: ALGORITHM, SSECustomerKey: key.toString('base64') };
    return {};
  }

  // What a read of an object in `mode` must send (an SSE-C object: its key).
  function readFields(mode: Mode, key: Buffer) {
    return mode === 'sse-c'
      ? { SSECustomerAlgorithm: ALGORITHM, SSECustomerKey: key.toString('base64') }
      : {};
  }

  // The object's encryption as HEAD reports it, with its key when it needs one.
  async function modeOf(bucket: string, key: string, customerKey?: Buffer): Promise<Mode> {
    const head = await s3.send(
      new HeadObjectCommand({
        Bucket: bucket,
        Key: key,
        ...(customerKey ? readFields('sse-c', customerKey) : {}),
      }),
    );
    if (head.SSECustomerAlgorithm !== undefined) {
      assert.equal(head.ServerSideEncryption, undefined, 'SSE-C is never SSE-S3 or SSE-KMS too');
      return 'sse-c';
    }
    if (head.ServerSideEncryption === 'aws:kms') {
      assert.ok(head.SSEKMSKeyId?.startsWith('arn:aws:kms:'), 'an SSE-KMS object names its key');
      return 'sse-kms';
    }
    return head.ServerSideEncryption === 'AES256' ? 'sse-s3' : 'plain';
  }

  before(async () => {
    writeFileSync(join(dataDir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, {
      mode: 0o600,
    });
    const env = configWriter(dataDir)('strata', ['[s3]', 'sse_c_over_http = true']);
    server = await startStrata({ dataDir, env });
    s3 = s3Client(server);
    for (const bucket of ['modes', 'kms-default'])
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('a copy from every mode into every mode reads back under its own encryption', async () => {
    const bodies = new Map<Mode, Buffer>();
    for (const [i, mode] of MODES.entries()) {
      const body = patternBytes(MiB + 1000 * i + 3, 11 + i);
      bodies.set(mode, body);
      await s3.send(
        new PutObjectCommand({
          Bucket: 'modes',
          Key: `source-${mode}`,
          Body: body,
          ...writeFields(mode, sourceKey),
        }),
      );
      assert.equal(
        await modeOf('modes', `source-${mode}`, mode === 'sse-c' ? sourceKey : undefined),
        mode,
      );
    }
    for (const from of MODES) {
      for (const to of MODES) {
        const key = `copy-${from}-to-${to}`;
        const input: CopyObjectCommandInput = {
          Bucket: 'modes',
          Key: key,
          CopySource: `modes/source-${from}`,
          ...writeFields(to, copyKey),
        };
        if (from === 'sse-c') {
          input.CopySourceSSECustomerAlgorithm = ALGORITHM;
          input.CopySourceSSECustomerKey = sourceKey.toString('base64');
        }
        const copied = await s3.send(new CopyObjectCommand(input));
        if (to === 'sse-c') assert.equal(copied.SSECustomerKeyMD5, md5Base64(copyKey), key);
        else assert.equal(copied.SSECustomerAlgorithm, undefined, key);
        const expected =
          to === 'plain'
            ? undefined
            : to === 'sse-s3'
              ? 'AES256'
              : to === 'sse-kms'
                ? 'aws:kms'
                : undefined;
        assert.equal(copied.ServerSideEncryption, expected, `${key}: the copy's own encryption`);
        assert.equal(await modeOf('modes', key, to === 'sse-c' ? copyKey : undefined), to, key);
        const got = await s3.send(
          new GetObjectCommand({ Bucket: 'modes', Key: key, ...readFields(to, copyKey) }),
        );
        assert.ok((await bodyBytes(got.Body)).equals(bodies.get(from) as Buffer), `${key}: bytes`);
        if (to === 'sse-c') {
          // Under the copy's key only: not the source's, not none.
          await rejectsWith(
            s3.send(
              new GetObjectCommand({ Bucket: 'modes', Key: key, ...readFields(to, sourceKey) }),
            ),
            'AccessDenied',
            `${key} with the source's key`,
          );
          await rejectsWith(
            s3.send(new GetObjectCommand({ Bucket: 'modes', Key: key })),
            'InvalidRequest',
            `${key} without a key`,
          );
        }
      }
    }
  });

  // Small objects (under erasure_coding.inline_max_bytes, 64 KiB by default) are kept inline in
  // the metadata, in plaintext, unless encrypted: an object of any encrypted mode, and a copy of
  // an inline object into any encrypted mode, is sealed in stripes instead.
  test('small SSE-S3, SSE-KMS and SSE-C objects and copies are sealed in stripes, never inline', async () => {
    const disks = join(dataDir, 'disks');
    const plainMarker = 'INLINE-PLAIN-MARKER-3b7d';
    const plain = markerBytes(plainMarker, 3000);
    await s3.send(new PutObjectCommand({ Bucket: 'modes', Key: 'small-plain', Body: plain }));
    // The grep looks where inline bytes are: the plain one is in the metadata, on no disk.
    assert.deepEqual(filesContaining(disks, plainMarker), [], 'the plain object is inline');
    assert.notDeepEqual(filesContaining(dataDir, plainMarker), [], 'found in the metadata');
    for (const mode of MODES.filter((m) => m !== 'plain')) {
      const marker = `INLINE-${mode.toUpperCase()}-MARKER-8e21`;
      const body = markerBytes(marker, 3000);
      const key = `small-${mode}`;
      await s3.send(
        new PutObjectCommand({
          Bucket: 'modes',
          Key: key,
          Body: body,
          ...writeFields(mode, copyKey),
        }),
      );
      assert.equal(await modeOf('modes', key, mode === 'sse-c' ? copyKey : undefined), mode);
      const got = await s3.send(
        new GetObjectCommand({ Bucket: 'modes', Key: key, ...readFields(mode, copyKey) }),
      );
      assert.ok((await bodyBytes(got.Body)).equals(body), `${key} reads back`);
      assert.deepEqual(filesContaining(dataDir, marker), [], `${key}: no plaintext anywhere`);
      // A copy of the inline plain object into this mode: rewritten into sealed stripes.
      const copy = `small-plain-to-${mode}`;
      await s3.send(
        new CopyObjectCommand({
          Bucket: 'modes',
          Key: copy,
          CopySource: 'modes/small-plain',
          ...writeFields(mode, copyKey),
        }),
      );
      assert.equal(await modeOf('modes', copy, mode === 'sse-c' ? copyKey : undefined), mode);
      const copied = await s3.send(
        new GetObjectCommand({ Bucket: 'modes', Key: copy, ...readFields(mode, copyKey) }),
      );
      assert.ok((await bodyBytes(copied.Body)).equals(plain), `${copy} reads back`);
    }
    // Every copy's bytes are sealed: the plaintext is still only where the plain object keeps
    // it, in the metadata (no shard holds it).
    assert.deepEqual(filesContaining(disks, plainMarker), [], 'no plaintext copy on a disk');
  });

  test('an SSE-C copy under the source key keeps working after the source is overwritten', async () => {
    const body = patternBytes(300_000, 5);
    const keyed = { SSECustomerAlgorithm: ALGORITHM, SSECustomerKey: sourceKey.toString('base64') };
    await s3.send(new PutObjectCommand({ Bucket: 'modes', Key: 'shared', Body: body, ...keyed }));
    await s3.send(
      new CopyObjectCommand({
        Bucket: 'modes',
        Key: 'shared-copy',
        CopySource: 'modes/shared',
        CopySourceSSECustomerAlgorithm: ALGORITHM,
        CopySourceSSECustomerKey: sourceKey.toString('base64'),
        ...keyed,
      }),
    );
    await s3.send(
      new PutObjectCommand({
        Bucket: 'modes',
        Key: 'shared',
        Body: 'other',
        ServerSideEncryption: 'aws:kms',
      }),
    );
    const got = await s3.send(
      new GetObjectCommand({ Bucket: 'modes', Key: 'shared-copy', ...keyed }),
    );
    assert.ok((await bodyBytes(got.Body)).equals(body));
  });

  test('SSE-C wins over a bucket default of aws:kms; other writes take the default', async () => {
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'kms-default',
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }],
        },
      }),
    );
    const keyed = { SSECustomerAlgorithm: ALGORITHM, SSECustomerKey: sourceKey.toString('base64') };
    const put = await s3.send(
      new PutObjectCommand({ Bucket: 'kms-default', Key: 'customer', Body: 'mine', ...keyed }),
    );
    assert.equal(put.ServerSideEncryption, undefined);
    assert.equal(put.SSECustomerKeyMD5, md5Base64(sourceKey));
    assert.equal(await modeOf('kms-default', 'customer', sourceKey), 'sse-c');
    await rejectsWith(
      s3.send(new GetObjectCommand({ Bucket: 'kms-default', Key: 'customer' })),
      'InvalidRequest',
      'an SSE-C object in an aws:kms-default bucket still needs its key',
    );
    await s3.send(new PutObjectCommand({ Bucket: 'kms-default', Key: 'plain', Body: 'theirs' }));
    assert.equal(await modeOf('kms-default', 'plain'), 'sse-kms');

    // Multipart: the upload is SSE-C, every part sealed under the key, not under the KMS key.
    const created = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'kms-default', Key: 'multi', ...keyed }),
    );
    assert.equal(created.ServerSideEncryption, undefined);
    assert.equal(created.SSECustomerAlgorithm, ALGORITHM);
    const part = patternBytes(5 * MiB, 21);
    const uploaded = await s3.send(
      new UploadPartCommand({
        Bucket: 'kms-default',
        Key: 'multi',
        UploadId: created.UploadId,
        PartNumber: 1,
        Body: part,
        ...keyed,
      }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'kms-default',
        Key: 'multi',
        UploadId: created.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: uploaded.ETag }] },
      }),
    );
    assert.equal(await modeOf('kms-default', 'multi', sourceKey), 'sse-c');
    const got = await s3.send(
      new GetObjectCommand({ Bucket: 'kms-default', Key: 'multi', ...keyed }),
    );
    assert.ok((await bodyBytes(got.Body)).equals(part));
  });

  test('SSE-C with aws:kms in one request is 400 InvalidArgument and stores nothing', async () => {
    await rejectsWith(
      s3.send(
        new PutObjectCommand({
          Bucket: 'modes',
          Key: 'both',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSECustomerAlgorithm: ALGORITHM,
          SSECustomerKey: sourceKey.toString('base64'),
        }),
      ),
      'InvalidArgument',
      'SSE-C and SSE-KMS together',
    );
    await rejectsWith(
      s3.send(new HeadObjectCommand({ Bucket: 'modes', Key: 'both' })),
      'NotFound',
      'nothing stored',
    );
  });
});
