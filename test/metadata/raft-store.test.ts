// The durable Raft log: entries, hard state and snapshot survive a reopen; an entry or snapshot
// whose bytes changed on disk is refused at load (EIO), never handed to Raft.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import type { Entry } from '../../src/raft/index.ts';
import { tempDir } from '../helpers/server.ts';

const entry = (index: number, term: number, text: string): Entry => ({
  index,
  term,
  type: 'normal',
  data: Buffer.from(text),
});

test('entries, hard state and snapshots round-trip; a conflicting suffix is replaced', async () => {
  const path = join(tempDir(), 'raft');
  const store = RaftStore.open(path);
  store.persist({
    entries: [entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')],
    hardState: { term: 1, vote: 2, commit: 1 },
  });
  store.persist({ entries: [entry(2, 2, 'B')], hardState: { term: 2, vote: 0, commit: 2 } });
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
  reopened.compact({
    meta: { index: 1, term: 1, confState: { voters: [1], learners: [] } },
    sizeBytes: 4096,
    checksum: 1234,
  });
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

test('a changed entry or snapshot on disk stops the load with EIO (an entry when it is read)', async () => {
  for (const target of ['entry', 'snapshot'] as const) {
    const path = join(tempDir(), 'raft');
    const store = RaftStore.open(path);
    store.persist({
      entries: [entry(1, 1, 'x'), entry(2, 1, 'y')],
      hardState: { term: 1, vote: 0, commit: 2 },
    });
    store.compact({
      meta: { index: 1, term: 1, confState: { voters: [1], learners: [] } },
      sizeBytes: 4096,
      checksum: 1234,
    });
    await store.close();
    // Flip bytes the way a bad disk would: same record shape, different content.
    const raw = open<any, Buffer>({ path, keyEncoding: 'binary' });
    if (target === 'entry') {
      const key = Buffer.alloc(9);
      key[0] = 0x65;
      key.writeBigUInt64BE(2n, 1);
      const stored = raw.get(key);
      await raw.put(key, { ...stored, data: Buffer.from('z') });
    } else {
      const stored = raw.get(Buffer.from('n'));
      await raw.put(Buffer.from('n'), { ...stored, sizeBytes: 4095 });
    }
    await raw.close();
    const damaged = RaftStore.open(path);
    // The entries are read (and checked) as the core takes them, before any is handed over.
    assert.throws(
      () => [...damaged.load().entries],
      (e: { code?: string }) => e.code === 'EIO',
      target,
    );
    await damaged.close();
  }
});

test('compaction records the snapshot at once and removes the covered entries in bounded batches', async () => {
  const path = join(tempDir(), 'raft');
  const store = RaftStore.open(path);
  const entries = Array.from({ length: 50 }, (_, i) => entry(i + 1, 1, `e${i + 1}`));
  store.persist({ entries, hardState: { term: 1, vote: 0, commit: 50 } });
  const snapshot = {
    meta: { index: 40, term: 1, confState: { voters: [1], learners: [] } },
    sizeBytes: 8192,
    checksum: 99,
  };
  store.compact(snapshot);
  assert.equal(store.storedEntryCount(), 50, 'nothing removed inside compact()');
  assert.equal(store.removeCompacted(16), true, 'more remain after one batch');
  assert.equal(store.storedEntryCount(), 34);
  // A restart in the middle sees only the entries after the snapshot.
  await store.close();
  const reopened = RaftStore.open(path);
  const state = reopened.load();
  assert.equal(state.snapshot.meta.index, 40);
  assert.deepEqual(
    [...state.entries].map((e) => e.index),
    [41, 42, 43, 44, 45, 46, 47, 48, 49, 50],
  );
  while (reopened.removeCompacted(16)) {}
  assert.equal(reopened.storedEntryCount(), 10);
  await reopened.close();
});

test('a snapshot far ahead of a follower log removes only the entries it had, in one short pass', async () => {
  const store = RaftStore.open(join(tempDir(), 'raft'));
  store.persist({
    entries: [entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')],
    hardState: { term: 1, vote: 0, commit: 2 },
  });
  // InstallSnapshot at index 10,000,000: the follower's three entries are covered.
  store.persist({
    snapshot: {
      meta: { index: 10_000_000, term: 2, confState: { voters: [1], learners: [] } },
      sizeBytes: 1,
      checksum: 1,
    },
    entries: [],
    hardState: { term: 2, vote: 0, commit: 10_000_000 },
  });
  assert.equal(store.storedEntryCount(), 3);
  assert.equal(store.removeCompacted(1024), false, 'one batch found them all');
  assert.equal(store.storedEntryCount(), 0);
  await store.close();
});

test('entries read back for the Raft core come in order, within count and bytes', async () => {
  const path = join(tempDir(), 'raft');
  const store = RaftStore.open(path);
  store.persist({
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
