// The durable Raft log: entries, hard state and snapshots survive a reopen; an entry or snapshot
// whose bytes changed on disk is refused (EIO), never handed to Raft.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32c } from '../../src/data/crc32c.ts';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import type { Entry } from '../../src/raft/index.ts';
import { tempDir } from '../helpers/server.ts';

const entry = (index: number, term: number, text: string): Entry => ({
  index,
  term,
  type: 'normal',
  data: Buffer.from(text),
});
const snapshotAt = (index: number, sizeBytes = 4096, checksum = 1234) => ({
  meta: { index, term: 1, confState: { voters: [1], learners: [] } },
  sizeBytes,
  checksum,
});
const isEio = (e: { code?: string }) => e.code === 'EIO';

function onlySegment(path: string): string {
  const names = readdirSync(path).filter((n) => n.endsWith('.wal'));
  assert.equal(names.length, 1, 'one segment');
  return join(path, names[0]);
}

test('entries, hard state and snapshots round-trip; a conflicting suffix is replaced', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = RaftStore.open(path);
  await store.persist({
    entries: [entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')],
    hardState: { term: 1, vote: 2, commit: 1 },
  });
  await store.persist({ entries: [entry(2, 2, 'B')], hardState: { term: 2, vote: 0, commit: 2 } });
  assert.deepEqual(
    store.entries(1, 3, 10, Infinity).map((e) => Buffer.from(e.data).toString()),
    ['a', 'B'],
  );
  await store.close();
  const reopened = RaftStore.open(path);
  const state = reopened.load();
  assert.deepEqual(state.hardState, { term: 2, vote: 0, commit: 2 });
  assert.deepEqual(
    [...state.entries].map((e) => [e.index, e.term, Buffer.from(e.data).toString()]),
    [
      [1, 1, 'a'],
      [2, 2, 'B'],
    ],
  );
  await reopened.compact(snapshotAt(1));
  await reopened.close();
  const third = RaftStore.open(path);
  const compacted = third.load();
  assert.equal(compacted.snapshot.meta.index, 1);
  assert.equal(compacted.snapshot.sizeBytes, 4096);
  assert.equal(compacted.snapshot.checksum, 1234);
  assert.deepEqual(
    [...compacted.entries].map((e) => e.index),
    [2],
  );
  await third.close();
});

test('a changed entry or snapshot record followed by more of the log stops the start with EIO', async () => {
  for (const target of ['entry', 'snapshot'] as const) {
    const path = join(tempDir(), 'raft-log');
    const store = RaftStore.open(path);
    await store.persist({
      entries: [entry(1, 1, 'x'), entry(2, 1, 'yyyy')],
      hardState: { term: 1, vote: 0, commit: 2 },
    });
    await store.compact(snapshotAt(1));
    await store.persist({ entries: [entry(3, 1, 'z')] });
    await store.close();
    // Flip bytes the way a bad disk would: the entry's data, or the snapshot record's size.
    const file = onlySegment(path);
    const bytes = readFileSync(file);
    const at = target === 'entry' ? bytes.indexOf('yyyy') : bytes.indexOf('"sizeBytes":4096') + 12;
    assert.ok(at > 0, 'found the bytes to damage');
    bytes[at] ^= 1;
    writeFileSync(file, bytes);
    assert.throws(() => RaftStore.open(path), isEio, target);
  }
});

test('an entry whose own checksum fails is refused at start, even inside a whole batch', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = RaftStore.open(path);
  await store.persist({
    entries: [entry(1, 1, 'abcd')],
    hardState: { term: 1, vote: 0, commit: 1 },
  });
  await store.close();
  // Change the entry's data and make the batch's CRC agree: only the entry CRC can tell.
  const file = onlySegment(path);
  const bytes = readFileSync(file);
  bytes[bytes.indexOf('abcd')] = 'A'.charCodeAt(0);
  const bodyBytes = bytes.readUInt32LE(4);
  bytes.writeUInt32LE(crc32c(bytes.subarray(12, 12 + bodyBytes)), 8);
  writeFileSync(file, bytes);
  assert.throws(() => RaftStore.open(path), isEio);
});

test('compaction records the snapshot at once; covered segments are unlinked afterwards', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = RaftStore.open(path, { segmentBytes: 4096 });
  for (let i = 1; i <= 50; i++)
    await store.persist({ entries: [entry(i, 1, `e${i}`.padEnd(200, '.'))] });
  await store.persist({ entries: [], hardState: { term: 1, vote: 0, commit: 50 } });
  const segments = store.segmentCount();
  assert.ok(segments >= 3, `the log spans segments (${segments})`);
  await store.compact(snapshotAt(40, 8192, 99));
  assert.equal(store.segmentCount(), segments, 'nothing removed inside compact()');
  // A restart before the removal sees only the entries after the snapshot.
  await store.close();
  const reopened = RaftStore.open(path, { segmentBytes: 4096 });
  const state = reopened.load();
  assert.equal(state.snapshot.meta.index, 40);
  assert.deepEqual(
    [...state.entries].map((e) => e.index),
    [41, 42, 43, 44, 45, 46, 47, 48, 49, 50],
  );
  assert.equal(await reopened.removeCompacted(), false);
  const left = reopened.segmentCount();
  assert.ok(left < segments && left >= 1, `segments unlinked (${segments} -> ${left})`);
  await reopened.close();
  // And after the removal: the snapshot covers what is gone, the hard state is still there.
  const third = RaftStore.open(path, { segmentBytes: 4096 });
  const after = third.load();
  assert.deepEqual(after.hardState, { term: 1, vote: 0, commit: 50 });
  assert.deepEqual(
    [...after.entries].map((e) => e.index),
    [41, 42, 43, 44, 45, 46, 47, 48, 49, 50],
  );
  await third.close();
});

test('a received snapshot far ahead of a follower log starts a segment; the older ones go', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = RaftStore.open(path);
  await store.persist({
    entries: [entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')],
    hardState: { term: 1, vote: 0, commit: 2 },
  });
  // InstallSnapshot at index 10,000,000: the follower's three entries are replaced.
  await store.persist({
    snapshot: {
      ...snapshotAt(10_000_000, 1, 1),
      meta: { ...snapshotAt(0).meta, index: 10_000_000, term: 2 },
    },
    entries: [],
    hardState: { term: 2, vote: 0, commit: 10_000_000 },
  });
  assert.equal(store.segmentCount(), 2);
  assert.equal(await store.removeCompacted(), false);
  assert.equal(store.segmentCount(), 1);
  assert.equal(store.lastStoredIndex(), 10_000_000);
  await store.persist({ entries: [entry(10_000_001, 2, 'd')] });
  await store.close();
  const reopened = RaftStore.open(path);
  const state = reopened.load();
  assert.equal(state.snapshot.meta.index, 10_000_000);
  assert.deepEqual(
    [...state.entries].map((e) => e.index),
    [10_000_001],
  );
  await reopened.close();
});

test('entries read back for the Raft core come in order, within count and bytes', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = RaftStore.open(path);
  await store.persist({
    entries: [1, 2, 3, 4, 5].map((i) => entry(i, i < 3 ? 1 : 2, 'x'.repeat(i))),
    hardState: { term: 2, vote: 1, commit: 5 },
  });
  const read = store.entries(2, 6, 10, Infinity);
  assert.deepEqual(
    read.map((e) => [e.index, e.term, Buffer.from(e.data).toString()]),
    [2, 3, 4, 5].map((i) => [i, i < 3 ? 1 : 2, 'x'.repeat(i)]),
  );
  assert.equal(store.entries(2, 6, 2, Infinity).length, 2, 'count bound');
  assert.equal(store.entries(2, 6, 10, 5).length, 2, 'byte bound (2 + 3)');
  assert.equal(store.entries(4, 6, 10, 1).length, 1, 'at least one entry');
  await store.close();
});
