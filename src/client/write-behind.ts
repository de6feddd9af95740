// A mount's write-behind namespace changes (docs/architecture/overview.md, "Directory delegation:
// write-behind namespace changes"). A directory in which this mount keeps creating or removing
// names is asked for (delegateDir); once held, a create, mkdir, unlink or rename of a file within
// it is answered at once, from what the mount knows of the directory (its whole listing, read
// after the grant), and queued. The queue goes out in order, one dirBatch at a time; every other
// metadata call of the mount waits until the queue is empty (MetadataClient.beforeCall), so the
// cluster sees the mount's calls in the order it made them. fsync and syncfs wait for the queue
// (drained()).
//
// A directory is given back when another client wants it (the batch answer's `recalled`), when
// the mount changes it any other way (rmdir, a rename out of it, ...: release()), or after
// IDLE_MS without a change here. A batch no metadata member answers is sent again until one does.
// If a batch is refused (the session expired while the mount was cut off), the changes queued are
// lost: the directories are given up, the error is kept for the next fsync (as a local file
// system reports a failed writeback), logged and counted.
import assert from 'node:assert';
import { isStrataError, StrataError } from '../common/errors.ts';
import { inodeFields } from '../metadata/new-inode.ts';
import type { Caller, DirBatchOp, Inode, InodeRange, InodeType } from '../metadata/types.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import type { MetadataClient } from './metadata-client.ts';

// Changes in one directory within CHANGE_WINDOW_MS before it is worth asking for.
const HOT_CHANGES = 8;
const CHANGE_WINDOW_MS = 1000;
const IDLE_MS = 200;
const REFUSED_RETRY_MS = 5_000;
const LISTING_ENTRIES_MAX = 16_384;
const LISTING_PAGE_ENTRIES = 1000;
const INODES_RESERVED = 4096;
const INODES_LOW = INODES_RESERVED / 4;
const BATCH_OPS_MAX = 1024;
const GATHER_MS = 5;
const GATHER_OPS = 64;
const UNREACHABLE_RETRY_MS_MIN = 50;
const UNMOUNT_WAIT_MS = 30_000;
// Failures that say nothing of the batch but that no member answered.
const UNREACHABLE: ReadonlySet<string> = new Set([
  'RPC_UNAVAILABLE',
  'RPC_TIMEOUT',
  'RPC_CONNECTION_LOST',
]);

interface HeldDir {
  dir: Inode; // its attributes, kept up to date by this mount's changes
  names: Map<string, { ino: number; type: InodeType }>;
  lastChangeMs: number;
}

export interface WriteBehindEvents {
  // Changes this mount answered were lost (the batch was refused): what the kernel holds of these
  // directories is wrong.
  lost(dirs: number[], changes: number): void;
  // A directory is given back: from now on others change it, so what the mount learnt of it while
  // it held it is no longer to be trusted.
  released(dir: number): void;
  // A directory is now held: its creates and unlinks are answered here.
  acquired(dir: number): void;
}

// A held directory as a change answered here at `nowMs` leaves it (`links`: the subdirectories it
// made, each one more link of the directory).
function changedHere(held: HeldDir, nowMs: number, links = 0): void {
  held.dir = { ...held.dir, mtimeMs: nowMs, ctimeMs: nowMs, nlink: held.dir.nlink + links };
  held.lastChangeMs = nowMs;
}

export class WriteBehind {
  private readonly metadata: MetadataClient;
  private readonly mountId: string;
  private readonly log: Logger;
  private readonly events: WriteBehindEvents;
  private readonly held = new Map<number, HeldDir>();
  private readonly created = new Map<number, Inode>(); // inodes made here, until sent
  private readonly changes = new Map<number, { count: number; sinceMs: number }>();
  private readonly refusedUntil = new Map<number, number>();
  private readonly inFlight = new Map<number, number>(); // ordinary changes under way, by directory
  // Directory → a grant or a give-back under way: changes there wait for it.
  private readonly moving = new Map<number, Promise<void>>();
  // Inode numbers reserved for this mount, used in order; more are asked for (refill) before they
  // run out. `next` here runs ahead of the cluster's: creates answered and not applied yet.
  private readonly ranges: InodeRange[] = [];
  private refilling: Promise<void> | undefined;
  private queue: DirBatchOp[] = [];
  private sending: Promise<void> | undefined;
  private batch = 0;
  private gatherTimer: NodeJS.Timeout | undefined;
  private inFlightOps = 0; // the first ops of the queue, in the batch being sent
  private unsentSinceMs = 0; // when the oldest op not in that batch was queued
  private waiters = 0; // calls waiting in drained()
  private failure: Error | undefined;
  private readonly idleTimer: NodeJS.Timeout;
  private closed = false;
  private closeDeadlineMs: number | undefined;
  private refusedForUser = false;

  constructor(
    metadata: MetadataClient,
    mountId: string,
    events: WriteBehindEvents,
    log: Logger = silentLogger,
  ) {
    this.metadata = metadata;
    this.mountId = mountId;
    this.events = events;
    this.log = log;
    metadata.mountId = mountId;
    metadata.beforeCall = () => this.drained();
    this.idleTimer = setInterval(() => this.releaseIdle(), IDLE_MS / 2);
    this.idleTimer.unref();
  }

  holdsAny(): boolean {
    return this.held.size > 0 || this.moving.size > 0;
  }

  // What this mount knows of a held directory's entry: undefined when it is not held.
  entry(dir: number, name: string): { ino: number; type: InodeType } | null | undefined {
    const held = this.held.get(dir);
    if (held === undefined) return undefined;
    return held.names.get(name) ?? null;
  }

  dirAttributes(dir: number): Inode | undefined {
    return this.held.get(dir)?.dir;
  }

  // An inode this mount made and has not sent yet.
  createdInode(ino: number): Inode | undefined {
    return this.created.get(ino);
  }

  // A grant or give-back of the directory under way: wait for it before changing it.
  settled(dir: number): Promise<void> | undefined {
    return this.moving.get(dir);
  }

  // A change of `dir` made the ordinary way (committed before its answer): after a grant or
  // give-back under way, and a grant waits until those in flight are done (the listing it reads
  // must hold them). A directory that keeps changing is asked for.
  async ordinary<T>(dir: number, change: () => Promise<T>): Promise<T> {
    await this.moving.get(dir);
    this.inFlight.set(dir, (this.inFlight.get(dir) ?? 0) + 1);
    try {
      return await change();
    } finally {
      const left = (this.inFlight.get(dir) ?? 1) - 1;
      if (left > 0) this.inFlight.set(dir, left);
      else this.inFlight.delete(dir);
      this.noteChange(dir);
    }
  }

  private noteChange(dir: number): void {
    if (this.closed || this.refusedForUser || this.held.has(dir) || this.moving.has(dir)) return;
    const now = Date.now();
    if ((this.refusedUntil.get(dir) ?? 0) > now) return;
    let count = this.changes.get(dir);
    if (count === undefined || now - count.sinceMs >= CHANGE_WINDOW_MS) {
      if (this.changes.size > 1024) this.changes.clear();
      count = { count: 0, sinceMs: now };
      this.changes.set(dir, count);
    }
    count.count += 1;
    if (count.count >= HOT_CHANGES && !this.inFlight.has(dir)) {
      this.changes.delete(dir);
      this.moveWhile(dir, this.acquire(dir));
    }
  }

  // A create (a file) or mkdir in a held directory, answered here: the new inode, or undefined
  // when it cannot be (not held, the name is taken, no inode number left: the caller goes the
  // ordinary way). The new directory is not held: changes in it go the ordinary way, after this
  // one is applied (every other call waits for the queue).
  create(parent: number, name: string, mode: number, caller: Caller): Inode | undefined {
    return this.make('create', parent, name, mode, caller);
  }

  mkdir(parent: number, name: string, mode: number, caller: Caller): Inode | undefined {
    return this.make('mkdir', parent, name, mode, caller);
  }

  private make(
    op: 'create' | 'mkdir',
    parent: number,
    name: string,
    mode: number,
    caller: Caller,
  ): Inode | undefined {
    const held = this.held.get(parent);
    if (held === undefined || held.names.has(name) || this.failure !== undefined) return undefined;
    const ino = this.takeInode();
    if (ino === undefined) return undefined;
    const nowMs = Date.now();
    const type = op === 'mkdir' ? 'dir' : 'file';
    const fields = inodeFields(ino, type, mode & 0o7777, caller, nowMs, held.dir);
    // As the service makes it (ops-namespace.ts): a directory knows its parent.
    const inode = type === 'dir' ? { ...fields, parent } : fields;
    this.push({ op, nowMs, parent, name, mode: mode & 0o7777, caller, ino });
    held.names.set(name, { ino, type });
    changedHere(held, nowMs, type === 'dir' ? 1 : 0);
    this.created.set(ino, inode);
    return inode;
  }

  // A rename of a non-directory within a held directory, over an absent name or another file
  // (not itself), answered here: false when it cannot be. `keepReplaced`: the file it replaces is
  // open here, kept until its last close (as unlink's).
  rename(parent: number, name: string, newName: string, keepReplaced: boolean): boolean {
    const held = this.held.get(parent);
    const entry = held?.names.get(name);
    const target = held?.names.get(newName);
    if (held === undefined || entry === undefined || entry.type === 'dir') return false;
    if (target !== undefined && (target.type === 'dir' || target.ino === entry.ino)) return false;
    if (this.failure !== undefined) return false;
    const nowMs = Date.now();
    this.push({
      op: 'rename',
      nowMs,
      parent,
      name,
      newName,
      ...(keepReplaced ? { keepReplacedForMount: this.mountId } : {}),
    });
    held.names.delete(name);
    held.names.set(newName, entry);
    changedHere(held, nowMs);
    const made = this.created.get(entry.ino);
    if (made !== undefined) this.created.set(entry.ino, { ...made, ctimeMs: nowMs });
    if (target !== undefined) this.created.delete(target.ino); // the service has it, once sent
    return true;
  }

  // An unlink of a non-directory in a held directory, answered here: false when it cannot be.
  // `keepForMount`: the file is open here, kept until its last close.
  unlink(parent: number, name: string, keepForMount: boolean): boolean {
    const held = this.held.get(parent);
    const entry = held?.names.get(name);
    if (held === undefined || entry === undefined || entry.type === 'dir') return false;
    if (this.failure !== undefined) return false;
    const nowMs = Date.now();
    this.push({
      op: 'unlink',
      nowMs,
      parent,
      name,
      ...(keepForMount ? { keepForMount: this.mountId } : {}),
    });
    held.names.delete(name);
    changedHere(held, nowMs);
    this.created.delete(entry.ino); // its attributes changed: the service has them, once sent
    return true;
  }

  // Gives a directory back (its changes sent first), before a change this path does not make.
  release(dir: number): Promise<void> {
    const moving = this.moving.get(dir);
    if (moving !== undefined) return moving.then(() => this.release(dir));
    if (!this.held.has(dir)) return Promise.resolve();
    return this.moveWhile(dir, this.giveBack([dir]));
  }

  // Resolves once every change answered so far is applied (fsync, syncfs, and every other call of
  // the mount); rejects with the failure of a refused batch, once.
  async drained(): Promise<void> {
    this.waiters += 1;
    try {
      while (this.queue.length > 0 || this.sending !== undefined) {
        this.kick();
        await this.sending;
      }
    } finally {
      this.waiters -= 1;
    }
  }

  // For fsync and syncfs: the changes applied, or the error that lost some (reported once).
  async synced(): Promise<void> {
    await this.drained();
    const failure = this.failure;
    if (failure === undefined) return;
    this.failure = undefined;
    throw failure;
  }

  // Unmount: everything sent, every directory given back.
  async close(): Promise<void> {
    this.closed = true;
    this.closeDeadlineMs = Date.now() + UNMOUNT_WAIT_MS;
    clearInterval(this.idleTimer);
    await this.drained();
    await Promise.all([...this.moving.values()]);
    if (this.held.size > 0) await this.giveBack([...this.held.keys()]);
  }

  private push(op: DirBatchOp): void {
    if (this.queue.length === this.inFlightOps) this.unsentSinceMs = Date.now();
    this.queue.push(op);
    this.schedule();
  }

  // A change waits up to GATHER_MS for others to go out with it (a commit costs the metadata
  // service about as much for one op as for a hundred), unless a caller waits for the queue or
  // GATHER_OPS are waiting.
  private schedule(): void {
    if (this.sending !== undefined || this.queue.length === 0) return;
    const waitMs = GATHER_MS - (Date.now() - this.unsentSinceMs);
    if (this.queue.length >= GATHER_OPS || waitMs <= 0 || this.waiters > 0) this.kick();
    else this.gatherTimer ??= setTimeout(() => this.kick(), waitMs);
  }

  private kick(): void {
    if (this.gatherTimer !== undefined) clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    if (this.sending !== undefined || this.queue.length === 0) return;
    this.sending = this.send().finally(() => {
      this.sending = undefined;
      this.inFlightOps = 0;
      this.schedule();
    });
  }

  // One batch at a time, so that what is applied is always a prefix of the queue.
  private async send(): Promise<void> {
    const ops = this.queue.slice(0, BATCH_OPS_MAX);
    this.inFlightOps = ops.length;
    this.unsentSinceMs = Date.now(); // the ops queued from now on
    this.batch += 1;
    const batch = this.batch;
    try {
      // Sent again as long as it takes (its number keeps it from being applied twice; a session
      // that expired meanwhile is refused, ESTALE), as a hard NFS mount waits.
      const result = await this.untilAnswered(
        'a write-behind batch',
        { batch, ops: ops.length },
        () =>
          this.metadata.applyNow({
            op: 'dirBatch',
            nowMs: Date.now(),
            mountId: this.mountId,
            batch,
            ops,
          }),
      );
      assert(this.queue[0] === ops[0], 'the queue is sent in order');
      this.queue.splice(0, ops.length);
      for (const op of ops)
        if (op.op === 'create' || op.op === 'mkdir') this.created.delete(op.ino);
      for (const dir of result.recalled ?? [])
        void this.release(dir).catch((error) =>
          this.log.warn('giving a recalled directory back failed', { dir, error }),
        );
    } catch (error) {
      this.lose(error);
    }
  }

  // `call` again while no metadata member answers it (the client library gave up after its
  // deadline: the command may or may not have been applied), as long as it takes; at unmount, up
  // to UNMOUNT_WAIT_MS. Every call made this way is one the cluster may apply twice: a batch (its
  // number), a grant (the holder is granted again), a give-back.
  private async untilAnswered<T>(
    what: string,
    fields: Record<string, unknown>,
    call: () => Promise<T>,
  ): Promise<T> {
    for (let waitMs = UNREACHABLE_RETRY_MS_MIN; ; waitMs = Math.min(waitMs * 2, 1000)) {
      try {
        return await call();
      } catch (error) {
        const unreachable = isStrataError(error) && UNREACHABLE.has(error.code);
        if (
          !unreachable ||
          (this.closeDeadlineMs !== undefined && Date.now() >= this.closeDeadlineMs)
        )
          throw error;
        this.log.warn(`the metadata service did not answer ${what}: trying again`, {
          ...fields,
          error,
        });
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }

  // A refused batch: it and everything queued after it are lost.
  private lose(error: unknown): void {
    const lostOps = this.queue.length;
    const dirs = [...this.held.keys()];
    this.failure = new StrataError(
      'EIO',
      `${lostOps} namespace changes answered by this mount were not applied: ${String(error)}`,
      { cause: error },
    );
    this.log.error('write-behind changes lost', { lostOps, dirs, error });
    this.queue = [];
    this.created.clear();
    this.held.clear();
    this.events.lost(dirs, lostOps);
    void this.untilAnswered('a give-back', { dirs }, () =>
      this.metadata.applyNow({ op: 'releaseDirs', nowMs: Date.now(), mountId: this.mountId, dirs }),
    ).catch((error) => this.log.warn('giving directories back failed', { dirs, error }));
  }

  private moveWhile(dir: number, work: Promise<void>): Promise<void> {
    const done = work.finally(() => {
      if (this.moving.get(dir) === done) this.moving.delete(dir);
    });
    this.moving.set(dir, done);
    return done;
  }

  // A grant whose answer is lost is asked for again until answered (the holder is granted again),
  // and a directory granted and not taken up (its listing could not be read) is given back: the
  // cluster never holds a directory for this mount that the mount does not know it holds, whose
  // recalls (batch answers) it would never see, leaving others to wait for as long as it lives.
  private async acquire(dir: number): Promise<void> {
    while (this.inFlight.has(dir)) await new Promise((r) => setTimeout(r, 1));
    let granted: { delegated?: boolean; reserved?: InodeRange[] };
    try {
      granted = await this.untilAnswered('a directory grant', { dir }, () =>
        this.metadata.applyNow({
          op: 'delegateDir',
          nowMs: Date.now(),
          mountId: this.mountId,
          dir,
          inodes: this.spareInodes() < INODES_LOW ? INODES_RESERVED : 0,
        }),
      );
    } catch (error) {
      // A mount logged in as a user may not hold directories (an operator's command): it stops
      // asking, and goes on the ordinary way.
      if (isStrataError(error, 'EACCES')) {
        this.refusedForUser = true;
        this.log.info('write-behind is for operator mounts: this one commits every change', {
          error,
        });
        return;
      }
      this.refusedUntil.set(dir, Date.now() + REFUSED_RETRY_MS);
      this.log.warn('asking for a directory failed', { dir, error });
      return;
    }
    if (granted.delegated !== true) {
      this.refusedUntil.set(dir, Date.now() + REFUSED_RETRY_MS);
      return;
    }
    this.addRanges(granted.reserved ?? []);
    // Read after the grant: nothing changes the directory now but this mount.
    let names: HeldDir['names'] | undefined;
    let attrs: Inode | undefined;
    try {
      names = await this.readListing(dir);
      attrs = await this.metadata.read('getattr', dir);
    } catch (error) {
      this.log.warn('reading a directory granted failed: giving it back', { dir, error });
    }
    if (names === undefined || attrs === undefined || this.closed) {
      this.refusedUntil.set(dir, Date.now() + REFUSED_RETRY_MS);
      await this.giveBack([dir]).catch((error) =>
        this.log.warn('giving a directory back failed', { dir, error }),
      );
      return;
    }
    this.held.set(dir, { dir: attrs, names, lastChangeMs: Date.now() });
    this.events.acquired(dir);
  }

  private spareInodes(): number {
    return this.ranges.reduce((sum, r) => sum + r.end - r.next, 0);
  }

  private takeInode(): number | undefined {
    while (this.ranges.length > 0 && this.ranges[0].next >= this.ranges[0].end) this.ranges.shift();
    const ino = this.ranges[0]?.next;
    if (ino === undefined) return undefined;
    this.ranges[0].next += 1;
    if (this.spareInodes() < INODES_LOW) this.refill();
    return ino;
  }

  // Ranges the cluster holds for this mount that it does not know yet (those it knows keep its
  // own, further, `next`).
  private addRanges(reserved: InodeRange[]): void {
    for (const range of reserved)
      if (!this.ranges.some((r) => r.end === range.end)) this.ranges.push({ ...range });
    this.ranges.sort((a, b) => a.end - b.end);
  }

  private refill(): void {
    if (this.refilling !== undefined) return;
    this.refilling = this.metadata
      .applyNow({
        op: 'reserveInodes',
        nowMs: Date.now(),
        mountId: this.mountId,
        inodes: INODES_RESERVED,
      })
      .then((granted) => this.addRanges(granted.reserved ?? []))
      .catch((error: unknown) => this.log.warn('reserving inode numbers failed', { error }))
      .finally(() => {
        this.refilling = undefined;
      });
  }

  private async giveBack(dirs: number[]): Promise<void> {
    await this.drained();
    for (const dir of dirs) if (this.held.delete(dir)) this.events.released(dir);
    // A change answered between the drain and now (its caller resumed first) goes out before the
    // directory does; none can be answered here after it left `held`.
    await this.drained();
    await this.untilAnswered('a give-back', { dirs }, () =>
      this.metadata.applyNow({ op: 'releaseDirs', nowMs: Date.now(), mountId: this.mountId, dirs }),
    );
  }

  private releaseIdle(): void {
    const now = Date.now();
    for (const [dir, held] of this.held)
      if (now - held.lastChangeMs >= IDLE_MS && !this.moving.has(dir))
        void this.release(dir).catch((error) =>
          this.log.warn('giving a directory back failed', { dir, error }),
        );
  }

  private async readListing(dir: number): Promise<HeldDir['names'] | undefined> {
    const names: HeldDir['names'] = new Map();
    let after: string | undefined;
    for (;;) {
      const page = await this.metadata.read('readdir', dir, after, LISTING_PAGE_ENTRIES);
      for (const e of page) names.set(e.name, { ino: e.ino, type: e.type });
      if (names.size > LISTING_ENTRIES_MAX) return undefined;
      if (page.length < LISTING_PAGE_ENTRIES) return names;
      after = page[page.length - 1].name;
    }
  }
}
