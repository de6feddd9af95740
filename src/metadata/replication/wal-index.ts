// What the Raft log's records add up to (raft-store.ts): the hard state, the snapshot, and where
// each entry after the snapshot lies. Built by replaying the segments' records in order at start,
// and kept up to date by replaying each write's records once it is durable, so both paths share
// one set of rules:
// - an entry at index i replaces the entry at i and everything after it (a conflicting suffix is
//   truncated by appending, as etcd's WAL does: nothing written is ever overwritten in place);
// - a compaction snapshot drops the entries up to its index; a received snapshot (replacesLog)
//   drops the whole log;
// - entries at or below the snapshot are skipped (a segment may begin before the snapshot).
// Entries missing below some index (segments unlinked after a compaction) are allowed only when a
// later snapshot covers them: `check()` refuses a log with a gap after its snapshot.
import assert from 'node:assert';
import { StrataError } from '../../common/errors.ts';
import { emptySnapshot, type HardState, type Snapshot } from '../../raft/index.ts';
import type { WalRecord } from './wal-format.ts';

// An entry's place: segment sequence number * 2^32 + byte offset in the segment.
const SEGMENT_FACTOR = 2 ** 32;
export const SEGMENT_SEQ_MAX = 2 ** 20;

export function packPosition(seq: number, offset: number): number {
  assert(seq >= 0 && seq < SEGMENT_SEQ_MAX, `segment sequence ${seq}`);
  assert(offset >= 0 && offset < SEGMENT_FACTOR, `segment offset ${offset}`);
  return seq * SEGMENT_FACTOR + offset;
}

export function unpackPosition(position: number): { seq: number; offset: number } {
  return { seq: Math.floor(position / SEGMENT_FACTOR), offset: position % SEGMENT_FACTOR };
}

export class WalIndex {
  hardState: HardState | undefined;
  snapshot: Snapshot = emptySnapshot();
  firstIndex = 1; // of positions[0]
  lastIndex = 0;
  positions: number[] = [];
  // The segment holding the latest received snapshot: every older one is wholly superseded.
  resetSeq = 0;
  // The highest entry index each segment received (a segment whose entries a snapshot covers
  // may be unlinked).
  readonly maxEntryIndexBySeq = new Map<number, number>();

  apply(record: WalRecord, seq: number, offset: number): void {
    if (record.kind === 'hardState') {
      this.hardState = record.hardState;
      return;
    }
    if (record.kind === 'snapshot') {
      this.applySnapshot(record.snapshot, record.replacesLog, seq);
      return;
    }
    const { index } = record.entry;
    this.maxEntryIndexBySeq.set(seq, Math.max(this.maxEntryIndexBySeq.get(seq) ?? 0, index));
    if (index <= this.snapshot.meta.index) return;
    if (index > this.lastIndex + 1 || index < this.firstIndex) {
      // A gap: what lay below was in unlinked segments; a later snapshot must cover it (check).
      this.positions = [];
      this.firstIndex = index;
    } else if (index <= this.lastIndex) {
      this.positions.length = Math.max(0, index - this.firstIndex);
    }
    this.positions.push(packPosition(seq, offset));
    this.lastIndex = index;
    assert(this.lastIndex - this.firstIndex + 1 === this.positions.length, 'one place per entry');
  }

  private applySnapshot(snapshot: Snapshot, replacesLog: boolean, seq: number): void {
    const index = snapshot.meta.index;
    if (replacesLog) {
      this.positions = [];
      this.firstIndex = index + 1;
      this.lastIndex = index;
      this.resetSeq = seq;
    } else if (index >= this.firstIndex) {
      const drop = Math.min(index - this.firstIndex + 1, this.positions.length);
      this.positions.splice(0, drop);
      this.firstIndex += drop;
      if (this.positions.length === 0) {
        this.firstIndex = Math.max(this.firstIndex, index + 1);
        this.lastIndex = Math.max(this.lastIndex, index);
      }
    }
    if (index >= this.snapshot.meta.index || replacesLog) this.snapshot = snapshot;
  }

  // The log after the snapshot must be whole: entries from snapshot + 1 to lastIndex.
  check(): void {
    const expectedFirst = this.snapshot.meta.index + 1;
    if (this.firstIndex !== expectedFirst) {
      throw new StrataError(
        'EIO',
        `raft log has a gap: the snapshot ends at ${expectedFirst - 1} and the entries after it ` +
          `start at ${this.firstIndex}; refusing to start rather than serve a log with a hole`,
      );
    }
    assert(this.lastIndex >= this.snapshot.meta.index, 'the log ends at or after its snapshot');
  }

  positionOf(index: number): number {
    assert(index >= this.firstIndex && index <= this.lastIndex, `entry ${index} is stored`);
    return this.positions[index - this.firstIndex];
  }
}
