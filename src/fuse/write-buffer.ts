// Write buffering for one inode of the mount: the kernel sends writes of up to 1 MiB, and small
// random writes would each become a stripe, a metadata command and an fsync on every data server.
// Writes gather here, at any offsets, until a stripe's worth or a flush (close, fsync, truncate);
// a batch is packed into stripes and committed as one command whose extents, applied in order,
// put later writes over earlier ones. Batches of one inode are stored in parallel but committed
// in write order. Until its commit, a write is laid over what reads of the file return here.
// An error of a background batch is kept and reported by the next write, flush or fsync, as
// NFS and the Linux page cache do; it is also handed to `onLost` at once, since there may be no
// next call (a file closed before the batch failed, a mount stopping).
import assert from 'node:assert';
import { constants } from 'node:os';
import { SendTracker } from '../client/send-tracker.ts';
import type { StrataClient } from '../client/strata-client.ts';
import { StrataError } from '../common/errors.ts';
import type { Inode } from '../metadata/types.ts';
import { fuseDirtyBytes } from '../observability/metrics.ts';
import { errnoOf } from './errno.ts';

const osErrno = constants.errno;

// Batches of one inode being stored at once: enough to keep the data servers busy while the
// next one fills, few enough to bound memory.
const BATCHES_IN_FLIGHT_MAX = 3;
// Writes per batch: each becomes an extent, and the metadata takes at most so many per command.
const WRITES_PER_BATCH_MAX = 4096;

export class DirtyBudget {
  readonly limitBytes: number;
  usedBytes = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  async take(bytes: number): Promise<void> {
    while (this.usedBytes > 0 && this.usedBytes + bytes > this.limitBytes) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.usedBytes += bytes;
    fuseDirtyBytes.set(this.usedBytes);
  }

  give(bytes: number): void {
    this.usedBytes -= bytes;
    fuseDirtyBytes.set(this.usedBytes);
    for (const wake of this.waiters.splice(0)) wake();
  }
}

export interface PendingWrite {
  offset: number;
  data: Buffer;
}

// Stripe-sized buffers that batches are packed into, reused: a mount writing at speed would
// otherwise allocate (and collect) megabytes for every stripe.
export class BatchBuffers {
  readonly bytes: number;
  private readonly free: Buffer[] = [];
  private readonly keepMax: number;

  constructor(bytes: number, keepMax = 16) {
    this.bytes = bytes;
    this.keepMax = keepMax;
  }

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bytes);
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.keepMax) this.free.push(buffer);
  }
}

interface Batch {
  packed: Buffer; // the writes' bytes back to back
  filled: number;
  writes: PendingWrite[]; // views of `packed`
}

// Called once for each batch that could not be stored, with what failed and how many bytes.
export type LostWritesHandler = (ino: number, error: unknown, bytes: number) => void;

// What write(2), close(2) and fsync(2) may say of a write that was not stored: ENOSPC (no room)
// and EFBIG (too large) as they are, EIO for anything else (a data server's ENOTDIR or a lost
// connection means nothing to the writer, and close(2) may not return them).
const WRITE_ERRNO_KEPT = new Set([osErrno.ENOSPC, osErrno.EFBIG]);

export function writeFailure(error: unknown): unknown {
  if (WRITE_ERRNO_KEPT.has(errnoOf(error))) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StrataError('EIO', `writes could not be stored: ${message}`, { cause: error });
}

export class InodeWriter {
  readonly ino: number;
  private readonly client: StrataClient;
  private readonly budget: DirtyBudget;
  private readonly buffers: BatchBuffers;
  private readonly onLost: LostWritesHandler;
  // Names this writer's save: every change it commits in a versioned bucket belongs to one
  // version (a file saved through the mount is one version however many batches it took).
  saveToken: string;
  private batch: Batch | undefined;
  // Batches sent and not yet committed, oldest first; then `batch`.
  private readonly sent: Batch[] = [];
  private commits: Promise<unknown> = Promise.resolve();
  private readonly stages = new Set<Promise<unknown>>();
  private error: unknown;
  // End of the furthest byte accepted and not yet committed: the file is at least this long.
  private pendingEnd = 0;
  lastCommitted: Inode | undefined;
  // The file's committed size as this mount last saw it (at open, a truncate, this writer's own
  // commits): what decides whether a batch may be inline (client/inline-data.ts). Unknown: never.
  knownSizeBytes = Number.MAX_SAFE_INTEGER;

  constructor(
    ino: number,
    client: StrataClient,
    budget: DirtyBudget,
    buffers: BatchBuffers,
    onLost: LostWritesHandler,
    saveToken: string,
  ) {
    this.saveToken = saveToken;
    this.ino = ino;
    this.client = client;
    this.budget = budget;
    this.buffers = buffers;
    this.onLost = onLost;
  }

  get dirty(): boolean {
    return this.batch !== undefined || this.sent.length > 0;
  }

  // The size the file has once everything accepted is committed, given its committed size.
  sizeOver(committedSize: number): number {
    return this.dirty ? Math.max(committedSize, this.pendingEnd) : committedSize;
  }

  // The parts of writes not yet committed that fall in [offset, offset + length), oldest first,
  // copied (batch buffers are reused once committed): to lay over bytes read from the committed
  // file. Taken before those are read, so a batch committing meanwhile is in one or both.
  overlay(offset: number, length: number): PendingWrite[] {
    const end = offset + length;
    const parts: PendingWrite[] = [];
    for (const w of [...this.sent.flatMap((b) => b.writes), ...(this.batch?.writes ?? [])]) {
      const from = Math.max(offset, w.offset);
      const to = Math.min(end, w.offset + w.data.length);
      if (from < to)
        parts.push({
          offset: from,
          data: Buffer.from(w.data.subarray(from - w.offset, to - w.offset)),
        });
    }
    return parts;
  }

  // Copies `data` into the current batch (the caller may reuse it once this returns).
  async write(offset: number, data: Buffer): Promise<void> {
    this.throwError();
    if (data.length === 0) return; // writes nothing, and must not grow the size
    await this.budget.take(data.length);
    if (!this.dirty) this.pendingEnd = 0;
    this.pendingEnd = Math.max(this.pendingEnd, offset + data.length);
    for (let done = 0; done < data.length; ) {
      this.batch ??= { packed: this.buffers.take(), filled: 0, writes: [] };
      const batch = this.batch;
      const n = Math.min(data.length - done, batch.packed.length - batch.filled);
      data.copy(batch.packed, batch.filled, done, done + n);
      batch.writes.push({
        offset: offset + done,
        data: batch.packed.subarray(batch.filled, batch.filled + n),
      });
      batch.filled += n;
      done += n;
      if (batch.filled === batch.packed.length || batch.writes.length >= WRITES_PER_BATCH_MAX)
        this.send();
    }
    while (this.stages.size >= BATCHES_IN_FLIGHT_MAX) await Promise.race(this.stages);
  }

  // Writes accepted from now on belong to another save (a close ended this one). Batches already
  // sent keep the token they were sent with.
  newSave(saveToken: string): void {
    this.saveToken = saveToken;
  }

  // Everything accepted so far is committed (visible to every client) when this resolves.
  async flush(): Promise<void> {
    if (this.batch) this.send();
    await this.commits;
    this.throwError();
  }

  private throwError(): void {
    if (this.error === undefined) return;
    const error = this.error;
    this.error = undefined;
    throw error;
  }

  private send(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    this.sent.push(batch);
    const saveToken = this.saveToken;
    // A guess (the state machine decides, and the client falls back to stripes if it was wrong):
    // the file at least as long as this writer last saw it and as its accepted writes reach.
    const sizeBytes = Math.max(this.knownSizeBytes, this.pendingEnd);
    const packed = batch.packed.subarray(0, batch.filled);
    // The stripes' data shards are views of `packed`: it is reused once every shard write is
    // done with it, which may be after the commit (a straggler still sending).
    const sends = new SendTracker();
    const stage = this.client.stageFileWrites(batch.writes, packed, sizeBytes, sends);
    const tracked = stage.then(
      () => undefined,
      () => undefined,
    );
    this.stages.add(tracked);
    void tracked.then(() => this.stages.delete(tracked));
    this.commits = this.commits
      .then(() => stage)
      .then((extents) => this.client.commitWrite(this.ino, extents, saveToken))
      .then(
        (inode) => {
          this.lastCommitted = inode;
          this.knownSizeBytes = inode.size;
        },
        (error) => {
          assert(batch.filled > 0, 'only batches with bytes are sent');
          this.error ??= writeFailure(error);
          this.onLost(this.ino, error, batch.filled);
        },
      )
      .finally(() => {
        // Commits complete in order: this batch is the oldest one sent. Overlays are copies,
        // so its buffer is free for the next batch once no shard write sends from it.
        this.sent.shift();
        this.budget.give(batch.filled);
        void stage
          .catch(() => {})
          .then(() => sends.idle())
          .then(() => this.buffers.give(batch.packed));
      });
  }
}

// Lays the pending writes over `base`, the committed bytes of [offset, offset + length) (short
// where the committed file ends), up to the file's size as this mount sees it.
export function applyOverlay(
  base: Buffer,
  offset: number,
  length: number,
  sizeBytes: number,
  writes: PendingWrite[],
): Buffer {
  const end = Math.min(offset + length, sizeBytes);
  if (end <= offset) return Buffer.alloc(0);
  const out = Buffer.alloc(end - offset);
  base.copy(out, 0, 0, Math.min(base.length, out.length));
  for (const w of writes) {
    const from = Math.max(offset, w.offset);
    const to = Math.min(end, w.offset + w.data.length);
    if (from < to) w.data.copy(out, from - offset, from - w.offset, to - w.offset);
  }
  return out;
}
