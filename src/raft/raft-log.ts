// One node's log: a snapshot point followed by entries. The driver owns the durable copy; this
// class tracks which entries it has handed out for persisting (`unstableFrom`) and which committed
// entries it has handed out for applying (`applying`, then `applied`).
//
// Memory is bounded (etcd's unstable + Storage split): the entries after the snapshot are all
// durable in the driver's store, so only a tail stays in memory, at most `maxEntries` and
// `maxBytes` of applied entries plus whatever is not applied yet (bounded by the core's flow
// control: maxUncommittedEntries on a leader, the leader's inflight window on a follower). Older
// entries are read back through LogStorage when a lagging follower needs them. Terms are kept for
// every index as runs (one per term change, so their number grows with elections, not entries) and
// membership changes are kept aside (rare), so term checks and membership never touch storage.
import assert from 'node:assert/strict';
import type { Entry, Snapshot } from './types.ts';

export function entryBytes(entry: Entry): number {
  return entry.data.byteLength;
}

/** The driver's durable log, for entries the core no longer keeps in memory (etcd: Storage). */
export interface LogStorage {
  /**
   * Entries [lo, hi) in order, at most maxCount and maxBytes (at least one). The core asks only
   * for entries after its snapshot that it has seen persisted and applied.
   */
  entries(lo: number, hi: number, maxCount: number, maxBytes: number): Entry[];
}

/** How many applied entries stay in memory; undefined storage keeps every entry (tests). */
export interface LogMemoryBound {
  storage: LogStorage | undefined;
  maxEntries: number;
  maxBytes: number;
}

interface TermRun {
  /** First index with this term; the run lasts until the next run's first index. */
  first: number;
  term: number;
}

export class RaftLog {
  /** Index and term of the last entry replaced by a snapshot (0/0 for an empty log). */
  snapshotIndex = 0;
  snapshotTerm = 0;
  /** The in-memory tail: #entries[#head + i] has index #memFirst + i. */
  #entries: Entry[] = [];
  #head = 0;
  #memFirst = 1;
  #memBytes = 0;
  #lastIndex = 0;
  /** Terms of (snapshotIndex, lastIndex], as runs ordered by first index. */
  #terms: TermRun[] = [];
  /** Membership change entries after the snapshot (kept whether or not the tail holds them). */
  #confChanges: Entry[] = [];
  /**
   * Data bytes of every entry after the snapshot (4 bytes an entry, so compaction knows what it
   * frees without reading evicted entries back): #sizes[i] is entry snapshotIndex + 1 + i's.
   */
  #sizes = new Uint32Array(1024);
  #sizesLength = 0;
  committed = 0;
  /** Highest index handed out in a Ready for applying. */
  applying = 0;
  /** Highest index the driver confirmed applied (advance). */
  applied = 0;
  /** First index not yet handed out in a Ready for persisting. */
  unstableFrom = 1;
  /** Bytes of entry data after the snapshot: what compaction would free (drivers trigger on it). */
  #bytes = 0;
  readonly #bound: LogMemoryBound;

  constructor(bound: LogMemoryBound = { storage: undefined, maxEntries: 0, maxBytes: 0 }) {
    assert.ok(bound.storage === undefined || bound.maxEntries >= 0, 'bad log memory bound');
    this.#bound = bound;
  }

  bytesAfterSnapshot(): number {
    return this.#bytes;
  }

  /** Entries and data bytes held in memory (the bounded tail). */
  memoryUse(): { entries: number; bytes: number } {
    return { entries: this.#entries.length - this.#head, bytes: this.#memBytes };
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.#lastIndex;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) as number;
  }

  /** The term of the entry at `index`, or undefined when compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.#lastIndex) return undefined;
    const runs = this.#terms;
    let lo = 0;
    let hi = runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (runs[mid].first <= index) lo = mid;
      else hi = mid - 1;
    }
    assert.ok(runs[lo].first <= index, `no term run for ${index}`);
    return runs[lo].term;
  }

  entry(index: number): Entry {
    assert.ok(index > this.snapshotIndex && index <= this.lastIndex(), `no entry ${index}`);
    const entry =
      index >= this.#memFirst ? this.#memEntry(index) : this.#fromStorage(index, index + 1, 1)[0];
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

  /**
   * Entries from lo, before hi (exclusive), at most maxCount and maxBytes (at least one entry).
   * A range that starts before the in-memory tail comes from storage and stops where the tail
   * starts: callers take a prefix (the next AppendEntries continues from there).
   */
  slice(lo: number, hi: number, maxCount = Infinity, maxBytes = Infinity): Entry[] {
    assert.ok(lo > this.snapshotIndex, `slice from ${lo} is compacted (${this.snapshotIndex})`);
    assert.ok(hi <= this.lastIndex() + 1 && lo <= hi, `slice [${lo}, ${hi}) out of range`);
    if (lo < hi && lo < this.#memFirst) {
      return this.#fromStorage(lo, Math.min(hi, this.#memFirst), maxCount, maxBytes);
    }
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi && out.length < maxCount; index++) {
      const entry = this.#memEntry(index);
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
      assert.equal(this.#memFirst + this.#entries.length - this.#head, entry.index);
      this.#entries.push(entry);
      this.#memBytes += entryBytes(entry);
      this.#bytes += entryBytes(entry);
      this.#lastIndex = entry.index;
      this.#pushSize(entryBytes(entry));
      const lastRun = this.#terms[this.#terms.length - 1];
      if (lastRun === undefined || lastRun.term !== entry.term)
        this.#terms.push({ first: entry.index, term: entry.term });
      if (entry.type === 'confChange') this.#confChanges.push(entry);
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

  // Only uncommitted entries are ever truncated, and those are never evicted from memory.
  #truncateFrom(index: number): void {
    assert.ok(index > this.snapshotIndex && index <= this.lastIndex());
    assert.ok(index >= this.#memFirst, `truncating evicted entry ${index}`);
    const kept = this.#head + (index - this.#memFirst);
    for (let i = kept; i < this.#entries.length; i++) {
      this.#bytes -= entryBytes(this.#entries[i]);
      this.#memBytes -= entryBytes(this.#entries[i]);
    }
    this.#entries.length = kept;
    this.#lastIndex = index - 1;
    this.#sizesLength = index - this.snapshotIndex - 1;
    while (this.#terms.length > 0 && this.#terms[this.#terms.length - 1].first >= index)
      this.#terms.pop();
    this.#confChanges = this.#confChanges.filter((entry) => entry.index < index);
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

  /**
   * Drops the oldest applied entries from memory beyond the bound; storage serves them from now
   * on. Applied entries are durable: a Ready's entries are persisted before it is advanced, and
   * an entry is applied only once its Ready is advanced. Unpersisted or unapplied ones stay.
   */
  evict(): void {
    const { storage, maxEntries, maxBytes } = this.#bound;
    if (storage === undefined) return;
    const stableTo = Math.min(this.applied, this.unstableFrom - 1);
    let count = this.#entries.length - this.#head;
    while (
      count > 0 &&
      (count > maxEntries || this.#memBytes > maxBytes) &&
      this.#memFirst <= stableTo
    ) {
      const entry = this.#entries[this.#head];
      this.#entries[this.#head] = undefined as unknown as Entry; // let it be collected now
      this.#head++;
      this.#memFirst++;
      this.#memBytes -= entryBytes(entry);
      count--;
    }
    // The array is compacted once the dropped head is half of it, so eviction stays O(1) a step.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Replace the whole log with a snapshot (InstallSnapshot or restart). */
  restore(snapshot: Snapshot): void {
    this.snapshotIndex = snapshot.meta.index;
    this.snapshotTerm = snapshot.meta.term;
    this.#entries = [];
    this.#head = 0;
    this.#memFirst = snapshot.meta.index + 1;
    this.#memBytes = 0;
    this.#lastIndex = snapshot.meta.index;
    this.#terms = [];
    this.#confChanges = [];
    this.#sizesLength = 0;
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
    for (let i = 0; i < dropped; i++) this.#bytes -= this.#sizes[i];
    assert.ok(this.#bytes >= 0, 'log byte count went negative');
    const kept = this.#sizes.subarray(dropped, this.#sizesLength);
    this.#sizes = new Uint32Array(Math.max(1024, kept.length * 2));
    this.#sizes.set(kept);
    this.#sizesLength = kept.length;
    while (this.#memFirst <= index && this.#head < this.#entries.length) {
      this.#memBytes -= entryBytes(this.#entries[this.#head]);
      this.#head++;
      this.#memFirst++;
    }
    this.#memFirst = Math.max(this.#memFirst, index + 1);
    this.#entries = this.#entries.slice(this.#head);
    this.#head = 0;
    // Runs that end at or before `index` go; the first one left starts after it.
    const runs = this.#terms.filter(
      (_, i, all) => i + 1 >= all.length || all[i + 1].first > index + 1,
    );
    if (runs.length > 0)
      runs[0] = { first: Math.max(runs[0].first, index + 1), term: runs[0].term };
    this.#terms = index >= this.#lastIndex ? [] : runs;
    this.#confChanges = this.#confChanges.filter((entry) => entry.index > index);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    this.unstableFrom = Math.max(this.unstableFrom, index + 1);
  }

  /** Membership change entries after the snapshot, in order (membership reconstruction). */
  confChangesAfterSnapshot(): readonly Entry[] {
    return this.#confChanges;
  }

  #pushSize(bytes: number): void {
    if (this.#sizesLength === this.#sizes.length) {
      const grown = new Uint32Array(this.#sizes.length * 2);
      grown.set(this.#sizes);
      this.#sizes = grown;
    }
    this.#sizes[this.#sizesLength++] = bytes;
  }

  #memEntry(index: number): Entry {
    assert.ok(index >= this.#memFirst && index <= this.#lastIndex, `entry ${index} not in memory`);
    return this.#entries[this.#head + index - this.#memFirst];
  }

  #fromStorage(lo: number, hi: number, maxCount: number, maxBytes = Infinity): Entry[] {
    const storage = this.#bound.storage;
    assert.ok(storage !== undefined, `entry ${lo} evicted without storage`);
    const entries = storage.entries(lo, hi, maxCount, maxBytes);
    assert.ok(entries.length > 0, `storage returned nothing for [${lo}, ${hi})`);
    // The store must agree with the terms the core knows: anything else is a driver bug.
    entries.forEach((entry, i) => {
      assert.equal(entry.index, lo + i, 'storage entries out of order');
      assert.equal(entry.term, this.term(entry.index), `storage term differs at ${entry.index}`);
    });
    return entries.slice(0, maxCount);
  }
}
