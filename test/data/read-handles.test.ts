import assert from 'node:assert/strict';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import {
  openFilesLimit,
  ReadHandles,
  SHARD_READ_HANDLES_MAX,
  SHARD_READ_HANDLES_MIN,
  shardReadHandlesFor,
} from '../../src/data/read-handles.ts';
import { ShardStore } from '../../src/data/shard-store.ts';

const root = mkdtempSync(join(tmpdir(), 'strata-read-handles-'));
after(() => rmSync(root, { recursive: true, force: true }));

// The descriptors this process has open on files under `dir` (Linux).
function openUnder(dir: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) count++;
    } catch {} // closed meanwhile (the listing's own descriptor)
  }
  return count;
}

test('idle handles are bounded, a handle in use is never closed, and a reused handle reads the file', async () => {
  const dir = mkdtempSync(join(root, 'bound-'));
  const paths = Array.from({ length: 10 }, (_, i) => join(dir, `f${i}`));
  paths.forEach((p, i) => {
    writeFileSync(p, `file ${i}`);
  });
  const handles = new ReadHandles(4);
  const read = (p: string) =>
    handles.use(p, async (file) => (await file.readFile()).toString('utf8'));
  for (const [i, p] of paths.entries()) assert.equal(await read(p), `file ${i}`);
  assert.equal(handles.size, 4, 'at most 4 idle handles kept');
  await new Promise((r) => setTimeout(r, 50)); // closes of evicted handles settle
  assert.equal(openUnder(dir), 4);
  // Six readers hold their handles at once: none is closed under them.
  let releaseAll = () => {};
  const held = new Promise<void>((r) => {
    releaseAll = r;
  });
  const readers = paths.slice(0, 6).map((p) =>
    handles.use(p, async (file) => {
      await held;
      return (await file.read(Buffer.alloc(6), 0, 6, 0)).buffer.toString('utf8');
    }),
  );
  await new Promise((r) => setTimeout(r, 50));
  releaseAll();
  assert.deepEqual(
    await Promise.all(readers),
    paths.slice(0, 6).map((_, i) => `file ${i}`),
  );
  assert.equal(handles.size, 4);
  await handles.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(openUnder(dir), 0, 'close() closes every handle');
});

test('a failed open is not cached, and drop() closes a handle once its reader is done', async () => {
  const dir = mkdtempSync(join(root, 'drop-'));
  const path = join(dir, 'f');
  const handles = new ReadHandles(4);
  await assert.rejects(
    handles.use(path, async () => 'never'),
    (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
  );
  assert.equal(handles.size, 0);
  writeFileSync(path, 'now here');
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const reading = handles.use(path, async (file) => {
    await gate;
    return (await file.readFile()).toString('utf8');
  });
  await new Promise((r) => setTimeout(r, 20));
  handles.drop(path);
  assert.equal(handles.size, 0, 'dropped from the cache at once');
  release();
  assert.equal(await reading, 'now here', 'the reader finished on its handle');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(openUnder(dir), 0, 'closed after its reader');
});

test('the shard store drops a handle on delete and on a new file at the path', async () => {
  const disk = mkdtempSync(join(root, 'disk-'));
  const store = new ShardStore([disk]);
  const address = { disk: 0, stripeId: 'c'.repeat(32), shardIndex: 2 };
  try {
    await store.put(address, Buffer.from('first copy of the shard'));
    assert.equal((await store.get(address)).toString(), 'first copy of the shard');
    // Deleted through the store: the next read finds nothing, not the cached handle's file.
    assert.equal(await store.delete(address), true);
    await assert.rejects(store.get(address), (e) => isStrataError(e, 'SHARD_MISSING'));
    // Removed by hand while a handle is cached, then written again (a rebuild): the new file.
    await store.put(address, Buffer.from('second copy'));
    assert.equal((await store.get(address)).toString(), 'second copy');
    unlinkSync(store.pathOf(address));
    await store.put(address, Buffer.from('third copy, rebuilt'));
    assert.equal((await store.get(address)).toString(), 'third copy, rebuilt');
    // Changed in place under a cached handle: the identity and checksums still hold readers to
    // the truth.
    const path = store.pathOf(address);
    const bytes = readFileSync(path);
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(path, bytes);
    await assert.rejects(store.get(address), (e) => isStrataError(e, 'SHARD_CORRUPT'));
  } finally {
    await store.close();
  }
  assert.equal(openUnder(disk), 0, 'close() leaves no shard file open');
});

test('the handle bound is a quarter of the open-file limit, within its bounds', () => {
  assert.equal(shardReadHandlesFor(20_000), 5_000);
  assert.equal(shardReadHandlesFor(1_024), 256);
  assert.equal(shardReadHandlesFor(100), SHARD_READ_HANDLES_MIN);
  assert.equal(shardReadHandlesFor(1_048_576), SHARD_READ_HANDLES_MAX);
  assert.equal(shardReadHandlesFor(Number.POSITIVE_INFINITY), SHARD_READ_HANDLES_MAX);
  assert.equal(shardReadHandlesFor(undefined), 512);
  // This process's own limit, as the kernel reports it (Linux).
  const limit = openFilesLimit();
  assert.ok(limit !== undefined && limit >= 1, `read the limit: ${limit}`);
  const soft = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  assert.equal(String(limit === Number.POSITIVE_INFINITY ? 'unlimited' : limit), soft);
});

test('by default a data server keeps as many idle handles as its open-file limit allows', async () => {
  // 1,024 files: a 1 GiB file's data shards (4+2, 1 MiB shards), which a random reader touches
  // all of; the former fixed bound (512) reopened half of them on every pass.
  const dir = mkdtempSync(join(root, 'default-'));
  const files = 1024;
  const bound = shardReadHandlesFor(openFilesLimit());
  const handles = new ReadHandles();
  try {
    for (let i = 0; i < files; i++) {
      const path = join(dir, `f${i}`);
      writeFileSync(path, `${i}`);
      await handles.use(path, async (file) => file.stat());
    }
    assert.equal(handles.size, Math.min(files, bound));
    if (bound >= files) assert.ok(handles.size > 512, `${handles.size} idle handles`);
  } finally {
    await handles.close();
  }
});
