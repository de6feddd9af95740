// When a member takes a snapshot (docs/architecture/raft.md, "Snapshots"): a pure decision from
// the size of its Raft log, so that it is tested without a cluster.
import assert from 'node:assert';

// Members snapshot when their log passes the threshold times 1 + an offset in [0, this) derived
// from the node id, so members holding the same log do not all take a snapshot at once.
export const SNAPSHOT_STAGGER_FRACTION_MAX = 0.5;
// A leader with at least this many proposals waiting is busy: it defers its own snapshot (its
// followers take theirs at their own points) until its log reaches the ceiling below.
export const LEADER_BUSY_PROPOSALS = 32;
export const DEFERRED_SNAPSHOT_CEILING_FACTOR = 2;

export interface SnapshotPolicyInput {
  nodeId: number;
  /** Bytes of entry data in the log after the last snapshot (RaftStatus.logBytes). */
  logBytes: number;
  /** raft_snapshot_log_bytes */
  thresholdBytes: number;
  isLeader: boolean;
  pendingProposals: number;
  /** A follower needs a snapshot this member has no file of, or the store's snapshot has none. */
  wanted: boolean;
}

// This member's threshold: the configured one raised by a fraction of the golden ratio's
// multiples taken from the node id (ids 1, 2, 3 get +31%, +12%, +43%).
export function staggeredThresholdBytes(nodeId: number, thresholdBytes: number): number {
  assert(Number.isSafeInteger(nodeId) && nodeId > 0, `node id ${nodeId}`);
  const fraction = (nodeId * 0.6180339887) % 1;
  return thresholdBytes * (1 + fraction * SNAPSHOT_STAGGER_FRACTION_MAX);
}

export function snapshotDue(input: SnapshotPolicyInput): boolean {
  if (input.wanted) return true;
  const threshold = staggeredThresholdBytes(input.nodeId, input.thresholdBytes);
  if (input.logBytes < threshold) return false;
  const busy = input.isLeader && input.pendingProposals >= LEADER_BUSY_PROPOSALS;
  return !busy || input.logBytes >= threshold * DEFERRED_SNAPSHOT_CEILING_FACTOR;
}
