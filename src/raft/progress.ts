// The leader's view of one follower's log (etcd's tracker.Progress): where it matches, what to send
// next, and how much may be in flight.
import assert from 'node:assert/strict';

/**
 * probe: one AppendEntries at a time until we learn where the logs match;
 * replicate: stream optimistically, at most maxInflightMessages unacknowledged (pipelining);
 * snapshot: sending an InstallSnapshot; nothing else until it is acknowledged.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an AppendEntries is outstanding; wait for its answer or a heartbeat reply. */
  probeSent = false;
  /** Last index of each AppendEntries in flight, oldest first (replicate state). */
  inflight: number[] = [];
  readonly maxInflightMessages: number;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Snapshot state: the snapshot being sent and the next chunk offset. */
  pendingSnapshotIndex = 0;
  snapshotOffsetBytes = 0;
  snapshotChunkInFlight = false;
  isLearner: boolean;

  constructor(next: number, maxInflightMessages: number, isLearner: boolean) {
    assert.ok(next >= 1 && maxInflightMessages >= 1);
    this.next = next;
    this.maxInflightMessages = maxInflightMessages;
    this.isLearner = isLearner;
  }

  isPaused(): boolean {
    if (this.state === 'probe') return this.probeSent;
    if (this.state === 'replicate') return this.inflight.length >= this.maxInflightMessages;
    return true;
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot's index.
    if (this.state === 'snapshot')
      this.next = Math.max(this.match + 1, this.pendingSnapshotIndex + 1);
    else this.next = this.match + 1;
    this.#reset('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.#reset('replicate');
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#reset('snapshot');
    this.pendingSnapshotIndex = snapshotIndex;
  }

  #reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.inflight = [];
    this.pendingSnapshotIndex = 0;
    this.snapshotOffsetBytes = 0;
    this.snapshotChunkInFlight = false;
  }

  /** An AppendEntries ending at lastIndex was sent. */
  sentEntries(lastIndex: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        assert.ok(this.inflight.length < this.maxInflightMessages, 'inflight limit exceeded');
        this.inflight.push(lastIndex);
        this.next = lastIndex + 1;
      }
    } else {
      assert.equal(this.state, 'probe');
      this.probeSent = true;
    }
  }

  /** A successful AppendEntries response for `index`. Returns whether match moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    while (this.inflight.length > 0 && this.inflight[0] <= index) this.inflight.shift();
    return updated;
  }

  /**
   * A rejection of the AppendEntries whose prevLogIndex was `rejected`; `hint` is the follower's
   * last index. Returns false for a stale rejection (one we already moved past).
   */
  maybeDecreaseTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Heartbeat replies unstick a follower whose messages were lost. */
  onHeartbeatResponse(): void {
    this.probeSent = false;
    if (this.state === 'replicate' && this.inflight.length >= this.maxInflightMessages) {
      this.inflight.shift();
    }
  }
}
