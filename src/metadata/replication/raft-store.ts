// The durable half of Raft for one metadata node: a log in segment files (<data_dir>/raft-log),
// as etcd's WAL and TiKV's raft-engine keep it (docs/architecture/raft.md, "The Raft log").
// Each write (a Ready's snapshot record, entries and hard state; a compaction record) is one
// batch appended to the last segment with one O_DSYNC write on the libuv threadpool:
// persist() resolves once it is durable, and the event loop serves meanwhile. Segments are
// preallocated with zeros ahead of the writes (so a synced write flushes data, not file-system
// metadata), cut at `segmentBytes`, named by sequence and first index, and unlinked whole once a
// snapshot covers them. Nothing written is overwritten: a conflicting suffix is replaced by
// appending the new entries (later records win, wal-index.ts). At start every segment is read
// forward: a write torn by a crash (the last batch of the last segment, never acknowledged) is
// cut off; a damaged batch followed by a valid one, a damaged entry or a gap stops the node
// (EIO). It is also the core's LogStorage: evicted entries are read back by their offsets.
import assert from 'node:assert';
import {
  close,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsync,
  fsyncSync,
  open as openCallback,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  write,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StrataError } from '../../common/errors.ts';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../../common/private-dir.ts';
import type { Entry, PersistedState, Ready, Snapshot } from '../../raft/index.ts';
import {
  decodeBatchAt,
  decodeEntryAt,
  ENTRY_HEADER_BYTES,
  type EncodedBatch,
  encodeBatch,
  entryDataBytesAt,
  validBatchAfter,
  type WalRecord,
} from './wal-format.ts';
import { unpackPosition, WalIndex } from './wal-index.ts';

// etcd's segment size: large enough that cutting (a new file, a directory fsync) is rare, small
// enough that compaction frees space in useful steps.
// Under <data_dir>; the LMDB store it replaced was <data_dir>/raft (raft-store-migration.ts).
export const RAFT_LOG_DIR = 'raft-log';
export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;
// Zeros are written this far ahead of the data, not the whole segment at once: a member's disk is
// not charged 64 MiB up front (the disk-full tests run on an 80 MiB tmpfs with a 64 MiB reserve).
const PREALLOCATION_STEP_BYTES = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);
const READ_WINDOW_BYTES = 64 * 1024;
const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const NODE_ID_FILE = 'node-id';
// Segments are written through O_DSYNC: each write returns once its data (and the size needed to
// read it) is on the disk, as write + fdatasync would, in one system call and one threadpool job
// instead of two (PostgreSQL's wal_sync_method=open_datasync). Under CPU contention each hop
// between the event loop and the threadpool costs a wake-up.
const SEGMENT_OPEN_FLAGS = constants.O_RDWR | constants.O_DSYNC;
const SEGMENT_CREATE_FLAGS = SEGMENT_OPEN_FLAGS | constants.O_CREAT | constants.O_EXCL;

const writeAsync = promisify(write);
const fsyncAsync = promisify(fsync);
const openAsync = promisify(openCallback);
const closeAsync = promisify(close);

interface Segment {
  seq: number;
  firstIndex: number;
  path: string;
  fd: number;
  writtenBytes: number; // where the next batch goes
  allocatedBytes: number; // zeros (or data) written up to here
  // A failed write may have left bytes past writtenBytes: zeroed before the segment is sealed.
  dirtyEnd: number;
}

interface WritePlan {
  records: WalRecord[];
  batch: EncodedBatch;
  segment: Segment | { seq: number; firstIndex: number; path: string }; // new when no fd
  offset: number;
  zeroFrom: number;
  zeroTo: number;
  // The segment being left by a cut, whose dirty tail is zeroed first.
  sealing: Segment | undefined;
  hardStateWritten: boolean;
}

export interface RaftStoreOptions {
  segmentBytes?: number;
}

type PersistInput = Pick<Ready, 'snapshot' | 'entries' | 'hardState'> & { mustSync?: boolean };

function segmentName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

export class RaftStore {
  readonly path: string;
  private readonly segmentBytes: number;
  private readonly index = new WalIndex();
  private segments: Segment[] = [];
  // The newest hard state of a commit-only Ready, not yet on disk (persist()).
  private unsyncedHardState: Ready['hardState'];
  // Writes run one after another, each planned from the state the previous one left.
  private queue: Promise<unknown> = Promise.resolve();
  private writesQueued = 0;
  private closed = false;

  private constructor(path: string, options: RaftStoreOptions) {
    this.path = path;
    this.segmentBytes = options.segmentBytes ?? SEGMENT_BYTES_DEFAULT;
    assert(this.segmentBytes >= 4096, 'segments of at least 4 KiB');
  }

  static open(path: string, options: RaftStoreOptions = {}): RaftStore {
    ensurePrivateDir(path);
    const store = new RaftStore(path, options);
    store.recover();
    return store;
  }

  // The node id this store belongs to: a data directory never changes identity.
  claimNodeId(nodeId: number): void {
    const file = join(this.path, NODE_ID_FILE);
    const stored = existsSync(file) ? Number(readFileSync(file, 'utf8')) : undefined;
    if (stored !== undefined && stored !== nodeId) {
      throw new StrataError(
        'EINVAL',
        `this data directory belongs to metadata node ${stored}, not ${nodeId} (node.id)`,
      );
    }
    if (stored !== undefined) return;
    writeFileSync(`${file}.tmp`, String(nodeId), { mode: PRIVATE_FILE_MODE, flush: true });
    renameSync(`${file}.tmp`, file);
    syncDirSync(this.path);
  }

  isEmpty(): boolean {
    return this.index.hardState === undefined;
  }

  // Everything Raft needs to restart. The entries come lazily, one at a time as the core takes
  // them, each read back and its checksum verified before it is handed over: a long log since
  // the snapshot is never in memory at once (the core keeps only its tail).
  load(): PersistedState {
    const { hardState, snapshot, firstIndex, lastIndex } = this.index;
    return {
      hardState: hardState ?? { term: 0, vote: 0, commit: 0 },
      snapshot,
      entries: this.readEntries(firstIndex, lastIndex + 1, Number.POSITIVE_INFINITY),
    };
  }

  // The snapshot the log starts after (index 0: none yet).
  snapshot(): Snapshot {
    return this.index.snapshot;
  }

  // The last index in the log (the snapshot's when no entry follows it).
  lastStoredIndex(): number {
    return this.index.lastIndex;
  }

  // Appends a Ready's snapshot record, entries and hard state as one batch, written and
  // synced on the threadpool; resolves once durable. The in-memory indexes change only
  // then: a write that fails (a full disk) leaves the store as it was, to be retried with the
  // same Ready. A Ready that only moves the commit index (mustSync false) is not written at all:
  // the commit index is volatile in Raft (§5.3, Figure 2) and every member learns it again from
  // its leader, so its hard state waits in memory for the next durable write (or close), as
  // etcd's MustSync does. A restart may then find a commit index behind what the state machine
  // applied; the replica starts from the higher of the two (entries are applied once committed).
  persist(ready: PersistInput): Promise<void> {
    if (this.deferCommitOnly(ready)) return Promise.resolve();
    return this.enqueue(() => this.runAsync(this.planReady(ready)));
  }

  // The same, blocking: for start-up (a new or adopted log) and tools, never while serving.
  persistSync(ready: PersistInput): void {
    assert(this.writesQueued === 0, 'no asynchronous write in flight');
    if (this.deferCommitOnly(ready)) return;
    this.runSync(this.planReady(ready));
  }

  // Whether persist() has anything to write (else it completes at once).
  writeNeeded(ready: PersistInput): boolean {
    if (ready.mustSync === false && !ready.snapshot && ready.entries.length === 0) return false;
    return (
      ready.snapshot !== undefined || ready.entries.length > 0 || ready.hardState !== undefined
    );
  }

  private deferCommitOnly(ready: PersistInput): boolean {
    assert(!this.closed, 'the raft store is open');
    if (ready.mustSync === false && !ready.snapshot && ready.entries.length === 0) {
      if (ready.hardState) this.unsyncedHardState = ready.hardState;
      return true;
    }
    return !ready.snapshot && ready.entries.length === 0 && !ready.hardState;
  }

  // Log compaction: the snapshot (its file is durable already) replaces the entries it covers.
  // Their segments are unlinked later (removeCompacted).
  compact(snapshot: Snapshot): Promise<void> {
    assert(!this.closed, 'the raft store is open');
    return this.enqueue(async () => {
      const index = snapshot.meta.index;
      // A received snapshot may have overtaken this one while it was taken.
      if (index <= this.index.snapshot.meta.index) return;
      assert(index <= this.index.lastIndex, `compaction point ${index} is in the log`);
      await this.runAsync(this.plan([{ kind: 'snapshot', snapshot, replacesLog: false }], false));
    });
  }

  // Unlinks the oldest segments whose every entry a snapshot covers (never the last one, whose
  // batches hold the current hard state and snapshot record). Returns whether any remain (none:
  // one call removes them all, an unlink each).
  removeCompacted(): Promise<boolean> {
    return this.enqueue(async () => {
      while (this.segments.length > 1 && this.covered(this.segments[0])) {
        const [segment] = this.segments;
        // Removed from the list first: a read never finds a closed descriptor.
        this.segments.shift();
        this.index.maxEntryIndexBySeq.delete(segment.seq);
        await closeAsync(segment.fd);
        await unlink(segment.path);
      }
      return false;
    });
  }

  private covered(segment: Segment): boolean {
    if (segment.seq < this.index.resetSeq) return true;
    const maxEntryIndex = this.index.maxEntryIndexBySeq.get(segment.seq) ?? 0;
    return maxEntryIndex <= this.index.snapshot.meta.index;
  }

  // The Raft core's LogStorage: entries [lo, hi) it evicted from memory, read back for a lagging
  // follower, at most maxCount and maxBytes (at least one). Checked like load() checks them.
  entries(lo: number, hi: number, maxCount: number, maxBytes: number): Entry[] {
    const { firstIndex, lastIndex } = this.index;
    assert(lo >= firstIndex && hi <= lastIndex + 1, `entries [${lo}, ${hi}) not stored`);
    const out: Entry[] = [];
    let bytes = 0;
    for (const entry of this.readEntries(lo, hi, maxCount)) {
      bytes += entry.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  // Segment files on disk (for tests).
  segmentCount(): number {
    return this.segments.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // A clean stop keeps the commit index it reached.
    const hardState = this.unsyncedHardState;
    if (hardState) await this.persist({ entries: [], hardState });
    await this.queue;
    this.closed = true;
    for (const segment of this.segments) closeSync(segment.fd);
    this.segments = [];
  }

  private *readEntries(lo: number, hi: number, maxCount: number): Generator<Entry> {
    let window: Buffer = Buffer.alloc(0);
    let windowSeq = -1;
    let windowStart = 0;
    for (let index = lo; index < hi && index - lo < maxCount; index++) {
      const { seq, offset } = unpackPosition(this.index.positionOf(index));
      const inWindow = (end: number) =>
        seq === windowSeq && offset >= windowStart && end <= windowStart + window.byteLength;
      if (!inWindow(offset + ENTRY_HEADER_BYTES)) {
        [window, windowSeq, windowStart] = [this.readAt(seq, offset, 0), seq, offset];
      }
      const recordEnd =
        offset + ENTRY_HEADER_BYTES + entryDataBytesAt(window, offset - windowStart);
      if (!inWindow(recordEnd)) {
        [window, windowSeq, windowStart] = [
          this.readAt(seq, offset, recordEnd - offset),
          seq,
          offset,
        ];
      }
      const entry = decodeEntryAt(window, offset - windowStart);
      if (entry.index !== index)
        throw new StrataError('EIO', `raft log: entry ${entry.index} found where ${index} lies`);
      yield entry;
    }
  }

  private readAt(seq: number, offset: number, minBytes: number): Buffer {
    const segment = this.segments.find((s) => s.seq === seq);
    assert(segment, `segment ${seq} of a stored entry is open`);
    const bytes = Math.max(READ_WINDOW_BYTES, minBytes);
    const buf = Buffer.allocUnsafe(Math.min(bytes, Math.max(0, segment.writtenBytes - offset)));
    let done = 0;
    while (done < buf.byteLength) {
      const read = readSync(segment.fd, buf, done, buf.byteLength - done, offset + done);
      if (read === 0) throw new StrataError('EIO', `raft log segment ${segment.path} ends early`);
      done += read;
    }
    return buf;
  }

  private planReady(ready: PersistInput): WritePlan {
    const records: WalRecord[] = [];
    if (ready.snapshot)
      records.push({ kind: 'snapshot', snapshot: ready.snapshot, replacesLog: true });
    for (const entry of ready.entries) records.push({ kind: 'entry', entry });
    const hardState = ready.hardState ?? this.unsyncedHardState;
    if (hardState) records.push({ kind: 'hardState', hardState });
    if (ready.entries.length > 0) {
      const first = ready.entries[0].index;
      const floor = ready.snapshot ? ready.snapshot.meta.index : this.index.snapshot.meta.index;
      const last = ready.snapshot ? ready.snapshot.meta.index : this.index.lastIndex;
      assert(first > floor && first <= last + 1, `log gap at ${first}`);
    }
    // A received snapshot starts a segment: every older one can then go at once.
    return this.plan(records, ready.snapshot !== undefined);
  }

  private plan(records: WalRecord[], forceCut: boolean): WritePlan {
    const current = this.segments.at(-1);
    let batch = encodeBatch(records);
    const cut =
      forceCut ||
      current === undefined ||
      (current.writtenBytes > 0 &&
        current.writtenBytes + batch.bytes.byteLength > this.segmentBytes);
    const hardStateWritten = records.some((r) => r.kind === 'hardState');
    if (!cut) {
      assert(current, 'a segment to append to');
      return this.placed(
        records,
        batch,
        current,
        current.writtenBytes,
        undefined,
        hardStateWritten,
      );
    }
    // A segment starts with the state so far, so the ones before it can be unlinked.
    const full = [...records];
    if (!full.some((r) => r.kind === 'snapshot' && r.replacesLog))
      full.unshift({ kind: 'snapshot', snapshot: this.index.snapshot, replacesLog: false });
    if (!hardStateWritten && this.index.hardState)
      full.push({ kind: 'hardState', hardState: this.index.hardState });
    batch = encodeBatch(full);
    const received = records.find((r) => r.kind === 'snapshot' && r.replacesLog);
    const firstIndex =
      received?.kind === 'snapshot' ? received.snapshot.meta.index + 1 : this.index.lastIndex + 1;
    const seq = (current?.seq ?? 0) + 1;
    const fresh = { seq, firstIndex, path: join(this.path, segmentName(seq, firstIndex)) };
    return this.placed(full, batch, fresh, 0, current, hardStateWritten);
  }

  private placed(
    records: WalRecord[],
    batch: EncodedBatch,
    segment: WritePlan['segment'],
    offset: number,
    sealing: Segment | undefined,
    hardStateWritten: boolean,
  ): WritePlan {
    const end = offset + batch.bytes.byteLength;
    const allocated = 'fd' in segment ? segment.allocatedBytes : 0;
    const step = Math.min(PREALLOCATION_STEP_BYTES, this.segmentBytes);
    const rounded = Math.min(this.segmentBytes, Math.ceil(end / step) * step);
    const zeroTo = end > allocated ? Math.max(end, rounded) : 0;
    const dirty = sealing !== undefined && sealing.dirtyEnd > sealing.writtenBytes;
    return {
      records,
      batch,
      segment,
      offset,
      zeroFrom: Math.max(end, allocated),
      zeroTo: Math.max(zeroTo, Math.max(end, allocated)),
      sealing: dirty ? sealing : undefined,
      hardStateWritten,
    };
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    this.writesQueued++;
    const run = this.queue.then(op).finally(() => {
      this.writesQueued--;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runAsync(plan: WritePlan): Promise<void> {
    const { sealing } = plan;
    if (sealing) {
      await writeZerosAsync(sealing.fd, sealing.writtenBytes, sealing.dirtyEnd);
      sealing.dirtyEnd = sealing.writtenBytes;
    }
    const existing = 'fd' in plan.segment ? plan.segment : undefined;
    let fd = existing?.fd;
    try {
      if (fd === undefined)
        fd = await openAsync(plan.segment.path, SEGMENT_CREATE_FLAGS, PRIVATE_FILE_MODE);
      await writeAllAsync(fd, plan.batch.bytes, plan.offset);
      await writeZerosAsync(fd, plan.zeroFrom, plan.zeroTo);
      if (!existing) await syncDirAsync(this.path);
    } catch (error) {
      this.failed(plan, existing, fd);
      throw error;
    }
    this.commit(plan, fd);
  }

  private runSync(plan: WritePlan): void {
    const { sealing } = plan;
    if (sealing) {
      writeZerosSync(sealing.fd, sealing.writtenBytes, sealing.dirtyEnd);
      sealing.dirtyEnd = sealing.writtenBytes;
    }
    const existing = 'fd' in plan.segment ? plan.segment : undefined;
    let fd = existing?.fd;
    try {
      if (fd === undefined)
        fd = openSync(plan.segment.path, SEGMENT_CREATE_FLAGS, PRIVATE_FILE_MODE);
      writeAllSync(fd, plan.batch.bytes, plan.offset);
      writeZerosSync(fd, plan.zeroFrom, plan.zeroTo);
      if (!existing) syncDirSync(this.path);
    } catch (error) {
      this.failed(plan, existing, fd);
      throw error;
    }
    this.commit(plan, fd);
  }

  // A failed write changes nothing in memory. A new segment is removed (the retry makes it
  // again); in an existing one the bytes past its end are remembered as dirty.
  private failed(plan: WritePlan, existing: Segment | undefined, fd: number | undefined): void {
    if (existing) {
      existing.dirtyEnd = Math.max(
        existing.dirtyEnd,
        plan.zeroTo,
        plan.offset + plan.batch.bytes.byteLength,
      );
      return;
    }
    if (fd !== undefined) closeSync(fd);
    rmSync(plan.segment.path, { force: true });
  }

  private commit(plan: WritePlan, fd: number): void {
    let segment: Segment;
    if ('fd' in plan.segment) segment = plan.segment;
    else {
      segment = { ...plan.segment, fd, writtenBytes: 0, allocatedBytes: 0, dirtyEnd: 0 };
      this.segments.push(segment);
    }
    assert(segment === this.segments.at(-1), 'writes go to the last segment');
    let entry = 0;
    for (const record of plan.records) {
      const at = record.kind === 'entry' ? plan.offset + plan.batch.entryOffsets[entry++] : 0;
      this.index.apply(record, segment.seq, at);
    }
    segment.writtenBytes = plan.offset + plan.batch.bytes.byteLength;
    segment.allocatedBytes = Math.max(segment.allocatedBytes, plan.zeroTo, segment.writtenBytes);
    segment.dirtyEnd = Math.max(segment.dirtyEnd, segment.writtenBytes);
    if (plan.hardStateWritten) this.unsyncedHardState = undefined;
  }

  // Start: every segment read forward, its batches replayed into the index.
  private recover(): void {
    const names = readdirSync(this.path)
      .filter((name) => SEGMENT_NAME.test(name))
      .sort();
    // What an interrupted claim left.
    rmSync(join(this.path, `${NODE_ID_FILE}.tmp`), { force: true });
    for (const [i, name] of names.entries()) {
      const match = SEGMENT_NAME.exec(name);
      assert(match, 'a segment name');
      const seq = Number.parseInt(match[1], 16);
      const firstIndex = Number.parseInt(match[2], 16);
      assert(i === 0 || seq > this.segments[i - 1].seq, 'segments in sequence order');
      this.segments.push(
        this.recoverSegment(seq, firstIndex, join(this.path, name), i === names.length - 1),
      );
    }
    // A segment whose first write was torn by a crash holds nothing, not even the state that
    // starts every segment: appending to it would let the segments before it (which hold the
    // hard state) be unlinked later. It goes; the next write cuts a new one.
    const last = this.segments.at(-1);
    if (last && last.writtenBytes === 0) {
      this.segments.pop();
      closeSync(last.fd);
      rmSync(last.path);
      syncDirSync(this.path);
    }
    this.index.check();
  }

  private recoverSegment(seq: number, firstIndex: number, path: string, last: boolean): Segment {
    const fd = openSync(path, SEGMENT_OPEN_FLAGS);
    const buf = readFileSync(fd);
    let at = 0;
    for (;;) {
      const batch = decodeBatchAt(buf, at);
      if (batch.status === 'ok') {
        let entry = 0;
        for (const record of batch.records) {
          const offset = record.kind === 'entry' ? at + batch.entryOffsets[entry++] : 0;
          this.index.apply(record, seq, offset);
        }
        at = batch.endOffset;
        continue;
      }
      const valid = validBatchAfter(buf, at);
      const reason = batch.status === 'bad' ? batch.reason : 'zeros';
      if (valid !== undefined || (batch.status === 'bad' && !last)) {
        closeSync(fd);
        throw new StrataError(
          'EIO',
          `raft log segment ${path} is damaged at byte ${at} (${reason})` +
            (valid === undefined
              ? ' and later segments follow'
              : `, and a valid batch follows at ${valid}`) +
            '; refusing to start rather than lose acknowledged entries',
        );
      }
      break;
    }
    // A write torn by a crash (never acknowledged): its bytes are zeroed, so that what is
    // appended next is not followed by them.
    const dirtyEnd = lastNonZeroByte(buf, at);
    if (dirtyEnd > at) {
      writeZerosSync(fd, at, dirtyEnd);
    }
    return {
      seq,
      firstIndex,
      path,
      fd,
      writtenBytes: at,
      allocatedBytes: fstatSync(fd).size,
      dirtyEnd: at,
    };
  }
}

// One past the last byte that is not zero, at or after `from` (the segment's zero tail is
// compared a page at a time).
function lastNonZeroByte(buf: Buffer, from: number): number {
  const page = 4096;
  let end = buf.byteLength;
  while (end > from) {
    const start = Math.max(from, end - page);
    const slice = buf.subarray(start, end);
    if (!slice.equals(ZEROS.subarray(0, slice.byteLength))) {
      for (let i = end - 1; i >= start; i--) if (buf[i] !== 0) return i + 1;
    }
    end = start;
  }
  return from;
}

async function writeAllAsync(fd: number, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await writeAsync(
      fd,
      bytes,
      done,
      bytes.byteLength - done,
      position + done,
    );
    assert(bytesWritten > 0, 'a write makes progress');
    done += bytesWritten;
  }
}

function writeAllSync(fd: number, bytes: Buffer, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) {
    const written = writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
    assert(written > 0, 'a write makes progress');
    done += written;
  }
}

async function writeZerosAsync(fd: number, from: number, to: number): Promise<void> {
  for (let at = from; at < to; at += ZEROS.byteLength)
    await writeAllAsync(fd, ZEROS.subarray(0, Math.min(ZEROS.byteLength, to - at)), at);
}

function writeZerosSync(fd: number, from: number, to: number): void {
  for (let at = from; at < to; at += ZEROS.byteLength)
    writeAllSync(fd, ZEROS.subarray(0, Math.min(ZEROS.byteLength, to - at)), at);
}

// A new or renamed file's name is durable once its directory is fsynced.
function syncDirSync(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function syncDirAsync(path: string): Promise<void> {
  const fd = await openAsync(path, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    await closeAsync(fd);
  }
}
