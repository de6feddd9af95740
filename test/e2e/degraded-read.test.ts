// Erasure coding end to end: objects survive the loss of any two of the six disks' shards, and a
// flipped byte in a shard is detected and repaired on the fly.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function shardFiles(dataDir: string, disk: number): string[] {
  const root = join(dataDir, 'disks', `d${disk}`, 'shards');
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isFile());
}

describe('degraded reads', () => {
  let server: StrataProcess;
  let s3: S3Client;
  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'degraded' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  async function get(key: string): Promise<Buffer> {
    const reply = await s3.send(new GetObjectCommand({ Bucket: 'degraded', Key: key }));
    return bodyBytes(reply.Body);
  }

  test('objects written after losses on any two disks read back for all 15 pairs', async () => {
    const payload = patternBytes(5 * 1024 * 1024 + 3, 7);
    for (let a = 0; a < 6; a++) {
      for (let b = a + 1; b < 6; b++) {
        const key = `loss-${a}-${b}`;
        await s3.send(new PutObjectCommand({ Bucket: 'degraded', Key: key, Body: payload }));
        const before = new Set([
          ...shardFiles(server.dataDir, a),
          ...shardFiles(server.dataDir, b),
        ]);
        for (const file of before) rmSync(file);
        assert.equal(sha256(await get(key)), sha256(payload), `without disks ${a},${b}`);
      }
    }
  });

  test('a flipped byte in a shard is detected and the read still returns the right bytes', async () => {
    const allShards = () =>
      new Set(Array.from({ length: 6 }, (_, d) => shardFiles(server.dataDir, d)).flat());
    const existing = allShards();
    const payload = patternBytes(3 * 1024 * 1024, 99);
    await s3.send(new PutObjectCommand({ Bucket: 'degraded', Key: 'flip', Body: payload }));
    // Data shard 0 of the new stripe: every read of the first bytes needs it.
    const target = [...allShards()].find((f) => !existing.has(f) && f.endsWith('.0'));
    assert.ok(target, 'the PUT wrote a data shard 0');
    const bytes = readFileSync(target);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(target, bytes);
    assert.equal(sha256(await get('flip')), sha256(payload));
    const metrics = await (await fetch(server.metricsUrl)).text();
    assert.match(metrics, /strata_data_shard_errors_total\{code="SHARD_CORRUPT"\} [1-9]/);
    assert.match(metrics, /strata_erasure_stripes_total\{operation="reconstruct"\} [1-9]/);
  });

  test('a valid shard file of another stripe, another object or another index, copied over a data shard, is refused and rebuilt', async () => {
    const allShards = () =>
      new Set(Array.from({ length: 6 }, (_, d) => shardFiles(server.dataDir, d)).flat());
    const shardsOf = async (key: string, body: Buffer) => {
      const before = allShards();
      await s3.send(new PutObjectCommand({ Bucket: 'degraded', Key: key, Body: body }));
      const byStripe = new Map<string, string[]>();
      for (const file of [...allShards()].filter((f) => !before.has(f))) {
        const [stripeId, index] = (file.split('/').pop() as string).split('.');
        const files = byStripe.get(stripeId) ?? [];
        files[Number(index)] = file;
        byStripe.set(stripeId, files);
      }
      return [...byStripe.values()];
    };
    // Two full stripes and one more of the same shard size, so every copy is a well-formed shard
    // of the right length: only its identity tells it apart.
    const payload = patternBytes(8 * 1024 * 1024, 41);
    const [first, second] = await shardsOf('identity', payload);
    const [foreign] = await shardsOf('foreign', patternBytes(4 * 1024 * 1024, 43));
    const corruptBefore = await shardErrorCount('SHARD_CORRUPT');
    for (const [name, source] of [
      ['another stripe of the same object', second[0]],
      ['a stripe of another object', foreign[0]],
      ['the same stripe, another index', first[1]],
    ]) {
      copyFileSync(source, first[0]);
      assert.equal(sha256(await get('identity')), sha256(payload), name);
    }
    const corruptAfter = await shardErrorCount('SHARD_CORRUPT');
    assert.ok(
      corruptAfter - corruptBefore >= 3,
      `corrupt shard reads: ${corruptAfter - corruptBefore}`,
    );
  });

  async function shardErrorCount(code: string): Promise<number> {
    const metrics = await (await fetch(server.metricsUrl)).text();
    const line = new RegExp(`strata_data_shard_errors_total\\{code="${code}"\\} (\\d+)`).exec(
      metrics,
    );
    return Number(line?.[1] ?? 0);
  }
});

describe('degraded writes', () => {
  test('a PUT succeeds with one disk unwritable (write quorum k+1) and reads back; with three it fails cleanly', async () => {
    const server = await startStrata();
    const s3 = s3Client(server);
    const breakDisk = (disk: number) => {
      // A regular file where the shard tree should be: every write to this disk fails.
      const shards = join(server.dataDir, 'disks', `d${disk}`, 'shards');
      rmSync(shards, { recursive: true, force: true });
      writeFileSync(shards, 'not a directory');
    };
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'quorum' }));
      breakDisk(1);
      const payload = patternBytes(6 * 1024 * 1024 + 5, 21);
      await s3.send(new PutObjectCommand({ Bucket: 'quorum', Key: 'one-down', Body: payload }));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'quorum', Key: 'one-down' }));
      assert.equal(sha256(await bodyBytes(got.Body)), sha256(payload));
      const metrics = await (await fetch(server.metricsUrl)).text();
      assert.match(metrics, /strata_erasure_stripes_total\{operation="degraded_write"\} [1-9]/);
      breakDisk(3);
      breakDisk(4);
      const refused = await s3
        .send(new PutObjectCommand({ Bucket: 'quorum', Key: 'three-down', Body: payload }))
        .catch((e) => e);
      assert.ok(refused instanceof Error, 'below the write quorum the PUT fails');
      assert.ok(
        ((refused as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0) >=
          500,
      );
      const head = await s3
        .send(new HeadObjectCommand({ Bucket: 'quorum', Key: 'three-down' }))
        .catch((e) => e);
      assert.equal(head.name, 'NotFound', 'a failed PUT leaves nothing visible');
    } finally {
      s3.destroy();
      await server.stop();
    }
  });
});
