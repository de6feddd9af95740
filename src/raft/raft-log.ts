// The in-memory view of one node's log: a snapshot point followed by entries. The driver owns the
// durable copy; this class tracks which entries it has handed out for persisting (`unstableFrom`)
// and which committed entries it has handed out for applying (`applying`, then `applied`).
import assert from 'node:assert/strict';
import type { Entry, Snapshot } from './types.ts';

export function entryBytes(entry: Entry): number {
  return entry.data.byteLength;
}

export class RaftLog {
  /** Index and term of the last entry replaced by a snapshot (0/0 for an empty log). */
  snapshotIndex = 0;
  snapshotTerm = 0;
  /** entries[i] has index snapshotIndex + 1 + i. */
  #entries: Entry[] = [];
  committed = 0;
  /** Highest index handed out in a Ready for applying. */
  applying = 0;
  /** Highest index the driver confirmed applied (advance). */
  applied = 0;
  /** First index not yet handed out in a Ready for persisting. */
  unstableFrom = 1;
  /** Bytes of entry data after the snapshot: what compaction would free (drivers trigger on it). */
  #bytes = 0;

  bytesAfterSnapshot(): number {
    return this.#bytes;
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.#entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) as number;
  }

  /** The term of the entry at `index`, or undefined when compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.#entries[index - this.snapshotIndex - 1].term;
  }

  entry(index: number): Entry {
    assert.ok(index > this.snapshotIndex && index <= this.lastIndex(), `no entry ${index}`);
    const entry = this.#entries[index - this.snapshotIndex - 1];
    assert.equal(entry.index, index);
    return entry;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi) (hi exclusive), at most maxCount and maxBytes (at least one entry). */
  slice(lo: number, hi: number, maxCount = Infinity, maxBytes = Infinity): Entry[] {
    assert.ok(lo > this.snapshotIndex, `slice from ${lo} is compacted (${this.snapshotIndex})`);
    assert.ok(hi <= this.lastIndex() + 1 && lo <= hi, `slice [${lo}, ${hi}) out of range`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi && out.length < maxCount; index++) {
      const entry = this.#entries[index - this.snapshotIndex - 1];
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /** Leader path: entries continue the log exactly. */
  append(entries: Entry[]): void {
    for (const entry of entries) {
      assert.equal(entry.index, this.lastIndex() + 1, 'appended entries must be contiguous');
      assert.ok(entry.term >= this.lastTerm(), 'terms in a log never decrease');
      this.#entries.push(entry);
      this.#bytes += entryBytes(entry);
    }
  }

  /**
   * Follower path (Raft §5.3): keep what matches, drop from the first conflict, append the rest.
   * The caller checked that the entry at prevLogIndex matches. Returns the index of the first
   * entry removed, or undefined when nothing was truncated.
   */
  appendAfterMatch(entries: Entry[]): number | undefined {
    let truncatedFrom: number | undefined;
    for (const entry of entries) {
      const existing = this.term(entry.index);
      if (existing === entry.term) continue;
      if (existing !== undefined) {
        // Never remove a committed entry: that would break state machine safety.
        assert.ok(entry.index > this.committed, `conflict at committed index ${entry.index}`);
        this.#truncateFrom(entry.index);
        truncatedFrom ??= entry.index;
      }
      this.append([entry]);
    }
    return truncatedFrom;
  }

  #truncateFrom(index: number): void {
    assert.ok(index > this.snapshotIndex && index <= this.lastIndex());
    const kept = index - this.snapshotIndex - 1;
    for (let i = kept; i < this.#entries.length; i++) this.#bytes -= entryBytes(this.#entries[i]);
    this.#entries.length = kept;
    this.unstableFrom = Math.min(this.unstableFrom, index);
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert.ok(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  unstableEntries(): Entry[] {
    if (this.unstableFrom > this.lastIndex()) return [];
    return this.slice(Math.max(this.unstableFrom, this.firstIndex()), this.lastIndex() + 1);
  }

  hasCommittedToApply(): boolean {
    return this.committed > this.applying && this.applying + 1 > this.snapshotIndex;
  }

  committedToApply(maxCount: number): Entry[] {
    if (!this.hasCommittedToApply()) return [];
    return this.slice(this.applying + 1, this.committed + 1, maxCount);
  }

  /** Replace the whole log with a snapshot (InstallSnapshot or restart). */
  restore(snapshot: Snapshot): void {
    this.snapshotIndex = snapshot.meta.index;
    this.snapshotTerm = snapshot.meta.term;
    this.#entries = [];
    this.#bytes = 0;
    this.committed = snapshot.meta.index;
    this.applying = snapshot.meta.index;
    this.applied = snapshot.meta.index;
    this.unstableFrom = snapshot.meta.index + 1;
  }

  /** Drop entries up to and including `index`, which the application's snapshot now covers. */
  compact(index: number): void {
    assert.ok(index > this.snapshotIndex, `compact to ${index} is not past ${this.snapshotIndex}`);
    assert.ok(index <= this.applied, `compact to ${index} beyond applied ${this.applied}`);
    const term = this.term(index) as number;
    const dropped = index - this.snapshotIndex;
    for (let i = 0; i < dropped; i++) this.#bytes -= entryBytes(this.#entries[i]);
    assert.ok(this.#bytes >= 0, 'log byte count went negative');
    this.#entries = this.#entries.slice(dropped);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    this.unstableFrom = Math.max(this.unstableFrom, index + 1);
  }

  /** Entries after the snapshot, for scans (membership reconstruction, tests). */
  entriesAfterSnapshot(): readonly Entry[] {
    return this.#entries;
  }
}
