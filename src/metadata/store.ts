// Typed access to the LMDB tables. Used inside apply()'s write transaction (where reads see the
// transaction's own writes) and by the reader outside one.
import assert from 'node:assert/strict';
import type { Database } from 'lmdb';
import { StrataError, type StrataErrorCode } from '../common/errors.ts';
import { ChangeJournal, type CommandChanges } from './change-journal.ts';
import { entryAdded, entryRemoved, fileResized } from './dir-usage.ts';
import * as K from './keys.ts';
import { addShardCounts } from './shard-counts.ts';
import type {
  BucketInfo,
  DataServerInfo,
  FileExtent,
  Inode,
  InodeType,
  PartInfo,
  Stripe,
  StripeKeyRecord,
  UploadInfo,
} from './types.ts';

export interface Dirent {
  ino: number;
  type: InodeType;
}

// An extent table entry (keyed by file offset): a stripe range, or inline bytes.
export type StoredExtent =
  | { length: number; stripe: Stripe; stripeOffset: number; inline?: undefined }
  | { length: number; inline: Uint8Array; stripe?: undefined };

// Thrown inside apply() to abort the transaction; becomes { ok: false, code, message }, with
// `delegatedDir` for EDELEGATED and `failedOp` for a dirBatch's op.
export class CommandError extends StrataError {
  readonly delegatedDir: number | undefined;
  failedOp: number | undefined;
  constructor(code: StrataErrorCode, message: string, delegatedDir?: number) {
    super(code, message);
    this.name = 'CommandError';
    this.delegatedDir = delegatedDir;
  }
}

// A directory delegated to a mount session (src/metadata/ops-delegation.ts).
export interface Delegation {
  mountId: string;
  grantedMs: number;
}

export const fail = (code: StrataErrorCode, message: string): never => {
  throw new CommandError(code, message);
};

export class Store {
  // Not readonly: installing a snapshot switches the state machine to another environment.
  db: Database<any, Buffer>;
  // Directories' first links (links.ts, linksOf with a limit of 1), kept for one command's
  // transaction only (the state machine sets and drops it around dispatch): a create walks its
  // directory's link twice, for the usage above it and for its bucket (versioning), and each
  // step of a walk is a cursor over the link index. An entry change forgets its child's links
  // (the only ones it changes).
  linkMemo: Map<number, { parent: number; name: string } | undefined> | undefined;
  // The mount whose dirBatch is being applied (set and dropped around it, as linkMemo): the one
  // client that may change the directories delegated to it. Every entry change, and every change
  // of a directory's own inode, checks the directory's delegation (checkDelegation), so no path
  // (POSIX, S3, lifecycle) changes a delegated directory behind its mount's back.
  actingMount: string | undefined;
  // What the command being applied changed, for the change journal (change-journal.ts): set and
  // dropped around each command, as linkMemo. Every inode and entry write passes here.
  changes: CommandChanges | undefined;
  // The recent commands' changes (in memory; the state machine starts it at its applied index).
  readonly journal = new ChangeJournal(Number.POSITIVE_INFINITY);

  constructor(db: Database<any, Buffer>) {
    this.db = db;
  }

  inode(ino: number): Inode | undefined {
    // Inode numbers come from clients too: one that cannot exist is simply not found.
    if (!Number.isSafeInteger(ino) || ino < 1) return undefined;
    return this.db.get(K.inodeKey(ino)) as Inode | undefined;
  }

  mustInode(ino: number): Inode {
    return this.inode(ino) ?? fail('ENOENT', `no inode ${ino}`);
  }

  // A file's size change reaches the usage of the directories above each of its names.
  // The restore index (K.restoreKey) follows the record here, so no command can forget it.
  putInode(inode: Inode): void {
    if (inode.type === 'dir') this.checkDelegation(inode.ino);
    if (inode.type === 'file') {
      const before = this.inode(inode.ino);
      fileResized(this, inode.ino, before?.size ?? 0, inode.size);
      const had = before?.object?.restore !== undefined;
      const has = inode.object?.restore !== undefined;
      if (has && !had) this.db.putSync(K.restoreKey(inode.ino), true);
      if (had && !has) this.db.removeSync(K.restoreKey(inode.ino));
    }
    this.db.putSync(K.inodeKey(inode.ino), inode);
    this.changes?.inos.add(inode.ino);
  }

  removeInode(ino: number): void {
    const inode = this.inode(ino);
    if (inode?.type === 'dir') this.checkDelegation(ino);
    if (inode?.type === 'file') fileResized(this, ino, inode.size, 0);
    if (inode?.object?.restore !== undefined) this.db.removeSync(K.restoreKey(ino));
    this.db.removeSync(K.inodeKey(ino));
    this.changes?.inos.add(ino);
  }

  // Files with a restore recorded, by inode number after `afterIno`.
  restoringInodes(afterIno: number, limit: number): Inode[] {
    const start = K.restoreKey(Math.max(0, afterIno) + 1);
    const out: Inode[] = [];
    for (const key of this.db.getKeys({ start, end: K.restorePrefixEnd(), limit })) {
      const inode = this.inode(K.inoFromRestoreKey(key as Buffer));
      assert(inode?.object?.restore !== undefined, 'the restore index names restoring files');
      out.push(inode);
    }
    return out;
  }

  // Looks a name up under both of its possible sort names (file "a", directory "a/").
  dirent(parent: number, name: string): (Dirent & { sortName: string }) | undefined {
    if (Buffer.byteLength(name, 'utf8') > K.NAME_BYTES_MAX) return undefined; // cannot exist
    for (const sortName of [name, `${name}/`]) {
      const entry = this.db.get(K.direntKey(parent, sortName)) as Dirent | undefined;
      if (entry) return { ...entry, sortName };
    }
    return undefined;
  }

  // Every entry change keeps the link index (child -> parent and name) in step: links.ts.
  putDirent(parent: number, name: string, entry: Dirent): void {
    this.checkDelegation(parent);
    const key = K.direntKey(parent, K.sortNameOf(name, entry.type === 'dir'));
    const replaced = this.db.get(key) as Dirent | undefined;
    this.linkMemo?.delete(entry.ino);
    if (replaced !== undefined) {
      this.linkMemo?.delete(replaced.ino);
      entryRemoved(this, parent, replaced);
      this.db.removeSync(K.linkKey(replaced.ino, parent, name));
    }
    this.db.putSync(key, entry);
    this.db.putSync(K.linkKey(entry.ino, parent, name), true);
    entryAdded(this, parent, entry);
    this.changes?.entries.push([parent, name]);
  }

  removeDirent(parent: number, sortName: string): void {
    this.checkDelegation(parent);
    const key = K.direntKey(parent, sortName);
    const entry = this.db.get(key) as Dirent | undefined;
    if (entry === undefined) return;
    this.linkMemo?.delete(entry.ino);
    const name = entry.type === 'dir' ? sortName.slice(0, -1) : sortName;
    entryRemoved(this, parent, entry);
    this.db.removeSync(K.linkKey(entry.ino, parent, name));
    this.db.removeSync(key);
    this.changes?.entries.push([parent, name]);
  }

  *dirents(parent: number, fromSortName = '', limit?: number) {
    const range = this.db.getRange({
      start: K.direntStartKey(parent, fromSortName),
      end: K.direntPrefixEnd(parent),
      limit,
    });
    for (const { key, value } of range) {
      const sortName = K.sortNameFromKey(key as Buffer);
      const entry = value as Dirent;
      const name = entry.type === 'dir' ? sortName.slice(0, -1) : sortName;
      yield { sortName, name, ...entry };
    }
  }

  isEmptyDir(ino: number): boolean {
    for (const _ of this.dirents(ino, '', 1)) return false;
    return true;
  }

  // Extents overlapping [offset, offset + length), in file order.
  extents(ino: number, offset: number, length: number): FileExtent[] {
    const out: FileExtent[] = [];
    const end = offset + length;
    const before = this.db.getRange({
      start: K.extentKey(ino, offset),
      end: K.extentPrefix(ino),
      reverse: true,
      limit: 1,
    });
    for (const { key, value } of before) {
      const e = value as StoredExtent;
      const at = K.extentOffsetFromKey(key as Buffer);
      if (at + e.length > offset && at < offset) out.push(this.extentAt(at, e));
    }
    if (length <= 0) return out;
    for (const { key, value } of this.db.getRange({
      start: K.extentKey(ino, offset),
      end: K.extentKey(ino, end),
    })) {
      out.push(this.extentAt(K.extentOffsetFromKey(key as Buffer), value as StoredExtent));
    }
    return out;
  }

  // A stored extent with its stripe's current shard locations (a repair may have moved some).
  extentAt(fileOffset: number, stored: StoredExtent): FileExtent {
    if (stored.inline !== undefined) {
      assert(stored.inline.length === stored.length, 'inline bytes fill their extent');
      return { fileOffset, length: stored.length, inline: stored.inline };
    }
    return { fileOffset, ...stored, stripe: this.currentStripe(stored.stripe) };
  }

  // The stripe with the shard locations a repair recorded (relocateShard), if any. A shard its
  // writer left absent stays absent to readers while the table of absent shards lists it
  // (absent-shards.ts): a repair that moved it, or rebuilt it where it is recorded, dropped it.
  // A stripe whose data key a master key rotation re-wrapped carries the new wrapping.
  currentStripe(written: Stripe): Stripe {
    const stripe = this.withCurrentKey(written);
    const shards = this.db.get(K.stripeShardsKey(stripe.id)) as Stripe['shards'] | undefined;
    if (shards === undefined && stripe.absentShards === undefined) return stripe;
    const { absentShards, ...rest } = stripe;
    const absent = absentShards?.filter(
      (i) => this.db.get(K.absentShardKey(stripe.id, i)) !== undefined,
    );
    const current = shards ?? stripe.shards;
    return absent === undefined || absent.length === 0
      ? { ...rest, shards: current }
      : { ...rest, shards: current, absentShards: absent };
  }

  private withCurrentKey(stripe: Stripe): Stripe {
    if (stripe.encryption === undefined) return stripe;
    const key = this.db.get(K.stripeKeyKey(stripe.id)) as StripeKeyRecord | undefined;
    if (key === undefined) return stripe;
    return { ...stripe, encryption: { ...stripe.encryption, ...key } };
  }

  setStripeKey(stripeId: string, key: StripeKeyRecord): void {
    this.db.putSync(K.stripeKeyKey(stripeId), key);
  }

  setStripeShards(stripeId: string, shards: Stripe['shards']): void {
    this.db.putSync(K.stripeShardsKey(stripeId), shards);
  }

  allExtents(ino: number): FileExtent[] {
    const out: FileExtent[] = [];
    for (const { key, value } of this.db.getRange({
      start: K.extentKey(ino, 0),
      end: K.extentPrefixEnd(ino),
    })) {
      out.push(this.extentAt(K.extentOffsetFromKey(key as Buffer), value as StoredExtent));
    }
    return out;
  }

  putExtent(ino: number, extent: FileExtent): void {
    const { fileOffset, ...stored } = extent;
    this.db.putSync(K.extentKey(ino, fileOffset), stored);
  }

  removeExtent(ino: number, fileOffset: number): void {
    this.db.removeSync(K.extentKey(ino, fileOffset));
  }

  isQueuedForCollection(stripeId: string): boolean {
    return this.db.get(K.gcKey(stripeId)) !== undefined;
  }

  isOrphan(stripeId: string): boolean {
    return this.db.get(K.orphanKey(stripeId)) !== undefined;
  }

  refCount(stripeId: string): number {
    return (this.db.get(K.refKey(stripeId)) as number | undefined) ?? 0;
  }

  // The first reference counts the stripe's shards on their disks, the last release uncounts
  // them where they are now (shard-counts.ts).
  setRefCount(stripe: Stripe, count: number): void {
    const before = this.refCount(stripe.id);
    if (count > 0) {
      this.db.putSync(K.refKey(stripe.id), count);
      if (before === 0) addShardCounts(this, this.currentStripe(stripe).shards, 1);
      return;
    }
    assert(before > 0, `stripe ${stripe.id} released while unreferenced`);
    this.db.removeSync(K.refKey(stripe.id));
    // The collector deletes the shards where they are now, and the relocation goes with the
    // stripe (a collected stripe is never referenced again).
    const current = this.currentStripe(stripe);
    addShardCounts(this, current.shards, -1);
    this.db.putSync(K.gcKey(stripe.id), current);
    this.db.removeSync(K.stripeShardsKey(stripe.id));
    this.db.removeSync(K.stripeKeyKey(stripe.id));
  }

  bucket(name: string): BucketInfo | undefined {
    return this.db.get(K.bucketKey(name)) as BucketInfo | undefined;
  }

  upload(id: string): UploadInfo | undefined {
    return this.db.get(K.uploadKey(id)) as UploadInfo | undefined;
  }

  // Uploads of one bucket (all of them: a scan of the upload table, which is keyed by id).
  uploads(bucket: string): UploadInfo[] {
    const out: UploadInfo[] = [];
    for (const { value } of this.db.getRange({
      start: K.uploadPrefix(),
      end: K.uploadPrefixEnd(),
    })) {
      const upload = value as UploadInfo;
      if (upload.bucket === bucket) out.push(upload);
    }
    return out;
  }

  parts(id: string): PartInfo[] {
    return [...this.db.getRange({ start: K.partPrefix(id), end: K.partPrefixEnd(id) })].map(
      ({ value }) => this.currentPart(value as PartInfo),
    );
  }

  currentPart(part: PartInfo): PartInfo {
    return {
      ...part,
      extents: part.extents.map((e) => ({ ...e, stripe: this.currentStripe(e.stripe) })),
    };
  }

  servers(): DataServerInfo[] {
    return [...this.db.getRange({ start: K.serverPrefix(), end: K.serverPrefixEnd() })].map(
      ({ value }) => value as DataServerInfo,
    );
  }

  delegation(dir: number): Delegation | undefined {
    return this.db.get(K.delegationKey(dir)) as Delegation | undefined;
  }

  // EDELEGATED unless the directory is delegated to no one or to the acting mount.
  checkDelegation(dir: number): void {
    const held = this.delegation(dir);
    if (held !== undefined && held.mountId !== this.actingMount)
      throw new CommandError('EDELEGATED', `directory ${dir} is delegated to a mount`, dir);
  }

  nextCounter(name: string, first: number): number {
    const next = ((this.db.get(K.counterKey(name)) as number | undefined) ?? first - 1) + 1;
    this.db.putSync(K.counterKey(name), next);
    return next;
  }
}
