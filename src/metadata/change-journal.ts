// The namespace changes of the last applied commands, kept in memory by every member, so that a
// mount can ask "what changed since index N" and drop what its kernel caches of it (the change
// feed: src/fuse/change-feed.ts). A change is a name (parent directory, name) whose entry was
// made, replaced or removed, or an inode whose record changed (attributes, size, link count).
// Only the newest changes are kept: a question about older ones, or about the time before this
// member started or installed a snapshot, is answered "reset" (drop everything), never with a
// partial list.
import assert from 'node:assert';

// Changes kept (names and inodes); the oldest commands' changes go first. About 200 bytes of
// heap each: 60,000 creates of 15-character names held 10.5 MiB more with the journal than
// without, at this bound. 10 s of history at 5,000 changes a second, for mounts that ask every
// 200 ms; one further behind is told to drop everything.
export const JOURNAL_CHANGES_MAX = 50_000;
// Changes in one answer: a mount that is further behind is told to drop everything instead.
export const ANSWER_CHANGES_MAX = 20_000;

// What one command changed, collected while it is applied (Store records into it).
export class CommandChanges {
  readonly inos = new Set<number>();
  readonly entries: Array<[number, string]> = [];

  get size(): number {
    return this.inos.size + this.entries.length;
  }
}

interface JournalRecord {
  index: number;
  session: string | undefined; // the client session whose command made the changes
  inos: number[];
  entries: Array<[number, string]>;
}

export type ChangesAnswer =
  | { index: number; reset: true }
  | { index: number; inos: number[]; entries: Array<[number, string]> };

export class ChangeJournal {
  private records: JournalRecord[] = [];
  private head = 0; // records before it were dropped (compacted away now and then)
  private kept = 0; // changes in records[head..]
  // Every change of a command with an index above this one is in the journal.
  private floor: number;
  private readonly keptMax: number;
  private readonly answerMax: number;

  constructor(floor: number, keptMax = JOURNAL_CHANGES_MAX, answerMax = ANSWER_CHANGES_MAX) {
    this.floor = floor;
    this.keptMax = keptMax;
    this.answerMax = answerMax;
  }

  // Nothing before `index` is known any more (a restart, an installed snapshot).
  reset(index: number): void {
    this.records = [];
    this.head = 0;
    this.kept = 0;
    this.floor = index;
  }

  record(index: number, session: string | undefined, changes: CommandChanges): void {
    const last = this.records.at(-1)?.index ?? this.floor;
    assert(index > last, `change of index ${index} recorded after ${last}`);
    if (changes.size === 0) return;
    this.records.push({ index, session, inos: [...changes.inos], entries: changes.entries });
    this.kept += changes.size;
    while (this.kept > this.keptMax) {
      const dropped = this.records[this.head++];
      this.kept -= dropped.inos.length + dropped.entries.length;
      this.floor = dropped.index;
    }
    if (this.head > 4096 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
  }

  // The changes of commands after `since`, up to `appliedIndex` (the state's, which the answer
  // names as the next `since`), but those of `exceptSession`'s commands: a mount's own changes
  // are in its kernel's caches already (the kernel updates them with each of its own requests).
  since(since: number, appliedIndex: number, exceptSession?: string): ChangesAnswer {
    if (!Number.isSafeInteger(since) || since < this.floor || since > appliedIndex)
      return { index: appliedIndex, reset: true };
    const inos = new Set<number>();
    const entries = new Map<string, [number, string]>(); // each name once
    for (let i = this.firstAfter(since); i < this.records.length; i++) {
      const r = this.records[i];
      if (r.session !== undefined && r.session === exceptSession) continue;
      for (const ino of r.inos) inos.add(ino);
      for (const entry of r.entries) entries.set(`${entry[0]}/${entry[1]}`, entry);
      if (inos.size + entries.size > this.answerMax) return { index: appliedIndex, reset: true };
    }
    return { index: appliedIndex, inos: [...inos], entries: [...entries.values()] };
  }

  // The position of the first record with an index above `index` (binary search).
  private firstAfter(index: number): number {
    let lo = this.head;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.records[mid].index <= index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
