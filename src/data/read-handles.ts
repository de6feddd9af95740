// Shard files kept open between reads (issue 13, "reads without reopening"). Every ranged read
// used to open, verify and close its shard file: in benches/repair's CPU profile of the data
// servers, open and close were the largest items after garbage collection, and each is a
// thread-pool round trip on a random 4 KiB read's path.
//
// Bounded: at most `max` idle handles (an LRU); a handle in use is never closed under its reader,
// so the count exceeds `max` only by the reads in flight. A shard file is created once and never
// rewritten (shard-store.ts), so a cached handle reads what the path holds, with two exceptions the
// store handles by dropping the path's handle first: its own delete(), and a put() that creates
// the path again (a shard rebuilt where an earlier copy had been removed by hand). A file changed
// in place under a handle (a byte flipped, another shard copied over it) is the same inode, and
// every read still checks the header's identity and the blocks' checksums. A file unlinked by
// hand keeps serving its (verified) bytes through a cached handle until the handle is evicted or
// the data server restarts.
//
// Each handle carries a slot for what its reader learned of the file (shard-store.ts keeps the
// header and the block checksums there, so a later ranged read is one read of its blocks): it
// lives and dies with the handle, so every drop above forgets it too.
import assert from 'node:assert';
import { readFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { shardReadHandles } from '../observability/metrics.ts';

// What a reader keeps about an open file between reads; empty when the handle is opened.
export interface HandleNotes {
  layout?: { head: Buffer; crcs: Buffer };
}

interface Entry {
  file: Promise<FileHandle>;
  notes: HandleNotes;
  users: number;
  dropped: boolean; // out of the map: closed when its last reader is done
  usedAtMs: number; // when a reader last took it
}

// A quarter of the process's open-file limit (Node.js raises the soft limit to the hard one at
// start), within these bounds: the rest stays for shard writes, sockets and the metadata store.
// Random 4 KiB reads over a 1 GiB file touch its 1,024 data shards (4+2, 1 MiB shards): with the
// former fixed 512, half of them opened a file, and that half cost the data server twice the time
// of a reused handle (benches/fuse, randread). Each idle handle holds one descriptor and its notes
// (the header and one 4-byte checksum per 64 KiB block).
export const SHARD_READ_HANDLES_MIN = 64;
export const SHARD_READ_HANDLES_MAX = 16_384;
const SHARD_READ_HANDLES_FALLBACK = 512; // the limit cannot be read (not Linux)

export function shardReadHandlesFor(openFilesLimit: number | undefined): number {
  if (openFilesLimit === undefined) return SHARD_READ_HANDLES_FALLBACK;
  return Math.max(
    SHARD_READ_HANDLES_MIN,
    Math.min(SHARD_READ_HANDLES_MAX, Math.floor(openFilesLimit / 4)),
  );
}

// The soft "Max open files" of /proc/self/limits ("unlimited" counts as no bound); undefined
// where there is no such file.
export function openFilesLimit(): number | undefined {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  if (soft === undefined) return undefined;
  if (soft === 'unlimited') return Number.POSITIVE_INFINITY;
  const n = Number(soft);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export class ReadHandles {
  private readonly max: number;
  private readonly entries = new Map<string, Entry>(); // least recently used first
  // Closes started for dropped or evicted handles: close() waits for them too, so no file is
  // left open once it resolves (a busy thread pool could otherwise still be closing one).
  private readonly closing = new Set<Promise<void>>();

  constructor(max = shardReadHandlesFor(openFilesLimit())) {
    assert(Number.isInteger(max) && max >= 1, 'at least one handle');
    this.max = max;
  }

  // Runs `read` with an open handle of `path`; a failed open (ENOENT: no such shard) rejects
  // and leaves nothing cached.
  async use<T>(
    path: string,
    read: (file: FileHandle, notes: HandleNotes) => Promise<T>,
  ): Promise<T> {
    let entry = this.entries.get(path);
    if (entry === undefined) {
      entry = { file: open(path, 'r'), notes: {}, users: 0, dropped: false, usedAtMs: 0 };
      const opened = entry;
      this.entries.set(path, opened);
      opened.file.catch(() => this.forget(path, opened));
      shardReadHandles.inc({ outcome: 'opened' });
    } else {
      this.entries.delete(path); // most recently used: to the end
      this.entries.set(path, entry);
      shardReadHandles.inc({ outcome: 'reused' });
    }
    entry.users++; // before evict(): a handle in use is never chosen
    entry.usedAtMs = Date.now();
    this.evict();
    try {
      return await read(await entry.file, entry.notes);
    } finally {
      entry.users--;
      if (entry.dropped && entry.users === 0) this.closeLater(entry);
      else this.evict(); // idle again: the bound may have waited for this handle
    }
  }

  // The path's file is about to be removed or created: its handle is not to be used again.
  drop(path: string): void {
    const entry = this.entries.get(path);
    if (entry === undefined) return;
    this.forget(path, entry);
    if (entry.users === 0) this.closeLater(entry);
  }

  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all([
      ...all.map((entry) => {
        entry.dropped = true;
        return entry.users === 0 ? closeEntry(entry) : undefined;
      }),
      ...this.closing,
    ]);
  }

  private closeLater(entry: Entry): void {
    const closed = closeEntry(entry);
    this.closing.add(closed);
    closed.then(() => this.closing.delete(closed));
  }

  get size(): number {
    return this.entries.size;
  }

  // Closes the idle handles no reader took since `beforeMs`: a reader outside the data server
  // (src/data/local-shard-reads.ts) is never told of a removal, and a handle it kept would hold a
  // removed shard's file, and its disk space, until evicted.
  dropIdleSince(beforeMs: number): void {
    for (const [path, entry] of this.entries) {
      if (entry.users > 0 || entry.usedAtMs >= beforeMs) continue;
      this.forget(path, entry);
      this.closeLater(entry);
    }
  }

  private forget(path: string, entry: Entry): void {
    entry.dropped = true;
    if (this.entries.get(path) === entry) this.entries.delete(path);
  }

  private evict(): void {
    if (this.entries.size <= this.max) return;
    for (const [path, entry] of this.entries) {
      if (this.entries.size <= this.max) return;
      if (entry.users > 0) continue;
      this.forget(path, entry);
      this.closeLater(entry);
    }
  }
}

function closeEntry(entry: Entry): Promise<void> {
  // A failed open has nothing to close; a failed close loses nothing (the file was only read).
  return entry.file
    .then(
      (file) => file.close(),
      () => undefined,
    )
    .catch(() => undefined);
}
