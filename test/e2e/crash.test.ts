// kill -9 the server while 20 PUTs are in flight; after a restart every acknowledged PUT reads back
// intact and no unacknowledged one is visible as a partial object. Once with objects of every
// size (striped), once with objects within the inline threshold (docs/architecture/overview.md,
// "Small files inline"), which must come back from the metadata alone: no shard file is written.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const WRITERS = 20;
const ACKS_BEFORE_KILL = 30;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function shardFileCount(dataDir: string): number {
  const disks = join(dataDir, 'disks');
  if (!existsSync(disks)) return 0;
  return readdirSync(disks, { recursive: true, encoding: 'utf8' }).filter(
    (name) => name.includes('shards') && statSync(join(disks, name)).isFile(),
  ).length;
}

// Writers PUT `sizes` in turn until ACKS_BEFORE_KILL were acknowledged, then the server is killed
// (-9) and restarted on its data; every acknowledged object must read back, every other one be
// absent or whole. `check` runs last, against the first process's data directory.
async function crashUnderPuts(
  bucket: string,
  sizes: number[],
  check: (first: StrataProcess) => void = () => {},
) {
  const payloadFor = (writer: number, round: number) =>
    patternBytes(sizes[(writer + round) % sizes.length], writer * 1000 + round + 1);
  const first = await startStrata();
  const s3 = s3Client(first);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const acked = new Map<string, string>();
  const attempted = new Map<string, string>();
  let killed = false;
  const writer = async (w: number) => {
    for (let round = 0; !killed; round++) {
      const key = `w${w}/r${round}`;
      const body = payloadFor(w, round);
      attempted.set(key, sha256(body));
      try {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        if (!killed) acked.set(key, sha256(body));
      } catch {
        return; // the server died under this PUT
      }
    }
  };
  const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
  while (acked.size < ACKS_BEFORE_KILL) await new Promise((r) => setTimeout(r, 20));
  await first.kill();
  killed = true;
  await Promise.all(writers);
  s3.destroy();

  const second = await startStrata({ dataDir: first.dataDir });
  const s3After = s3Client(second);
  try {
    for (const [key, digest] of acked) {
      const reply = await s3After.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(sha256(await bodyBytes(reply.Body)), digest, `acknowledged ${key} intact`);
    }
    let inFlightVisible = 0;
    for (const [key, digest] of attempted) {
      if (acked.has(key)) continue;
      const head = await s3After
        .send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
        .catch((e) => e);
      if (head instanceof Error) {
        assert.equal(head.name, 'NotFound', `${key}: absent, not broken (${head.name})`);
        continue;
      }
      inFlightVisible++;
      const reply = await s3After.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(
        sha256(await bodyBytes(reply.Body)),
        digest,
        `unacknowledged ${key} is whole if visible`,
      );
    }
    assert.ok(
      acked.size >= ACKS_BEFORE_KILL,
      `acked ${acked.size}, in flight visible ${inFlightVisible}`,
    );
    check(first);
  } finally {
    s3After.destroy();
    await second.stop();
    rmSync(first.dataDir, { recursive: true, force: true });
  }
}

test('acknowledged PUTs survive kill -9; unacknowledged ones are absent or whole', async () => {
  // From a few bytes to several stripes, so the kill lands in every phase of a PUT.
  await crashUnderPuts('crash', [17, 70_000, 1_048_577, 4 * 1024 * 1024 + 5, 9 * 1024 * 1024]);
});

test('acknowledged inline PUTs survive kill -9; unacknowledged ones are absent or whole', async () => {
  // From a byte to the default threshold (64 KiB) itself.
  await crashUnderPuts('crash-inline', [1, 17, 4096, 30_000, 65_536], (first) => {
    assert.equal(shardFileCount(first.dataDir), 0, 'every object was inline: no shard file');
  });
});
