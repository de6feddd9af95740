// Dissertation §9.6 (PreVote) and §6.2 (CheckQuorum, leader lease).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from './helpers/cluster.ts';

test('prevote: a partitioned node rejoining cannot disrupt a healthy leader', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const term = cluster.raft(1).status().term;
  cluster.isolate(3);
  cluster.tick(100); // node 3 times out again and again, but pre-votes never bump its term
  assert.equal(cluster.raft(3).status().term, term, 'pre-vote changed the term');
  cluster.heal();
  cluster.tick(30);
  assert.deepEqual(cluster.leaders(), [1]);
  assert.equal(cluster.raft(1).status().term, term, 'the rejoining node forced a new term');
  assert.equal(cluster.raft(3).status().leaderId, 1);
});

test('without prevote a rejoining node with a higher term would force an election', () => {
  const cluster = new TestCluster([1, 2, 3], { preVote: false, checkQuorum: false });
  cluster.elect(1);
  const term = cluster.raft(1).status().term;
  cluster.isolate(3);
  cluster.tick(100);
  assert.ok(cluster.raft(3).status().term > term, 'isolated node should have bumped its term');
  cluster.heal();
  cluster.tick(30);
  assert.ok(cluster.raft(1).status().term > term, 'the contrast case did not disrupt');
});

test('leader lease: followers ignore vote requests while they hear from a leader', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const term = cluster.raft(2).status().term;
  cluster.raft(2).step({
    type: 'vote',
    from: 3,
    to: 2,
    term: term + 1,
    lastLogIndex: 100,
    lastLogTerm: term,
    leadershipTransfer: false,
  });
  assert.equal(cluster.raft(2).status().term, term);
  assert.equal(cluster.raft(2).ready().messages.length, 0);
});

test('checkQuorum: a leader that lost its quorum steps down within an election timeout', () => {
  const cluster = new TestCluster([1, 2, 3, 4, 5]);
  cluster.elect(1);
  cluster.cut.add('2->1');
  cluster.cut.add('3->1');
  cluster.cut.add('4->1');
  const electionTimeoutTicks = cluster.raft(1).config.electionTimeoutTicks;
  cluster.tick(2 * electionTimeoutTicks, [1]);
  assert.notEqual(cluster.raft(1).status().role, 'leader');
});

test('checkQuorum: a leader that hears from its quorum stays leader', () => {
  const cluster = new TestCluster([1, 2, 3, 4, 5]);
  cluster.elect(1);
  cluster.isolate(5);
  cluster.isolate(4);
  cluster.tick(50, [1]);
  assert.equal(cluster.raft(1).status().role, 'leader');
});

test('a stale leader learns the newer term from the first follower that answers it', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(1);
  cluster.elect(2);
  cluster.heal();
  cluster.tick(1, [1]); // the old leader's heartbeat is answered with the newer term
  assert.equal(cluster.raft(1).status().role, 'follower');
  assert.deepEqual(cluster.leaders(), [2]);
});
