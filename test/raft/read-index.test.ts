// Dissertation §6.4: linearizable reads through ReadIndex.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from './helpers/cluster.ts';

test('readIndex: the read state arrives after a quorum answered the heartbeat, at the commit index', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.propose(1, 'w');
  cluster.deliver();
  const commitIndex = cluster.raft(1).status().commitIndex;
  let heartbeats = 0;
  cluster.filter = (m) => {
    if (m.type === 'heartbeat' && m.context === 'r1') heartbeats++;
    return true;
  };
  assert.deepEqual(cluster.raft(1).readIndex('r1'), { ok: true });
  cluster.deliver();
  assert.equal(heartbeats, 2, 'leadership is confirmed with a heartbeat round');
  assert.deepEqual(cluster.node(1).readStates, [{ index: commitIndex, context: 'r1' }]);
});

test('readIndex: a leader cut off from its quorum never answers (it may have been deposed)', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(1);
  cluster.raft(1).readIndex('r1');
  cluster.tick(5, [1]);
  assert.deepEqual(cluster.node(1).readStates, []);
});

test('readIndex: one answer from a minority is not enough in a five-node cluster', () => {
  const cluster = new TestCluster([1, 2, 3, 4, 5]);
  cluster.elect(1);
  for (const id of [3, 4, 5]) cluster.cut.add(`${id}->1`);
  cluster.raft(1).readIndex('r1');
  cluster.deliver();
  assert.deepEqual(cluster.node(1).readStates, []);
  cluster.heal();
  cluster.tick(1, [1]); // the next heartbeat round carries no context; the read stays pending
  cluster.raft(1).readIndex('r2'); // a later confirmed read releases the earlier one too
  cluster.deliver();
  assert.deepEqual(
    cluster.node(1).readStates.map((r) => r.context),
    ['r1', 'r2'],
  );
});

test('readIndex: a new leader serves reads only after committing its no-op', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(1);
  // Node 2's no-op is not acknowledged, so it cannot commit in its term yet.
  cluster.filter = (m) => m.type !== 'appResp';
  cluster.elect(2);
  cluster.propose(2, 'x');
  cluster.deliver();
  const status = cluster.raft(2).status();
  assert.ok(cluster.raft(2).logTerm(status.commitIndex) !== status.term, 'no-op already committed');
  assert.deepEqual(cluster.raft(2).readIndex('early'), { ok: true });
  cluster.deliver();
  assert.deepEqual(cluster.node(2).readStates, [], 'read served before the term had a commit');
  cluster.filter = () => true;
  cluster.tick(2, [2, 3]);
  const [readState] = cluster.node(2).readStates;
  assert.equal(readState.context, 'early');
  assert.ok(readState.index >= status.lastIndex, 'the read index covers the no-op and the write');
});

test('readIndex: a single-voter cluster answers at once', () => {
  const cluster = new TestCluster([1]);
  cluster.elect(1);
  cluster.raft(1).readIndex('solo');
  cluster.deliver();
  assert.equal(cluster.node(1).readStates[0].context, 'solo');
});

test('readIndex: duplicate contexts and too many pending reads are refused', () => {
  const cluster = new TestCluster([1, 2, 3], { maxPendingReads: 2 });
  cluster.elect(1);
  cluster.isolate(1);
  assert.ok(cluster.raft(1).readIndex('a').ok);
  const duplicate = cluster.raft(1).readIndex('a');
  assert.equal(duplicate.ok ? 'ok' : duplicate.code, 'DUPLICATE_READ_CONTEXT');
  assert.ok(cluster.raft(1).readIndex('b').ok);
  const third = cluster.raft(1).readIndex('c');
  assert.equal(third.ok ? 'ok' : third.code, 'TOO_MANY_PENDING_READS');
});

// The metadata driver sends a read round's heartbeats, and serves its read states, while the
// leader's Ready is still being made durable (raft-node.ts: takeHeartbeats, takeReadStates).
test('readIndex: a read round completes while a Ready is held, its heartbeats capped at the given commit', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.propose(1, 'w');
  cluster.deliver();
  const leader = cluster.raft(1);
  const durableCommit = leader.status().commitIndex;
  // A new entry is appended and its Ready taken: the driver is writing it (not advanced).
  leader.propose(new TextEncoder().encode('x'));
  const held = leader.ready();
  assert.equal(held.entries.length, 1);
  // Its appends reach the followers, whose acknowledgements commit it (the leader's own copy
  // counted at once, not durable yet).
  for (const message of held.messages) cluster.raft(message.to).step(message);
  cluster.deliver();
  const { term, vote, commitIndex } = leader.status();
  assert.equal(commitIndex, durableCommit + 1, 'committed in memory, not on the leader disk');
  assert.deepEqual(leader.readIndex('r1'), { ok: true });
  const early = leader.takeHeartbeats({ term, vote, commitCap: durableCommit });
  assert.equal(early.length, 2, 'one heartbeat per follower');
  for (const message of early) {
    assert.equal(message.type, 'heartbeat');
    assert.equal((message as { commit: number }).commit, durableCommit, 'capped');
    cluster.raft(message.to).step(message);
  }
  cluster.deliver(); // the answers reach the leader, whose Ready is still held
  assert.deepEqual(leader.takeReadStates(), [{ index: commitIndex, context: 'r1' }]);
  assert.deepEqual(leader.takeReadStates(), [], 'taken once');
  leader.advance();
  assert.deepEqual(leader.ready().readStates, [], 'not in the next Ready either');
});

test('takeHeartbeats: nothing leaves while the term or vote in memory is not the durable one', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const leader = cluster.raft(1);
  const { term, vote } = leader.status();
  leader.readIndex('r1');
  assert.deepEqual(leader.takeHeartbeats({ term: term - 1, vote, commitCap: 0 }), []);
  assert.deepEqual(leader.takeHeartbeats({ term, vote: 3, commitCap: 0 }), []);
  assert.equal(leader.takeHeartbeats({ term, vote, commitCap: 0 }).length, 2);
});
