import assert from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import type { BodyDigests } from '../common/body-digests.ts';
import { isStrataError, StrataError } from '../common/errors.ts';
import { Slots } from '../common/slots.ts';
import type { AtRest } from '../crypto/index.ts';
import { LocalShardReads } from '../data/local-shard-reads.ts';
import type { ReplicationConfig } from '../metadata/bucket-replication-types.ts';
import { isStorableKey } from '../metadata/object-path.ts';
import { RAFT_RPC } from '../metadata/replication/transport.ts';
import { dataReadable, isArchiveClass, storagePolicy } from '../metadata/storage-class.ts';
import {
  type BucketAttr,
  type BucketAttrValue,
  type BucketInfo,
  type Caller,
  type Command,
  type DirEntry,
  type Extent,
  type FileExtent,
  type FileLock,
  type FileObjectLock,
  type InlineExtent,
  type Inode,
  type LifecycleConfig,
  type LifecycleTiming,
  type ListObjectsQuery,
  type ListObjectsResult,
  type ListVersionsQuery,
  type ListVersionsResult,
  type ObjectLockRequest,
  type ObjectLockRule,
  type ObjectMeta,
  type ObjectRead,
  type ObjectVersion,
  type PartInfo,
  type RestoreTier,
  type Retention,
  ROOT_INO,
  type SpecialFormat,
  type StorageClass,
  type UploadInfo,
} from '../metadata/types.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { dataDamagedReads, inlineSpills, inlineWrites } from '../observability/metrics.ts';
import type { RaftStatus } from '../raft/index.ts';
import { RpcClient } from '../rpc/index.ts';
import { checkCustomerKey, newCustomerRecord, sameCustomerKey } from './customer-key.ts';
import { DataPool } from './data-pool.ts';
import { inlineBytes, readFileRange } from './file-reader.ts';
import { fitsInline, hasInline, inlineExtentsOf, writesOfInline } from './inline-data.ts';
import { KmsKeys } from './kms-keys.ts';
import * as locks from './locks.ts';
import { MetadataClient } from './metadata-client.ts';
import { digestPlan, ObjectDigestMismatch, verifyWholeObject } from './object-digest.ts';
import {
  customerTarget,
  forgetKey,
  type SseFields,
  type SseTarget,
  sseTarget,
  withSse,
} from './object-sse.ts';
import { joinPath, parentAndName, splitPath, toBucketKey } from './paths.ts';
import { type Reencoded, reencode, shardBytesOf } from './reencode.ts';
import { type RewrittenSource, rewriteCopy, rewriteSealed } from './sealed-copy.ts';
import type { SendTracker } from './send-tracker.ts';
import { readStripeDataParts } from './stripe-crypt.ts';
import { deleteStripeShards, type ErasureParams, writeStripe } from './stripe-io.ts';
import { toExtents, writeStream, writeStreamOrInline } from './stripe-writer.ts';
import type {
  Body,
  ByteRange,
  ClusterStatus,
  CompleteOptions,
  CopyOptions,
  FileHandle,
  GetObjectResult,
  LeaseSink,
  ObjectReadFound,
  PutObjectOptions,
  PutObjectResult,
  StrataClientApi,
  VersionChange,
} from './types.ts';
import type { UserCredentials } from './user-login.ts';

export interface StrataClientOptions {
  metadataAddrs: string[];
  caller?: Caller;
  log?: Logger;
  maxObjectSizeBytes?: number;
  // Encryption at rest: the master keys, and whether new stripes are sealed (stripe-crypt.ts).
  atRest?: AtRest;
  // Act as this user (its access key): the namespace is then limited to its buckets.
  user?: UserCredentials;
  // Read shards of data servers on this machine straight from their disks
  // (src/data/local-shard-reads.ts); off: every shard read asks its server.
  localReads?: boolean;
}

const ROOT_CALLER: Caller = { uid: 0, gid: 0 };
const MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;
const PART_SIZE_BYTES_MAX = 5 * 1024 ** 3;
// Stripes all writes of one client may have in flight together (each ~1.5 × k × shard size of
// buffers: 48 × 6 MiB ≈ 300 MiB with the defaults). Uploads beyond that wait, and their sockets
// stop being read, which pushes back on the senders.
const STRIPES_IN_FLIGHT_PER_CLIENT_MAX = 48;
const DIRECTORY_PAGE = 1000;
// Commits made again after an INLINE_LIMIT or a spill's lost race: each retry follows a change
// by another client to the same small file, so a few suffice; more means a livelock to report.
const INLINE_RETRIES_MAX = 5;
// How long a client reads objects the older way after a leader lacked objectRead.
const OBJECT_READ_RETRY_MS = 60_000;

type CommandBody<C> = C extends Command ? Omit<C, 'nowMs'> : never;

// A name made by an inode-based call: the new (or linked) inode, and its directory as changed
// (absent for a bucket, made at the top level).
export interface NewEntry {
  inode: Inode;
  parent: Inode | undefined;
}

// An archived version (GLACIER, DEEP_ARCHIVE) is read only while restored (storage-class.ts).
function refuseArchived(inode: Inode): void {
  if (dataReadable(inode.object, Date.now())) return;
  throw new StrataError(
    'INVALID_OBJECT_STATE',
    `The operation is not valid for the object's storage class (${inode.object?.storageClass})`,
  );
}

function newEntry(result: { inode?: Inode; parent?: Inode }): NewEntry {
  assert(result.inode !== undefined, 'a namespace command returns its inode');
  return { inode: result.inode, parent: result.parent };
}

// The one client library: namespace operations go to the metadata service, bytes go to the data
// servers as erasure-coded stripes, and a write becomes visible only when its metadata commits.
export class StrataClient implements StrataClientApi {
  readonly metadata: MetadataClient;
  private readonly pool: DataPool;
  private readonly caller: Caller;
  private readonly log: Logger;
  private readonly maxObjectSizeBytes: number;
  private readonly stripeSlots = new Slots(STRIPES_IN_FLIGHT_PER_CLIENT_MAX);
  // The built-in KMS's keys (SSE-KMS), usable by a process that holds the master keys.
  readonly kms: KmsKeys | undefined;

  constructor(options: StrataClientOptions) {
    this.metadata = new MetadataClient(options.metadataAddrs, { user: options.user });
    this.caller = options.caller ?? ROOT_CALLER;
    this.log = options.log ?? silentLogger;
    const ring = options.atRest?.ring;
    this.kms = ring === undefined ? undefined : new KmsKeys(this.metadata, ring);
    const atRest = options.atRest && { ...options.atRest, kms: this.kms };
    this.pool = new DataPool(this.metadata, {
      log: this.log,
      atRest,
      ...(options.localReads === true ? { localReads: new LocalShardReads() } : {}),
    });
    this.maxObjectSizeBytes = options.maxObjectSizeBytes ?? 5 * 1024 ** 4;
  }

  // The proposer stamps time; the state machine never reads a clock.
  private apply(command: CommandBody<Command>) {
    return this.metadata.apply({ ...command, nowMs: Date.now() } as Command);
  }

  private async erasure(): Promise<ErasureParams> {
    return (await this.metadata.config()).erasure;
  }

  // How a storage class's stripes are written: its code and pool (src/metadata/storage-class.ts).
  private async classParams(storageClass?: StorageClass): Promise<ErasureParams> {
    const config = await this.metadata.config();
    const policy = storagePolicy(config, storageClass);
    const params: ErasureParams = {
      k: policy.k,
      m: policy.m,
      shardSizeBytes: config.erasure.shardSizeBytes,
    };
    if (policy.pool !== undefined) params.pool = policy.pool;
    return params;
  }

  async stat(path: string): Promise<Inode> {
    const inode = await this.metadata.read('resolvePath', joinPath(splitPath(path)));
    if (!inode) throw new StrataError('ENOENT', `no such file or directory: ${path}`);
    return inode;
  }

  async lookup(parentIno: number, name: string): Promise<Inode> {
    const inode = await this.metadata.read('lookup', parentIno, name);
    if (!inode) throw new StrataError('ENOENT', `no entry ${name} in directory ${parentIno}`);
    return inode;
  }

  async getattr(ino: number): Promise<Inode> {
    const inode = await this.metadata.read('getattr', ino);
    if (!inode) throw new StrataError('ENOENT', `no inode ${ino}`);
    return inode;
  }

  // The Object Lock of the version the live file holds (undefined: none to enforce).
  fileLock(ino: number): Promise<FileObjectLock | undefined> {
    return this.metadata.read('fileLock', ino);
  }

  async mkdir(path: string, options: { mode?: number; recursive?: boolean; caller?: Caller } = {}) {
    const parts = splitPath(path);
    if (parts.length === 0) throw new StrataError('EEXIST', 'the root exists');
    const caller = options.caller ?? this.caller;
    let parentIno = ROOT_INO;
    let last: Inode | undefined;
    for (const [depth, name] of parts.entries()) {
      const isTarget = depth === parts.length - 1;
      const existing = await this.metadata.read('lookup', parentIno, name);
      if (existing && (!isTarget || options.recursive)) {
        if (existing.type !== 'dir')
          throw new StrataError(
            'ENOTDIR',
            `${joinPath(parts.slice(0, depth + 1))} is not a directory`,
          );
        parentIno = existing.ino;
        last = existing;
        continue;
      }
      if (!isTarget && !options.recursive)
        throw new StrataError(
          'ENOENT',
          `no such directory: ${joinPath(parts.slice(0, depth + 1))}`,
        );
      last = (await this.mkdirAt(parentIno, name, options.mode ?? 0o755, caller)).inode;
      parentIno = last.ino;
    }
    return last as Inode;
  }

  // A directory directly under the root is a bucket: it gets a bucket record too.
  async mkdirAt(parent: number, name: string, mode: number, caller: Caller): Promise<NewEntry> {
    if (parent === ROOT_INO) {
      await this.apply({ op: 'createBucket', name, owner: String(caller.uid), caller });
      return { inode: await this.lookup(ROOT_INO, name), parent: undefined };
    }
    return newEntry(await this.apply({ op: 'mkdir', parent, name, mode, caller }));
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const dir = await this.stat(path);
    if (dir.type !== 'dir') throw new StrataError('ENOTDIR', `not a directory: ${path}`);
    return this.readdirIno(dir.ino);
  }

  async readdirIno(ino: number): Promise<DirEntry[]> {
    const dir = { ino };
    const entries: DirEntry[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.metadata.read('readdir', dir.ino, after, DIRECTORY_PAGE);
      entries.push(...page);
      if (page.length < DIRECTORY_PAGE) return entries;
      after = page[page.length - 1].name;
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const src = parentAndName(from);
    const dst = parentAndName(to);
    const [srcParent, dstParent] = await Promise.all([
      this.stat(src.parent),
      this.stat(dst.parent),
    ]);
    await this.apply({
      op: 'rename',
      srcParent: srcParent.ino,
      srcName: src.name,
      dstParent: dstParent.ino,
      dstName: dst.name,
    });
  }

  async unlink(path: string): Promise<void> {
    const { parent, name } = parentAndName(path);
    await this.apply({ op: 'unlink', parent: (await this.stat(parent)).ino, name });
  }

  async rmdir(path: string): Promise<void> {
    const parts = splitPath(path);
    if (parts.length === 1) return this.deleteBucket(parts[0]);
    const { parent, name } = parentAndName(path);
    await this.apply({ op: 'rmdir', parent: (await this.stat(parent)).ino, name });
  }

  async writeFile(path: string, body: Body, options: { mode?: number; caller?: Caller } = {}) {
    const { bucket, key } = toBucketKey(path);
    const result = await this.putObject(bucket, key, body, {
      object: { userMeta: {} },
      caller: options.caller,
    });
    return result.inode;
  }

  readFile(path: string, range?: ByteRange): AsyncIterable<Buffer> {
    const self = this;
    return (async function* () {
      const inode = await self.stat(path);
      if (inode.type !== 'file') throw new StrataError('EISDIR', `not a file: ${path}`);
      refuseArchived(inode);
      // Not a stripe-level failure but the file's own: the message names it and says why.
      if (inode.object?.sseCustomer !== undefined) {
        throw new StrataError(
          'CUSTOMER_KEY_REQUIRED',
          `${path} is an S3 object encrypted with a customer-provided key (SSE-C): only an S3 ` +
            'request carrying that key can read it',
        );
      }
      const { offset, length } = clampRange(inode.size, range);
      yield* self.reportingDamage(
        readFileRange(self.metadata, self.pool, inode.ino, offset, length, self.log),
        { path },
      );
    })();
  }

  async create(
    path: string,
    options: { mode?: number; exclusive?: boolean; caller?: Caller } = {},
  ) {
    const { parent, name } = parentAndName(path);
    const dir = await this.stat(parent);
    const result = await this.apply({
      op: 'create',
      parent: dir.ino,
      name,
      mode: options.mode ?? 0o644,
      caller: options.caller ?? this.caller,
      exclusive: options.exclusive ?? false,
    });
    return result.inode as Inode;
  }

  async open(path: string): Promise<FileHandle> {
    const inode = await this.stat(path);
    if (inode.type !== 'file')
      throw new StrataError(inode.type === 'dir' ? 'EISDIR' : 'EINVAL', `not a file: ${path}`);
    const ino = inode.ino;
    return {
      ino,
      read: (offset, length) => this.read(ino, offset, length),
      write: (offset, data) => this.write(ino, offset, data),
      truncate: (size) => this.truncate(ino, size),
      stat: () => this.getattr(ino),
    };
  }

  async write(ino: number, offset: number, data: Buffer): Promise<Inode> {
    if (offset < 0 || !Number.isSafeInteger(offset))
      throw new StrataError('EINVAL', `bad offset ${offset}`);
    const params = await this.erasure();
    const capacity = params.k * params.shardSizeBytes;
    const stripes = [];
    for (let at = 0; at < data.length; at += capacity) {
      stripes.push(
        await writeStripe(
          this.pool,
          params,
          data.subarray(at, Math.min(data.length, at + capacity)),
          this.log,
        ),
      );
    }
    return this.commitWrite(ino, toExtents(stripes, offset));
  }

  async read(ino: number, offset: number, length: number): Promise<Buffer> {
    return this.readAt(ino, offset, length, (await this.getattr(ino)).size);
  }

  async readParts(ino: number, offset: number, length: number): Promise<Buffer[]> {
    return this.readAtParts(ino, offset, length, (await this.getattr(ino)).size);
  }

  // As readParts, plain stripes' bytes in pooled buffers: `release` gives them back once nothing
  // reads the parts (nor any view of them) any more. Fresh buffers for every byte read made a
  // sequential reader's mount spend 40% of its busy time collecting them (external memory
  // counts towards V8's limit: a full collection every few tens of MiB read).
  async readPartsLeased(
    ino: number,
    offset: number,
    length: number,
  ): Promise<{ parts: Buffer[]; release: () => void }> {
    const sizeBytes = (await this.getattr(ino)).size;
    const leases: Array<() => void> = [];
    const release = () => {
      for (const lease of leases.splice(0)) lease();
    };
    let parts: Buffer[];
    try {
      parts = await this.readAtParts(ino, offset, length, sizeBytes, (_parts, lease) =>
        leases.push(lease),
      );
    } catch (error) {
      release();
      throw error;
    }
    return { parts, release };
  }

  truncate(ino: number, size: number): Promise<Inode> {
    return this.setattr(ino, { size });
  }

  // Inode-based namespace calls (the FUSE mount names things by parent inode and name), beside
  // mkdirAt above and unlinkAt / renameAt (locks.ts).
  async createAt(
    parent: number,
    name: string,
    mode: number,
    caller: Caller,
    exclusive: boolean,
    saveToken?: string,
  ): Promise<NewEntry> {
    const result = await this.apply({
      op: 'create',
      parent,
      name,
      mode,
      caller,
      exclusive,
      saveToken,
    });
    return newEntry(result);
  }

  async symlinkAt(parent: number, name: string, target: string, caller: Caller): Promise<NewEntry> {
    return newEntry(await this.apply({ op: 'symlink', parent, name, target, caller }));
  }

  async mknodAt(
    parent: number,
    name: string,
    mode: number,
    special: { format: SpecialFormat; rdev: number },
    caller: Caller,
  ): Promise<NewEntry> {
    return newEntry(await this.apply({ op: 'mknod', parent, name, mode, ...special, caller }));
  }

  async linkAt(ino: number, parent: number, name: string): Promise<NewEntry> {
    return newEntry(await this.apply({ op: 'link', ino, parent, name }));
  }

  async rmdirAt(parent: number, name: string): Promise<void> {
    if (parent === ROOT_INO) return this.deleteBucket(name);
    await this.apply({ op: 'rmdir', parent, name });
  }

  async setattr(
    ino: number,
    changes: {
      mode?: number;
      uid?: number;
      gid?: number;
      size?: number;
      atimeMs?: number;
      mtimeMs?: number;
      saveToken?: string; // a size change's save (versioned buckets: see commitWrite)
    },
  ): Promise<Inode> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.apply({ op: 'setattr', ino, ...changes });
        return result.inode as Inode;
      } catch (error) {
        // Growing an inline file past the threshold: its bytes go into stripes first.
        if (!isStrataError(error, 'INLINE_LIMIT') || attempt >= INLINE_RETRIES_MAX) throw error;
        await this.spillInline(ino, changes.saveToken);
      }
    }
  }

  async setxattr(ino: number, name: string, value: Uint8Array): Promise<Inode> {
    const result = await this.apply({ op: 'setxattr', ino, name, value });
    return result.inode as Inode;
  }

  async removexattr(ino: number, name: string): Promise<Inode> {
    const result = await this.apply({ op: 'removexattr', ino, name });
    return result.inode as Inode;
  }

  async punchHole(ino: number, offset: number, length: number, saveToken?: string): Promise<Inode> {
    const result = await this.apply({ op: 'punch', ino, offset, length, saveToken });
    return result.inode as Inode;
  }

  getattrMany(inos: number[]): Promise<Array<Inode | null>> {
    return this.metadata.read('getattrMany', inos);
  }

  extents(ino: number, offset: number, length: number): Promise<FileExtent[]> {
    return this.metadata.read('extents', ino, offset, length);
  }

  // A write in two steps, so a writer can overlap the next stripes' data with this commit:
  // stageWrites stores the bytes of any number of writes (at any offsets, later ones over
  // earlier ones) durably but invisibly, packed into as few stripes as they fill; commitWrite
  // makes them the file's content in one metadata command. Commits of one file must be issued
  // in write order.
  // `packed`, when given, already holds the writes' bytes back to back (their data are views of it).
  // `sends`: the caller keeps `packed` unchanged until this tracker is idle (after this settles),
  // so full stripes' data shards are views of it, not copies (writeStripe's dataOwned).
  async stageWrites(
    writes: Array<{ offset: number; data: Buffer }>,
    packed?: Buffer,
    sends?: SendTracker,
  ): Promise<Extent[]> {
    for (const w of writes) {
      if (w.offset < 0 || !Number.isSafeInteger(w.offset + w.data.length))
        throw new StrataError('EINVAL', `bad offset ${w.offset}`);
    }
    const params = await this.erasure();
    const capacity = params.k * params.shardSizeBytes;
    packed ??= writes.length === 1 ? writes[0].data : Buffer.concat(writes.map((w) => w.data));
    const stripes = [];
    for (let at = 0; at < packed.length; at += capacity) {
      const release = await this.stripeSlots.acquire();
      try {
        const part = packed.subarray(at, Math.min(packed.length, at + capacity));
        const owned = sends === undefined ? {} : { dataOwned: true, sends };
        stripes.push(await writeStripe(this.pool, params, part, this.log, owned));
      } finally {
        release();
      }
    }
    const extents: Extent[] = [];
    let packedAt = 0;
    for (const w of writes) {
      for (let done = 0; done < w.data.length; ) {
        const stripe = stripes[Math.floor(packedAt / capacity)];
        const stripeOffset = packedAt % capacity;
        const length = Math.min(w.data.length - done, capacity - stripeOffset);
        const last = extents[extents.length - 1];
        const fileOffset = w.offset + done;
        if (
          last?.stripe === stripe &&
          last.fileOffset + last.length === fileOffset &&
          last.stripeOffset + last.length === stripeOffset
        ) {
          last.length += length; // an append to the previous write: one extent
        } else {
          extents.push({ fileOffset, length, stripe, stripeOffset });
        }
        done += length;
        packedAt += length;
      }
    }
    return extents;
  }

  // Reads [offset, offset + length) given the file's extents (in file order, as `extents`
  // returns them), so a reader that keeps a file's layout pays one data round trip per read.
  // Bytes no extent covers are zeros; the caller clamps the range to the size.
  async readFromExtents(extents: FileExtent[], offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    const end = offset + length;
    let lo = 0;
    let hi = extents.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (extents[mid].fileOffset + extents[mid].length <= offset) lo = mid + 1;
      else hi = mid;
    }
    const reads: Array<Promise<void>> = [];
    const named = { offset, length }; // the caller knows the file; the error names the stripe
    for (let i = lo; i < extents.length && extents[i].fileOffset < end; i++) {
      const e = extents[i];
      const from = Math.max(offset, e.fileOffset);
      const to = Math.min(end, e.fileOffset + e.length);
      if (e.inline !== undefined) {
        inlineBytes(e, from, to - from).copy(out, from - offset);
        continue;
      }
      const inStripe = e.stripeOffset + (from - e.fileOffset);
      // Each part straight into its place: no joined copy of the range first.
      reads.push(
        readStripeDataParts(
          this.pool,
          { atRest: this.pool.atRest },
          e.stripe,
          { offset: inStripe, length: to - from },
          this.log,
        ).then((parts) => {
          let at = from - offset;
          for (const part of parts) at += part.copy(out, at);
          assert.equal(at, to - offset, 'the parts fill the range');
        }),
      );
    }
    await Promise.all(reads).catch((error) => this.damageSeen(error, named));
    return out;
  }

  // Reads [offset, offset + length) of a file whose size the caller just read (no getattr).
  async readAt(ino: number, offset: number, length: number, sizeBytes: number): Promise<Buffer> {
    const parts = await this.readAtParts(ino, offset, length, sizeBytes);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  // As readAt, the bytes in the parts the stripe reads gave (in order, none empty), not joined:
  // a reader that writes them out with one writev (the mount's replies) spares a copy of every
  // byte and an allocation the size of the range.
  // `leases`: plain stripes' bytes come in pooled buffers, handed here with their releases
  // (readFileRange).
  async readAtParts(
    ino: number,
    offset: number,
    length: number,
    sizeBytes: number,
    leases?: LeaseSink,
  ): Promise<Buffer[]> {
    const clamped = clampRange(sizeBytes, { offset, length });
    const parts: Buffer[] = [];
    const body = readFileRange(
      this.metadata,
      this.pool,
      ino,
      clamped.offset,
      clamped.length,
      this.log,
      undefined,
      undefined,
      leases,
    );
    for await (const chunk of this.reportingDamage(body, { ino }))
      if (chunk.length > 0) parts.push(chunk);
    return parts;
  }

  // stageWrites, or for a batch that leaves the file within the inline threshold (the file
  // believed `sizeBytes` long), the writes as inline extents: nothing to store before the commit.
  async stageFileWrites(
    writes: Array<{ offset: number; data: Buffer }>,
    packed: Buffer | undefined,
    sizeBytes: number,
    sends?: SendTracker,
  ): Promise<FileExtent[]> {
    const end = Math.max(0, ...writes.map((w) => w.offset + w.data.length));
    if (fitsInline(this.inlineMaxBytes(await this.erasure()), sizeBytes, end))
      return inlineExtentsOf(writes);
    return this.stageWrites(writes, packed, sends);
  }

  // `saveToken`: the save (a mount's open-for-write of the file) these writes belong to; in a
  // versioned bucket all of one save's commits make one version.
  // A commit the state machine refuses for the inline threshold (INLINE_LIMIT) is made again:
  // inline extents of a file that is larger than this writer knew are stored as stripes, and a
  // file growing past the threshold has its inline bytes spilled first.
  async commitWrite(ino: number, extents: FileExtent[], saveToken?: string): Promise<Inode> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.apply({ op: 'write', ino, extents, saveToken });
        if (hasInline(extents)) inlineWrites.inc({ view: 'posix' });
        return result.inode as Inode;
      } catch (error) {
        const retry = isStrataError(error, 'INLINE_LIMIT') && attempt < INLINE_RETRIES_MAX;
        // After a timeout the command may yet have been applied: leave the stripes to the
        // scrubber rather than delete bytes a file may reference.
        if (!retry && !String((error as { code?: string }).code).startsWith('RPC_'))
          await this.discardExtents(extents);
        if (!retry) throw error;
        if (hasInline(extents)) extents = await this.stageWrites(writesOfInline(extents));
        else await this.spillInline(ino, saveToken);
      }
    }
  }

  // Moves a file's inline bytes into stripes, so it can grow past the threshold. The bytes are
  // read with the file's ctime before them, and the command applies only if the ctime is still
  // that one: a write of another client in between is never overwritten by the old bytes.
  private async spillInline(ino: number, saveToken?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const inode = await this.getattr(ino);
      const limit = Math.max(1, (await this.erasure()).inlineMaxBytes ?? 0);
      const inline = (await this.extents(ino, 0, limit)).filter((e) => e.inline !== undefined);
      if (inline.length === 0) return;
      const extents = await this.stageWrites(writesOfInline(inline));
      try {
        await this.apply({
          op: 'write',
          ino,
          extents,
          saveToken,
          ifCtimeMs: inode.ctimeMs,
          ifInline: inline as InlineExtent[],
        });
        inlineSpills.inc();
        return;
      } catch (error) {
        if (!String((error as { code?: string }).code).startsWith('RPC_'))
          await this.discardExtents(extents);
        if (!isStrataError(error, 'PRECONDITION_FAILED') || attempt >= INLINE_RETRIES_MAX)
          throw error;
      }
    }
  }

  async createBucket(
    name: string,
    owner: string,
    options: { objectLock?: boolean } = {},
  ): Promise<BucketInfo> {
    const command = { op: 'createBucket' as const, name, owner, caller: this.caller };
    const result = await this.apply({ ...command, objectLock: options.objectLock });
    return result.bucket as BucketInfo;
  }

  async deleteBucket(name: string): Promise<void> {
    await this.apply({ op: 'deleteBucket', name });
  }

  async getBucket(name: string): Promise<BucketInfo> {
    const bucket = await this.metadata.read('getBucket', name);
    if (!bucket) throw new StrataError('NO_SUCH_BUCKET', `no such bucket: ${name}`);
    return bucket;
  }

  listBuckets(): Promise<BucketInfo[]> {
    return this.metadata.read('listBuckets');
  }

  // The regular files below each directory (a bucket's ino: its objects) and their bytes.
  directoryUsage(inos: number[]): Promise<Array<{ files: number; bytes: number }>> {
    return this.metadata.read('directoryUsage', inos);
  }

  async putObject(
    bucket: string,
    key: string,
    body: Body,
    options: PutObjectOptions,
  ): Promise<PutObjectResult> {
    const info = options.bucketInfo ?? (await this.getBucket(bucket));
    assert(info.name === bucket, 'the bucket record given is of the bucket written');
    const params = await this.classParams(options.object.storageClass);
    // SSE-C, SSE-S3 or SSE-KMS, asked for or the bucket's default: sealed whatever encryption at
    // rest says (the state machine refuses the commit otherwise, object-encryption.ts).
    const target = await this.objectTarget(info, options.object, options.customerKey);
    const streamOptions = {
      maxSizeBytes: this.maxObjectSizeBytes,
      log: this.log,
      slots: this.stripeSlots,
      seal: target.seal,
      kms: target.kms,
      customer: target.customer,
      digests: options.digests,
    };
    // An archived class is stripes of its own code on its pool, never inline; an encrypted
    // object (any of the three modes) is never inline either (inlineMaxBytes).
    const inlineMaxBytes = isArchiveClass(options.object.storageClass)
      ? 0
      : this.inlineMaxBytes(await this.erasure(), target.seal);
    const written = await (inlineMaxBytes > 0
      ? writeStreamOrInline(this.pool, { ...params, inlineMaxBytes }, body, streamOptions)
      : writeStream(this.pool, params, body, streamOptions)
    ).finally(() => forgetKey(target));
    const bytesCrc32c = { etag: written.md5Hex, crc32c: written.crc32c };
    const object: ObjectMeta = withSse(
      { ...options.object, etag: written.md5Hex, bytesCrc32c },
      target,
    );
    const result = await this.apply({
      op: 'putObject',
      bucket,
      key,
      size: written.sizeBytes,
      extents: written.extents,
      object,
      caller: options.caller ?? this.caller,
      ifMatch: options.ifMatch,
      ifNoneMatch: options.ifNoneMatch,
      lock: options.lock,
      replicaVersionId: options.replicaVersionId,
    }).catch(async (error) => {
      await this.discardExtents(written.extents);
      throw error;
    });
    if (written.extents.some((e) => e.inline !== undefined)) inlineWrites.inc({ view: 's3' });
    return {
      etag: written.md5Hex,
      size: written.sizeBytes,
      inode: result.inode as Inode,
      versionId: result.versionId,
    };
  }

  // Shards written for a commit that failed are deleted at once rather than left as garbage.
  private async discardExtents(extents: FileExtent[]) {
    const stripes = extents.flatMap((e) => (e.stripe === undefined ? [] : [e.stripe]));
    await Promise.allSettled(stripes.map((stripe) => deleteStripeShards(this.pool, stripe)));
  }

  // The largest file this client writes inline (0: none). Never sealed data: inline bytes sit in
  // plaintext in the metadata, its Raft log and snapshots (docs/guides/security.md), so neither
  // an encrypted object (SSE-S3, SSE-KMS or SSE-C: `sealed`) nor any write while encryption at
  // rest seals new stripes is inline.
  private inlineMaxBytes(erasure: ErasureParams, sealed = false): number {
    if (sealed || this.pool.atRest?.sealNew === true) return 0;
    return erasure.inlineMaxBytes ?? 0;
  }

  // An SSE-KMS upload's parts are sealed under the key it recorded, if it is still enabled.
  private async partKmsKey(object: SseFields) {
    if (object.sse !== 'aws:kms') return undefined;
    if (this.kms === undefined)
      throw new StrataError('ENCRYPTION_KEY_UNAVAILABLE', 'SSE-KMS needs the master key file');
    return this.kms.sealKey(object.kmsKeyId, object.sseContext);
  }

  sealsOnRequest(): boolean {
    return this.pool.atRest !== undefined;
  }

  async headObject(bucket: string, key: string): Promise<Inode> {
    await this.getBucket(bucket);
    if (!isStorableKey(key)) throw new StrataError('ENOENT', `no such key: ${key}`);
    const inode = await this.metadata.read('resolvePath', `/${bucket}/${key}`);
    const isDirKey = key.endsWith('/');
    // Symbolic links and special files (made through the mount) are not objects.
    const isObject = isDirKey ? inode?.type === 'dir' && !inode.implicit : inode?.type === 'file';
    if (!inode || !isObject) {
      throw new StrataError('ENOENT', `no such key: ${key}`);
    }
    return inode;
  }

  async objectVersion(bucket: string, key: string, versionId?: string): Promise<ObjectVersion> {
    return (await this.readObject(bucket, key, { versionId })).version;
  }

  // The bucket and the version in one metadata read (each read waits for the leader's read
  // barrier: a GET made six before, docs/architecture/overview.md "Data path"), with the
  // version's first extents from `dataFrom` when asked, for getObject's `from`.
  async readObject(
    bucket: string,
    key: string,
    options: { versionId?: string; dataFrom?: number } = {},
  ): Promise<ObjectReadFound> {
    const { versionId, dataFrom } = options;
    const read = await this.objectRead(bucket, key, versionId, dataFrom ?? null);
    if (read === undefined) throw new StrataError('NO_SUCH_BUCKET', `no such bucket: ${bucket}`);
    const { version } = read;
    if (version !== undefined) return { ...read, version };
    if (versionId === undefined) throw new StrataError('ENOENT', `no such key: ${key}`);
    throw new StrataError('NO_SUCH_VERSION', `no version ${versionId} of ${key}`);
  }

  // A leader of a version without objectRead (a rolling upgrade that has not reached the
  // metadata members yet) answers EINVAL: the two reads it replaces then, said once a minute.
  private objectReadMissingUntilMs = 0;
  private async objectRead(
    bucket: string,
    key: string,
    versionId: string | undefined,
    dataFrom: number | null,
  ): Promise<ObjectRead | undefined> {
    if (Date.now() >= this.objectReadMissingUntilMs) {
      try {
        return await this.metadata.read('objectRead', bucket, key, versionId, dataFrom);
      } catch (error) {
        if (!isStrataError(error, 'EINVAL') || !error.message.includes('objectRead')) throw error;
        this.log.warn('metadata leader lacks objectRead (older version?): two reads per GET', {
          error,
        });
        this.objectReadMissingUntilMs = Date.now() + OBJECT_READ_RETRY_MS;
      }
    }
    const info = await this.metadata.read('getBucket', bucket);
    if (info === undefined) return undefined;
    return {
      bucket: info,
      version: await this.metadata.read('objectVersion', bucket, key, versionId),
    };
  }

  // `options.archived`: read an archived version without a restore, for the cluster's own
  // copies of it (bucket replication), never for a client's read. `options.leases`: the body's
  // plain stripes come in pooled buffers, handed there with their releases (readFileRange); the
  // body yields those very buffers, so the caller knows each piece by its last part.
  async getObject(
    bucket: string,
    key: string,
    range?: ByteRange,
    versionId?: string,
    options: {
      archived?: boolean;
      customerKey?: Buffer;
      from?: ObjectReadFound;
      leases?: LeaseSink;
    } = {},
  ): Promise<GetObjectResult> {
    const { from } = options;
    const inode =
      from !== undefined
        ? from.version.inode
        : versionId === undefined
          ? await this.headObject(bucket, key)
          : (await this.objectVersion(bucket, key, versionId)).inode;
    if (inode === undefined)
      throw new StrataError('METHOD_NOT_ALLOWED', `version ${versionId} is a delete marker`);
    if (options.archived !== true) refuseArchived(inode);
    const customer = checkCustomerKey(inode.object?.sseCustomer, options.customerKey, 'the object');
    const { offset, length } = clampRange(inode.size, range);
    let body = readFileRange(
      this.metadata,
      this.pool,
      inode.ino,
      offset,
      length,
      this.log,
      customer?.key,
      from?.extents,
      options.leases,
    );
    const plan = digestPlan(inode.object, inode.size);
    if (plan && offset === 0 && length === inode.size) body = verifyWholeObject(body, plan);
    return { inode, body: this.reportingDamage(body, { bucket, key }) };
  }

  // Damaged data is reported here, once per read, where the object or file is known by name:
  // an error log line and strata_data_damaged_reads_total. Lower layers only throw.
  private async *reportingDamage(body: AsyncIterable<Buffer>, name: Record<string, unknown>) {
    try {
      yield* body;
    } catch (error) {
      this.damageSeen(error, name);
    }
  }

  private damageSeen(error: unknown, name: Record<string, unknown>): never {
    if (isStrataError(error, 'DATA_DAMAGED')) {
      const reason = error instanceof ObjectDigestMismatch ? 'checksum_mismatch' : 'stripe_lost';
      dataDamagedReads.inc({ reason });
      this.log.error('object data damaged', { ...name, reason, error });
    }
    throw error;
  }

  async copyObject(
    source: { bucket: string; key: string; versionId?: string },
    bucket: string,
    key: string,
    options: CopyOptions = {},
  ): Promise<{ inode: Inode; versionId?: string }> {
    // The SSE-C keys stay here: the command (and so the Raft log) gets the key id only.
    const {
      caller,
      sse: _s,
      kmsKeyId: _k,
      sseContext: _c,
      bucketKeyEnabled: _b,
      customerKey: _ck,
      sourceCustomerKey: _sk,
      ...rest
    } = options;
    const { rewritten, fields } = await this.copyRewrite(source, bucket, options);
    const result = await this.apply({
      op: 'copyObject',
      srcBucket: source.bucket,
      srcKey: source.key,
      srcVersionId: source.versionId,
      bucket,
      key,
      caller: caller ?? this.caller,
      ...rest,
      ...fields,
      rewritten,
    }).catch(async (error) => {
      if (rewritten) await this.discardExtents(rewritten.extents);
      throw error;
    });
    return { inode: result.inode as Inode, versionId: result.versionId };
  }

  // How a copy stores its bytes (sealed-copy.ts) and the encryption fields of its command
  // (exactly the target's: the bucket default resolved, a KMS key named by its id). SSE-C on
  // either side: the source opened with its key, and the bytes written again under the copy's
  // own encryption, unless the copy uses the source's key (then the stripes are shared and the
  // copy keeps the source's key id).
  private async copyRewrite(
    source: { bucket: string; key: string; versionId?: string },
    bucket: string,
    options: CopyOptions,
  ): Promise<{ rewritten?: RewrittenSource; fields: SseFields }> {
    const version = await this.objectVersion(source.bucket, source.key, source.versionId);
    const record = version.inode?.object?.sseCustomer;
    const { customerKey, sourceCustomerKey } = options;
    // Not a byte of an archived source is read before its restore (the state machine refuses
    // the copy too, on its own clock).
    if (version.inode !== undefined) refuseArchived(version.inode);
    if (isArchiveClass(options.storageClass))
      return this.archiveCopySource(version.inode, await this.getBucket(bucket), options);
    if (record !== undefined && sameCustomerKey(record, customerKey)) {
      checkCustomerKey(record, sourceCustomerKey, 'the copy source');
      return { fields: { sseCustomer: record } };
    }
    const target = await this.objectTarget(await this.getBucket(bucket), options, customerKey);
    try {
      const fields = { ...target.fields };
      if (version.inode === undefined) return { fields }; // a delete marker: the command refuses it
      if (record === undefined && customerKey === undefined)
        return { rewritten: await this.sealedCopySource(version.inode, target), fields };
      const sourceKey = checkCustomerKey(record, sourceCustomerKey, 'the copy source')?.key;
      const rewritten = await rewriteCopy(await this.rewriteDeps(), version.inode, {
        sourceKey,
        target,
      });
      return { rewritten, fields };
    } finally {
      forgetKey(target);
    }
  }

  // A copy into an archive class: the source's bytes (its restored copy's, if archived) written
  // again with the class's code and pool, sealed as the copy's own encryption says. SSE-C on
  // either side is not done yet (the customer's key would have to reach this rewrite).
  private async archiveCopySource(
    source: Inode | undefined,
    info: BucketInfo,
    options: CopyOptions,
  ): Promise<{ rewritten?: RewrittenSource; fields: SseFields }> {
    if (options.customerKey !== undefined || source?.object?.sseCustomer !== undefined)
      throw new StrataError(
        'ENOTSUP',
        `CopyObject into ${options.storageClass} with SSE-C is not implemented by Strata yet`,
      );
    const target = await this.objectTarget(info, options, undefined);
    try {
      const fields = { ...target.fields };
      if (source === undefined) return { fields }; // a delete marker: the command refuses it
      const deps = {
        ...(await this.rewriteDeps()),
        erasure: await this.classParams(options.storageClass),
      };
      return { rewritten: await rewriteCopy(deps, source, { target }), fields };
    } finally {
      forgetKey(target);
    }
  }

  // A copy whose encryption the source's stripes do not have: the bytes written again, sealed as
  // the copy says (sealed-copy.ts); undefined for every other copy (metadata only).
  private async sealedCopySource(
    source: Inode,
    target: SseTarget,
  ): Promise<RewrittenSource | undefined> {
    // An unencrypted copy shares the stripes of any source but an SSE-KMS one: no extent scan.
    if (!target.seal && source.object?.sse !== 'aws:kms') return undefined;
    return rewriteSealed(await this.rewriteDeps(), source, target);
  }

  private async rewriteDeps() {
    return {
      metadata: this.metadata,
      pool: this.pool,
      erasure: await this.erasure(),
      slots: this.stripeSlots,
      log: this.log,
    };
  }

  // A new object's, upload's or copy's encryption (object-sse.ts): SSE-C with the request's key
  // (a new key id, fresh salt) wins over the bucket's default, as on AWS; else SSE-S3 or SSE-KMS
  // as asked, else the bucket's default.
  private async objectTarget(
    info: BucketInfo,
    requested: SseFields,
    customerKey: Buffer | undefined,
  ): Promise<SseTarget> {
    if (customerKey === undefined) return sseTarget(this.kms, info, requested);
    assert(requested.sse === undefined, 'SSE-C never with SSE-S3 or SSE-KMS (the gateway refuses)');
    const { record, seal } = newCustomerRecord(customerKey);
    return customerTarget(record, seal);
  }

  // RestoreObject (src/metadata/ops-storage-class.ts): `delayMs` is the tier's delay, `timing`
  // the length of a day for `days`. Resolves with whether the restore started or extended one.
  async restoreObject(
    bucket: string,
    key: string,
    request: {
      versionId?: string;
      days: number;
      tier: RestoreTier;
      delayMs: number;
      timing: LifecycleTiming;
    },
  ): Promise<{ inode: Inode; restore: 'started' | 'extended' }> {
    const result = await this.apply({ op: 'restoreObject', bucket, key, ...request });
    assert(result.restore !== undefined, 'restoreObject answers what it did');
    return { inode: result.inode as Inode, restore: result.restore };
  }

  // A lifecycle transition of one version (the leader's runner): its data re-encoded under the
  // class's policy, then committed by transitionObject; the new stripes are deleted when the
  // commit is refused (the version changed, or the rules no longer move it).
  async transitionObject(
    target: { bucket: string; key: string; versionId: string },
    storageClass: StorageClass,
    timing: LifecycleTiming,
  ): Promise<Reencoded & { inode: Inode }> {
    const version = await this.objectVersion(target.bucket, target.key, target.versionId);
    const file = version.inode;
    if (file === undefined)
      throw new StrataError('METHOD_NOT_ALLOWED', `${target.versionId} is a delete marker`);
    // Between classes of one policy (STANDARD to STANDARD_IA) no byte moves: only the class.
    if (!isArchiveClass(file.object?.storageClass) && !isArchiveClass(storageClass))
      return this.relabelVersion(target, file, storageClass, timing);
    const done = await this.reencodeFile(file, storageClass);
    return this.commitReencoded(done, {
      op: 'transitionObject',
      ...target,
      ino: file.ino,
      fromStripeIds: done.fromStripeIds,
      storageClass,
      extents: done.extents,
      timing,
    });
  }

  private async relabelVersion(
    target: { bucket: string; key: string; versionId: string },
    file: Inode,
    storageClass: StorageClass,
    timing: LifecycleTiming,
  ): Promise<Reencoded & { inode: Inode }> {
    const read: FileExtent[] = await this.metadata.read('extents', file.ino, 0, file.size, true);
    const extents = read.filter((e): e is Extent => e.stripe !== undefined);
    const fromStripeIds = extents.map((e) => e.stripe.id);
    const result = await this.apply({
      op: 'transitionObject',
      ...target,
      ino: file.ino,
      fromStripeIds,
      storageClass,
      extents: [],
      timing,
      relabel: true,
    });
    const shardBytes = shardBytesOf(extents);
    return {
      fromStripeIds,
      extents,
      shardBytesBefore: shardBytes,
      shardBytesAfter: shardBytes,
      inode: result.inode as Inode,
    };
  }

  // A restore's temporary copy (the leader's restore runner): the archived file's bytes
  // re-encoded as STANDARD stripes on the default pool, committed by commitRestoredCopy if the
  // file still has the stripes read and still waits for the copy; deleted otherwise.
  async copyForRestore(
    file: Inode,
    timing: LifecycleTiming,
  ): Promise<Reencoded & { inode: Inode }> {
    const restore = file.object?.restore;
    assert(restore !== undefined, 'a copy is made for a recorded restore');
    const done = await this.reencodeFile(file, 'STANDARD');
    return this.commitReencoded(done, {
      op: 'commitRestoredCopy',
      ino: file.ino,
      requestedAtMs: restore.requestedAtMs,
      fromStripeIds: done.fromStripeIds,
      extents: done.extents,
      timing,
    });
  }

  // The end of an expired restore: its copy's stripes are collected once this has committed.
  async expireRestoredCopy(ino: number): Promise<Inode> {
    const result = await this.apply({ op: 'expireRestoredCopy', ino });
    return result.inode as Inode;
  }

  // A file's own stripes (an archived file's archive, never its restored copy) read from any k
  // healthy shards each and written again under the class's policy; nothing is committed.
  private async reencodeFile(file: Inode, storageClass: StorageClass): Promise<Reencoded> {
    const read: FileExtent[] = await this.metadata.read('extents', file.ino, 0, file.size, true);
    const extents = read.filter((e): e is Extent => e.stripe !== undefined);
    // The rules never move a version kept inline (lifecycle/decide.ts): nothing to re-encode.
    if (extents.length !== read.length)
      throw new StrataError('EINVAL', `inode ${file.ino} is kept inline`);
    const deps = {
      pool: this.pool,
      slots: this.stripeSlots,
      log: this.log,
      readFromExtents: (e: Extent[], at: number, n: number) => this.readFromExtents(e, at, n),
    };
    // Its bytes keep their encryption (the state machine checks it): SSE-C needs the customer's
    // key, which the cluster never has (the rules never move such a version, lifecycle/decide.ts).
    if (file.object?.sseCustomer !== undefined)
      throw new StrataError('CUSTOMER_KEY_REQUIRED', `inode ${file.ino} is SSE-C: not re-encoded`);
    const params = await this.classParams(storageClass);
    const kms = await this.partKmsKey(file.object ?? {});
    return reencode(deps, file, extents, params, kms).finally(() => kms?.wrapping.key.fill(0));
  }

  private async commitReencoded(
    done: Reencoded,
    command: CommandBody<Extract<Command, { op: 'transitionObject' | 'commitRestoredCopy' }>>,
  ): Promise<Reencoded & { inode: Inode }> {
    const result = await this.apply(command).catch(async (error) => {
      // After a timeout the command may yet have been applied: leave the stripes to the scrubber.
      if (!String((error as { code?: string }).code).startsWith('RPC_'))
        await this.discardExtents(done.extents);
      throw error;
    });
    return { ...done, inode: result.inode as Inode };
  }

  async setObjectTags(
    bucket: string,
    key: string,
    tags: Record<string, string>,
    versionId?: string,
  ): Promise<{ inode: Inode; versionId?: string }> {
    const result = await this.apply({ op: 'setObjectTags', bucket, key, tags, versionId });
    return { inode: result.inode as Inode, versionId: result.versionId };
  }

  async setObjectAcl(bucket: string, key: string, acl: string | null): Promise<Inode> {
    const result = await this.apply({ op: 'setObjectAcl', bucket, key, acl });
    return result.inode as Inode;
  }

  async setBucketAttr(name: string, attr: BucketAttr, value: BucketAttrValue): Promise<BucketInfo> {
    const result = await this.apply({ op: 'setBucketAttr', name, attr, value });
    return result.bucket as BucketInfo;
  }

  async setBucketReplication(name: string, config: ReplicationConfig | null): Promise<BucketInfo> {
    const result = await this.apply({ op: 'setBucketReplication', name, config });
    return result.bucket as BucketInfo;
  }

  async deleteObject(
    bucket: string,
    key: string,
    versionId?: string,
    options: { bypassGovernance?: boolean; replicaVersionId?: string } = {},
  ): Promise<VersionChange> {
    await this.getBucket(bucket);
    const { bypassGovernance, replicaVersionId } = options;
    const command = {
      op: 'deleteObject' as const,
      bucket,
      key,
      versionId,
      bypassGovernance,
      replicaVersionId,
    };
    const result = await this.apply(command);
    return { versionId: result.versionId, deleteMarker: result.deleteMarker };
  }

  async setObjectLockConfig(bucket: string, rule: ObjectLockRule | null): Promise<BucketInfo> {
    const result = await this.apply({ op: 'setObjectLockConfig', name: bucket, rule });
    return result.bucket as BucketInfo;
  }

  async setBucketLifecycle(bucket: string, config: LifecycleConfig | null): Promise<BucketInfo> {
    const result = await this.apply({ op: 'setBucketLifecycle', name: bucket, config });
    return result.bucket as BucketInfo;
  }

  async setObjectRetention(
    bucket: string,
    key: string,
    retention: Retention | null,
    options: { versionId?: string; bypassGovernance?: boolean } = {},
  ): Promise<{ versionId?: string }> {
    await this.getBucket(bucket);
    const result = await this.apply({
      op: 'setObjectRetention',
      bucket,
      key,
      retention,
      ...options,
    });
    return { versionId: result.versionId };
  }

  async setObjectLegalHold(
    bucket: string,
    key: string,
    on: boolean,
    versionId?: string,
  ): Promise<{ versionId?: string }> {
    await this.getBucket(bucket);
    const result = await this.apply({ op: 'setObjectLegalHold', bucket, key, on, versionId });
    return { versionId: result.versionId };
  }

  listObjects(query: ListObjectsQuery): Promise<ListObjectsResult> {
    return this.getBucket(query.bucket).then(() => this.metadata.read('listObjects', query));
  }

  listObjectVersions(query: ListVersionsQuery): Promise<ListVersionsResult> {
    return this.getBucket(query.bucket).then(() => this.metadata.read('listObjectVersions', query));
  }

  async createMultipartUpload(
    bucket: string,
    key: string,
    object: Omit<ObjectMeta, 'etag'>,
    owner: string,
    lock?: ObjectLockRequest,
    options: { customerKey?: Buffer } = {},
  ) {
    const info = await this.getBucket(bucket);
    const uploadId = randomBytes(24).toString('base64url');
    // SSE-C: the upload records the key's id, and each part must carry the same key. Otherwise
    // the bucket's default encryption at creation decides how the parts are written; a KMS key
    // is resolved (and the default key made) now, so every part is sealed under the same one.
    const target = await this.objectTarget(info, object, options.customerKey);
    forgetKey(target);
    const meta = withSse(object, target);
    await this.apply({ op: 'createUpload', uploadId, bucket, key, object: meta, owner, lock });
    return this.getUpload(uploadId);
  }

  async uploadPart(
    uploadId: string,
    partNumber: number,
    body: Body,
    options: {
      checksum?: () => string | undefined;
      customerKey?: Buffer;
      digests?: BodyDigests; // as PutObjectOptions' digests
    } = {},
  ): Promise<PartInfo> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
      throw new StrataError('EINVAL', `part number must be 1..10000, got ${partNumber}`);
    }
    const upload = await this.getUpload(uploadId);
    // Parts are written with the upload's class's policy: its object is made of them.
    const params = await this.classParams(upload.object.storageClass);
    const record = upload.object.sseCustomer;
    const customer = checkCustomerKey(record, options.customerKey, 'the multipart upload');
    const kms = await this.partKmsKey(upload.object);
    const written = await writeStream(this.pool, params, body, {
      maxSizeBytes: PART_SIZE_BYTES_MAX,
      log: this.log,
      slots: this.stripeSlots,
      seal: upload.object.sse !== undefined,
      kms,
      customer,
      digests: options.digests,
    }).finally(() => kms?.wrapping.key.fill(0));
    const part = {
      uploadId,
      partNumber,
      size: written.sizeBytes,
      etag: written.md5Hex,
      extents: written.extents,
      checksum: options.checksum?.(),
    };
    await this.apply({ op: 'putPart', ...part }).catch(async (error) => {
      await this.discardExtents(written.extents);
      throw error;
    });
    return {
      partNumber,
      size: part.size,
      etag: part.etag,
      lastModifiedMs: Date.now(),
      extents: part.extents,
      checksum: part.checksum,
    };
  }

  async completeMultipartUpload(
    uploadId: string,
    parts: Array<{ partNumber: number; etag: string }>,
    options: CompleteOptions = {},
  ): Promise<PutObjectResult> {
    const etag = multipartEtag(parts.map((p) => p.etag));
    const result = await this.apply({
      op: 'completeUpload',
      uploadId,
      parts,
      etag,
      minPartSizeBytes: MIN_PART_SIZE_BYTES,
      caller: this.caller,
      ...options,
    });
    const inode = result.inode as Inode;
    assert(inode?.type === 'file' && inode.object?.etag === etag, 'completeUpload made the object');
    return { etag, size: inode.size, inode, versionId: result.versionId };
  }

  async abortMultipartUpload(uploadId: string): Promise<void> {
    await this.apply({ op: 'abortUpload', uploadId });
  }

  listParts(uploadId: string): Promise<PartInfo[]> {
    return this.getUpload(uploadId).then(() => this.metadata.read('listParts', uploadId));
  }

  async listMultipartUploads(bucket: string): Promise<UploadInfo[]> {
    await this.getBucket(bucket);
    return this.metadata.read('listUploads', bucket);
  }

  async getUpload(uploadId: string): Promise<UploadInfo> {
    const upload = await this.metadata.read('getUpload', uploadId);
    if (!upload) throw new StrataError('NO_SUCH_UPLOAD', `no such upload: ${uploadId}`);
    return upload;
  }

  async clusterStatus(): Promise<ClusterStatus> {
    const servers = await this.pool.refresh(true);
    const config = await this.metadata.config();
    const dataServers = await Promise.all(
      servers.map(async (server) => {
        try {
          const status = await (await this.pool.client(server.serverId)).status();
          return { ...server, reachable: true, disks: status.disks };
        } catch {
          const disks = server.disks.map((d) => ({
            ...d,
            totalBytes: 0,
            freeBytes: 0,
            usedBytes: 0,
            shardCount: 0,
            online: false,
          }));
          return { ...server, reachable: false, disks };
        }
      }),
    );
    const { k, m, shardSizeBytes } = config.erasure;
    const metadataMembers = await this.metadataMembers();
    const leader = metadataMembers.find((member) => member.role === 'leader');
    return {
      dataServers,
      metadata: {
        addr: leader?.addr ?? this.metadata.addrs[0],
        role: leader ? 'leader' : 'unknown',
      },
      metadataMembers,
      erasure: { k, m, stripeSizeBytes: k * shardSizeBytes },
    };
  }

  private async metadataMembers(): Promise<ClusterStatus['metadataMembers']> {
    const { members } = await this.metadata.members();
    const statuses = await Promise.all(
      members.map(async ({ nodeId, addr }) => {
        const rpc = new RpcClient(addr, { connectTimeoutMs: 1_000, defaultTimeoutMs: 2_000 });
        try {
          const reply = await rpc.call<(RaftStatus & { alarms?: string[] }) | null>(
            RAFT_RPC.status,
            {},
          );
          const s = reply.header;
          return s
            ? {
                nodeId,
                addr,
                reachable: true,
                role: s.role,
                term: s.term,
                commitIndex: s.commitIndex,
                appliedIndex: s.appliedIndex,
                alarms: s.alarms ?? [],
              }
            : { nodeId, addr, reachable: false };
        } catch {
          return { nodeId, addr, reachable: false };
        } finally {
          await rpc.close();
        }
      }),
    );
    const leaderCommit = Math.max(
      0,
      ...statuses.map((s) => (s.role === 'leader' ? (s.commitIndex ?? 0) : 0)),
    );
    return statuses.map((s) =>
      s.appliedIndex === undefined
        ? s
        : { ...s, lagEntries: Math.max(0, leaderCommit - s.appliedIndex) },
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.metadata.close();
  }

  // Mount sessions, cluster-wide locks and unlinked open files, for the FUSE mount (locks.ts).
  mountOpen(mountId: string, ttlMs: number, description?: string): Promise<void> {
    return locks.mountOpen(this.metadata, mountId, ttlMs, description);
  }
  mountHeartbeat(mountId: string): Promise<void> {
    return locks.mountHeartbeat(this.metadata, mountId);
  }
  mountClose(mountId: string): Promise<void> {
    return locks.mountClose(this.metadata, mountId);
  }
  setLock(mountId: string, lock: locks.LockSpec): Promise<void> {
    return locks.setLock(this.metadata, mountId, lock);
  }
  getLock(mountId: string, query: locks.LockQuery): Promise<FileLock | undefined> {
    return locks.getLock(this.metadata, mountId, query);
  }
  releaseOrphan(mountId: string, ino: number): Promise<void> {
    return locks.releaseOrphan(this.metadata, mountId, ino);
  }
  // Resolves with the directory as changed.
  unlinkAt(
    parentIno: number,
    name: string,
    options?: { keepForMount?: string },
  ): Promise<Inode | undefined> {
    return locks.unlinkAt(this.metadata, parentIno, name, options);
  }
  renameAt(
    from: { parent: number; name: string },
    to: { parent: number; name: string },
    options?: locks.RenameAtOptions,
  ): Promise<void> {
    return locks.renameAt(this.metadata, from, to, options);
  }
}

// S3's multipart ETag: MD5 of the concatenated binary MD5s of the parts, then "-<count>".
export function multipartEtag(partEtags: string[]): string {
  const hash = createHash('md5');
  for (const etag of partEtags) hash.update(Buffer.from(etag.replaceAll('"', ''), 'hex'));
  return `${hash.digest('hex')}-${partEtags.length}`;
}

function clampRange(size: number, range: ByteRange | undefined): ByteRange {
  if (!range) return { offset: 0, length: size };
  const offset = Math.min(Math.max(0, range.offset), size);
  return { offset, length: Math.max(0, Math.min(range.length, size - offset)) };
}
