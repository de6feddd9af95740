// Raft §5.4.2 and Figure 8: a leader never commits an entry of an earlier term by counting
// replicas; such an entry is committed only indirectly, by an entry of the leader's own term.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterOptions } from './helpers/cluster.ts';
import { TestCluster } from './helpers/cluster.ts';

/**
 * Builds the Figure 8 situation on five nodes: node 1 (term t) appended an entry at index i that
 * only node 2 got; node 5 then led a later term and appended a different entry at i that nobody
 * got. Node 1 leads again and replicates its old entry to node 3 (a majority: 1, 2, 3), and its
 * own no-op only to node 2 (a minority). Returns the cluster and the index i.
 */
function figure8(options: ClusterOptions) {
  const cluster = new TestCluster([1, 2, 3, 4, 5], { maxEntriesPerMessage: 1, ...options });
  cluster.elect(1);
  const index = cluster.propose(1, 'old-term').index;
  cluster.filter = (m) => !(m.type === 'app' && m.from === 1 && m.to !== 2);
  cluster.deliver();
  cluster.filter = () => true;
  assert.equal(cluster.raft(2).logTerm(index), cluster.raft(1).logTerm(index));
  // Node 5 wins a later term with votes from 3 and 4, appends its no-op at i, and is cut off.
  cluster.isolate(1);
  cluster.isolate(2);
  cluster.filter = (m) => !(m.type === 'app' && m.from === 5);
  cluster.elect(5);
  assert.equal(cluster.raft(5).logEntry(index).type, 'noop');
  cluster.filter = () => true;
  cluster.heal();
  cluster.isolate(5);
  cluster.isolate(4);
  // Node 1 restarts, wins the next term (votes from 2 and 3) and re-sends its old entry to 3; its
  // own no-op reaches node 2 only.
  cluster.restart(1);
  cluster.filter = (m) => {
    if (m.type !== 'app' || m.from !== 1 || m.to !== 3) return true;
    // Node 3 may reject anything, but never accept the leader's no-op.
    const wouldAccept = cluster.raft(3).logTerm(m.prevLogIndex) === m.prevLogTerm;
    return !wouldAccept || m.entries.every((entry) => entry.index <= index);
  };
  cluster.elect(1);
  cluster.tick(2, [1]); // heartbeats: node 3 rejects the no-op, the probe sends it entry i alone
  assert.equal(cluster.raft(3).logTerm(index), cluster.raft(2).logTerm(index));
  assert.equal(cluster.raft(2).logTerm(index + 1), cluster.raft(1).status().term);
  assert.equal(cluster.raft(3).logTerm(index + 1), undefined);
  return { cluster, index };
}

test('figure 8: an entry of an earlier term is not committed by counting replicas', () => {
  const { cluster, index } = figure8({});
  const leader = cluster.raft(1).status();
  assert.equal(leader.role, 'leader');
  for (const id of [1, 2, 3]) assert.ok((cluster.raft(id).logTerm(index) ?? 0) < leader.term);
  assert.ok(
    leader.commitIndex < index,
    `old-term entry ${index} committed at ${leader.commitIndex}`,
  );
});

test('figure 8: it becomes committed once an entry of the current term is replicated', () => {
  const { cluster, index } = figure8({});
  cluster.filter = () => true;
  cluster.tick(3, [1, 2, 3]);
  const leader = cluster.raft(1).status();
  assert.ok(leader.commitIndex > index);
  assert.equal(cluster.raft(1).logTerm(leader.commitIndex), leader.term);
});

test('figure 8: with the injected bug the same situation commits the old entry', () => {
  const { cluster, index } = figure8({ testingFaults: { commitOldTermEntriesByCounting: true } });
  assert.ok(cluster.raft(1).status().commitIndex >= index, 'the injected bug did not trigger');
});
