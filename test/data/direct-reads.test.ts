// Direct (O_DIRECT) whole-shard reads, the repair reads' path: the same bytes as a read through
// the page cache, in the read slab (shared memory), every lease given back, corruption still
// found, a full slab falling back; and over a real data service, a peer's background read leaves
// the page cache as it found it where a client's read fills it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { shardBuffers } from '../../src/common/buffer-pool.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { DirectStaging, GRANULE_BYTES } from '../../src/data/direct-staging.ts';
import { DataClient, startDataService } from '../../src/data/index.ts';
import { SHARD_BLOCK_BYTES } from '../../src/data/shard-file.ts';
import { ShardStore } from '../../src/data/shard-store.ts';
import '../helpers/cluster-token.ts';

const root = mkdtempSync(join(tmpdir(), 'strata-direct-reads-'));
after(() => rmSync(root, { recursive: true, force: true }));

const SLAB_GRANULES = 40; // 2.5 MiB: room for one 1 MiB shard and more
const stripe = (n: number) => n.toString(16).padStart(32, '0');
const bytesOf = (n: number, seed: number) =>
  Buffer.from(Array.from({ length: n }, (_, j) => (j * 131 + seed) & 0xff));

// Pages of `path` in the page cache now (util-linux fincore).
function cachedPages(path: string): number {
  const out = execFileSync('fincore', ['--noheadings', '--output', 'PAGES', path], {
    encoding: 'utf8',
  });
  return Number(out.trim());
}

// Whether the whole slab is free (every lease given back).
function slabFree(slab: DirectStaging): boolean {
  const all = slab.lease(SLAB_GRANULES * GRANULE_BYTES);
  all?.release();
  return all !== undefined;
}

test('a whole shard read direct is the shard, in the shared read slab, and its lease comes back', async () => {
  const readSlab = new DirectStaging(SLAB_GRANULES * GRANULE_BYTES, { shared: true });
  const store = new ShardStore([join(root, 'whole')], { readSlab });
  // ext4 here and in CI takes direct I/O; elsewhere this says so rather than test nothing.
  assert.equal(store.directReads[0], true, `${tmpdir()} takes direct I/O`);
  const lengths = [1, 4000, 4028, 4029, SHARD_BLOCK_BYTES, 3 * SHARD_BLOCK_BYTES + 7, 1 << 20];
  for (const [i, n] of lengths.entries()) {
    const data = bytesOf(n, i);
    const address = { disk: 0, stripeId: stripe(100 + i), shardIndex: 3 };
    await store.put(address, data);
    const expect = { dataLength: n };
    const read = await store.getLeased(address, undefined, undefined, expect, shardBuffers, {
      direct: true,
    });
    assert.ok(read.data.equals(data), `${n} bytes read direct`);
    assert.ok(read.data.buffer instanceof SharedArrayBuffer, `${n} bytes: in the read slab`);
    assert.equal(slabFree(readSlab), false, `${n} bytes: the slab lease is held by the reader`);
    assert.equal(cachedPages(store.pathOf(address)), 0, `${n} bytes: nothing left in the cache`);
    read.release();
    read.release(); // a second release is a no-op, as releaseOnce's
    assert.equal(slabFree(readSlab), true, `${n} bytes: the lease given back`);
    // The same read without `direct`: through the page cache, in the pool's buffer.
    const buffered = await store.getLeased(address, 0, n, expect, shardBuffers);
    assert.ok(buffered.data.equals(data));
    assert.ok(!(buffered.data.buffer instanceof SharedArrayBuffer), 'not in the read slab');
    buffered.release();
    assert.ok(cachedPages(store.pathOf(address)) > 0, `${n} bytes: a buffered read caches`);
  }
  await store.close();
});

test("a reading store's synchronous direct reads are the same shards, past the cache", async () => {
  const disk = join(root, 'synchronous');
  const readSlab = new DirectStaging(SLAB_GRANULES * GRANULE_BYTES, { shared: true });
  const writer = new ShardStore([disk]);
  const reader = new ShardStore([disk], {
    readSlab,
    readsOf: { directReads: writer.directReads, synchronous: true },
  });
  for (const [i, n] of [1, 4029, 3 * SHARD_BLOCK_BYTES + 7, 1 << 20].entries()) {
    const data = bytesOf(n, 40 + i);
    const address = { disk: 0, stripeId: stripe(200 + i), shardIndex: 0 };
    await writer.put(address, data);
    const read = await reader.getLeased(
      address,
      undefined,
      undefined,
      { dataLength: n },
      shardBuffers,
      {
        direct: true,
      },
    );
    assert.ok(read.data.equals(data), `${n} bytes`);
    assert.ok(read.data.buffer instanceof SharedArrayBuffer, `${n} bytes: in the read slab`);
    assert.equal(cachedPages(writer.pathOf(address)), 0, `${n} bytes: nothing cached`);
    read.release();
  }
  assert.equal(slabFree(readSlab), true);
  await assert.rejects(
    reader.put({ disk: 0, stripeId: stripe(299), shardIndex: 0 }, Buffer.alloc(1)),
    /a reading store writes nothing/,
  );
  await reader.close();
  await writer.close();
});

test('a direct read still finds a corrupt block, and gives its lease back', async () => {
  const readSlab = new DirectStaging(SLAB_GRANULES * GRANULE_BYTES, { shared: true });
  const store = new ShardStore([join(root, 'corrupt')], { readSlab });
  const data = bytesOf(3 * SHARD_BLOCK_BYTES, 9);
  const address = { disk: 0, stripeId: stripe(7), shardIndex: 0 };
  await store.put(address, data);
  // One byte of the second block flipped in place (past the 64-byte header).
  const fd = openSync(store.pathOf(address), 'r+');
  writeSync(
    fd,
    Buffer.from([data[SHARD_BLOCK_BYTES + 5] ^ 0xff]),
    0,
    1,
    64 + SHARD_BLOCK_BYTES + 5,
  );
  closeSync(fd);
  const expect = { dataLength: data.length };
  const code = await store
    .getLeased(address, undefined, undefined, expect, shardBuffers, { direct: true })
    .then(
      () => 'ok',
      (e: unknown) => (isStrataError(e) ? e.code : String(e)),
    );
  assert.equal(code, 'SHARD_CORRUPT');
  assert.equal(slabFree(readSlab), true, 'the failed read gave its lease back');
  await store.close();
});

test('with the read slab full a direct read goes through the page cache, whole', async () => {
  const readSlab = new DirectStaging(SLAB_GRANULES * GRANULE_BYTES, { shared: true });
  const store = new ShardStore([join(root, 'full')], { readSlab });
  const data = bytesOf(200_000, 4);
  const address = { disk: 0, stripeId: stripe(8), shardIndex: 1 };
  await store.put(address, data);
  const held = readSlab.lease(SLAB_GRANULES * GRANULE_BYTES);
  assert.ok(held, 'the whole slab taken');
  const read = await store.getLeased(
    address,
    undefined,
    undefined,
    { dataLength: data.length },
    shardBuffers,
    { direct: true },
  );
  assert.ok(read.data.equals(data));
  assert.ok(!(read.data.buffer instanceof SharedArrayBuffer), 'a pool buffer, not the slab');
  read.release();
  held.release();
  await store.close();
});

test("a data service reads a peer's background read past the page cache, a client's through it", async () => {
  const disk = join(root, 'service');
  const service = await startDataService({
    serverId: 's1',
    host: '127.0.0.1',
    port: 0,
    disks: [disk],
  });
  const client = new DataClient(`127.0.0.1:${service.port}`);
  try {
    const data = bytesOf(1 << 20, 2);
    const address = { stripeId: stripe(9), shardIndex: 2, disk: 0 };
    await client.putShard(address, data);
    const path = service.store.pathOf(address);
    assert.equal(cachedPages(path), 0, 'written direct: nothing cached');
    const header = { ...address, shardSizeBytes: data.length };
    const repair = await client.getShard({ ...header, background: true });
    assert.ok(repair.equals(data), 'the repair read has the shard');
    assert.equal(cachedPages(path), 0, 'the repair read left nothing in the page cache');
    const clientRead = await client.getShard(header);
    assert.ok(clientRead.equals(data));
    assert.ok(cachedPages(path) > 0, "a client's read goes through the page cache");
  } finally {
    await client.close();
    await service.close();
  }
});
