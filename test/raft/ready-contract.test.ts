// The Ready/advance hand-off: what must be persisted, in which order, and what a message is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pack, unpack } from 'msgpackr';
import { bootstrapState, RaftNode, SeededPrng } from '../../src/raft/index.ts';
import { TestCluster } from './helpers/cluster.ts';

test('a vote is in the hard state of the same Ready as the vote message (persist, then send)', () => {
  const node = new RaftNode({ id: 1, random: new SeededPrng(1) }, bootstrapState([1, 2, 3]));
  node.step({
    type: 'vote',
    from: 2,
    to: 1,
    term: 5,
    lastLogIndex: 9,
    lastLogTerm: 4,
    leadershipTransfer: false,
  });
  const ready = node.ready();
  assert.deepEqual(ready.hardState, { term: 5, vote: 2, commit: 3 });
  assert.equal(ready.mustSync, true);
  assert.equal(ready.messages[0].type, 'voteResp');
});

test('appended entries come in the same Ready as the acknowledgement that depends on them', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.propose(1, 'x');
  const leaderReady = cluster.raft(1).ready();
  cluster.raft(1).advance();
  const append = leaderReady.messages.find((m) => m.type === 'app' && m.to === 2);
  assert.ok(append);
  cluster.raft(2).step(append);
  const followerReady = cluster.raft(2).ready();
  assert.equal(followerReady.entries.length, 1);
  const ack = followerReady.messages.find((m) => m.type === 'appResp');
  assert.ok(ack && ack.type === 'appResp' && ack.index === followerReady.entries[0].index);
});

test('ready() twice without advance() is a driver bug and throws', () => {
  const node = new RaftNode({ id: 1, random: new SeededPrng(1) }, bootstrapState([1]));
  node.ready();
  assert.throws(() => node.ready(), /advance/);
  node.advance();
  assert.throws(() => node.advance(), /without ready/);
});

test('committed entries are handed out once, and applied is recorded on advance', () => {
  const node = new RaftNode({ id: 1, random: new SeededPrng(1) }, bootstrapState([1]));
  for (let i = 0; i < 30 && node.status().role !== 'leader'; i++) node.tick();
  const first = node.ready();
  assert.deepEqual(
    first.committedEntries.map((e) => e.type),
    ['confChange', 'noop'],
  );
  node.advance();
  assert.equal(node.status().appliedIndex, 2);
  assert.equal(node.hasReady(), false);
});

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: [...value] };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

test('messages are plain data that survive a msgpack round trip unchanged', () => {
  const cluster = new TestCluster([1, 2, 3], { maxSnapshotChunkBytes: 4 });
  const seen = new Set<string>();
  cluster.filter = (m) => {
    // msgpackr decodes bytes as Buffer, a Uint8Array subclass: compare the bytes themselves.
    assert.deepEqual(plain(unpack(pack(m))), plain(m));
    seen.add(m.type);
    return true;
  };
  cluster.elect(1);
  cluster.propose(1, 'x');
  cluster.raft(1).readIndex('ctx');
  cluster.deliver();
  cluster.tick(2);
  for (const type of [
    'preVote',
    'preVoteResp',
    'vote',
    'voteResp',
    'app',
    'appResp',
    'heartbeat',
  ]) {
    assert.ok(seen.has(type), `no ${type} seen`);
  }
});

test('a restarted node resumes from its hard state and log', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.propose(1, 'x');
  cluster.deliver();
  const before = cluster.raft(2).status();
  cluster.restart(2);
  const after = cluster.raft(2).status();
  assert.equal(after.term, before.term);
  assert.equal(after.vote, before.vote);
  assert.equal(after.lastIndex, before.lastIndex);
  assert.ok(after.commitIndex <= before.commitIndex);
});
