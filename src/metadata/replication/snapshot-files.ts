// The files behind metadata snapshots (docs/architecture/raft.md, "Snapshots"). A snapshot is a
// compacted copy of the state machine's own LMDB file, which holds the applied index in the same
// B-tree as the state, so the two cannot disagree. Layout under the data directory:
//   metadata/ or metadata-<index>/   the live state machine environment (data.mdb, lock.mdb)
//   metadata.current                 which of them is live (absent: metadata/), replaced by rename
//   snapshots/snap-<index>/data.mdb  this member's latest snapshot, taken or received: sent to
//                                    lagging followers, and what the state is rebuilt from when a
//                                    power loss may have corrupted it (state-boot.ts)
//   snapshots/tmp-*/                 a snapshot being taken (removed at start)
//   snapshots/incoming/data.mdb      a snapshot being received, written chunk by chunk, twice:
//   snapshots/incoming-kept/data.mdb the live state is opened without syncs, so the received
//                                    file's pristine twin becomes snap-<index>
//   /dev/shm/strata-snap-<hash>/     LMDB's copy while a snapshot is taken, when memory has room
// Installing a received snapshot renames snapshots/incoming to metadata-<index> and then points
// metadata.current at it: each step is one rename, so a crash leaves either the old state or the
// new one, never a mixture. A snapshot file is removed only once the Raft store records a newer
// one (removeSnapshotsBefore), so the store's snapshot always has its file.
import assert from 'node:assert';
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { open as openFile, rm } from 'node:fs/promises';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { StrataError } from '../../common/errors.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../common/private-dir.ts';
import { syncDirSync } from '../../common/sync-dir.ts';
import { crc32c } from '../../data/crc32c.ts';
import type { SnapshotChunkWrite, SnapshotMeta } from '../../raft/index.ts';
import { copyFilePaced } from './paced-copy.ts';

const CURRENT_FILE = 'metadata.current';
const INITIAL_STATE_DIR = 'metadata';
const DATA_FILE = 'data.mdb';
const INCOMING_DIR = 'incoming';
const INCOMING_KEPT_DIR = 'incoming-kept';
// Checksumming a snapshot reads it in slices of this size, yielding between them.
const CHECKSUM_SLICE_BYTES = 1024 * 1024;
// While receiving, dirty pages are flushed in the background every this many bytes, so the
// fsync that makes the finished file durable (on the event loop) has little left to write.
const INCOMING_FLUSH_EVERY_BYTES = 8 * 1024 * 1024;
// LMDB's compacting copy (mdb_env_copy2) writes with O_DIRECT as fast as the disk takes it
// (150-190 MB/s on the development machine), and meanwhile every fsync on that disk waits behind
// it: the Raft store's commits took 10 ms instead of 0.3 (p50), a member's snapshot cost the
// cluster 30-40% of its throughput in bench:scale. So the copy is made in memory (tmpfs) and
// written to disk at this pace, one synced chunk at a time. 32 MiB/s writes 350 MB (1M entries)
// in 11 s and 3.4 GB (10M) in under 2 minutes, well inside the time between two snapshots.
export const SNAPSHOT_WRITE_BYTES_PER_SECOND = 32 * 1024 * 1024;
const SNAPSHOT_WRITE_CHUNK_BYTES = 1024 * 1024;
// Memory staging is used only while the machine keeps at least this multiple of the state's size
// available besides (so a copy never pushes a member into swap or the OOM killer); else LMDB's
// copy goes straight to the disk, unpaced, as before.
const STAGING_FREE_MEMORY_FACTOR = 2;
const DEFAULT_STAGING_ROOT = '/dev/shm';

export interface LocalSnapshot {
  index: number;
  sizeBytes: number;
  checksum: number;
}

interface Incoming {
  meta: SnapshotMeta;
  fd: number;
  keptFd: number; // the pristine twin (snapshots/incoming-kept/data.mdb)
  sizeBytes: number;
  checksum: number;
  unflushedBytes: number;
  // An error of a background flush: reported by finishIncoming (Linux reports a writeback error
  // to one fsync only, so the final fsync might not see it again).
  flushError: Error | undefined;
}

export class SnapshotFiles {
  readonly dataDir: string;
  readonly snapshotsDir: string;
  #incoming: Incoming | undefined;
  /** The latest local snapshot, open for sending, or undefined when there is none. */
  #outgoing: (LocalSnapshot & { fd: number }) | undefined;
  #tmpSeq = 0;
  // Where LMDB's copy is staged in memory (one directory per data directory, so members sharing a
  // machine never remove each other's); undefined: no tmpfs, copies go to the disk directly.
  readonly stagingDir: string | undefined;

  constructor(dataDir: string, options: { stagingRoot?: string | null } = {}) {
    this.dataDir = dataDir;
    this.snapshotsDir = join(dataDir, 'snapshots');
    mkdirSync(this.snapshotsDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const root = options.stagingRoot === undefined ? DEFAULT_STAGING_ROOT : options.stagingRoot;
    this.stagingDir =
      root !== null && existsSync(root)
        ? join(root, `strata-snap-${crc32c(Buffer.from(dataDir)).toString(16)}`)
        : undefined;
  }

  /** The live state machine directory (what metadata.current names). */
  currentStatePath(): string {
    return join(this.dataDir, currentStateName(this.dataDir));
  }

  installedStatePath(index: number): string {
    return join(this.dataDir, `metadata-${index}`);
  }

  outgoingPath(index: number): string {
    return join(this.snapshotsDir, `snap-${index}`, DATA_FILE);
  }

  /** A fresh directory for a snapshot being taken (LMDB's copy writes data.mdb inside). */
  newTmpDir(): string {
    const dir = join(this.snapshotsDir, `tmp-${process.pid}-${++this.#tmpSeq}`);
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    return dir;
  }

  /**
   * Where LMDB's copy of a state of `stateBytes` is to be made: a fresh directory in memory when
   * it has room for it, else `tmpDir` itself (the copy then goes to the disk unpaced).
   */
  newCopyDir(tmpDir: string, stateBytes: number): string {
    const staging = this.stagingDir;
    if (staging === undefined) return tmpDir;
    const { bavail, bsize } = statfsSync(join(staging, '..'));
    if (bavail * bsize < stateBytes || freemem() < stateBytes * STAGING_FREE_MEMORY_FACTOR)
      return tmpDir;
    // One snapshot is taken at a time: the staging directory is its copy, removed afterwards.
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { mode: PRIVATE_DIR_MODE });
    return staging;
  }

  /**
   * Makes a taken snapshot durable and this member's latest; older ones are removed. A copy made
   * in memory (`copyDir`, from newCopyDir) is written into `tmpDir` at a bounded pace and removed.
   */
  async adoptTaken(copyDir: string, tmpDir: string, index: number): Promise<LocalSnapshot> {
    const file = join(tmpDir, DATA_FILE);
    let sizeBytes: number;
    let checksum: number;
    if (copyDir === tmpDir) {
      chmodSync(file, PRIVATE_FILE_MODE); // LMDB's copy is 0644: the names are the user's alone
      ({ sizeBytes, checksum } = await checksumFile(file));
    } else {
      ({ sizeBytes, checksum } = await copyFilePaced(join(copyDir, DATA_FILE), file, {
        bytesPerSecond: SNAPSHOT_WRITE_BYTES_PER_SECOND,
        chunkBytes: SNAPSHOT_WRITE_CHUNK_BYTES,
      }));
      await rm(copyDir, { recursive: true, force: true });
    }
    const target = join(this.snapshotsDir, `snap-${index}`);
    rmSync(target, { recursive: true, force: true });
    renameSync(tmpDir, target);
    syncDirSync(this.snapshotsDir);
    // A received snapshot installed while this one was copied is newer: it stays the one sent.
    if (this.#outgoing === undefined || this.#outgoing.index < index)
      this.#setOutgoing({ index, sizeBytes, checksum });
    return { index, sizeBytes, checksum };
  }

  /** Opens the snapshot at `index` for sending, when this member has its file. */
  openOutgoing(index: number, expected: { sizeBytes: number; checksum: number }): boolean {
    if (this.#outgoing?.index === index) return true;
    if (!existsSync(this.outgoingPath(index))) return false;
    assert(this.#outgoing === undefined, 'a snapshot is open for sending already');
    const fd = openSync(this.outgoingPath(index), 'r');
    const sizeBytes = fstatSync(fd).size;
    if (sizeBytes !== expected.sizeBytes) {
      closeSync(fd);
      return false;
    }
    this.#outgoing = { index, sizeBytes, checksum: expected.checksum, fd };
    return true;
  }

  // The new snapshot is the one sent from now on. The previous one's file stays until the Raft
  // store records the new one (removeSnapshotsBefore): a crash in between restarts from it.
  #setOutgoing(snapshot: LocalSnapshot): void {
    const fd = openSync(this.outgoingPath(snapshot.index), 'r');
    const previous = this.#outgoing;
    this.#outgoing = { ...snapshot, fd };
    if (previous !== undefined) closeSync(previous.fd);
  }

  /** A received snapshot, now recorded by the Raft store, is the one sent from now on. */
  keepReceived(snapshot: LocalSnapshot): void {
    this.#setOutgoing(snapshot);
  }

  /** Once the Raft store records the snapshot at `index`: the files of older ones go. */
  async removeSnapshotsBefore(index: number): Promise<void> {
    for (const name of readdirSync(this.snapshotsDir)) {
      const older = /^snap-(\d+)$/.exec(name);
      if (older && Number(older[1]) < index)
        await rm(join(this.snapshotsDir, name), { recursive: true, force: true });
    }
  }

  /** Bytes [offset, offset + length) of the snapshot at `index`; undefined when it is gone. */
  readChunk(index: number, offsetBytes: number, lengthBytes: number): Uint8Array | undefined {
    const outgoing = this.#outgoing;
    if (outgoing?.index !== index) return undefined;
    assert(offsetBytes + lengthBytes <= outgoing.sizeBytes, 'chunk beyond the snapshot');
    const chunk = Buffer.allocUnsafe(lengthBytes);
    let done = 0;
    while (done < lengthBytes) {
      const read = readSync(outgoing.fd, chunk, done, lengthBytes - done, offsetBytes + done);
      if (read === 0) throw new StrataError('EIO', `snapshot ${index} ended at ${offsetBytes}`);
      done += read;
    }
    return chunk;
  }

  /** Writes one received chunk (Ready.snapshotChunks); offset 0 starts a new file. */
  writeChunk(chunk: SnapshotChunkWrite): void {
    if (chunk.offsetBytes === 0) this.#startIncoming(chunk.meta);
    const incoming = this.#incoming;
    assert(incoming !== undefined, 'a snapshot chunk after offset 0 with no file started');
    assert.equal(incoming.meta.index, chunk.meta.index, 'chunk of another snapshot');
    assert.equal(chunk.offsetBytes, incoming.sizeBytes, 'snapshot chunks arrive in order');
    for (const fd of [incoming.fd, incoming.keptFd]) writeAll(fd, chunk.data, chunk.offsetBytes);
    incoming.sizeBytes += chunk.data.byteLength;
    incoming.checksum = crc32c(chunk.data, incoming.checksum);
    incoming.unflushedBytes += chunk.data.byteLength;
    if (incoming.unflushedBytes >= INCOMING_FLUSH_EVERY_BYTES) {
      incoming.unflushedBytes = 0;
      for (const fd of [incoming.fd, incoming.keptFd]) {
        fdatasync(fd, (error) => {
          if (error) incoming.flushError ??= error;
        });
      }
    }
  }

  #startIncoming(meta: SnapshotMeta): void {
    this.#closeIncoming();
    const [fd, keptFd] = [INCOMING_DIR, INCOMING_KEPT_DIR].map((name) => {
      const dir = join(this.snapshotsDir, name);
      mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      return openSync(join(dir, DATA_FILE), 'w', PRIVATE_FILE_MODE);
    });
    this.#incoming = {
      meta,
      fd,
      keptFd,
      sizeBytes: 0,
      checksum: 0,
      unflushedBytes: 0,
      flushError: undefined,
    };
  }

  #closeIncoming(): void {
    if (this.#incoming === undefined) return;
    closeSync(this.#incoming.fd);
    closeSync(this.#incoming.keptFd);
    this.#incoming = undefined;
  }

  /**
   * The received snapshot is complete: checked against the leader's size and checksum, made
   * durable, and moved to where it will become the live state (metadata-<index>), its twin to
   * snapshots/snap-<index>. Returns the live one's directory. Called before the Raft store
   * records the snapshot (Ready step 1).
   */
  finishIncoming(meta: SnapshotMeta, sizeBytes: number, checksum: number): string {
    const incoming = this.#incoming;
    assert(incoming !== undefined && incoming.meta.index === meta.index, 'no such snapshot');
    if (incoming.sizeBytes !== sizeBytes || incoming.checksum !== checksum) {
      throw new StrataError(
        'EIO',
        `received snapshot ${meta.index} has ${incoming.sizeBytes} bytes, CRC32C ` +
          `${incoming.checksum}; the leader announced ${sizeBytes} bytes, CRC32C ${checksum}`,
      );
    }
    fsyncSync(incoming.fd);
    fsyncSync(incoming.keptFd);
    if (incoming.flushError !== undefined) throw incoming.flushError;
    this.#closeIncoming();
    const kept = join(this.snapshotsDir, `snap-${meta.index}`);
    if (this.#outgoing?.index === meta.index) {
      closeSync(this.#outgoing.fd);
      this.#outgoing = undefined;
    }
    rmSync(kept, { recursive: true, force: true });
    renameSync(join(this.snapshotsDir, INCOMING_KEPT_DIR), kept);
    const target = this.installedStatePath(meta.index);
    rmSync(target, { recursive: true, force: true });
    renameSync(join(this.snapshotsDir, INCOMING_DIR), target);
    syncDirSync(this.dataDir);
    syncDirSync(this.snapshotsDir);
    return target;
  }

  /**
   * Replaces a live state that may be corrupt (a power loss, state-boot.ts) by a copy of the
   * Raft store's snapshot (an empty state when its index is 0), checked against the size and
   * CRC32C the store records: the log's entries after it bring the state forward again. At
   * start, before the state is opened; a crash midway leaves the marker as it was, so the next
   * start does it again.
   */
  async rebuildLiveState(snapshot: LocalSnapshot): Promise<void> {
    const { index } = snapshot;
    const live = this.currentStatePath();
    const target = this.installedStatePath(index);
    const tmpDir = this.newTmpDir();
    if (index > 0) {
      const file = this.outgoingPath(index);
      const refuse = (why: string) =>
        new StrataError(
          'EIO',
          'the metadata state may be corrupt (written without syncs before a power loss or ' +
            `kernel crash) and ${file}, the snapshot to rebuild it from, ${why}; refusing to ` +
            'start rather than serve it',
        );
      if (!existsSync(file)) throw refuse('is missing');
      const copy = join(tmpDir, DATA_FILE);
      copyFileSync(file, copy, constants.COPYFILE_FICLONE);
      const { sizeBytes, checksum } = await checksumFile(copy); // synced first
      if (sizeBytes !== snapshot.sizeBytes || checksum !== snapshot.checksum) {
        throw refuse(
          `has ${sizeBytes} bytes, CRC32C ${checksum}, not the ${snapshot.sizeBytes} bytes, ` +
            `CRC32C ${snapshot.checksum} the Raft store records`,
        );
      }
    }
    rmSync(target, { recursive: true, force: true });
    renameSync(tmpDir, target);
    this.setCurrent(target); // syncs the data directory: the rename above is durable with it
    if (live !== target) rmSync(live, { recursive: true, force: true });
  }

  /** Points metadata.current at `statePath` (one rename: the swap is atomic). */
  setCurrent(statePath: string): void {
    const name = statePath.slice(this.dataDir.length + 1);
    assert(name === INITIAL_STATE_DIR || /^metadata-\d+$/.test(name), `state dir ${name}`);
    const tmp = join(this.dataDir, `${CURRENT_FILE}.tmp`);
    const fd = openSync(tmp, 'w', PRIVATE_FILE_MODE);
    writeSync(fd, name);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.dataDir, CURRENT_FILE));
    syncDirSync(this.dataDir);
  }

  /**
   * At start: removes what a crash left behind (snapshots being taken or received, state
   * directories that are neither live nor `keepIndex`'s).
   */
  cleanUp(keepIndex: number): void {
    const live = currentStateName(this.dataDir);
    for (const name of readdirSync(this.dataDir)) {
      if (!/^metadata-\d+$/.test(name) || name === live || name === `metadata-${keepIndex}`)
        continue;
      rmSync(join(this.dataDir, name), { recursive: true, force: true });
    }
    for (const name of readdirSync(this.snapshotsDir)) {
      const snap = /^snap-(\d+)$/.exec(name);
      // A snapshot file the store does not record: taken or received before a crash.
      const unrecorded = snap !== null && Number(snap[1]) !== keepIndex;
      if (name.startsWith('tmp-') || name.startsWith(INCOMING_DIR) || unrecorded)
        rmSync(join(this.snapshotsDir, name), { recursive: true, force: true });
    }
    if (this.stagingDir !== undefined) rmSync(this.stagingDir, { recursive: true, force: true });
  }

  close(): void {
    this.#closeIncoming();
    if (this.#outgoing !== undefined) closeSync(this.#outgoing.fd);
    this.#outgoing = undefined;
  }
}

function writeAll(fd: number, data: Uint8Array, offsetBytes: number): void {
  let done = 0;
  while (done < data.byteLength) {
    done += writeSync(fd, data, done, data.byteLength - done, offsetBytes + done);
  }
}

/** Which state directory is live; `metadata` until a snapshot was installed. */
export function currentStateName(dataDir: string): string {
  const file = join(dataDir, CURRENT_FILE);
  if (!existsSync(file)) return INITIAL_STATE_DIR;
  const name = readFileSync(file, 'utf8').trim();
  if (name !== INITIAL_STATE_DIR && !/^metadata-\d+$/.test(name))
    throw new StrataError('EIO', `${file} names ${JSON.stringify(name)}, not a state directory`);
  return name;
}

/** Size and CRC32C of a file, read in slices with the event loop free between them. */
export async function checksumFile(path: string): Promise<{ sizeBytes: number; checksum: number }> {
  const handle = await openFile(path, 'r');
  try {
    await handle.datasync();
    const slice = Buffer.allocUnsafe(CHECKSUM_SLICE_BYTES);
    let checksum = 0;
    let sizeBytes = 0;
    for (;;) {
      const { bytesRead } = await handle.read(slice, 0, slice.byteLength, sizeBytes);
      if (bytesRead === 0) break;
      checksum = crc32c(slice.subarray(0, bytesRead), checksum);
      sizeBytes += bytesRead;
    }
    return { sizeBytes, checksum };
  } finally {
    await handle.close();
  }
}
