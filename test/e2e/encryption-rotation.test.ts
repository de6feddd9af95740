// Master key rotation (issue 14): `strata encryption rotate-master-key` re-wraps every stripe's
// data key under the new master key without rewriting the data; after a restart every object is
// still readable, and once the retired key is dropped, only the new key is needed. An SSE-C
// object's data keys are wrapped under its customer's key, not a master key: the rotation leaves
// them alone, does not count them as left under a retired key, and the object stays readable.
// An SSE-KMS object's data keys are under its KMS key: the rotation re-wraps the KMS key's
// material instead (once), and the object reads back with the new master key alone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { masterKeyId } from '../../src/crypto/index.ts';
import { runProcess } from '../helpers/process.ts';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { STRATA_BIN, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';

// SSE-C over the test's plain HTTP, from loopback ([s3] sse_c_over_http).
const ENCRYPTED = { STRATA_ENCRYPTION_ENABLED: 'true', STRATA_S3_SSE_C_OVER_HTTP: 'true' };
const CUSTOMER_KEY = randomBytes(32);
const SSE_C = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: CUSTOMER_KEY.toString('base64') };
const SSE_C_BODY = patternBytes(70_000, 9);

async function readSseC(s3: S3Client): Promise<void> {
  const reply = await s3.send(new GetObjectCommand({ Bucket: 'keys', Key: 'ssec', ...SSE_C }));
  assert.ok((await bodyBytes(reply.Body)).equals(SSE_C_BODY), 'the SSE-C object reads back');
}

// Every shard file's bytes, by path: the rotation must leave them all as they were.
function shardBytes(dataDir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const files of shardsByStripe(dataDir).values())
    for (const path of files) if (path) out.set(path, readFileSync(path));
  return out;
}

function keysIn(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'));
}

async function readAll(s3: S3Client, objects: Map<string, Buffer>): Promise<void> {
  for (const [key, body] of objects) {
    const reply = await s3.send(new GetObjectCommand({ Bucket: 'keys', Key: key }));
    assert.ok((await bodyBytes(reply.Body)).equals(body), `${key} reads back`);
  }
}

test('rotating the master key re-wraps every data key, leaves the shards alone, and survives a restart', async () => {
  const dataDir = tempDir('strata-rotate-');
  const keyFile = join(dataDir, 'master.key');
  const newKeyFile = join(tempDir('strata-new-key-'), 'new.key');
  const newKey = randomBytes(32);
  writeFileSync(newKeyFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });
  const objects = new Map<string, Buffer>();
  let server: StrataProcess = await startStrata({ dataDir, env: ENCRYPTED });
  let s3 = s3Client(server);
  const restart = async () => {
    s3.destroy();
    await server.stop();
    server = await startStrata({ dataDir, env: ENCRYPTED });
    s3 = s3Client(server);
  };
  const rotate = (...extra: string[]) =>
    runProcess(process.execPath, [
      STRATA_BIN,
      'encryption',
      'rotate-master-key',
      '--new-key-file',
      newKeyFile,
      '--key-file',
      keyFile,
      '--metadata-addr',
      server.metadataAddr,
      ...extra,
    ]);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'keys' }));
    for (const [key, size] of [
      ['a', 10],
      ['b', 3 * 1024 * 1024],
      ['c', 6 * 1024 * 1024 + 1],
    ] as const) {
      const body = patternBytes(size, size);
      await s3.send(new PutObjectCommand({ Bucket: 'keys', Key: key, Body: body }));
      objects.set(key, body);
    }
    // A copy shares the source's stripes: one stripe, two extents, re-wrapped once.
    await s3.send(new CopyObjectCommand({ Bucket: 'keys', Key: 'copy', CopySource: 'keys/c' }));
    objects.set('copy', objects.get('c') as Buffer);
    await s3.send(
      new PutObjectCommand({ Bucket: 'keys', Key: 'ssec', Body: SSE_C_BODY, ...SSE_C }),
    );
    // Under the default KMS key (alias/aws/s3, made now): one KMS key version to re-wrap.
    const kmsBody = patternBytes(90_000, 13);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'keys',
        Key: 'kms',
        Body: kmsBody,
        ServerSideEncryption: 'aws:kms',
      }),
    );
    objects.set('kms', kmsBody);
    const oldKeyId = masterKeyId(Buffer.from(keysIn(keyFile)[0], 'base64'));
    const before = shardBytes(dataDir);

    const first = await rotate();
    assert.equal(first.status, 0, `rotate failed:\n${first.stdout}\n${first.stderr}`);
    const rewrapped = Number(/(\d+) data keys re-wrapped/.exec(first.stdout)?.[1]);
    assert.equal(rewrapped, 4, `one re-wrap per stripe (1 + 1 + 2 stripes):\n${first.stdout}`);
    assert.match(first.stdout, / 1 KMS key versions re-wrapped/, 'the default KMS key, once');
    assert.match(first.stderr, /rotate-master-key/, 'progress on stderr');
    assert.deepEqual(
      keysIn(keyFile).map((k) => masterKeyId(Buffer.from(k, 'base64'))),
      [masterKeyId(newKey), oldKeyId],
      'the new key active, the old one retired',
    );
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.deepEqual(shardBytes(dataDir), before, 'no shard file changed');
    // Run again: nothing is left to re-wrap.
    const again = await rotate();
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, / 0 data keys re-wrapped/);

    await restart();
    await readAll(s3, objects);
    await readSseC(s3);
    await s3.send(
      new PutObjectCommand({ Bucket: 'keys', Key: 'after', Body: patternBytes(5000, 5) }),
    );
    objects.set('after', patternBytes(5000, 5));

    const drop = await rotate('--drop-retired');
    assert.equal(drop.status, 0, `${drop.stdout}\n${drop.stderr}`);
    assert.deepEqual(keysIn(keyFile), [newKey.toString('base64')], 'only the new key is left');
    await restart();
    await readAll(s3, objects);
    await readSseC(s3);
  } finally {
    s3.destroy();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
