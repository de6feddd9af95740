// The data server's scrubber over a real shard store on temporary disks: a pass resumes from its
// saved cursor after a restart, and files or directories deleted under a running pass are not
// findings.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataClient, startDataService } from '../../src/data/data-service.ts';
import { ShardScrubber } from '../../src/data/shard-scrubber.ts';
import { ShardStore } from '../../src/data/shard-store.ts';
import '../helpers/cluster-token.ts';

const MIB = 1024 * 1024;
const WEEK_MS = 7 * 24 * 3600 * 1000;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// One disk holding `count` shards of 1 MiB, their stripe ids spread over every prefix.
async function diskWithShards(count: number): Promise<{ store: ShardStore; disk: string }> {
  const root = mkdtempSync(join(tmpdir(), 'strata-scrub-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const disk = join(root, 'd0');
  const store = new ShardStore([disk]);
  for (let n = 0; n < count; n++) {
    const prefix = ((n * 37) % 256).toString(16).padStart(2, '0');
    const stripeId = prefix + n.toString(16).padStart(30, '0');
    await store.put({ disk: 0, stripeId, shardIndex: n % 6 }, Buffer.alloc(MIB, n));
  }
  return { store, disk };
}

function scrubber(store: ShardStore, bytesPerSecond: number): ShardScrubber {
  const s = new ShardScrubber({ store, bytesPerSecond, passIntervalMs: WEEK_MS });
  cleanups.push(() => s.close());
  return s;
}

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !done(); i++) await sleep(50);
  assert.ok(done(), `${what} within 30 s`);
}

test('a pass stopped by a restart resumes from its saved cursor, not from the start', async () => {
  const { store, disk } = await diskWithShards(24);
  // 4 MiB/s over 24 MiB: the pass takes at least 5 s, so it is surely stopped midway.
  const first = scrubber(store, 4 * MIB);
  first.start();
  await until('a cursor', () => first.findings().disks[0].cursor !== null);
  await first.close();
  const stopped = first.findings().disks[0];
  assert.notEqual(stopped.passStartedAtMs, null, 'the pass was running');
  assert.equal(stopped.lastPassCompletedAtMs, null, 'and had not completed');
  const saved = JSON.parse(readFileSync(join(disk, 'scrub-state.json'), 'utf8'));
  assert.equal(saved.after, stopped.cursor, 'the cursor is on the disk');

  const second = scrubber(store, 1024 * MIB);
  assert.deepEqual(second.findings().disks[0], stopped, 'the state is read back at start');
  second.start();
  await until(
    'the pass to complete',
    () => second.findings().disks[0].lastPassCompletedAtMs !== null,
  );
  const done = second.findings().disks[0];
  assert.equal(done.lastPassStartedAtMs, stopped.passStartedAtMs, 'the same pass completed');
  assert.deepEqual(second.findings().findings, []);
});

test('shards and directories deleted under a running pass are not findings', async () => {
  const { store, disk } = await diskWithShards(24);
  const s = scrubber(store, 4 * MIB);
  s.start();
  await until('a cursor', () => s.findings().disks[0].cursor !== null);
  // Delete everything the pass has not reached yet: files, then whole prefix directories.
  const shardsDir = join(disk, 'shards');
  const cursor = s.findings().disks[0].cursor ?? '';
  for (const prefix of readdirSync(shardsDir)) {
    if (prefix < cursor.slice(0, 2)) continue;
    for (const name of readdirSync(join(shardsDir, prefix)))
      if (name > cursor) rmSync(join(shardsDir, prefix, name));
    if (prefix > cursor.slice(0, 2)) rmSync(join(shardsDir, prefix), { recursive: true });
  }
  await until('the pass to complete', () => s.findings().disks[0].lastPassCompletedAtMs !== null);
  assert.deepEqual(s.findings().findings, []);
});

test('a corrupt shard deleted through the data service leaves the findings at once', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-scrub-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const disk = join(root, 'd0');
  const shard = { disk: 0, stripeId: 'ab'.repeat(16), shardIndex: 3 };
  // On the disk before the server starts, so its first pass finds it.
  mkdirSync(join(disk, 'shards', 'ab'), { recursive: true });
  writeFileSync(join(disk, 'shards', 'ab', `${shard.stripeId}.3`), Buffer.alloc(100, 7));
  const service = await startDataService({
    serverId: 't',
    host: '127.0.0.1',
    port: 0,
    disks: [disk],
    // One pass an hour: only the first runs during the test, so only the delete can clear it.
    scrub: { bytesPerSecond: 1024 * MIB, passIntervalMs: 3_600_000 },
  });
  const client = new DataClient(`127.0.0.1:${service.port}`);
  cleanups.push(() => service.close());
  cleanups.push(() => client.close());
  let reply = await client.scrubFindings();
  for (let i = 0; i < 600 && reply.disks[0].lastPassCompletedAtMs === null; i++) {
    await sleep(50);
    reply = await client.scrubFindings();
  }
  assert.deepEqual(
    reply.findings.map(({ stripeId, shardIndex, reason }) => ({ stripeId, shardIndex, reason })),
    [{ stripeId: shard.stripeId, shardIndex: 3, reason: 'header' }],
  );
  assert.deepEqual(await client.deleteShards({ shards: [shard] }), { deleted: 1 });
  assert.deepEqual((await client.scrubFindings()).findings, []);
});

test('a disk that cannot be listed has its pass abandoned, and the other disks are still scrubbed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-scrub-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const store = new ShardStore([join(root, 'd0'), join(root, 'd1')]);
  await store.put({ disk: 1, stripeId: 'cd'.repeat(16), shardIndex: 0 }, Buffer.alloc(MIB, 1));
  rmSync(join(root, 'd0', 'shards'), { recursive: true }); // as if the disk were unmounted
  const s = scrubber(store, 1024 * MIB);
  s.start();
  await until('disk 1 scrubbed', () => s.findings().disks[1].lastPassCompletedAtMs !== null);
  const [lost] = s.findings().disks;
  assert.notEqual(lost.lastPassStartedAtMs, null, 'disk 0 was tried');
  assert.equal(lost.lastPassCompletedAtMs, null, 'but no pass over it completed');
  assert.equal(lost.passStartedAtMs, null, 'and none is left running');
});
