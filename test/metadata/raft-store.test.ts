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
    state.entries.map((e) => [e.index, e.term, Buffer.from(e.data).toString()]),
    [
      [1, 1, 'a'],
      [2, 2, 'B'],
    ],
  );
  reopened.compact({
    meta: { index: 1, term: 1, confState: { voters: [1], learners: [] } },
    data: Buffer.from('state'),
  });
  await reopened.close();
  const third = RaftStore.open(path);
  const compacted = third.load();
  assert.equal(compacted.snapshot.meta.index, 1);
  assert.equal(Buffer.from(compacted.snapshot.data).toString(), 'state');
  assert.deepEqual(
    compacted.entries.map((e) => e.index),
    [2],
  );
  await third.close();
});

test('a changed entry or snapshot on disk stops the load with EIO', async () => {
  for (const target of ['entry', 'snapshot'] as const) {
    const path = join(tempDir(), 'raft');
    const store = RaftStore.open(path);
    store.persist({
      entries: [entry(1, 1, 'x'), entry(2, 1, 'y')],
      hardState: { term: 1, vote: 0, commit: 2 },
    });
    store.compact({
      meta: { index: 1, term: 1, confState: { voters: [1], learners: [] } },
      data: Buffer.from('snap'),
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
      await raw.put(Buffer.from('n'), { ...stored, data: Buffer.from('spam') });
    }
    await raw.close();
    const damaged = RaftStore.open(path);
    assert.throws(
      () => damaged.load(),
      (e: { code?: string }) => e.code === 'EIO',
      target,
    );
    await damaged.close();
  }
});
