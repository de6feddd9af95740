// A stripe written around a server whose shard writes fail, while the cluster records nothing
// amiss, is spread again once that server takes writes (real processes from
// test/helpers/data-cluster.ts: three metadata members, an S3 gateway, six `--role data`
// processes of two disks, each its own host). Every shard create on the victim fails (its shard
// directories made immutable with chattr, so the server runs and heartbeats, and its disks report
// room): the writer places each failed shard again as a repair would, beside the others, and each
// stripe commits with two shards on one host, within the domain rule but beyond spread-domains'
// one per host. No server record changes, so the placement epoch stays; the state machine counts
// the crowded stripes (`crowdedWrites`), which makes the repair driver walk: once the directories
// are writable again it moves each excess shard onto the victim. Without the count nothing
// walked, and those stripes kept two shards on one host (one server's loss costing them two) for
// good (docs/architecture/healing.md, "Rebalancing after a return").
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { MetadataClient } from '../../src/client/metadata-client.ts';
import type { Stripe } from '../../src/metadata/types.ts';
import { DataCluster } from '../helpers/data-cluster.ts';
import { bodyBytes, md5Hex, patternBytes } from '../helpers/s3.ts';
import { until as untilPolled } from '../helpers/wait.ts';

const POLL_LIMIT_MS = 120_000; // generous: only an upper bound, never a measured figure

function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return untilPolled(what, probe, { limitMs: POLL_LIMIT_MS, intervalMs: 500 });
}

async function stripesOf(metadata: MetadataClient, path: string): Promise<Stripe[]> {
  const inode = await metadata.read('resolvePath', path);
  assert.ok(inode, `${path} exists`);
  const extents = await metadata.read('extents', inode.ino, 0, Number.MAX_SAFE_INTEGER);
  return extents.map((e) => e.stripe!);
}

// The most shards of one stripe on one server.
const crowding = (stripe: Stripe) => {
  const perServer = new Map<string, number>();
  for (const s of stripe.shards) perServer.set(s.serverId, (perServer.get(s.serverId) ?? 0) + 1);
  return Math.max(...perServer.values());
};

// chattr +i / -i on every shard prefix directory of the server's disks (root may not create a
// file in an immutable directory).
function setImmutable(dataDir: string, on: boolean): void {
  const dirs: string[] = [];
  const disks = join(dataDir, 'disks');
  for (const disk of readdirSync(disks)) {
    const shards = join(disks, disk, 'shards');
    for (const prefix of readdirSync(shards)) dirs.push(join(shards, prefix));
  }
  assert.ok(dirs.length > 0, `shard directories under ${disks}`);
  execFileSync('chattr', [on ? '+i' : '-i', ...dirs]);
}

test('stripes written around a server whose writes fail are spread once it takes writes again', async (t) => {
  const cluster = await DataCluster.start({ dataServers: 6, disksPerServer: 2 });
  let frozen: string | undefined;
  try {
    const { metadata, s3 } = cluster;
    await s3.send(new CreateBucketCommand({ Bucket: 'crowd' }));
    const victim = cluster.servers[2];
    const before = await metadata.read('placementView');
    setImmutable(victim.dataDir, true);
    frozen = victim.dataDir;
    const body = patternBytes(5 * 1024 * 1024 + 17, 5); // two stripes of 4+2 with 1 MiB shards
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'crowd', Key: 'o', Body: body }));
    } finally {
      setImmutable(victim.dataDir, false);
      frozen = undefined;
    }
    const written = await stripesOf(metadata, '/crowd/o');
    t.diagnostic(`written: ${show(written)}`);
    assert.equal(written.length, 2);
    for (const stripe of written) {
      assert.equal(stripe.absentShards, undefined, 'every shard landed somewhere');
      assert.ok(!stripe.shards.some((s) => s.serverId === victim.id), 'none on the victim');
      assert.equal(crowding(stripe), 2, 'two shards on one host');
    }
    const counted = await metadata.read('placementView');
    assert.ok(
      (counted.crowdedWrites ?? 0) >= (before.crowdedWrites ?? 0) + 2,
      `both stripes counted crowded: ${before.crowdedWrites} -> ${counted.crowdedWrites}`,
    );

    // Spread again: one shard per server, one of them on the victim.
    const spread = await until('both stripes spread one shard per server', async () => {
      const now = await stripesOf(metadata, '/crowd/o');
      return now.every((s) => crowding(s) === 1) ? now : undefined;
    });
    t.diagnostic(`spread: ${show(spread)}`);
    for (const stripe of spread)
      assert.ok(
        stripe.shards.some((s) => s.serverId === victim.id),
        'a shard moved to the victim',
      );
    const after = await metadata.read('placementView');
    assert.equal(after.epoch, before.epoch, 'no record widened the view: the count drove the walk');
    const reply = await s3.send(new GetObjectCommand({ Bucket: 'crowd', Key: 'o' }));
    assert.equal(md5Hex(await bodyBytes(reply.Body)), md5Hex(body), 'the bytes of o');
  } finally {
    if (frozen !== undefined) setImmutable(frozen, false);
    await cluster.stop();
  }
});

const show = (stripes: Stripe[]) =>
  stripes.map((s) => s.shards.map((l) => `${l.serverId}/${l.disk}`).join(' ')).join('; ');
