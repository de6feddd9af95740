import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  stat,
  statfs,
  unlink,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type BufferPool, type Leased, releaseOnce } from '../common/buffer-pool.ts';
import { StrataError } from '../common/errors.ts';
import { syncDir, syncDirSync } from '../common/sync-dir.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import {
  dataReads,
  dataWrites,
  dataWritesUnstaged,
  diskDirectWrites,
  diskFreeBytes,
  diskOnline,
  diskTotalBytes,
  shardBytes,
  shardErrors,
  shardReadsInline,
  shardReadsUnchecked,
} from '../observability/metrics.ts';
import {
  alignUp,
  DIRECT_ALIGN_BYTES,
  type DirectStaging,
  directReads,
  directStaging,
} from './direct-staging.ts';
import { type HandleNotes, ReadHandles } from './read-handles.ts';
import {
  decodeHeader,
  type EncodedShard,
  encodeShard,
  SHARD_BLOCK_BYTES,
  SHARD_HEADER_BYTES_MAX,
  SHARD_VERSION,
  type ShardExpectation,
  type ShardHeader,
  verifyBlocks,
} from './shard-file.ts';
import type { DiskStatus } from './types.ts';

// Checks a whole shard's blocks against their checksums, as verifyBlocks(name, header, 0, data,
// crcs) does (SHARD_CORRUPT on a mismatch), possibly elsewhere.
export type BlockVerifier = (
  name: string,
  header: ShardHeader,
  data: Buffer,
  crcs: Buffer,
) => Promise<void>;

// How a read checks a shard's blocks: here (the default), by `verify`, or not at all
// (`blockChecks: false`, for a reader that authenticates every byte itself).
// `direct`: a whole shard is read past the page cache (O_DIRECT) into the direct-read slab when
// its disk takes direct I/O and the slab has room, else as any other read. For repair reads:
// each is read once and cold, and the kernel's copy out of the page cache was their largest
// cost (direct-staging.ts, directReads). Not for client reads, which a warm cache serves best.
export interface BlockChecks {
  blockChecks?: boolean;
  verify?: BlockVerifier;
  direct?: boolean;
}

const STRIPE_ID = /^[0-9a-f]{32}$/;
const SHARD_INDEX_MAX = 255;
export const SHARD_NAME = /^([0-9a-f]{32})\.(\d{1,3})$/;
// The directories under <disk>/shards/: a shard's is the first two hex digits of its stripe id.
const PREFIXES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const DONE = Promise.resolve();

// Where a shard's file lies in its disk's directory (the address checked by the caller).
export function shardPathIn(diskPath: string, stripeId: string, shardIndex: number): string {
  return join(diskPath, 'shards', stripeId.slice(0, 2), `${stripeId}.${shardIndex}`);
}

export interface ShardAddress {
  disk: number;
  stripeId: string;
  shardIndex: number;
}

// Shards as files under N disk directories. A put is durable when it resolves: the file is
// created under <disk>/shards/xx/, written, fsynced, and that directory fsynced. Shards are never
// overwritten (every stripe has a fresh random id), so there is no rename: a write cut short by a
// crash leaves a file whose length or checksums do not match its header, which reads refuse as
// SHARD_CORRUPT and the orphan scrubber deletes. (A rename per shard cost more under load than
// the write itself: it serialises on the directory and the journal.)
export class ShardStore {
  readonly disks: string[];
  private readonly shardCounts: number[];
  // Prefix directories known durable, or being made so: concurrent puts into a new prefix all
  // wait for the one mkdir + parent fsync instead of racing past it.
  private readonly directories = new Map<string, Promise<void>>();
  // Paths of shards being written: a file there is not yet whole, and the scrubber must not
  // call it truncated.
  private readonly writing = new Set<string>();
  // Shard files kept open between reads (read-handles.ts): dropped before a delete or a create.
  private readonly readHandles = new ReadHandles();
  // Reads in read() not yet settled: a small read through a kept handle is done on this thread
  // when it is the only one (INLINE_READ_BYTES_MAX).
  private readsInFlight = 0;

  // Each disk's identity (DISK_ID_FILE), made when the disk is first used: a disk replaced by an
  // empty one under the same path gets a new one, which tells the cluster that the shards it
  // records there are gone (src/metadata/health/disk-report.ts).
  readonly diskIds: string[];
  // Per disk: whether shard writes go to it direct (O_DIRECT, from the staging slab), past the
  // page cache. Probed at start; a disk whose file system refuses them is written through the
  // page cache. Why: a shard is written once and read seldom, yet each buffered write made the
  // kernel copy it into page cache it had to find first, which cost more CPU than any other
  // part of a data server's write (42% of its samples under 16 MiB S3 PUTs, perf, stop 32);
  // the file's fsync made it durable either way. MinIO writes large objects direct for the same
  // reason.
  readonly directWrites: boolean[];
  private readonly staging: DirectStaging;
  // Per disk: whether `direct` reads go past the page cache (into `readSlab`): where direct
  // writes do at start, until one is refused.
  readonly directReads: boolean[];
  private readonly readSlab: DirectStaging;
  private readonly log: Logger;
  private readonly readOnly: boolean = false;
  private readonly synchronousReads: boolean = false;

  // `directWrites: false` writes every disk through the page cache (tests compare both paths).
  constructor(
    disks: string[],
    options: {
      directWrites?: boolean;
      staging?: DirectStaging;
      readSlab?: DirectStaging;
      log?: Logger;
      // Disks another store of this process opened (prepared and probed): this one only reads
      // them, direct where `directReads` says (a data server's repair thread, which serves its
      // peers' repair reads: src/cluster/repair-service.ts). put() and delete() are refused.
      // `synchronous`: direct reads are done on the calling thread, not the thread pool's
      // (the repair thread's, so that its disk requests carry its own I/O class: idle).
      readsOf?: { directReads: boolean[]; synchronous?: boolean };
    } = {},
  ) {
    assert(disks.length > 0, 'a data server has at least one disk');
    this.disks = disks;
    this.staging = options.staging ?? directStaging;
    this.readSlab = options.readSlab ?? directReads;
    this.log = options.log ?? silentLogger;
    if (options.readsOf !== undefined) {
      assert.equal(options.readsOf.directReads.length, disks.length, 'a flag per disk');
      this.readOnly = true;
      this.synchronousReads = options.readsOf.synchronous === true;
      this.directWrites = disks.map(() => false);
      this.directReads = [...options.readsOf.directReads];
      this.shardCounts = disks.map(() => 0);
      this.diskIds = disks.map(() => '');
      return;
    }
    const prepared = disks.map((disk) => prepareDisk(disk));
    this.directWrites = disks.map(
      (disk) => options.directWrites !== false && takesDirectWrites(disk, this.staging),
    );
    for (const [disk, direct] of this.directWrites.entries()) {
      diskDirectWrites.set({ disk: String(disk) }, direct ? 1 : 0);
      if (!direct && options.directWrites !== false)
        this.log.info('shard writes to this disk go through the page cache (no direct writes)', {
          disk,
          path: disks[disk],
        });
    }
    // The write probe's answer is the file system's: it takes O_DIRECT at 4 KiB alignment.
    this.directReads = [...this.directWrites];
    this.shardCounts = prepared.map((p) => p.shardCount);
    // Every prefix directory exists and is durable now (prepareDisk): no put waits on a mkdir
    // and its parent's fsync.
    for (const disk of disks) {
      for (const prefix of PREFIXES) this.directories.set(join(disk, 'shards', prefix), DONE);
    }
    this.diskIds = prepared.map((p) => p.diskId);
  }

  // Resolves with the format version written, which the writer records in the stripe's metadata
  // so that a reader can refuse an older-format (unbound) file found in its place.
  // `encoded`: the file's header and block checksums, encodeShard(address, data) computed already
  // over these same bytes (a rebuild's repair thread does, at a low CPU priority); its header is
  // checked to name this shard and length, the checksums are taken as they are.
  // `staging`: an aligned buffer of the whole file's length that `data` already lies in, just
  // after the header's place (a rebuilt shard coded there: direct-staging.ts, rebuildStaging);
  // a direct write goes from it, without a copy of the data into the process's slab. The
  // caller keeps it until this settles.
  async put(
    address: ShardAddress,
    data: Buffer,
    given?: EncodedShard,
    staging?: Buffer,
  ): Promise<{ sizeBytes: number; version: number }> {
    assert(!this.readOnly, 'a reading store writes nothing');
    const path = this.pathOf(address); // EINVAL for a bad address, before anything else
    const encoded = given ?? encodeShard(address, data);
    if (given !== undefined) {
      decodeHeader(given.head, path, { ...address, dataLength: data.length });
      const blocks = Math.ceil(data.length / SHARD_BLOCK_BYTES);
      assert.equal(given.crcs.length, blocks * 4, 'one checksum per block');
    }
    let created = false;
    const parts = [encoded.head, data, encoded.crcs];
    const fileBytes = encoded.head.length + data.length + encoded.crcs.length;
    const direct = this.directWrites[address.disk];
    const inPlace =
      staging !== undefined &&
      staging.length >= alignUp(fileBytes) &&
      data.buffer === staging.buffer &&
      data.byteOffset === staging.byteOffset + encoded.head.length;
    // No room in the staging slab now: through the page cache, as a disk without direct writes.
    const staged = !direct
      ? undefined
      : inPlace
        ? { buffer: staging, release: () => {} } // the caller's
        : this.staging.lease(fileBytes);
    if (direct && staged === undefined) dataWritesUnstaged.inc();
    // Marked before the file exists, so a scrubber that sees the file sees the mark too.
    this.writing.add(path);
    this.readHandles.drop(path);
    try {
      const file = await this.create(path, staged ? DIRECT_CREATE : 'wx');
      created = true;
      try {
        if (staged) await writeDirect(file, parts, fileBytes, staged.buffer);
        else await writeAll(file, parts);
        await file.sync();
      } finally {
        await file.close();
      }
      await syncDir(dirname(path));
    } catch (error) {
      // A partial file must not stay behind (disk full: give the space back).
      if (created) await unlink(path).catch(() => {});
      if (staged && (error as NodeJS.ErrnoException).code === 'EINVAL') {
        // The probe's direct write passed but this one did not (the disk was remounted or
        // replaced under the same path): this disk is written through the page cache from now.
        this.directWrites[address.disk] = false;
        diskDirectWrites.set({ disk: String(address.disk) }, 0);
        this.log.warn(
          'a direct shard write was refused: this disk is written through the page cache from now',
          {
            disk: address.disk,
            path,
            error,
          },
        );
        return await this.put(address, data, given);
      }
      throw diskError(error, `writing shard ${path}`);
    } finally {
      // After the write settled (awaited above): the kernel reads the slab until it has.
      staged?.release();
      this.writing.delete(path);
    }
    this.shardCounts[address.disk]++;
    shardBytes.inc({ direction: 'write' }, data.length);
    dataWrites.inc();
    return { sizeBytes: data.length, version: SHARD_VERSION };
  }

  // Reads [offset, offset + length) of the shard's data, verifying every block it touches and
  // that the file is the shard asked for (its header names it; `expect` adds what the stripe's
  // metadata says: its shard size and the format it was written in).
  async get(
    address: ShardAddress,
    offset?: number,
    length?: number,
    expect: Pick<ShardExpectation, 'dataLength' | 'minVersion'> = {},
  ): Promise<Buffer> {
    return (await this.read(address, offset, length, expect, undefined)).data;
  }

  // As get(), the bytes in a buffer of `pool` when the whole shard is read (its size known): the
  // caller releases it once nothing reads it any more (a reply written to its socket). Ranged
  // reads come in a plain buffer, whose release does nothing.
  // `checks.blockChecks` false: the blocks' CRCs are not checked (the header, the shard's
  // identity, its length and version still are), for a reader that authenticates every byte it
  // uses itself (GetShardHeader.readerAuthenticates).
  // `checks.verify`: checks a whole shard's blocks in place of verifyBlocks here (a repair read's
  // are checked on the repair thread, at a lower CPU priority: src/cluster/repair-thread.ts); it
  // must throw what verifyBlocks throws. Ranged reads are verified here.
  getLeased(
    address: ShardAddress,
    offset: number | undefined,
    length: number | undefined,
    expect: Pick<ShardExpectation, 'dataLength' | 'minVersion'>,
    pool: BufferPool,
    checks: BlockChecks = {},
  ): Promise<Leased> {
    return this.read(address, offset, length, expect, pool, checks);
  }

  private async read(
    address: ShardAddress,
    offset: number | undefined,
    length: number | undefined,
    expect: Pick<ShardExpectation, 'dataLength' | 'minVersion'>,
    pool: BufferPool | undefined,
    checks: BlockChecks = {},
  ): Promise<Leased> {
    const path = this.pathOf(address);
    const expected = { stripeId: address.stripeId, shardIndex: address.shardIndex, ...expect };
    const blockChecks = checks.blockChecks !== false;
    if (!blockChecks) shardReadsUnchecked.inc();
    const size = expected.dataLength;
    const whole =
      size !== undefined && size > 0 && (offset ?? 0) === 0 && (length ?? size) === size;
    this.readsInFlight++;
    // Asked when the read is issued, not now: reads that arrived in the same socket read as this
    // one have all started by then.
    const alone = () => this.readsInFlight === 1;
    try {
      if (whole && checks.direct === true && this.directReads[address.disk]) {
        const known = { ...expected, dataLength: size };
        const read = await this.readDirect(address.disk, path, known, blockChecks, checks.verify);
        if (read !== undefined) return read;
      }
      return await this.readHandles.use(path, (file, notes) =>
        readVerified(file, path, expected, {
          offset,
          length,
          pool,
          blockChecks,
          verify: checks.verify,
          notes,
          alone,
        }),
      );
    } catch (error) {
      // Opened afresh next time: a disk error may be the handle's, a corrupt file may be replaced.
      this.readHandles.drop(path);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        shardErrors.inc({ code: 'SHARD_MISSING' });
        throw new StrataError('SHARD_MISSING', `no shard ${path}`);
      }
      if (error instanceof StrataError) {
        if (error.code === 'SHARD_CORRUPT') shardErrors.inc({ code: error.code });
        throw error;
      }
      throw diskError(error, `reading shard ${path}`);
    } finally {
      this.readsInFlight--;
    }
  }

  // A whole shard read direct into a lease of the read slab (its own descriptor: the cached ones
  // read through the page cache); undefined, for a read through the page cache instead, when the
  // slab has no room, the file has another layout (readWholeVerified), or the disk refuses.
  private async readDirect(
    disk: number,
    path: string,
    expected: ShardExpectation & { dataLength: number },
    blockChecks: boolean,
    verify: BlockVerifier | undefined,
  ): Promise<Leased | undefined> {
    const lease = this.readSlab.lease(wholeFileBytes(expected.dataLength));
    if (lease === undefined) return undefined;
    // Released once whoever ends its use first calls (as releaseOnce does for pooled buffers):
    // a lease released twice fails an assertion.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      lease.release();
    };
    const into = { data: lease.buffer, release };
    let file: ShardFile;
    try {
      file = this.synchronousReads
        ? openSynchronous(path, DIRECT_READ)
        : await open(path, DIRECT_READ);
    } catch (error) {
      into.release();
      throw error;
    }
    try {
      return await readWholeVerified(file, path, expected, into, blockChecks, verify);
    } catch (error) {
      // readWholeVerified gave the lease back.
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
      this.directReads[disk] = false;
      this.log.warn('a direct shard read was refused: this disk is read through the page cache', {
        disk,
        path,
        error,
      });
      return undefined;
    } finally {
      // A read-only descriptor's close loses nothing if it fails; throwing here would lose the
      // lease handed to the caller.
      await file.close().catch(() => undefined);
    }
  }

  // Whether a file of the shard is on its disk (being written counts): a rebuild refuses before
  // reading k shards from its peers for a write that put() would refuse anyway.
  async exists(address: ShardAddress): Promise<boolean> {
    const path = this.pathOf(address);
    if (this.writing.has(path)) return true;
    try {
      await stat(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw diskError(error, `looking for shard ${path}`);
    }
  }

  // `olderThanMs`: only a file last written before then goes (false otherwise); a file being
  // written is never taken. The check and the unlink are not one step, but a new file of this
  // shard cannot appear between them while the old one is there (creates are O_EXCL), and one
  // being written is marked from before its create to after its fsync.
  async delete(address: ShardAddress, olderThanMs?: number): Promise<boolean> {
    assert(!this.readOnly, 'a reading store deletes nothing');
    const path = this.pathOf(address);
    if (olderThanMs !== undefined) {
      if (this.writing.has(path)) return false;
      let info: Awaited<ReturnType<typeof stat>>;
      try {
        info = await stat(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw diskError(error, 'looking at a shard before deleting it');
      }
      if (info.mtimeMs >= olderThanMs || this.writing.has(path)) return false;
    }
    this.readHandles.drop(path);
    try {
      await unlink(path);
      this.shardCounts[address.disk] = Math.max(0, this.shardCounts[address.disk] - 1);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw diskError(error, 'deleting a shard');
    }
  }

  // Shards of one disk in (prefix, name) order, for the orphan scrubber. Pages resume after a
  // name, so a scan over a large disk holds one prefix directory listing at a time.
  async list(disk: number, after: string | undefined, limit: number, olderThanMs: number) {
    if (!Number.isInteger(disk) || disk < 0 || disk >= this.disks.length) {
      throw new StrataError('EINVAL', `no disk ${disk} (this server has ${this.disks.length})`);
    }
    const root = join(this.disks[disk], 'shards');
    const shards: Array<{ stripeId: string; shardIndex: number; mtimeMs: number }> = [];
    const prefixes = (await readdir(root)).filter((p) => /^[0-9a-f]{2}$/.test(p)).sort();
    for (const prefix of prefixes) {
      if (after !== undefined && prefix < after.slice(0, 2)) continue;
      const names = (await readdir(join(root, prefix))).sort();
      for (const name of names) {
        if (after !== undefined && name <= after) continue;
        const match = SHARD_NAME.exec(name);
        if (!match) continue;
        const info = await stat(join(root, prefix, name)).catch(() => undefined);
        if (!info || info.mtimeMs >= olderThanMs) continue;
        shards.push({ stripeId: match[1], shardIndex: Number(match[2]), mtimeMs: info.mtimeMs });
        if (shards.length === limit) return { shards, next: name };
      }
    }
    return { shards };
  }

  async status(): Promise<DiskStatus[]> {
    return Promise.all(
      this.disks.map(async (path, disk) => {
        try {
          // A disk swapped under a running server (its identity gone or another) is not the
          // disk this server prepared: offline until a restart prepares the new one.
          if ((await readFile(join(path, DISK_ID_FILE), 'utf8')).trim() !== this.diskIds[disk])
            throw new Error('another disk');
          const fs = await statfs(path);
          const totalBytes = fs.blocks * fs.bsize;
          const freeBytes = fs.bavail * fs.bsize;
          diskFreeBytes.set({ disk: String(disk) }, freeBytes);
          diskTotalBytes.set({ disk: String(disk) }, totalBytes);
          diskOnline.set({ disk: String(disk) }, 1);
          const usedBytes = totalBytes - fs.bfree * fs.bsize;
          return {
            disk,
            path,
            totalBytes,
            freeBytes,
            usedBytes,
            shardCount: this.shardCounts[disk],
            online: true,
            diskId: this.diskIds[disk],
          };
        } catch {
          diskOnline.set({ disk: String(disk) }, 0);
          return {
            disk,
            path,
            totalBytes: 0,
            freeBytes: 0,
            usedBytes: 0,
            shardCount: 0,
            online: false,
          };
        }
      }),
    );
  }

  // Closes the shard files kept open for reads.
  close(): Promise<void> {
    return this.readHandles.close();
  }

  isBeingWritten(path: string): boolean {
    return this.writing.has(path);
  }

  pathOf(address: ShardAddress): string {
    const { disk, stripeId, shardIndex } = address;
    if (!Number.isInteger(disk) || disk < 0 || disk >= this.disks.length) {
      throw new StrataError('EINVAL', `no disk ${disk} (this server has ${this.disks.length})`);
    }
    if (typeof stripeId !== 'string' || !STRIPE_ID.test(stripeId)) {
      throw new StrataError('EINVAL', 'stripe id must be 32 lowercase hex characters');
    }
    if (!Number.isInteger(shardIndex) || shardIndex < 0 || shardIndex > SHARD_INDEX_MAX) {
      throw new StrataError('EINVAL', `shard index must be 0..${SHARD_INDEX_MAX}`);
    }
    return shardPathIn(this.disks[disk], stripeId, shardIndex);
  }

  // Opens a new shard file (O_EXCL). Its prefix directory is known made (made at start, or
  // by an earlier put); one found gone since (a disk directory emptied under the server) is made
  // again, as it would have been before it was known.
  private async create(path: string, flags: string | number): Promise<FileHandle> {
    const dir = dirname(path);
    await this.ensureDirectory(dir);
    try {
      return await open(path, flags, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.directories.delete(dir);
      await this.ensureDirectory(dir);
      return await open(path, flags, 0o600);
    }
  }

  private ensureDirectory(path: string): Promise<void> {
    let ready = this.directories.get(path);
    if (!ready) {
      ready = mkdir(path, { recursive: true, mode: 0o700 }).then(async (created) => {
        // A new directory's own entry must reach the disk too, or the shard inside could vanish.
        if (created !== undefined) await syncDir(dirname(path));
      });
      // A failed attempt (disk full, EIO) is retried by the next put, not remembered.
      ready.catch(() => this.directories.delete(path));
      this.directories.set(path, ready);
    }
    return ready;
  }
}

// The range's bytes, verified. With `pool`, into one of its buffers (a whole shard of known
// size in one read: readWholeVerified; a range, the blocks it touches: readRangeVerified), which
// the caller gives back with `release`; without, a plain buffer with a release that does nothing.
export async function readVerified(
  file: FileHandle,
  name: string,
  expected: ShardExpectation,
  options: {
    offset: number | undefined;
    length: number | undefined;
    pool: BufferPool | undefined;
    blockChecks: boolean;
    verify: BlockVerifier | undefined;
    notes: HandleNotes;
    alone: () => boolean;
  },
): Promise<Leased> {
  const { offset = 0, length, pool, blockChecks, verify, notes, alone } = options;
  const size = expected.dataLength;
  if (size !== undefined && size > 0 && offset === 0 && (length ?? size) === size) {
    const known = { ...expected, dataLength: size };
    const total = wholeFileBytes(size);
    const bytes = pool === undefined ? Buffer.allocUnsafe(total) : pool.acquire(total);
    const into = {
      data: bytes,
      release: pool === undefined ? noRelease : releaseOnce(pool, bytes),
    };
    const whole = await readWholeVerified(file, name, known, into, blockChecks, verify);
    if (whole !== undefined) return whole;
  }
  return readRangeVerified(file, name, expected, offset, length, blockChecks, pool, notes, alone);
}

function noRelease(): void {}

// A range: the shard's header, the blocks the range touches and their CRCs. When the caller
// names the shard's size (every client read does), the three are read at once where a file of
// this version's layout has them (readRangeAtOnce): one thread-pool round trip instead of two in
// a row, the header first. Otherwise, and for a file of another layout, the header is read first.
async function readRangeVerified(
  file: FileHandle,
  name: string,
  expected: ShardExpectation,
  offset: number,
  length: number | undefined,
  blockChecks: boolean,
  pool: BufferPool | undefined,
  notes: HandleNotes,
  alone: () => boolean,
): Promise<Leased> {
  const size = expected.dataLength;
  if (size !== undefined) {
    const known = { ...expected, dataLength: size };
    const atOnce = await readRangeAtOnce(
      file,
      name,
      known,
      { offset, length },
      blockChecks,
      pool,
      notes,
      alone,
    );
    if (atOnce !== undefined) return atOnce;
  }
  const head = Buffer.alloc(SHARD_HEADER_BYTES_MAX);
  const { bytesRead } = await file.read(head, 0, SHARD_HEADER_BYTES_MAX, 0);
  const header = decodeHeader(head.subarray(0, bytesRead), name, expected);
  const span = blockSpan(header, offset, length);
  if (span === undefined) {
    const want = length ?? header.dataLength - offset;
    throw new StrataError(
      'EINVAL',
      `range ${offset}+${want} outside shard of ${header.dataLength} bytes`,
    );
  }
  if (span.want === 0) return { data: Buffer.alloc(0), release: noRelease };
  const blocks = blockBuffers(span, blockChecks, pool);
  try {
    // Both settle before a failure gives the pooled buffer back (see readRangeAtOnce).
    const [dataRead, crcRead] = await Promise.allSettled([
      file.read(blocks.data, 0, blocks.data.length, header.headerBytes + span.blocksStart),
      readCrcs(file, blocks, crcsAt(header, span)),
    ]);
    checkBlockReads(name, header, span, blocks, dataRead, crcRead, blockChecks);
  } catch (error) {
    blocks.release();
    throw error;
  }
  return rangeRead(span, blocks);
}

// readRangeVerified with the header, blocks and CRCs read together at the places a version 2
// file of `expected.dataLength` bytes in SHARD_BLOCK_BYTES blocks has them; undefined (nothing
// held) for a file whose header says another layout, and for a range outside that size, which
// the caller then reads, or refuses, from the header as before.
// The first such read through a handle reads the whole checksum table (4 bytes a 64 KiB block:
// no more read calls than the span's) and leaves the header and the table in the handle's notes;
// later reads through it read their blocks alone. Three reads were three thread-pool round trips,
// most of a 4 KiB random read's CPU on a data server (benches/data-read). Every read still checks
// the header against the address it was asked for, and its blocks against checksums read from
// the file; blocks that fail the noted ones have the header and table read again, so such a read
// ends as one without notes would (a block rotten since, or a file rewritten in place, is judged
// as the file is now). A byte changed in the header or the table after they were read goes unseen
// by these reads (the bytes they return are the ones the file was written with) and is the
// scrubber's to find, whose whole-file reads do not use the notes.
async function readRangeAtOnce(
  file: FileHandle,
  name: string,
  expected: ShardExpectation & { dataLength: number },
  range: { offset: number; length: number | undefined },
  blockChecks: boolean,
  pool: BufferPool | undefined,
  notes: HandleNotes,
  alone: () => boolean,
): Promise<Leased | undefined> {
  const layout = {
    headerBytes: SHARD_HEADER_BYTES_MAX,
    blockSize: SHARD_BLOCK_BYTES,
    dataLength: expected.dataLength,
  };
  const span = blockSpan(layout, range.offset, range.length);
  if (span === undefined || span.want === 0) return undefined;
  if (notes.layout !== undefined) {
    const read = await readRangeNoted(
      file,
      name,
      expected,
      span,
      blockChecks,
      pool,
      notes.layout,
      alone,
    );
    if (read !== undefined) return read;
    // The file disagrees with the notes: they are dropped and the file is read afresh, so the
    // read ends as one without notes would (a file rewritten in place is judged as it is now).
    notes.layout = undefined;
  }
  // Their own memory, not slices of Node's shared pool: the notes keep them.
  const head = Buffer.allocUnsafeSlow(SHARD_HEADER_BYTES_MAX);
  const blocks = blockBuffers(span, false, pool);
  const table = Buffer.allocUnsafeSlow(Math.ceil(layout.dataLength / layout.blockSize) * 4);
  // Every read settles before anything is decided: a pooled buffer is never given back while a
  // read into it is in flight (another request would get it, and this read's bytes).
  const [headRead, dataRead, tableRead] = await Promise.allSettled([
    file.read(head, 0, head.length, 0),
    file.read(blocks.data, 0, blocks.data.length, layout.headerBytes + span.blocksStart),
    file.read(table, 0, table.length, layout.headerBytes + layout.dataLength),
  ]);
  try {
    if (headRead.status === 'rejected') throw headRead.reason;
    const headBytes = head.subarray(0, headRead.value.bytesRead);
    const header = decodeHeader(headBytes, name, expected);
    assert.equal(header.dataLength, layout.dataLength, 'decodeHeader checked the length');
    if (header.headerBytes !== layout.headerBytes || header.blockSize !== layout.blockSize) {
      blocks.release();
      return undefined; // read where this file has them
    }
    assert.equal(header.blockCount * 4, table.length, 'the layout has this many blocks');
    const crcs = table.subarray(span.firstBlock * 4, (span.firstBlock + span.blockCount) * 4);
    const crcRead: SettledRead =
      tableRead.status === 'rejected'
        ? tableRead
        : {
            status: 'fulfilled',
            value: { bytesRead: tableRead.value.bytesRead < table.length ? 0 : crcs.length },
          };
    checkBlockReads(name, header, span, { ...blocks, crcs }, dataRead, crcRead, blockChecks);
    notes.layout = { head: headBytes, crcs: table };
  } catch (error) {
    blocks.release();
    throw error;
  }
  return rangeRead(span, blocks);
}

// readRangeAtOnce's read through a handle's notes: the span's blocks alone, checked against the
// noted header and checksums; undefined (nothing held) when they disagree with the file.
async function readRangeNoted(
  file: FileHandle,
  name: string,
  expected: ShardExpectation & { dataLength: number },
  span: BlockSpan,
  blockChecks: boolean,
  pool: BufferPool | undefined,
  noted: { head: Buffer; crcs: Buffer },
  alone: () => boolean,
): Promise<Leased | undefined> {
  const blocks = blockBuffers(span, false, pool);
  const position = SHARD_HEADER_BYTES_MAX + span.blocksStart;
  const [dataRead] =
    blocks.data.length <= INLINE_READ_BYTES_MAX && alone()
      ? [readInline(file, blocks.data, position)]
      : await Promise.allSettled([file.read(blocks.data, 0, blocks.data.length, position)]);
  try {
    // The notes were taken for a file of this layout; the address and length are checked again.
    const header = decodeHeader(noted.head, name, expected);
    const crcs = noted.crcs.subarray(span.firstBlock * 4, (span.firstBlock + span.blockCount) * 4);
    const crcRead: SettledRead = { status: 'fulfilled', value: { bytesRead: crcs.length } };
    checkBlockReads(name, header, span, { ...blocks, crcs }, dataRead, crcRead, blockChecks);
  } catch (error) {
    blocks.release();
    if (error instanceof StrataError && error.code === 'SHARD_CORRUPT') return undefined;
    throw error;
  }
  return rangeRead(span, blocks);
}

type SettledRead = PromiseSettledResult<{ bytesRead: number }>;

// The largest read done on the event loop's thread (readInline): two 64 KiB blocks, a random
// read's span when its range crosses a block boundary.
const INLINE_READ_BYTES_MAX = 2 * SHARD_BLOCK_BYTES;

// A read on this thread (pread), for a small read when no other is in flight: through the thread
// pool, a read costs two thread wake-ups (the pool thread's, then the event loop's for its
// result), which on the 2-core test VM took a 64 KiB read from the page cache from 14 µs to
// 65 µs, while a mount's whole random 4 KiB read is a few hundred (docs/architecture/overview.md,
// "Reads"). Only when alone, so that reads under load still overlap their disk waits in the
// pool. A disk that hangs stalls this thread (not only the pool's threads, which a hung disk
// takes one by one): the server stops answering and heartbeating, and clients hedge around it
// as around any hung server (docs/architecture/healing.md, "Wired: placement").
function readInline(file: FileHandle, into: Buffer, position: number): SettledRead {
  try {
    const bytesRead = readSync(file.fd, into, 0, into.length, position);
    shardReadsInline.inc();
    return { status: 'fulfilled', value: { bytesRead } };
  } catch (error) {
    return { status: 'rejected', reason: error };
  }
}

// A range's two reads, settled: a failed one's error, a short one a truncated shard, else (with
// block checks) the blocks checked against their CRCs. Throws; the caller releases the buffers.
function checkBlockReads(
  name: string,
  header: ShardHeader,
  span: BlockSpan,
  blocks: BlockBuffers,
  dataRead: SettledRead,
  crcRead: SettledRead,
  blockChecks: boolean,
): void {
  if (dataRead.status === 'rejected') throw dataRead.reason;
  if (crcRead.status === 'rejected') throw crcRead.reason;
  const dataBytes = dataRead.value.bytesRead;
  if (dataBytes !== blocks.data.length || crcRead.value.bytesRead !== blocks.crcs.length)
    throw new StrataError('SHARD_CORRUPT', `shard ${name}: truncated`);
  if (blockChecks) verifyBlocks(name, header, span.firstBlock, blocks.data, blocks.crcs);
}

interface BlockSpan {
  offset: number;
  want: number; // bytes of the range
  firstBlock: number;
  blockCount: number;
  blocksStart: number; // the blocks' bytes within the shard's data
  blocksEnd: number;
}

// The blocks a range touches in a shard of this layout; undefined for a range outside the shard.
function blockSpan(
  layout: { blockSize: number; dataLength: number },
  offset: number,
  length: number | undefined,
): BlockSpan | undefined {
  const want = length ?? layout.dataLength - offset;
  const whole = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!whole(offset) || !whole(want) || offset + want > layout.dataLength) return undefined;
  const firstBlock = Math.floor(offset / layout.blockSize);
  const lastBlock = want === 0 ? firstBlock : Math.floor((offset + want - 1) / layout.blockSize);
  const blocksStart = firstBlock * layout.blockSize;
  const blocksEnd = Math.min(layout.dataLength, (lastBlock + 1) * layout.blockSize);
  return {
    offset,
    want,
    firstBlock,
    blockCount: lastBlock - firstBlock + 1,
    blocksStart,
    blocksEnd,
  };
}

// Where a span's CRCs are: after the header and the data, four bytes a block.
function crcsAt(layout: { headerBytes: number; dataLength: number }, span: BlockSpan): number {
  return layout.headerBytes + layout.dataLength + span.firstBlock * 4;
}

// The blocks' CRCs into their buffer; none read without block checks.
function readCrcs(
  file: FileHandle,
  blocks: BlockBuffers,
  at: number,
): Promise<{ bytesRead: number }> {
  if (blocks.crcs.length === 0) return Promise.resolve({ bytesRead: 0 });
  return file.read(blocks.crcs, 0, blocks.crcs.length, at);
}

interface BlockBuffers {
  data: Buffer;
  crcs: Buffer; // empty without block checks
  release: () => void;
}

// With `pool`, the blocks go into one of its buffers (a 4 KiB random read reads a whole 64 KiB
// block to check its CRC: a fresh allocation each made garbage collection 28% of a data
// server's CPU under random reads), given back by the reader on a failure, else by the caller.
function blockBuffers(span: BlockSpan, blockChecks: boolean, pool: BufferPool | undefined) {
  const bytes = span.blocksEnd - span.blocksStart;
  const data = pool === undefined ? Buffer.allocUnsafe(bytes) : pool.acquire(bytes);
  const release = pool === undefined ? noRelease : releaseOnce(pool, data);
  const crcs = Buffer.allocUnsafe(blockChecks ? span.blockCount * 4 : 0);
  return { data, crcs, release } satisfies BlockBuffers;
}

// The verified blocks as the range's bytes, counted.
function rangeRead(span: BlockSpan, blocks: BlockBuffers): Leased {
  shardBytes.inc({ direction: 'read' }, span.want);
  dataReads.inc();
  const from = span.offset - span.blocksStart;
  return { data: blocks.data.subarray(from, from + span.want), release: blocks.release };
}

// A whole shard of known size (a rebuild's source read, a GET of a full stripe):
// header, data and checksums in one read of the file, the data a view of that buffer. Three reads
// (header, data, checksums) were three thread-pool round trips per shard, a visible share of a
// data server's busy time in benches/repair. The read asks for a version 2 file's length, which
// covers a version 1 file's too (its header is shorter); undefined for a file whose blocks are
// of another size than this version writes (its checksums may lie past what was read).
// The file is read into `into.data` (at least wholeFileBytes long; all of it is asked for, so a
// direct read's aligned length stays aligned), which is given back here on every failure and on
// undefined, and otherwise by the caller (the result's release).
async function readWholeVerified(
  file: ShardFile,
  name: string,
  expected: ShardExpectation & { dataLength: number },
  into: Leased,
  blockChecks: boolean,
  verify: BlockVerifier | undefined,
): Promise<Leased | undefined> {
  const { data: bytes, release } = into;
  assert(bytes.length >= wholeFileBytes(expected.dataLength), 'room for the whole file');
  try {
    const { bytesRead } = await file.read(bytes, 0, bytes.length, 0);
    const header = decodeHeader(
      bytes.subarray(0, Math.min(bytesRead, SHARD_HEADER_BYTES_MAX)),
      name,
      expected,
    );
    assert.equal(header.dataLength, expected.dataLength, 'decodeHeader checked the length');
    const dataEnd = header.headerBytes + header.dataLength;
    const crcsEnd = dataEnd + header.blockCount * 4;
    if (crcsEnd > bytes.length) {
      release();
      return undefined;
    }
    if (bytesRead < crcsEnd) throw new StrataError('SHARD_CORRUPT', `shard ${name}: truncated`);
    const data = bytes.subarray(header.headerBytes, dataEnd);
    const crcs = bytes.subarray(dataEnd, crcsEnd);
    if (blockChecks && verify === undefined) verifyBlocks(name, header, 0, data, crcs);
    else if (blockChecks && verify !== undefined) await verify(name, header, data, crcs);
    shardBytes.inc({ direction: 'read' }, data.length);
    dataReads.inc();
    return { data, release };
  } catch (error) {
    release();
    throw error;
  }
}

// The bytes a whole-shard read asks for: a version 2 file of `dataLength` bytes (which covers a
// version 1 file's, whose header is shorter).
function wholeFileBytes(dataLength: number): number {
  return SHARD_HEADER_BYTES_MAX + dataLength + Math.ceil(dataLength / SHARD_BLOCK_BYTES) * 4;
}

// Creates the disk layout (durably), clears what a crash left in the pre-O_EXCL layout's
// <disk>/tmp, and counts the shards already there. Runs once at open, so synchronous I/O is fine.
export const DISK_ID_FILE = 'disk-id';
const DISK_ID = /^[0-9a-f]{32}$/;

function prepareDisk(disk: string): { shardCount: number; diskId: string } {
  rmSync(join(disk, 'tmp'), { recursive: true, force: true });
  const root = join(disk, 'shards');
  const created = mkdirSync(root, { recursive: true, mode: 0o700 });
  // Shard data is for the server's user only (dirs 0700, files 0600); older disks are tightened.
  for (const dir of [disk, root]) chmodSync(dir, 0o700);
  if (created !== undefined) {
    for (let dir = root; dir !== dirname(created); dir = dirname(dir)) syncDirSync(dirname(dir));
  }
  let count = 0;
  const present = new Set<string>();
  for (const prefix of readdirSync(root)) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
    present.add(prefix);
    chmodSync(join(root, prefix), 0o700);
    for (const name of readdirSync(join(root, prefix))) if (SHARD_NAME.test(name)) count++;
  }
  // All 256 prefix directories up front, made durable by one fsync of their parent: made on
  // demand, the first shard into each paid a mkdir and a directory fsync (1,536 of each on a
  // fresh 6-disk server, all within its first few GiB of writes).
  const missing = PREFIXES.filter((prefix) => !present.has(prefix));
  for (const prefix of missing) mkdirSync(join(root, prefix), { mode: 0o700 });
  if (missing.length > 0) syncDirSync(root);
  return { shardCount: count, diskId: diskIdentity(disk) };
}

// The disk's identity, made durably at its first use (written aside, fsynced, renamed, directory
// fsynced): a crash leaves either no identity or a whole one. A disk that already holds shards
// but has none (written before identities existed) gets one too; the cluster adopts the first
// identity it hears for a disk.
function diskIdentity(disk: string): string {
  const path = join(disk, DISK_ID_FILE);
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (DISK_ID.test(id)) return id;
    throw new StrataError('CONFIG_INVALID', `${path} is not a disk identity: remove it`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const id = randomBytes(16).toString('hex');
  const aside = `${path}.tmp`;
  const fd = openSync(aside, 'w', 0o600);
  try {
    writeSync(fd, `${id}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(aside, path);
  syncDirSync(disk);
  return id;
}

// Shard files read direct (ShardStore.readDirect).
const DIRECT_READ = constants.O_RDONLY | constants.O_DIRECT;

// What a whole-shard read uses of its file: a FileHandle (reads in the thread pool), or one
// read on the calling thread (openSynchronous).
type ShardFile = {
  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
};

// A file read with blocking calls on this thread, in the shape readWholeVerified takes. Only a
// thread that does nothing else meanwhile may use it (a data server's repair thread: a 1 MiB
// direct read blocks it a millisecond or two, and its disk request carries that thread's I/O
// class rather than the shared thread pool's).
function openSynchronous(path: string, flags: number): ShardFile {
  const fd = openSync(path, flags);
  return {
    read: async (buffer, offset, length, position) => ({
      bytesRead: readSync(fd, buffer, offset, length, position),
    }),
    close: async () => closeSync(fd),
  };
}

// Shard files written direct: created as 'wx' opens them, past the page cache.
const DIRECT_CREATE =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT;

// The file's bytes (`parts`, `fileBytes` in all) copied into the aligned `staging` buffer (those
// not there already) and written direct. A direct write moves whole blocks, so the last one is
// padded with zeros and the file cut back to its length after. A crash before the cut leaves a
// write never acknowledged (no fsync had run), as a crash mid-write does: its file is longer
// than its header says, which the scrubber reports corrupt (shard-verify.ts) and the orphan
// scrubber deletes when no stripe names it.
async function writeDirect(
  file: FileHandle,
  parts: Buffer[],
  fileBytes: number,
  staging: Buffer,
): Promise<void> {
  const paddedBytes = alignUp(fileBytes);
  assert(staging.length >= paddedBytes, 'the staging buffer holds the padded file');
  let at = 0;
  for (const part of parts) {
    // A part already where it goes (a rebuilt shard coded in place) is not copied onto itself.
    const placed = part.buffer === staging.buffer && part.byteOffset === staging.byteOffset + at;
    at += placed ? part.length : part.copy(staging, at);
  }
  assert.equal(at, fileBytes);
  staging.fill(0, fileBytes, paddedBytes);
  let position = 0;
  while (position < paddedBytes) {
    // A short write (a filling disk) ends on a block boundary; the next says ENOSPC.
    const { bytesWritten } = await file.write(staging, position, paddedBytes - position, position);
    assert(bytesWritten > 0, 'write made progress');
    position += bytesWritten;
  }
  if (paddedBytes !== fileBytes) await file.truncate(fileBytes);
}

// Whether `disk`'s file system takes direct writes from the staging slab: one aligned block
// written to a probe file. EINVAL is the kernel's no (a file system without O_DIRECT, or a block
// size above DIRECT_ALIGN_BYTES); any other error is the disk's and is thrown, as prepareDisk's.
function takesDirectWrites(disk: string, staging: DirectStaging): boolean {
  const lease = staging.lease(DIRECT_ALIGN_BYTES);
  if (lease === undefined) return false;
  const path = join(disk, 'direct-write-probe');
  try {
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT,
      0o600,
    );
    try {
      lease.buffer.fill(0);
      writeSync(fd, lease.buffer, 0, DIRECT_ALIGN_BYTES, 0);
    } finally {
      closeSync(fd);
    }
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
    rmSync(path, { force: true });
    return false;
  } finally {
    lease.release();
  }
}

// writev may write less than asked (a disk filling up does exactly that before it says ENOSPC):
// keep writing the rest, so a short write can never be acknowledged as a whole shard.
async function writeAll(file: FileHandle, buffers: Buffer[]): Promise<void> {
  const totalBytes = buffers.reduce((sum, b) => sum + b.length, 0);
  let rest = buffers.filter((b) => b.length > 0);
  let position = 0;
  while (rest.length > 0) {
    const { bytesWritten } = await file.writev(rest, position);
    assert(bytesWritten > 0, 'writev made progress');
    position += bytesWritten;
    rest = skipBytes(rest, bytesWritten);
  }
  assert.equal(position, totalBytes);
}

function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  let skip = count;
  let i = 0;
  while (i < buffers.length && skip >= buffers[i].length) skip -= buffers[i++].length;
  const rest = buffers.slice(i);
  if (rest.length > 0 && skip > 0) rest[0] = rest[0].subarray(skip);
  return rest;
}

function diskError(error: unknown, what: string): StrataError {
  if (error instanceof StrataError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new StrataError('ENOSPC', `disk full ${what}`, { cause: error });
  // Stripe ids are fresh for every write, so an existing shard means a caller bug, not a retry.
  if (code === 'EEXIST') return new StrataError('EEXIST', `${what}: the shard exists already`);
  return new StrataError('EIO', `${what}: ${(error as Error).message}`, { cause: error });
}
