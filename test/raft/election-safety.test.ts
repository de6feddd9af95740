// Raft §5.2 (leader election) and §5.4.1 (election restriction).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapState, NO_NODE, RaftNode, SeededPrng } from '../../src/raft/index.ts';
import { TestCluster } from './helpers/cluster.ts';

test('randomised election timeouts: followers campaign after a timeout drawn from [T, 2T)', () => {
  const electionTimeoutTicks = 10;
  const firstCampaignTick = new Set<number>();
  for (let seed = 1; seed <= 50; seed++) {
    const node = new RaftNode(
      { id: 1, random: new SeededPrng(seed), electionTimeoutTicks, preVote: false },
      bootstrapState([1, 2, 3]),
    );
    let ticks = 0;
    while (node.status().role === 'follower') {
      node.tick();
      ticks++;
      assert.ok(ticks < 2 * electionTimeoutTicks, 'no campaign within 2T');
    }
    assert.ok(ticks >= electionTimeoutTicks, `campaigned after ${ticks} ticks`);
    firstCampaignTick.add(ticks);
  }
  assert.ok(firstCampaignTick.size >= 5, 'timeouts are not spread');
});

test('election safety: at most one leader per term, whatever the order of ticks', () => {
  for (let seed = 0; seed < 20; seed++) {
    const cluster = new TestCluster([1, 2, 3, 4, 5]);
    const leadersByTerm = new Map<number, number>();
    for (let round = 0; round < 60; round++) {
      cluster.tick(1);
      for (const id of cluster.leaders()) {
        const term = cluster.raft(id).status().term;
        assert.equal(leadersByTerm.get(term) ?? id, id, `two leaders in term ${term}`);
        leadersByTerm.set(term, id);
      }
      if (round % 17 === seed % 17) cluster.isolate(1 + (round % 5));
      if (round % 23 === 0) cluster.heal();
    }
    assert.ok(leadersByTerm.size > 0, 'nobody was ever elected');
  }
});

test('a server grants at most one vote per term', () => {
  const cluster = new TestCluster([1, 2, 3]);
  const voter = cluster.raft(3);
  const ask = (from: number) =>
    voter.step({
      type: 'vote',
      from,
      to: 3,
      term: 5,
      lastLogIndex: 10,
      lastLogTerm: 4,
      leadershipTransfer: false,
    });
  ask(1);
  ask(2);
  ask(1); // a retry from the same candidate is granted again (idempotent)
  const answers = voter.ready().messages.filter((m) => m.type === 'voteResp');
  assert.deepEqual(
    answers.map((m) => (m.type === 'voteResp' ? [m.to, m.granted] : [])),
    [
      [1, true],
      [2, false],
      [1, true],
    ],
  );
  assert.equal(voter.status().vote, 1);
});

test('election restriction: a candidate whose log is behind cannot win', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(3);
  cluster.propose(1, 'x');
  cluster.deliver();
  cluster.heal();
  // 3 missed the entry; 1 and 2 have it. 3 campaigns without pre-vote (forced via TimeoutNow).
  cluster.isolate(1);
  const term = cluster.raft(3).status().term;
  cluster.raft(3).step({ type: 'timeoutNow', from: 1, to: 3, term });
  cluster.deliver();
  assert.notEqual(cluster.raft(3).status().role, 'leader');
  assert.equal(cluster.raft(2).status().vote === 3, false, 'node 2 voted for a stale log');
});

test('a follower that hears from a leader knows its id; a new node knows no leader', () => {
  const cluster = new TestCluster([1, 2, 3]);
  assert.equal(cluster.raft(2).status().leaderId, NO_NODE);
  cluster.elect(2);
  for (const id of [1, 2, 3]) assert.equal(cluster.raft(id).status().leaderId, 2);
});

test('a new leader appends a no-op entry of its term and commits it', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const status = cluster.raft(1).status();
  const last = cluster.raft(1).logEntry(status.lastIndex);
  assert.equal(last.type, 'noop');
  assert.equal(last.term, status.term);
  assert.equal(status.commitIndex, status.lastIndex);
});
