// Dissertation §3.10: leadership transfer with TimeoutNow.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from './helpers/cluster.ts';

test('leadership transfer: an up-to-date target is told to campaign at once and wins', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  const term = cluster.raft(1).status().term;
  assert.deepEqual(cluster.raft(1).transferLeadership(3), { ok: true });
  cluster.deliver();
  assert.deepEqual(cluster.leaders(), [3]);
  assert.equal(cluster.raft(3).status().term, term + 1);
});

test('leadership transfer: a lagging target is caught up first', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(3);
  for (let i = 0; i < 3; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  cluster.heal();
  cluster.raft(1).transferLeadership(3);
  cluster.deliver();
  assert.deepEqual(cluster.leaders(), [3]);
  assert.equal(cluster.raft(3).status().lastIndex >= cluster.raft(1).status().commitIndex, true);
});

test('leadership transfer: proposals are refused while it runs, and it is abandoned after a timeout', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(3);
  cluster.raft(1).transferLeadership(3);
  const refused = cluster.raft(1).propose(new Uint8Array(1));
  assert.equal(refused.ok ? 'ok' : refused.code, 'TRANSFERRING_LEADERSHIP');
  cluster.tick(cluster.raft(1).config.electionTimeoutTicks + 1, [1, 2]);
  assert.equal(cluster.raft(1).status().role, 'leader');
  assert.equal(cluster.raft(1).status().leadTransferee, 0);
  assert.ok(cluster.raft(1).propose(new Uint8Array(1)).ok);
});

test('leadership transfer to a non-voter or to itself is refused', () => {
  const cluster = new TestCluster([1, 2, 3], {}, [4]);
  cluster.elect(1);
  for (const target of [1, 4, 9]) {
    const result = cluster.raft(1).transferLeadership(target);
    assert.equal(result.ok ? 'ok' : result.code, 'INVALID_TRANSFER_TARGET', `target ${target}`);
  }
  const follower = cluster.raft(2).transferLeadership(3);
  assert.deepEqual(follower, { ok: false, code: 'NOT_LEADER', leaderHint: 1 });
});
