// When members take snapshots (src/metadata/replication/snapshot-policy.ts): by log bytes, at
// different points per member, later on a busy leader, at once when a follower needs one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFERRED_SNAPSHOT_CEILING_FACTOR,
  LEADER_BUSY_PROPOSALS,
  type SnapshotPolicyInput,
  snapshotDue,
  staggeredThresholdBytes,
} from '../../src/metadata/replication/snapshot-policy.ts';

const MiB = 1024 * 1024;
const base: SnapshotPolicyInput = {
  nodeId: 1,
  logBytes: 0,
  thresholdBytes: 64 * MiB,
  isLeader: false,
  pendingProposals: 0,
  wanted: false,
};

// The log size at which each member first takes a snapshot.
function firstDueBytes(input: Omit<SnapshotPolicyInput, 'logBytes'>): number {
  for (let logBytes = 0; ; logBytes += MiB / 4) {
    if (snapshotDue({ ...input, logBytes })) return logBytes;
  }
}

test('members holding the same log take their snapshots at different log sizes', () => {
  const points = [1, 2, 3, 4, 5].map((nodeId) => firstDueBytes({ ...base, nodeId }));
  assert.equal(new Set(points).size, points.length, `points: ${points}`);
  for (const point of points) {
    assert.ok(point >= base.thresholdBytes && point <= 1.5 * base.thresholdBytes, `${point}`);
  }
  // Far enough apart that one member's copy ends before the next starts (at 64 MiB: > 4 MiB).
  const sorted = [...points].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i] - sorted[i - 1] >= 4 * MiB);
});

test('a busy leader defers its snapshot up to the ceiling; an idle one does not', () => {
  const threshold = staggeredThresholdBytes(1, base.thresholdBytes);
  const leader = { ...base, isLeader: true };
  assert.equal(snapshotDue({ ...leader, logBytes: threshold }), true, 'idle leader');
  const busy = { ...leader, pendingProposals: LEADER_BUSY_PROPOSALS };
  assert.equal(snapshotDue({ ...busy, logBytes: threshold }), false, 'busy leader defers');
  const ceiling = threshold * DEFERRED_SNAPSHOT_CEILING_FACTOR;
  assert.equal(snapshotDue({ ...busy, logBytes: ceiling }), true, 'but not past the ceiling');
  assert.equal(snapshotDue({ ...busy, isLeader: false, logBytes: threshold }), true, 'follower');
});

test('a snapshot a follower needs and this member has no file of is taken at once', () => {
  assert.equal(snapshotDue({ ...base, logBytes: 1, wanted: true }), true);
  assert.equal(snapshotDue({ ...base, logBytes: 1 }), false);
});
