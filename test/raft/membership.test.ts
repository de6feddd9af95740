// Dissertation §4: membership changes one server at a time, learners that catch up before they
// vote, and a leader that steps down once its own removal is committed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joiningState } from '../../src/raft/index.ts';
import { appliedTexts, TestCluster } from './helpers/cluster.ts';

function code(result: { ok: boolean; code?: string }): string {
  return result.ok ? 'ok' : (result.code as string);
}

test('a learner receives the log but neither votes nor counts toward commitment', () => {
  const cluster = new TestCluster([1, 2, 3], {}, [4]);
  cluster.elect(1);
  cluster.propose(1, 'x');
  cluster.deliver();
  cluster.tick(2);
  assert.deepEqual(appliedTexts(cluster.node(4)), ['x']);
  // With two voters down, the learner's copy does not make a quorum.
  cluster.isolate(2);
  cluster.isolate(3);
  const { index } = cluster.propose(1, 'y');
  cluster.deliver();
  assert.ok(cluster.raft(1).status().commitIndex < index);
  // A learner never campaigns.
  cluster.heal();
  cluster.isolate(1);
  cluster.tick(100, [4]);
  assert.equal(cluster.raft(4).status().role, 'follower');
  assert.equal(cluster.raft(4).status().term, cluster.raft(1).status().term);
});

test('a new server joins as a learner, catches up, and is promoted', () => {
  const cluster = new TestCluster([1, 2, 3], { maxPromotionLagEntries: 0 });
  cluster.elect(1);
  for (let i = 0; i < 5; i++) cluster.propose(1, `e${i}`);
  cluster.deliver();
  assert.equal(code(cluster.raft(1).proposeConfChange({ type: 'addLearner', nodeId: 4 })), 'ok');
  cluster.isolate(4); // the new server is not running yet
  cluster.add(4, joiningState());
  cluster.deliver();
  cluster.tick(1);
  const promote = cluster.raft(1).proposeConfChange({ type: 'addVoter', nodeId: 4 });
  assert.equal(code(promote), 'LEARNER_NOT_CAUGHT_UP');
  cluster.heal();
  cluster.tick(3);
  assert.deepEqual(appliedTexts(cluster.node(4)), ['e0', 'e1', 'e2', 'e3', 'e4']);
  assert.equal(code(cluster.raft(1).proposeConfChange({ type: 'addVoter', nodeId: 4 })), 'ok');
  cluster.tick(2);
  for (const id of [1, 2, 3, 4]) {
    assert.deepEqual(cluster.raft(id).status().confState, { voters: [1, 2, 3, 4], learners: [] });
  }
  // Four voters: a quorum is three, so two failures now block commitment.
  cluster.isolate(3);
  cluster.isolate(4);
  const { index } = cluster.propose(1, 'needs-three');
  cluster.deliver();
  assert.ok(cluster.raft(1).status().commitIndex < index);
});

test('one change at a time: a second change waits until the first is committed', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(1);
  assert.equal(code(cluster.raft(1).proposeConfChange({ type: 'addLearner', nodeId: 4 })), 'ok');
  const second = cluster.raft(1).proposeConfChange({ type: 'addLearner', nodeId: 5 });
  assert.equal(code(second), 'CONF_CHANGE_PENDING');
  cluster.heal();
  cluster.tick(2);
  assert.equal(code(cluster.raft(1).proposeConfChange({ type: 'addLearner', nodeId: 5 })), 'ok');
});

test('a membership change takes effect on append, before it commits (dissertation §4.1)', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  cluster.isolate(1);
  cluster.raft(1).proposeConfChange({ type: 'removeNode', nodeId: 3 });
  assert.deepEqual(cluster.raft(1).status().confState.voters, [1, 2]);
});

test('invalid changes are refused: promoting a non-learner, removing a stranger, no voters left', () => {
  const cluster = new TestCluster([1]);
  cluster.elect(1);
  const raft = cluster.raft(1);
  assert.equal(
    code(raft.proposeConfChange({ type: 'addVoter', nodeId: 9 })),
    'INVALID_CONF_CHANGE',
  );
  assert.equal(
    code(raft.proposeConfChange({ type: 'removeNode', nodeId: 9 })),
    'INVALID_CONF_CHANGE',
  );
  assert.equal(
    code(raft.proposeConfChange({ type: 'removeNode', nodeId: 1 })),
    'INVALID_CONF_CHANGE',
  );
  assert.equal(
    code(raft.proposeConfChange({ type: 'addLearner', nodeId: 1 })),
    'INVALID_CONF_CHANGE',
  );
});

test('a removed follower stops counting, and the cluster commits without it', () => {
  const cluster = new TestCluster([1, 2, 3, 4]);
  cluster.elect(1);
  cluster.raft(1).proposeConfChange({ type: 'removeNode', nodeId: 4 });
  cluster.deliver();
  cluster.tick(1);
  cluster.isolate(4);
  cluster.isolate(3);
  const { index } = cluster.propose(1, 'two-of-three');
  cluster.deliver();
  assert.ok(cluster.raft(1).status().commitIndex >= index, 'quorum of {1,2,3} is two');
});

test('a leader that removes itself leads until the change commits, then steps down', () => {
  const cluster = new TestCluster([1, 2, 3]);
  cluster.elect(1);
  assert.equal(code(cluster.raft(1).proposeConfChange({ type: 'removeNode', nodeId: 1 })), 'ok');
  assert.equal(cluster.raft(1).status().role, 'leader');
  cluster.deliver();
  assert.notEqual(cluster.raft(1).status().role, 'leader');
  cluster.tick(40, [2, 3]);
  const [leader] = cluster.leaders();
  assert.ok(leader === 2 || leader === 3, `expected 2 or 3 to lead, got ${cluster.leaders()}`);
  cluster.tick(40); // the removed server never campaigns
  assert.notEqual(cluster.raft(1).status().role, 'leader');
  assert.deepEqual(cluster.raft(leader).status().confState.voters, [2, 3]);
});

test('a removed server that missed its removal cannot disrupt the cluster', () => {
  const cluster = new TestCluster([1, 2, 3, 4]);
  cluster.elect(1);
  cluster.isolate(4);
  cluster.raft(1).proposeConfChange({ type: 'removeNode', nodeId: 4 });
  cluster.deliver();
  cluster.tick(1, [1, 2, 3]);
  const term = cluster.raft(1).status().term;
  cluster.heal();
  cluster.cut.add('1->4'); // 4 never hears from the leader, so it keeps campaigning
  cluster.tick(60);
  assert.deepEqual(cluster.leaders(), [1]);
  assert.equal(cluster.raft(1).status().term, term);
});
