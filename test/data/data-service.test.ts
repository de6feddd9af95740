import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { shardBuffers } from '../../src/common/buffer-pool.ts';
import { isStrataError } from '../../src/common/errors.ts';
import {
  DIRECT_WRITE_SLAB_BYTES,
  directStaging,
  GRANULE_BYTES,
} from '../../src/data/direct-staging.ts';
import { DataClient, ShardStore, startDataService } from '../../src/data/index.ts';
import { putShardBodies } from '../../src/data/staged-bodies.ts';
import { dataWritesUnstaged } from '../../src/observability/metrics.ts';
import { RpcClient } from '../../src/rpc/index.ts';
import '../helpers/cluster-token.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'strata-data-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

async function start(disks: string[]) {
  const service = await startDataService({ serverId: 's1', host: '127.0.0.1', port: 0, disks });
  cleanups.push(() => service.close());
  const client = new DataClient(`127.0.0.1:${service.port}`);
  cleanups.push(() => client.close());
  return { service, client };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isStrataError(e) ? e.code : String(e)),
  );

const stripe = (n: number) => n.toString(16).padStart(32, '0');

describe('data service', () => {
  test('status reports every disk with sane byte counts, shard counts and the address', async () => {
    const root = tempRoot();
    const { service, client } = await start([join(root, 'd0'), join(root, 'd1')]);
    await client.putShard({ stripeId: stripe(1), shardIndex: 0, disk: 0 }, Buffer.alloc(10));
    await client.putShard({ stripeId: stripe(2), shardIndex: 1, disk: 0 }, Buffer.alloc(10));
    await client.putShard({ stripeId: stripe(3), shardIndex: 0, disk: 1 }, Buffer.alloc(10));
    const status = await client.status();
    assert.equal(status.serverId, 's1');
    assert.equal(status.addr, `127.0.0.1:${service.port}`);
    assert.deepEqual(
      status.disks.map((d) => [d.disk, d.path, d.shardCount, d.online]),
      [
        [0, join(root, 'd0'), 2, true],
        [1, join(root, 'd1'), 1, true],
      ],
    );
    for (const d of status.disks) {
      assert.ok(d.totalBytes > 0, `disk ${d.disk} has a size`);
      assert.ok(d.freeBytes > 0 && d.freeBytes <= d.totalBytes, `disk ${d.disk} free bytes`);
      assert.ok(d.usedBytes >= 0 && d.usedBytes + d.freeBytes <= d.totalBytes, 'used + free');
    }
    const deleted = await client.deleteShards({
      shards: [
        { stripeId: stripe(1), shardIndex: 0, disk: 0 },
        { stripeId: stripe(9), shardIndex: 0, disk: 0 },
      ],
    });
    assert.deepEqual(deleted, { deleted: 1 }, 'the absent shard is not an error');
    assert.equal((await client.status()).disks[0].shardCount, 1);
  });

  test('deleteShards with olderThanMs takes only files written before it', async () => {
    const { client } = await start([join(tempRoot(), 'd0')]);
    const at = (n: number) => ({ stripeId: stripe(n), shardIndex: 0, disk: 0 });
    await client.putShard(at(1), Buffer.alloc(1000, 1));
    await new Promise((r) => setTimeout(r, 50)); // past the file system's timestamp granularity
    const listedAtMs = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    // Shard 2 was written after the bound (as a repair's write after a scrubber's listing).
    await client.putShard(at(2), Buffer.alloc(1000, 2));
    const reply = await client.deleteShards({ shards: [at(1), at(2)], olderThanMs: listedAtMs });
    assert.deepEqual(reply, { deleted: 1 });
    assert.equal(await codeOf(client.getShard(at(1))), 'SHARD_MISSING');
    assert.ok((await client.getShard(at(2))).equals(Buffer.alloc(1000, 2)), 'the newer one stays');
    assert.equal(
      await codeOf(client.deleteShards({ shards: [at(2)], olderThanMs: Number.NaN })),
      'EINVAL',
    );
    assert.deepEqual(await client.deleteShards({ shards: [at(2)] }), { deleted: 1 });
  });

  test('ranged reads in pooled buffers: each reply carries its own bytes, many in flight', async () => {
    // A range is read into a pooled buffer, given back once the socket has taken the reply; a
    // buffer given back early and reused by another read would send that read's bytes. Every
    // release overwrites the buffer here, so an early one shows as wrong bytes.
    shardBuffers.poisonOnRelease = true;
    cleanups.push(() => {
      shardBuffers.poisonOnRelease = false;
    });
    const { client } = await start([join(tempRoot(), 'd0')]);
    const shardBytes = 3 * 64 * 1024 + 1000; // blocks of 64 KiB, the last one short
    const shards = [1, 2, 3].map((n) => {
      const data = Buffer.alloc(shardBytes);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + n * 7) & 0xff;
      return { address: { stripeId: stripe(100 + n), shardIndex: 0, disk: 0 }, data };
    });
    for (const { address, data } of shards) await client.putShard(address, data);
    const reads = [];
    for (let i = 0; i < 300; i++) {
      const { address, data } = shards[i % shards.length];
      const offset = (i * 7919) % (shardBytes - 1);
      const length = Math.min(1 + ((i * 4099) % 70_000), shardBytes - offset);
      reads.push(
        client
          .getShard({ ...address, offset, length, shardSizeBytes: shardBytes })
          .then((got) =>
            assert.ok(got.equals(data.subarray(offset, offset + length)), `read ${i}`),
          ),
      );
    }
    await Promise.all(reads);
    assert.equal(shardBuffers.counts.out, 0, 'every pooled buffer given back');
  });

  // A large putShard's frame is read where its file's direct write takes it from (a lease of the
  // direct-write slab: staged-bodies.ts), or into a buffer of the pool when the slab has no
  // room; either is given back once the handler has answered. One given back before the shard
  // was written, and reused by the next frame, would store that frame's bytes: every release
  // overwrites the buffer here.
  for (const slabFull of [false, true])
    test(`shards arrive ${slabFull ? 'in pooled buffers when the slab is full' : 'in the direct-write slab'}: each is written with its own bytes, every buffer given back`, async () => {
      shardBuffers.poisonOnRelease = true;
      directStaging.poisonOnRelease = true;
      cleanups.push(() => {
        shardBuffers.poisonOnRelease = false;
        directStaging.poisonOnRelease = false;
      });
      const { client } = await start([join(tempRoot(), 'd0'), join(tempRoot(), 'd1')]);
      let hold = slabFull ? directStaging.lease(DIRECT_WRITE_SLAB_BYTES) : undefined;
      assert.equal(slabFull, hold !== undefined, 'the whole slab held, or not');
      cleanups.push(() => hold?.release());
      const sizes = [1024 * 1024, 70_000, 64 * 1024 + 1, 300_000, 1024 * 1024 - 3];
      const shards = Array.from({ length: 24 }, (_, n) => {
        const data = Buffer.alloc(sizes[n % sizes.length]);
        for (let i = 0; i < data.length; i++) data[i] = (i * 13 + n * 101) & 0xff;
        return { address: { stripeId: stripe(200 + n), shardIndex: n % 6, disk: n % 2 }, data };
      });
      const before = { pool: shardBuffers.counts, bodies: putShardBodies.counts };
      await Promise.all(shards.map(({ address, data }) => client.putShard(address, data)));
      const after = { pool: shardBuffers.counts, bodies: putShardBodies.counts };
      const staged = after.bodies.staged - before.bodies.staged;
      const pooled = after.bodies.pooled - before.bodies.pooled;
      // Every frame here is larger than the reader's scratch (frame-reader.ts).
      assert.equal(staged + pooled, shards.length, 'every shard read into a chosen buffer');
      if (slabFull) assert.equal(staged, 0, 'none in the slab');
      else assert.equal(staged, shards.length, 'all in the slab (24 shards, under 16 MiB)');
      const fromPool =
        after.pool.allocated + after.pool.reused - (before.pool.allocated + before.pool.reused);
      assert.ok(fromPool >= pooled, 'the others from the pool');
      assert.equal(after.pool.out, 0, 'every pooled buffer given back');
      assert.equal(after.bodies.out, 0, 'every slab lease given back');
      hold?.release();
      hold = undefined;
      assert.equal(directStaging.leasedBytes, 0, 'the slab all free');
      for (const { address, data } of shards)
        assert.ok((await client.getShard(address)).equals(data), `shard ${address.stripeId}`);
    });

  test('a shard read into the slab is written direct from where it was read, not copied', async () => {
    // The slab is held but for the 17 granules a 1 MiB shard's frame takes: its body fits, and
    // a second lease, for a copy, would not (ShardStore.put then writes through the page cache
    // and counts it unstaged).
    const { service, client } = await start([join(tempRoot(), 'd0')]);
    assert.equal(service.store.directWrites[0], true, `${tmpdir()} takes direct writes`);
    const frameGranules = 17; // a 4 KiB page before the file, then the 1 MiB file's pages
    const hold = directStaging.lease(DIRECT_WRITE_SLAB_BYTES - frameGranules * GRANULE_BYTES);
    assert.ok(hold !== undefined, 'all of the slab but one frame held');
    cleanups.push(() => hold.release());
    const unstaged = async () => (await dataWritesUnstaged.get()).values[0]?.value ?? 0;
    const before = { unstaged: await unstaged(), bodies: putShardBodies.counts };
    const data = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    const address = { stripeId: stripe(300), shardIndex: 2, disk: 0 };
    await client.putShard(address, data);
    assert.equal(putShardBodies.counts.staged, before.bodies.staged + 1, 'read into the slab');
    assert.equal(await unstaged(), before.unstaged, 'written direct, with no second lease');
    assert.ok((await client.getShard(address)).equals(data));
  });

  test('opening a disk removes what a crashed write left in <disk>/tmp', () => {
    const root = tempRoot();
    const disk = join(root, 'd0');
    mkdirSync(join(disk, 'tmp'), { recursive: true });
    writeFileSync(join(disk, 'tmp', '3f2a9c.part'), Buffer.alloc(4096, 1));
    const store = new ShardStore([disk]);
    assert.equal(existsSync(join(disk, 'tmp')), false, 'leftovers gone');
    assert.deepEqual(readdirSync(disk), ['disk-id', 'shards']);
    assert.equal(store.disks.length, 1);
  });

  test('concurrent puts into one new prefix directory all land and read back', async () => {
    const root = tempRoot();
    const { client } = await start([join(root, 'd0')]);
    const ids = Array.from({ length: 32 }, (_, i) => `ab${i.toString(16).padStart(30, '0')}`);
    await Promise.all(
      ids.map((stripeId, i) =>
        client.putShard({ stripeId, shardIndex: 0, disk: 0 }, Buffer.alloc(1000, i)),
      ),
    );
    for (const [i, stripeId] of ids.entries()) {
      const got = await client.getShard({ stripeId, shardIndex: 0, disk: 0 });
      assert.ok(got.equals(Buffer.alloc(1000, i)), stripeId);
    }
    assert.equal(readdirSync(join(root, 'd0', 'shards', 'ab')).length, 32);
  });

  test('malformed headers and ranges are EINVAL, not INTERNAL', async () => {
    const root = tempRoot();
    const { service, client } = await start([join(root, 'd0')]);
    const address = { stripeId: stripe(5), shardIndex: 3, disk: 0 };
    await client.putShard(address, Buffer.alloc(100, 7));
    for (const range of [
      { offset: 1.5, length: 2 },
      { offset: -1, length: 2 },
      { offset: 0, length: 101 },
      { offset: 99, length: 2 },
    ]) {
      const code = await codeOf(client.getShard({ ...address, ...range }));
      assert.equal(code, 'EINVAL', JSON.stringify(range));
    }
    const rpc = new RpcClient(`127.0.0.1:${service.port}`);
    cleanups.push(() => rpc.close());
    assert.equal(await codeOf(rpc.call('data.putShard', null, Buffer.from('x'))), 'EINVAL');
    assert.equal(await codeOf(rpc.call('data.getShard', 'x')), 'EINVAL');
    assert.equal(await codeOf(rpc.call('data.putShard', address)), 'EINVAL', 'no body');
  });

  test('a full disk is ENOSPC and leaves no partial shard behind', async (t) => {
    const root = tempRoot();
    const disk = join(root, 'small');
    mkdirSync(disk);
    try {
      // A 1 MiB tmpfs is the only honest way to fill a disk; it needs root, so skip without.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk], { stdio: 'ignore' });
    } catch {
      t.skip('cannot mount a small tmpfs here (needs root)');
      return;
    }
    cleanups.push(() => execFileSync('umount', [disk]));
    const { client } = await start([disk]);
    const address = { stripeId: stripe(7), shardIndex: 0, disk: 0 };
    const code = await codeOf(client.putShard(address, Buffer.alloc(2 * 1024 * 1024, 1)));
    assert.equal(code, 'ENOSPC');
    assert.deepEqual(readdirSync(join(disk, 'shards', stripe(7).slice(0, 2))), [], 'removed');
    await client.putShard(address, Buffer.alloc(1000, 2));
    assert.ok((await client.getShard(address)).equals(Buffer.alloc(1000, 2)), 'space came back');
  });
});
