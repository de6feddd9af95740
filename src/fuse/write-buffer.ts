// Write buffering for one inode of the mount: the kernel sends writes of up to 1 MiB; each
// would otherwise become its own stripe and metadata command. Contiguous writes gather here until
// a stripe's worth, a jump elsewhere in the file, or a flush (close, fsync, a read or a
// truncate of the same file) sends them. Stripes of one inode are stored in parallel but their
// metadata commits are issued in write order, so a later write always lands over an earlier one.
// An error of a background flush is kept and reported by the next write, flush or fsync, as
// NFS and the Linux page cache do.
import type { StrataClient } from '../client/strata-client.ts';
import type { Inode } from '../metadata/types.ts';

// Stripes of one inode being stored at once: enough to keep the data servers busy while the
// next stripe fills, few enough to bound memory.
const STAGES_IN_FLIGHT_MAX = 3;

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
  }

  give(bytes: number): void {
    this.usedBytes -= bytes;
    for (const wake of this.waiters.splice(0)) wake();
  }
}

export class InodeWriter {
  readonly ino: number;
  private readonly client: StrataClient;
  private readonly budget: DirtyBudget;
  private readonly stripeBytes: number;
  private chunks: Buffer[] = [];
  private start = 0; // file offset of chunks[0]
  private filled = 0;
  private commits: Promise<unknown> = Promise.resolve();
  private readonly stages = new Set<Promise<unknown>>();
  private pendingBytes = 0; // accepted and not yet committed
  private error: unknown;
  // End of the furthest byte accepted and not yet committed: the file is at least this long.
  private pendingEnd = 0;
  lastCommitted: Inode | undefined;

  constructor(ino: number, client: StrataClient, budget: DirtyBudget, stripeBytes: number) {
    this.ino = ino;
    this.client = client;
    this.budget = budget;
    this.stripeBytes = stripeBytes;
  }

  get dirty(): boolean {
    return this.pendingBytes > 0;
  }

  // The size the file has once everything accepted is committed, given its committed size.
  sizeOver(committedSize: number): number {
    return this.dirty ? Math.max(committedSize, this.pendingEnd) : committedSize;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    this.throwError();
    if (this.filled > 0 && offset !== this.start + this.filled) this.send();
    await this.budget.take(data.length);
    if (!this.dirty) this.pendingEnd = 0;
    if (this.filled === 0) this.start = offset;
    this.chunks.push(data);
    this.filled += data.length;
    this.pendingBytes += data.length;
    this.pendingEnd = Math.max(this.pendingEnd, offset + data.length);
    if (this.filled >= this.stripeBytes) this.send();
    while (this.stages.size >= STAGES_IN_FLIGHT_MAX) await Promise.race(this.stages);
  }

  // Everything accepted so far is committed (visible to every client) when this resolves.
  async flush(): Promise<void> {
    if (this.filled > 0) this.send();
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
    const data = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const offset = this.start;
    this.chunks = [];
    this.filled = 0;
    const stage = this.client.stageWrite(offset, data);
    const tracked = stage.then(
      () => undefined,
      () => undefined,
    );
    this.stages.add(tracked);
    void tracked.then(() => this.stages.delete(tracked));
    this.commits = this.commits
      .then(() => stage)
      .then((extents) => this.client.commitWrite(this.ino, extents))
      .then(
        (inode) => {
          this.lastCommitted = inode;
        },
        (error) => {
          this.error ??= error;
        },
      )
      .finally(() => {
        this.pendingBytes -= data.length;
        this.budget.give(data.length);
      });
  }
}
