// Raft §7: log compaction and InstallSnapshot (sent in chunks).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message, Snapshot } from '../../src/raft/index.ts';
import { appliedTexts, TestCluster } from './helpers/cluster.ts';

const encoder = new TextEncoder();

function snapshotAt(cluster: TestCluster, id: number): Snapshot {
  const raft = cluster.raft(id);
  const index = raft.status().appliedIndex;
  return {
    meta: { index, term: raft.logTerm(index) as number, confState: raft.confStateAt(index) },
    sizeBytes: 0,
    checksum: 0,
  };
}

test('compaction drops the log up to the snapshot and keeps replicating after it', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  for (let i = 0; i < 5; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  const snapshot = cluster.compact(1, encoder.encode('state'));
  const status = cluster.raft(1).status();
  assert.equal(status.firstIndex, snapshot.meta.index + 1);
  assert.equal(cluster.raft(1).logTerm(snapshot.meta.index - 1), undefined);
  cluster.propose(1, 'after');
  cluster.deliver();
  cluster.tick(2);
  assert.deepEqual(appliedTexts(cluster.node(2)).at(-1), 'after');
});

test('compaction refuses to pass the applied index', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const raft = cluster.raft(1);
  const index = raft.status().appliedIndex + 1;
  cluster.isolate(1);
  cluster.propose(1, 'unapplied');
  cluster.deliver();
  const meta = { index, term: raft.logTerm(index) as number, confState: raft.confStateAt(index) };
  assert.throws(() => raft.compact({ meta, sizeBytes: 0, checksum: 0 }), /beyond applied/);
});

test('a follower behind the compacted log receives the snapshot in chunks, then the log', () => {
  const cluster = new TestCluster([1, 2, 3], { maxSnapshotChunkBytes: 10 });
  cluster.elect(1);
  cluster.isolate(3);
  for (let i = 0; i < 5; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  const data = encoder.encode('a snapshot of 35 bytes of app state');
  cluster.compact(1, data);
  cluster.propose(1, 'tail');
  cluster.deliver();
  cluster.heal();
  const chunks: Message[] = [];
  cluster.filter = (m) => {
    if (m.type === 'snap') chunks.push(m);
    return true;
  };
  cluster.tick(3);
  const offsets = chunks.map((m) =>
    m.type === 'snap' ? [m.offsetBytes, m.data.length, m.done] : [],
  );
  assert.deepEqual(offsets.slice(0, 4), [
    [0, 10, false],
    [10, 10, false],
    [20, 10, false],
    [30, 5, true],
  ]);
  const follower = cluster.node(3);
  assert.equal(follower.appliedSnapshots.length, 1);
  assert.deepEqual(follower.appliedSnapshots[0].data, data);
  assert.equal(follower.appliedSnapshots[0].snapshot.sizeBytes, data.byteLength);
  assert.deepEqual(appliedTexts(follower), ['tail'], 'entries after the snapshot are applied');
  assert.equal(cluster.raft(1).progressOf(3)?.state, 'replicate');
});

test('lost snapshot chunks are resent and the transfer completes', () => {
  const cluster = new TestCluster([1, 2, 3], { maxSnapshotChunkBytes: 8 });
  cluster.elect(1);
  cluster.isolate(3);
  for (let i = 0; i < 3; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  cluster.compact(1, encoder.encode('0123456789abcdefghij'));
  cluster.heal();
  let count = 0;
  cluster.filter = (m) => !(m.type === 'snap' && count++ % 2 === 1); // drop every other chunk
  cluster.tick(15);
  assert.equal(cluster.node(3).appliedSnapshots.length, 1);
  assert.deepEqual(
    new TextDecoder().decode(cluster.node(3).appliedSnapshots[0].data),
    '0123456789abcdefghij',
  );
});

test('a node restarts from its snapshot and the entries after it', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  for (let i = 0; i < 4; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  cluster.tick(1);
  const node = cluster.node(2);
  const snapshot = cluster.compact(2, encoder.encode('s'));
  node.entries = node.entries.filter((e) => e.index > snapshot.meta.index);
  cluster.propose(1, 'later');
  cluster.deliver();
  cluster.tick(1);
  cluster.restart(2);
  cluster.deliver();
  assert.equal(cluster.raft(2).status().firstIndex, snapshot.meta.index + 1);
  assert.deepEqual(appliedTexts(node), ['later'], 'replays only what follows the snapshot');
});

test('snapshot metadata must agree with the log: term and membership are checked', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const good = snapshotAt(cluster, 1);
  const wrongTerm = { ...good, meta: { ...good.meta, term: good.meta.term + 7 } };
  assert.throws(() => cluster.raft(1).compact(wrongTerm), /term/);
  const wrongConf = { ...good, meta: { ...good.meta, confState: { voters: [1], learners: [] } } };
  assert.throws(() => cluster.raft(1).compact(wrongConf), /membership/);
});

test('snapshot bytes never pass through the core: chunks leave empty and arrive as writes', () => {
  const cluster = new TestCluster([1, 2, 3], { maxSnapshotChunkBytes: 10 });
  cluster.elect(1);
  cluster.isolate(3);
  for (let i = 0; i < 3; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  const data = encoder.encode('twenty-five bytes of app');
  cluster.compact(1, data);
  const leader = cluster.raft(1);
  cluster.heal();
  // The follower answers a heartbeat; the leader finds it behind the compacted log.
  let chunk: Message | undefined;
  cluster.filter = (m) => {
    if (m.type === 'snap' && chunk === undefined) chunk = structuredClone(m);
    return m.type !== 'snap';
  };
  cluster.tick(2);
  assert.ok(chunk?.type === 'snap', 'the leader sends a snapshot chunk');
  // The test driver (helpers/cluster.ts) checks that every chunk leaves the core empty and
  // fills it from its own copy of the snapshot.
  assert.deepEqual(chunk.data, data.subarray(0, 10));
  assert.equal(chunk.lengthBytes, 10);
  assert.equal(chunk.totalBytes, data.byteLength);
  assert.equal(leader.status().role, 'leader');
  // The follower's core hands each accepted chunk to its driver to write.
  const follower = cluster.raft(3);
  follower.step({ ...chunk, data: data.subarray(0, 10) });
  const followerReady = follower.ready();
  assert.deepEqual(
    followerReady.snapshotChunks.map((c) => [c.offsetBytes, c.data.byteLength]),
    [[0, 10]],
  );
  assert.equal(followerReady.snapshot, undefined, 'nothing to install before the last chunk');
});

test('a follower restarted in the middle of a transfer starts it over at offset 0', () => {
  const cluster = new TestCluster([1, 2, 3], { maxSnapshotChunkBytes: 10 });
  cluster.elect(1);
  cluster.isolate(3);
  for (let i = 0; i < 3; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  const data = encoder.encode('a snapshot of 35 bytes of app state');
  cluster.compact(1, data);
  cluster.heal();
  let chunksTo3 = 0;
  let restarted = false;
  const offsetsAfterRestart: number[] = [];
  cluster.filter = (m) => {
    if (m.type !== 'snap' || m.to !== 3) return true;
    if (restarted) offsetsAfterRestart.push(m.offsetBytes);
    else if (++chunksTo3 === 3) {
      // Two chunks are on its disk; the process dies before the third arrives.
      restarted = true;
      cluster.restart(3);
      return false;
    }
    return true;
  };
  cluster.tick(10);
  const follower = cluster.node(3);
  assert.equal(follower.appliedSnapshots.length, 1);
  assert.deepEqual(follower.appliedSnapshots[0].data, data, 'the installed bytes are the leaderʼs');
  assert.ok(offsetsAfterRestart.includes(0), 'the transfer started over from the beginning');
});

test('chunks of a newer snapshot wait until the completed one has left in a Ready (they share a file)', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const follower = cluster.raft(3);
  const { term, commitIndex } = follower.status();
  const confState = follower.status().confState;
  const chunk = (index: number, done: boolean): Message => ({
    type: 'snap',
    from: 1,
    to: 3,
    term,
    meta: { index, term, confState },
    totalBytes: done ? 4 : 8,
    checksum: 0,
    offsetBytes: 0,
    lengthBytes: 4,
    data: encoder.encode(done ? 'aaaa' : 'bbbb'),
    done,
  });
  follower.step(chunk(commitIndex + 10, true));
  follower.step(chunk(commitIndex + 20, false)); // a newer snapshot starts at once
  const ready = follower.ready();
  assert.equal(ready.snapshot?.meta.index, commitIndex + 10);
  assert.deepEqual(
    ready.snapshotChunks.map((c) => c.meta.index),
    [commitIndex + 10],
    'the newer snapshot did not overwrite the incoming file before the install',
  );
  follower.advance();
  follower.step(chunk(commitIndex + 20, false));
  assert.deepEqual(
    follower.ready().snapshotChunks.map((c) => c.meta.index),
    [commitIndex + 20],
  );
});

test('the core counts the bytes of entry data after its snapshot: appends add, compaction removes (truncation: the simulator checks it)', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const before = cluster.raft(1).status().logBytes;
  for (let i = 0; i < 4; i++) cluster.propose(1, 'x'.repeat(100));
  cluster.deliver();
  assert.equal(cluster.raft(1).status().logBytes, before + 400);
  assert.equal(cluster.raft(2).status().logBytes, before + 400, 'followers count the same');
  cluster.compact(1, encoder.encode('state'));
  assert.equal(cluster.raft(1).status().logBytes, 0, 'everything applied was compacted');
  cluster.propose(1, 'y'.repeat(10));
  cluster.deliver();
  assert.equal(cluster.raft(1).status().logBytes, 10);
});
