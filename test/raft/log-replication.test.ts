// Raft §5.3 (log replication, log matching) and the flow control of etcd's tracker: batching,
// pipelining, probe/replicate states and the in-flight limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppendRequest, Message } from '../../src/raft/index.ts';
import { appliedTexts, TestCluster } from './helpers/cluster.ts';

const appends = (messages: Message[], to: number) =>
  messages.filter((m): m is AppendRequest => m.type === 'app' && m.to === to);

test('committed entries are applied on every node in the same order', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  for (const text of ['a', 'b', 'c']) cluster.propose(1, text);
  cluster.deliver();
  cluster.tick(2);
  for (const id of [1, 2, 3]) assert.deepEqual(appliedTexts(cluster.node(id)), ['a', 'b', 'c']);
});

test('batching: one AppendEntries carries at most maxEntriesPerMessage entries', () => {
  const cluster = new TestCluster([1, 2, 3], { maxEntriesPerMessage: 2, maxInflightMessages: 100 });
  cluster.elect(1);
  cluster.isolate(2);
  for (let i = 0; i < 7; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  cluster.heal();
  cluster.queue = [];
  cluster.raft(1).tick(); // heartbeat; node 2's answer triggers catch-up
  const sent: Message[] = [];
  cluster.filter = (m) => {
    sent.push(m);
    return true;
  };
  cluster.deliver();
  const toTwo = appends(sent, 2).filter((m) => m.entries.length > 0);
  assert.ok(toTwo.length >= 4, `expected several batches, got ${toTwo.length}`);
  for (const m of toTwo) assert.ok(m.entries.length <= 2, `batch of ${m.entries.length}`);
  cluster.tick(2);
  assert.equal(appliedTexts(cluster.node(2)).length, 7);
});

test('batching: maxMessageBytes bounds a message, but one entry always goes', () => {
  const cluster = new TestCluster([1, 2], { maxMessageBytes: 10 });
  cluster.elect(1);
  cluster.isolate(2);
  cluster.propose(1, 'x'.repeat(50)); // larger than the limit on its own
  cluster.propose(1, 'y'.repeat(5));
  cluster.heal();
  cluster.deliver();
  const sent: Message[] = [];
  cluster.filter = (m) => {
    sent.push(m);
    return true;
  };
  cluster.tick(3);
  for (const m of appends(sent, 2)) assert.ok(m.entries.length <= 1);
  assert.deepEqual(appliedTexts(cluster.node(2)), ['x'.repeat(50), 'y'.repeat(5)]);
});

test('pipelining: in replicate state several appends are in flight before any answer', () => {
  const cluster = new TestCluster([1, 2, 3], { maxEntriesPerMessage: 1, maxInflightMessages: 4 });
  cluster.elect(1);
  assert.equal(cluster.raft(1).progressOf(2)?.state, 'replicate');
  for (let i = 0; i < 10; i++) cluster.propose(1, `p${i}`);
  const ready = cluster.raft(1).ready();
  const toTwo = appends(ready.messages, 2);
  assert.equal(toTwo.length, 4, 'the in-flight window caps unanswered appends');
  assert.deepEqual(
    toTwo.map((m) => m.entries[0].index),
    toTwo.map((_, i) => toTwo[0].entries[0].index + i),
  );
  assert.equal(cluster.raft(1).progressOf(2)?.inflight.length, 4);
  cluster.raft(1).advance();
  cluster.queue.push(...ready.messages);
  cluster.deliver();
  assert.equal(appliedTexts(cluster.node(1)).length, 10);
});

test('flow control: a follower in probe state gets one append until it answers', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(2);
  cluster.propose(1, 'a');
  cluster.deliver();
  // The append to 2 was lost; the next one is rejected, which moves 2 to probe.
  const leader = cluster.raft(1);
  const { term, lastIndex } = leader.status();
  const rejectHint = lastIndex - 1;
  leader.step({
    type: 'appResp',
    from: 2,
    to: 1,
    term,
    index: lastIndex,
    reject: true,
    rejectHint,
  });
  assert.equal(leader.progressOf(2)?.state, 'probe');
  cluster.propose(1, 'b');
  cluster.propose(1, 'c');
  const ready = leader.ready();
  assert.equal(appends(ready.messages, 2).length, 1, 'probe sends one message at a time');
  leader.advance();
  cluster.queue.push(...ready.messages);
  cluster.heal();
  cluster.deliver();
  cluster.tick(2);
  assert.deepEqual(appliedTexts(cluster.node(2)), ['a', 'b', 'c']);
  assert.equal(leader.progressOf(2)?.state, 'replicate');
});

test('log matching: a follower with conflicting uncommitted entries is overwritten', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.propose(1, 'committed');
  cluster.deliver();
  cluster.tick(1);
  // Leader 1 appends entries nobody else gets, then loses leadership.
  cluster.isolate(1);
  cluster.raft(1).propose(new TextEncoder().encode('lost-1'));
  cluster.raft(1).propose(new TextEncoder().encode('lost-2'));
  cluster.deliver();
  cluster.elect(2);
  cluster.propose(2, 'winner');
  cluster.deliver();
  cluster.heal();
  cluster.tick(25);
  for (const id of [1, 2, 3]) {
    assert.deepEqual(appliedTexts(cluster.node(id)), ['committed', 'winner'], `node ${id}`);
  }
  const one = cluster.raft(1).status();
  const two = cluster.raft(2).status();
  assert.equal(one.lastIndex, two.lastIndex);
  for (let index = 1; index <= one.lastIndex; index++) {
    assert.deepEqual(cluster.raft(1).logEntry(index), cluster.raft(2).logEntry(index));
  }
});

test('a lost append is repaired by the next heartbeat round', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  let dropped = 0;
  cluster.filter = (m) =>
    !(m.type === 'app' && m.to === 3 && m.entries.length > 0 && dropped++ < 3);
  cluster.propose(1, 'a');
  cluster.deliver();
  cluster.filter = () => true;
  cluster.tick(3);
  assert.deepEqual(appliedTexts(cluster.node(3)), ['a']);
});

test('proposals on a follower are refused with the leader as a hint', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(3);
  const result = cluster.raft(1).propose(new TextEncoder().encode('x'));
  assert.deepEqual(result, { ok: false, code: 'NOT_LEADER', leaderHint: 3 });
  const read = cluster.raft(2).readIndex('r1');
  assert.deepEqual(read, { ok: false, code: 'NOT_LEADER', leaderHint: 3 });
});

test('limits: oversized proposals and too many uncommitted entries are refused', () => {
  const cluster = new TestCluster([1, 2, 3], { maxProposalBytes: 8, maxUncommittedEntries: 3 });
  cluster.elect(1);
  const big = cluster.raft(1).propose(new Uint8Array(9));
  assert.equal(big.ok ? 'ok' : big.code, 'PROPOSAL_TOO_LARGE');
  cluster.isolate(1);
  for (let i = 0; i < 3; i++) assert.ok(cluster.raft(1).propose(new Uint8Array(1)).ok);
  const fourth = cluster.raft(1).propose(new Uint8Array(1));
  assert.equal(fourth.ok ? 'ok' : fourth.code, 'TOO_MANY_UNCOMMITTED');
});
