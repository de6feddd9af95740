// The Raft log's segment files (raft-store.ts, docs/architecture/raft.md "The Raft log"): batches
// appended and reopened, a conflicting suffix replaced across segments, a write torn by a crash
// cut off at start, damage in the middle refused (EIO), segments cut and named by first index,
// compaction unlinking whole segments, the hard state surviving them all.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import type { Entry } from '../../src/raft/index.ts';
import { tempDir } from '../helpers/server.ts';

const SEGMENT_BYTES = 4096;
const entry = (index: number, term: number, text = `e${index}`): Entry => ({
  index,
  term,
  type: 'normal',
  data: Buffer.from(text.padEnd(100, '.')),
});
const range = (from: number, to: number, term: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const isEio = (e: { code?: string }) => e.code === 'EIO';
const open = (path: string) => RaftStore.open(path, { segmentBytes: SEGMENT_BYTES });
const segmentFiles = (path: string) =>
  readdirSync(path)
    .filter((n) => n.endsWith('.wal'))
    .sort();
const loaded = (store: RaftStore) =>
  [...store.load().entries].map((e) => [
    e.index,
    e.term,
    Buffer.from(e.data).toString().replace(/\.+$/, ''),
  ]);

test('the in-memory log changes only once a write is durable', async () => {
  const store = open(join(tempDir(), 'raft-log'));
  const writing = store.persist({
    entries: [entry(1, 1)],
    hardState: { term: 1, vote: 1, commit: 0 },
  });
  assert.equal(store.lastStoredIndex(), 0, 'not before the write returned');
  assert.equal(store.isEmpty(), true);
  await writing;
  assert.equal(store.lastStoredIndex(), 1);
  assert.equal(store.isEmpty(), false);
  await store.close();
});

test('batches roll over into segments named by their first index, and reopen whole', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = open(path);
  for (let i = 1; i <= 100; i += 5)
    await store.persist({
      entries: range(i, i + 4, 1),
      hardState: { term: 1, vote: 1, commit: i },
    });
  await store.close();
  const names = segmentFiles(path);
  assert.ok(names.length >= 4, `several segments (${names.length})`);
  const firstIndexes = names.map((n) => Number.parseInt(n.slice(17, 33), 16));
  assert.equal(firstIndexes[0], 1);
  assert.deepEqual(
    firstIndexes,
    [...firstIndexes].sort((a, b) => a - b),
    'first indexes grow',
  );
  const reopened = open(path);
  assert.deepEqual(
    loaded(reopened).map(([i]) => i),
    range(1, 100, 1).map((e) => e.index),
  );
  assert.deepEqual(reopened.load().hardState, { term: 1, vote: 1, commit: 96 });
  await reopened.close();
});

test('a conflicting suffix is replaced across segments, in memory and after a reopen', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = open(path);
  for (let i = 1; i <= 60; i += 10) await store.persist({ entries: range(i, i + 9, 1) });
  await store.persist({ entries: [], hardState: { term: 1, vote: 0, commit: 5 } });
  assert.ok(store.segmentCount() >= 2, 'the suffix spans segments');
  // A new leader of term 2 replaces everything from 6.
  await store.persist({ entries: range(6, 8, 2), hardState: { term: 2, vote: 2, commit: 5 } });
  assert.equal(store.lastStoredIndex(), 8);
  const expected = [...range(1, 5, 1), ...range(6, 8, 2)].map((e) => [e.index, e.term]);
  assert.deepEqual(
    store.entries(1, 9, 100, Infinity).map((e) => [e.index, e.term]),
    expected,
  );
  await store.close();
  const reopened = open(path);
  assert.deepEqual(
    loaded(reopened).map(([i, t]) => [i, t]),
    expected,
  );
  // Appending goes on after the replaced suffix.
  await reopened.persist({ entries: [entry(9, 2)] });
  assert.equal(reopened.lastStoredIndex(), 9);
  await reopened.close();
});

test('a write torn by a crash is cut off at start, whatever part of it landed', async () => {
  for (const torn of ['tail', 'head'] as const) {
    const path = join(tempDir(), 'raft-log');
    const store = open(path);
    await store.persist({ entries: range(1, 3, 1), hardState: { term: 1, vote: 1, commit: 1 } });
    await store.persist({ entries: range(4, 6, 1), hardState: { term: 1, vote: 1, commit: 2 } });
    await store.close();
    // The second batch starts right after the first: damage its last bytes (the tail never
    // reached the disk) or its first page (a later page landed first).
    const [name] = segmentFiles(path);
    const file = join(path, name);
    const bytes = readFileSync(file);
    const second = bytes.indexOf(Buffer.from('e4'.padEnd(100, '.'))) - 26 - 12;
    const end = bytes.indexOf(Buffer.from('e6'.padEnd(100, '.'))) + 100 + 25;
    if (torn === 'tail') bytes.fill(0, end - 40, end);
    else bytes.fill(0, second, second + 64);
    writeFileSync(file, bytes);
    const reopened = open(path);
    assert.deepEqual(
      loaded(reopened).map(([i]) => i),
      [1, 2, 3],
      torn,
    );
    assert.deepEqual(reopened.load().hardState, { term: 1, vote: 1, commit: 1 });
    // What comes next is not followed by the torn bytes: a second restart agrees.
    await reopened.persist({
      entries: [entry(4, 2, 'new')],
      hardState: { term: 2, vote: 0, commit: 1 },
    });
    await reopened.close();
    const again = open(path);
    assert.deepEqual(loaded(again), [
      [1, 1, 'e1'],
      [2, 1, 'e2'],
      [3, 1, 'e3'],
      [4, 2, 'new'],
    ]);
    await again.close();
  }
});

test('damage followed by valid batches is corruption, not a torn write: the start stops (EIO)', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = open(path);
  await store.persist({ entries: range(1, 3, 1), hardState: { term: 1, vote: 1, commit: 1 } });
  await store.persist({ entries: range(4, 6, 1) });
  await store.close();
  const [name] = segmentFiles(path);
  const bytes = readFileSync(join(path, name));
  bytes[bytes.indexOf('e2')] ^= 0x20; // inside the first batch, the second one intact
  writeFileSync(join(path, name), bytes);
  assert.throws(() => open(path), isEio);
});

test('damage at the end of a sealed segment is corruption too (EIO)', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = open(path);
  for (let i = 1; i <= 60; i += 10) await store.persist({ entries: range(i, i + 9, 1) });
  await store.close();
  const names = segmentFiles(path);
  assert.ok(names.length >= 2);
  // The last entry of the first segment (its last batch): the segment after it is valid.
  const file = join(path, names[0]);
  const bytes = readFileSync(file);
  const last = bytes.lastIndexOf(Buffer.from('e'));
  bytes[last] ^= 0x20;
  writeFileSync(file, bytes);
  assert.throws(() => open(path), isEio);
});

test('a missing segment in the middle is a gap: the start stops (EIO)', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = open(path);
  for (let i = 1; i <= 80; i += 10) await store.persist({ entries: range(i, i + 9, 1) });
  await store.persist({ entries: [], hardState: { term: 1, vote: 0, commit: 80 } });
  await store.close();
  const names = segmentFiles(path);
  assert.ok(names.length >= 3);
  rmSync(join(path, names[1]));
  assert.throws(() => open(path), isEio);
});

test('compaction unlinks only segments the snapshot covers; the hard state survives them', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = open(path);
  await store.persist({ entries: range(1, 10, 1), hardState: { term: 3, vote: 2, commit: 10 } });
  for (let i = 11; i <= 80; i += 10) await store.persist({ entries: range(i, i + 9, 3) });
  const before = segmentFiles(path);
  await store.compact({
    meta: { index: 45, term: 3, confState: { voters: [1, 2, 3], learners: [] } },
    sizeBytes: 10,
    checksum: 7,
  });
  await store.removeCompacted();
  const after = segmentFiles(path);
  assert.ok(after.length < before.length, `${before.length} -> ${after.length} segments`);
  // Every segment left holds an entry after the snapshot, or is the last one.
  const firstOfSecond = after.length > 1 ? Number.parseInt(after[1].slice(17, 33), 16) : Infinity;
  assert.ok(firstOfSecond > 45, 'the first remaining segment is the one holding entry 46');
  assert.deepEqual(
    store.entries(46, 81, 100, Infinity).map((e) => e.index),
    range(46, 80, 3).map((e) => e.index),
  );
  await store.close();
  const reopened = open(path);
  const state = reopened.load();
  assert.deepEqual(state.hardState, { term: 3, vote: 2, commit: 10 });
  assert.equal(state.snapshot.meta.index, 45);
  assert.deepEqual(
    [...state.entries].map((e) => e.index),
    range(46, 80, 3).map((e) => e.index),
  );
  await reopened.close();
});

test('a segment whose first write was torn by a crash is removed at start: the hard state stays', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = open(path);
  await store.persist({ entries: range(1, 10, 1), hardState: { term: 5, vote: 2, commit: 10 } });
  await store.close();
  // The crash came while a new segment was being cut: its file exists, its first batch is torn.
  const names = segmentFiles(path);
  const seq = Number.parseInt(names.at(-1)?.slice(0, 16) ?? '', 16) + 1;
  const name = `${seq.toString(16).padStart(16, '0')}-${(11).toString(16).padStart(16, '0')}.wal`;
  writeFileSync(join(path, name), Buffer.concat([Buffer.from('RWAL'), Buffer.alloc(100, 7)]));
  const reopened = open(path);
  assert.deepEqual(segmentFiles(path), names, 'the torn segment is gone');
  // Later segments start with the state again, so compaction cannot lose the hard state.
  for (let i = 11; i <= 60; i += 10) await reopened.persist({ entries: range(i, i + 9, 5) });
  await reopened.compact({
    meta: { index: 55, term: 5, confState: { voters: [1], learners: [] } },
    sizeBytes: 1,
    checksum: 1,
  });
  await reopened.removeCompacted();
  await reopened.close();
  const third = open(path);
  assert.deepEqual(third.load().hardState, { term: 5, vote: 2, commit: 10 });
  assert.deepEqual(
    [...third.load().entries].map((e) => e.index),
    [56, 57, 58, 59, 60],
  );
  await third.close();
});
