// A Ready that only moves the commit index (mustSync false) costs no disk write: the hard state
// waits in memory for the next durable write or a clean close (RaftStore.persist). After a crash
// the stored commit index may be behind what the state machine applied; the replica starts from
// the applied index, and everything applied before the crash is still there.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import type { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import type { Entry } from '../../src/raft/index.ts';
import { tempDir } from '../helpers/server.ts';
import { startSingleReplica } from '../helpers/single-replica.ts';

const caller = { uid: 0, gid: 0 };
const entry = (index: number, term: number): Entry => ({
  index,
  term,
  type: 'normal',
  data: Buffer.from(`e${index}`),
});

test('a commit-only hard state is written with the next durable write, or at a clean close', async () => {
  const path = join(tempDir(), 'raft-log');
  const store = RaftStore.open(path);
  await store.persist({ entries: [entry(1, 1)], hardState: { term: 1, vote: 1, commit: 0 } });
  await store.persist({ entries: [], hardState: { term: 1, vote: 1, commit: 1 }, mustSync: false });
  // What a crash now would find: another reader of the same files.
  assert.equal(RaftStore.open(path).load().hardState.commit, 0, 'not written by itself');
  await store.persist({ entries: [entry(2, 1)], mustSync: true });
  assert.equal(RaftStore.open(path).load().hardState.commit, 1, 'written with the next entries');
  await store.persist({ entries: [], hardState: { term: 1, vote: 1, commit: 2 }, mustSync: false });
  await store.close();
  const reopened = RaftStore.open(path);
  assert.deepEqual(reopened.load().hardState, { term: 1, vote: 1, commit: 2 }, 'kept at close');
  await reopened.close();
});

function startReplica(dataDir: string, store: RaftStore) {
  return startSingleReplica(dataDir, { store });
}

async function proposeAsLeader(
  replica: MetadataReplica,
  command: Parameters<MetadataReplica['propose']>[0]['command'],
) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await replica.propose({ command });
    } catch (error) {
      if (attempt > 200) throw error;
      await new Promise((r) => setTimeout(r, 10)); // not the leader yet
    }
  }
}

test('after a crash with the commit index behind the state machine, the replica starts and keeps every applied command', async () => {
  const dataDir = tempDir('strata-lazy-commit-');
  const first = startReplica(dataDir, RaftStore.open(join(dataDir, 'raft-log')));
  const bucket = await proposeAsLeader(first.replica, {
    op: 'createBucket',
    nowMs: 1,
    name: 'b',
    owner: 'o',
    caller,
  });
  assert.ok(bucket.ok && bucket.inode);
  for (let i = 0; i < 5; i++) {
    const created = await first.replica.propose({
      command: {
        op: 'create',
        nowMs: 1,
        parent: bucket.inode.ino,
        name: `f${i}`,
        mode: 0o644,
        caller,
        exclusive: true,
      },
    });
    assert.ok(created.ok, `create f${i}`);
  }
  const applied = first.stateMachine.appliedIndex();
  // The crash: the replica stops, its store is never closed (so nothing pending is written).
  first.replica.close();
  await first.replica.drained();
  await first.stateMachine.close();
  // A single member commits in the Ready that writes the entry, so its own commit index is always
  // durable; on a leader of three the commit-only Ready comes after the followers' answers. Its
  // loss is made here: the stored hard state is put back to commit 1.
  // (A later hard state record, as another writer of the same log.)
  const raw = RaftStore.open(join(dataDir, 'raft-log'));
  const stored = raw.load().hardState;
  assert.ok(stored.commit >= applied, 'a single member wrote its commit index with the entry');
  raw.persistSync({ entries: [], hardState: { ...stored, commit: 1 } });
  await raw.close();
  const second = startReplica(dataDir, RaftStore.open(join(dataDir, 'raft-log')));
  try {
    assert.equal(second.stateMachine.appliedIndex(), applied);
    const dir = second.stateMachine.reader.resolvePath('/b');
    assert.ok(dir, 'the bucket is there');
    for (let i = 0; i < 5; i++)
      assert.ok(second.stateMachine.reader.lookup(dir.ino, `f${i}`), `f${i} is there`);
    const more = await proposeAsLeader(second.replica, {
      op: 'create',
      nowMs: 2,
      parent: dir.ino,
      name: 'after',
      mode: 0o644,
      caller,
      exclusive: true,
    });
    assert.ok(more.ok, 'the restarted replica commits new commands');
  } finally {
    second.replica.close();
    await second.replica.drained();
    await second.stateMachine.close();
  }
});
