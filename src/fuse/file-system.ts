// The file-system layer of the mount (go-fuse's `fs/`): FUSE node ids are the metadata inode
// numbers (the root is 1 in both), open handles, write buffering, and each operation as a call
// into the client library. Errors are StrataError codes, turned into errno values in one place
// (errno.ts). Permissions are the kernel's (default_permissions); callers' uid and gid own what
// they create.
import { randomBytes } from 'node:crypto';
import type { NewEntry, StrataClient } from '../client/strata-client.ts';
import { WriteBehind } from '../client/write-behind.ts';
import { type ErrnoCode, StrataError } from '../common/errors.ts';
import { dataReadable, restoreHeader } from '../metadata/storage-class.ts';
import type { Caller, DirEntry, Inode, SpecialFormat } from '../metadata/types.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import {
  fuseHeldDirectories,
  fuseNamespaceChangesLost,
  fuseWriteErrors,
} from '../observability/metrics.ts';
import { DirectoryLeases, LEASE_MS, type LeaseAnswer } from './dir-leases.ts';
import { type Attr, DT, FATTR, NAME_BYTES_MAX } from './protocol.ts';
import { ReadAhead, type ReadResult } from './read-ahead.ts';
import type { SetattrIn } from './requests.ts';
import { applyOverlay, BatchBuffers, DirtyBudget, InodeWriter } from './write-buffer.ts';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const O_ACCMODE = 3;
const O_EXCL = 0o200;
// renameat2(2) flags.
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const HANDLES_MAX = 65_536;
const STATFS_CACHE_MS = 5_000;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.'];
// Read-only attributes the mount derives from a file's object metadata: its storage class, and
// its restore as S3's x-amz-restore says it (src/metadata/storage-class.ts).
const STORAGE_CLASS_XATTR = 'user.strata.storage_class';
const RESTORE_XATTR = 'user.strata.restore';
const DERIVED_XATTRS = [STORAGE_CLASS_XATTR, RESTORE_XATTR];

// File type bits (S_IFMT) of special files, and back.
const SPECIAL_TYPE: Record<SpecialFormat, number> = {
  fifo: 0o010000,
  char: 0o020000,
  block: 0o060000,
  socket: 0o140000,
};
const SPECIAL_FORMAT = new Map<number, SpecialFormat>(
  Object.entries(SPECIAL_TYPE).map(([format, bits]) => [bits, format as SpecialFormat]),
);
const SPECIAL_DT: Record<SpecialFormat, number> = {
  fifo: DT.FIFO,
  char: DT.CHR,
  block: DT.BLK,
  socket: DT.SOCK,
};

function typeBits(inode: Pick<Inode, 'type' | 'format'>): number {
  if (inode.type === 'dir') return S_IFDIR;
  if (inode.type === 'symlink') return S_IFLNK;
  if (inode.type === 'special') return SPECIAL_TYPE[inode.format ?? 'fifo'];
  return S_IFREG;
}

export function attrOf(inode: Inode, size = inode.size): Attr {
  const type = typeBits(inode);
  return {
    ino: inode.ino,
    size: inode.type === 'symlink' ? Buffer.byteLength(inode.target ?? '') : size,
    blocks: Math.ceil(size / 512),
    atimeMs: inode.atimeMs,
    mtimeMs: inode.mtimeMs,
    ctimeMs: inode.ctimeMs,
    mode: type | (inode.mode & 0o7777),
    nlink: inode.nlink,
    uid: inode.uid,
    gid: inode.gid,
    rdev: inode.rdev,
  };
}

// Directory entries carry no format: a special file's type comes from its inode when known.
export function direntType(entry: { type: Inode['type']; format?: SpecialFormat }): number {
  if (entry.type === 'special') return entry.format ? SPECIAL_DT[entry.format] : 0; // DT_UNKNOWN
  return entry.type === 'dir' ? DT.DIR : entry.type === 'symlink' ? DT.LNK : DT.REG;
}

// What identifies a version of a file's bytes, to tell whether the kernel's cached pages of it
// are still good.
function versionOf(inode: Inode): string {
  return `${inode.mtimeMs}:${inode.size}`;
}

// The derived attributes of a regular file: its class (STANDARD when none is recorded) and, while
// it has one, its restore.
function derivedXattrs(inode: Inode): Record<string, string> {
  if (inode.type !== 'file') return {};
  const out: Record<string, string> = {
    [STORAGE_CLASS_XATTR]: inode.object?.storageClass ?? 'STANDARD',
  };
  const restore = restoreHeader(inode.object, Date.now());
  if (restore !== undefined) out[RESTORE_XATTR] = restore;
  return out;
}

function errorWith(code: ErrnoCode, message: string): StrataError {
  return new StrataError(code, message);
}

export interface OpenFile {
  ino: number;
  writable: boolean;
}

export interface DirectoryHandle {
  ino: number;
  parentIno: number;
  entries: DirEntry[];
}

export interface FileSystemOptions {
  stripeBytes: number;
  dirtyLimitBytes: number;
  mountId?: string; // the mount's metadata session, which keeps unlinked open files alive
  // Creates and unlinks in busy directories answered before they are applied (needs mountId):
  // src/client/write-behind.ts.
  writeBehind?: boolean;
  log?: Logger;
}

// Writes this mount accepted and could not store, over its life: each is logged at error and
// counted (strata_fuse_write_errors_total) when it fails, and the mount exits non-zero.
export interface LostWrites {
  batches: number;
  bytes: number;
}

export class StrataFileSystem {
  readonly client: StrataClient;
  private readonly options: FileSystemOptions;
  private readonly budget: DirtyBudget;
  private readonly batchBuffers: BatchBuffers;
  readonly readAhead: ReadAhead;
  readonly leases: DirectoryLeases;
  readonly stripeBytes: number;
  private nextHandle = 1;
  // Saves (a file's time open for writing here) are named <mount>:<n>: unique across mounts.
  private readonly saveTokenPrefix: string;
  private nextSave = 1;
  private readonly files = new Map<number, OpenFile>();
  private readonly openCounts = new Map<number, number>();
  private readonly writers = new Map<number, InodeWriter>();
  // The last commit of each writer whose attributes were noted (flushWriter).
  private readonly notedCommits = new WeakMap<InodeWriter, Inode>();
  private readonly directories = new Map<number, DirectoryHandle>();
  // Files unlinked while open here: released on their last close.
  private readonly orphanCandidates = new Set<number>();
  // The version of each file whose pages the kernel may cache (most recently opened last).
  readonly cachedVersions = new Map<number, string>();
  private capacity: { atMs: number; totalBytes: number; freeBytes: number } | undefined;
  private readonly log: Logger;
  readonly lostWrites: LostWrites = { batches: 0, bytes: 0 };
  readonly writeBehind: WriteBehind | undefined;
  lostNamespaceChanges = 0; // creates and unlinks answered behind and refused (write-behind.ts)
  // Told of those: the kernel may hold names they made for long (the change feed drops them).
  onChangesLost: () => void = () => {};

  constructor(client: StrataClient, options: FileSystemOptions) {
    this.client = client;
    this.options = options;
    this.log = options.log ?? silentLogger;
    this.budget = new DirtyBudget(options.dirtyLimitBytes);
    this.stripeBytes = options.stripeBytes;
    this.batchBuffers = new BatchBuffers(options.stripeBytes);
    this.readAhead = new ReadAhead(client, options.stripeBytes);
    this.leases = new DirectoryLeases(client, this.log);
    this.saveTokenPrefix = options.mountId ?? randomBytes(12).toString('hex');
    if (options.writeBehind === true && options.mountId !== undefined) {
      const lost = (dirs: number[], changes: number) => {
        this.lostNamespaceChanges += changes;
        fuseNamespaceChangesLost.inc(changes);
        fuseHeldDirectories.dec(dirs.length);
        for (const dir of dirs) this.leases.drop(dir);
        this.onChangesLost();
      };
      const released = (dir: number) => {
        fuseHeldDirectories.dec();
        this.leases.drop(dir);
      };
      const acquired = () => fuseHeldDirectories.inc();
      this.writeBehind = new WriteBehind(
        client.metadata,
        options.mountId,
        { lost, released, acquired },
        this.log,
      );
    }
  }

  // A change of the directories' entries the ordinary way (committed before its answer): a
  // directory held for write-behind is given back first (WriteBehind.ordinary waits for it).
  private async changing<T>(dirs: number[], change: () => Promise<T>): Promise<T> {
    const wb = this.writeBehind;
    if (wb === undefined) return change();
    for (const dir of dirs) await wb.release(dir);
    const [dir, ...rest] = dirs;
    return wb.ordinary(dir, () => (rest.length === 0 ? change() : this.changing(rest, change)));
  }

  // A change of an inode's own attributes: a held directory is given back first.
  private async releaseIfHeld(ino: number): Promise<void> {
    await this.writeBehind?.release(ino);
  }

  // A directory entry about to be removed or moved, given back first if it is a directory held
  // here (its own inode changes). Without this its change would wait, refused, until the
  // directory was given back for being idle.
  private async releaseChild(parent: number, name: string): Promise<void> {
    const wb = this.writeBehind;
    if (wb === undefined || !wb.holdsAny()) return;
    const child = await this.client.lookup(parent, name).catch(() => undefined);
    if (child?.type === 'dir') await wb.release(child.ino);
  }

  // fsync of a directory, syncfs: every namespace change answered so far is applied.
  async syncNamespace(): Promise<void> {
    await this.writeBehind?.synced();
  }

  private newSaveToken(): string {
    return `${this.saveTokenPrefix}:${this.nextSave++}`;
  }

  // Attributes as this mount sees them: a file's size includes writes not yet committed.
  attr(inode: Inode): Attr {
    const writer = this.writers.get(inode.ino);
    return attrOf(inode, writer ? writer.sizeOver(inode.size) : inode.size);
  }

  // A name no directory can hold is ENAMETOOLONG, as ext4_lookup says, not ENOENT: stat, open,
  // rmdir, unlink and truncate of it all start with this lookup.
  async lookup(parent: number, name: string): Promise<Inode> {
    if (Buffer.byteLength(name) > NAME_BYTES_MAX)
      throw errorWith('ENAMETOOLONG', `name longer than ${NAME_BYTES_MAX} bytes`);
    return this.client.lookup(parent, name);
  }

  // LOOKUP as the kernel asks it: from the directory's lease when it has one (dir-leases.ts), with
  // how long the kernel may keep the answer; undefined validMs: the default.
  async lookupEntry(parent: number, name: string): Promise<LeaseAnswer | { inode: Inode }> {
    if (Buffer.byteLength(name) > NAME_BYTES_MAX)
      throw errorWith('ENAMETOOLONG', `name longer than ${NAME_BYTES_MAX} bytes`);
    const wb = this.writeBehind;
    if (wb !== undefined) {
      await wb.settled(parent);
      const held = wb.entry(parent, name);
      if (held === null) return { absent: true, validMs: LEASE_MS };
      const made = held === undefined ? undefined : wb.createdInode(held.ino);
      if (made !== undefined) return { inode: made, validMs: LEASE_MS };
    }
    const leased = this.leases.answer(parent, name);
    if (leased && ('absent' in leased || !this.writers.has(leased.inode.ino))) return leased;
    const seq = this.leases.currentSeq();
    const inode = await this.client.lookup(parent, name);
    this.leases.found(parent);
    this.leases.refreshed(inode, seq);
    return { inode };
  }

  // GETATTR as the kernel asks it: what this mount's own change returned, while its lease runs
  // (the kernel drops a directory's attributes after every create or unlink in it). open() does
  // not come here: it always asks the service (close-to-open).
  async getattrEntry(ino: number): Promise<{ inode: Inode; validMs?: number }> {
    // A held directory and a file made here and not sent yet: this mount has them as they are.
    const held = this.writeBehind?.dirAttributes(ino) ?? this.writeBehind?.createdInode(ino);
    if (held !== undefined) return { inode: held, validMs: LEASE_MS };
    const leased = this.writers.has(ino) ? undefined : this.leases.attributes(ino);
    return leased ?? { inode: await this.getattr(ino) };
  }

  // Fresh from the service (open's close-to-open read included): it replaces what a lease held.
  async getattr(ino: number): Promise<Inode> {
    const seq = this.leases.currentSeq();
    const inode = await this.client.getattr(ino);
    this.leases.refreshed(inode, seq);
    return inode;
  }

  // A namespace change in `parent`: the leases learn its outcome, or drop what it proved wrong.
  private async named(
    parent: number,
    name: string,
    change: () => Promise<NewEntry>,
  ): Promise<Inode> {
    return (await this.namedEntry(parent, name, change)).inode;
  }

  private async namedEntry(
    parent: number,
    name: string,
    change: () => Promise<NewEntry>,
  ): Promise<NewEntry> {
    try {
      const entry = await this.changing([parent], change);
      this.leases.added(parent, name, entry);
      return entry;
    } catch (error) {
      this.leases.drop(parent);
      throw error;
    }
  }

  async setattr(ino: number, s: SetattrIn): Promise<Inode> {
    const changes: Parameters<StrataClient['setattr']>[1] = {};
    const now = Date.now();
    if (s.valid & FATTR.MODE) changes.mode = s.mode & 0o7777;
    if (s.valid & FATTR.UID) changes.uid = s.uid;
    if (s.valid & FATTR.GID) changes.gid = s.gid;
    if (s.valid & FATTR.ATIME) changes.atimeMs = s.valid & FATTR.ATIME_NOW ? now : s.atimeMs;
    if (s.valid & FATTR.MTIME) changes.mtimeMs = s.valid & FATTR.MTIME_NOW ? now : s.mtimeMs;
    if (s.valid & FATTR.SIZE) {
      changes.size = s.size;
      // A truncate of a file open for writing here (O_TRUNC, ftruncate) is part of its save.
      const writer = this.writers.get(ino);
      if (writer) changes.saveToken = writer.saveToken;
    }
    // Writes accepted before land before: a truncate cuts them, and a commit after a time set
    // (tar and cp -a set times on the open file) would move mtime to now again.
    const writer = this.writers.get(ino);
    await writer?.flush();
    if (Object.keys(changes).length === 0) return this.getattr(ino);
    await this.releaseIfHeld(ino);
    const inode = await this.client.setattr(ino, changes);
    if (writer) writer.knownSizeBytes = inode.size;
    // The writes' commit is older than this change: it is never noted after it.
    if (writer?.lastCommitted) this.notedCommits.set(writer, writer.lastCommitted);
    this.noteOwnChange(inode);
    return inode;
  }

  async mknod(
    parent: number,
    name: string,
    mode: number,
    rdev: number,
    caller: Caller,
  ): Promise<Inode> {
    const bits = mode & S_IFMT;
    if (bits === S_IFREG || bits === 0)
      return this.named(parent, name, () =>
        this.client.createAt(parent, name, mode & 0o7777, caller, true),
      );
    const format = SPECIAL_FORMAT.get(bits);
    if (!format) throw errorWith('EINVAL', `mknod of file type ${bits.toString(8)}`);
    return this.named(parent, name, () =>
      this.client.mknodAt(parent, name, mode & 0o7777, { format, rdev }, caller),
    );
  }

  async mkdir(parent: number, name: string, mode: number, caller: Caller): Promise<Inode> {
    const behind = await this.mkdirBehind(parent, name, mode, caller);
    if (behind !== undefined) return behind;
    return this.named(parent, name, () => this.client.mkdirAt(parent, name, mode & 0o7777, caller));
  }

  // A mkdir in a directory held for write-behind, answered here; undefined: the ordinary way.
  private async mkdirBehind(
    parent: number,
    name: string,
    mode: number,
    caller: Caller,
  ): Promise<Inode | undefined> {
    const wb = this.writeBehind;
    if (wb === undefined) return undefined;
    await wb.settled(parent);
    const entry = wb.entry(parent, name);
    if (entry === undefined) return undefined;
    if (entry !== null) throw errorWith('EEXIST', `${name} exists`);
    const inode = wb.mkdir(parent, name, mode, caller);
    if (inode === undefined) return undefined;
    this.leases.added(parent, name, { inode, parent: wb.dirAttributes(parent) });
    return inode;
  }

  symlink(parent: number, name: string, target: string, caller: Caller): Promise<Inode> {
    return this.named(parent, name, () => this.client.symlinkAt(parent, name, target, caller));
  }

  async readlink(ino: number): Promise<Buffer> {
    const inode = await this.getattr(ino);
    if (inode.type !== 'symlink') throw errorWith('EINVAL', 'not a symbolic link');
    return Buffer.from(inode.target ?? '');
  }

  link(ino: number, parent: number, name: string): Promise<Inode> {
    return this.named(parent, name, () => this.client.linkAt(ino, parent, name));
  }

  // The last name of a file this mount still has open goes, the file stays (an orphan of this
  // mount's session) until its last release here, or until the session ends.
  async unlink(parent: number, name: string): Promise<void> {
    if (await this.unlinkBehind(parent, name)) return;
    try {
      await this.changing([parent], async () => {
        // Which file the name is matters only when this mount has files open.
        const child = this.openCounts.size > 0 ? await this.client.lookup(parent, name) : undefined;
        const keep = child ? this.keepIfOpen(child.ino) : undefined;
        const changedDir = await this.client.unlinkAt(parent, name, { keepForMount: keep });
        this.leases.removed(parent, name, changedDir);
      });
    } catch (error) {
      this.leases.drop(parent);
      throw error;
    }
  }

  // An unlink in a directory held for write-behind, answered here: false when it is not held.
  private async unlinkBehind(parent: number, name: string): Promise<boolean> {
    const wb = this.writeBehind;
    if (wb === undefined) return false;
    await wb.settled(parent);
    const entry = wb.entry(parent, name);
    if (entry === undefined) return false;
    if (entry === null) throw errorWith('ENOENT', `no entry ${name}`);
    if (entry.type === 'dir') throw errorWith('EISDIR', `${name} is a directory`);
    if (!wb.unlink(parent, name, this.keepIfOpen(entry.ino) !== undefined)) return false;
    this.leases.removed(parent, name, wb.dirAttributes(parent));
    return true;
  }

  private keepIfOpen(ino: number): string | undefined {
    if (!this.openCounts.has(ino) || this.options.mountId === undefined) return undefined;
    this.orphanCandidates.add(ino);
    return this.options.mountId;
  }

  async rmdir(parent: number, name: string): Promise<void> {
    try {
      await this.changing([parent], async () => {
        await this.releaseChild(parent, name); // the directory itself goes
        await this.client.rmdirAt(parent, name);
      });
      this.leases.removed(parent, name, undefined);
    } catch (error) {
      this.leases.drop(parent);
      throw error;
    }
  }

  async rename(
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Promise<void> {
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
      throw errorWith('EINVAL', 'unsupported rename flags');
    if (await this.renameBehind(parent, name, newParent, newName, flags)) return;
    await this.changing([parent, newParent], () =>
      this.renameNow(parent, name, newParent, newName, flags),
    ).finally(() => this.leases.renamed(parent, newParent));
  }

  // A rename of a file within a directory held for write-behind (rsync's and editors' temporary
  // file moved over the real one), answered here: false when it is not one.
  private async renameBehind(
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Promise<boolean> {
    const wb = this.writeBehind;
    if (wb === undefined || parent !== newParent || (flags & RENAME_EXCHANGE) !== 0) return false;
    await wb.settled(parent);
    const source = wb.entry(parent, name);
    if (source === undefined || source?.type === 'dir') return false;
    if (source === null) throw errorWith('ENOENT', `no entry ${name}`);
    const target = wb.entry(parent, newName);
    if (target) {
      if (flags & RENAME_NOREPLACE) throw errorWith('EEXIST', `${newName} exists`);
      if (target.type === 'dir') throw errorWith('EISDIR', `${newName} is a directory`);
      if (target.ino === source.ino) return true; // two names of one file: nothing to do
    }
    const keep = target ? this.openCounts.has(target.ino) : false;
    if (!wb.rename(parent, name, newName, keep)) return false;
    if (target && keep) this.keepIfOpen(target.ino);
    this.leases.renamed(parent, parent);
    return true;
  }

  private async renameNow(
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Promise<void> {
    await this.releaseChild(parent, name);
    await this.releaseChild(newParent, newName);
    const replaced =
      this.openCounts.size > 0
        ? await this.client.lookup(newParent, newName).catch(() => undefined)
        : undefined;
    await this.client.renameAt(
      { parent, name },
      { parent: newParent, name: newName },
      {
        noReplace: (flags & RENAME_NOREPLACE) !== 0 || undefined,
        exchange: (flags & RENAME_EXCHANGE) !== 0 || undefined,
        keepReplacedForMount: replaced ? this.keepIfOpen(replaced.ino) : undefined,
      },
    );
  }

  // --- open files ---

  async open(ino: number, flags: number): Promise<{ fh: number; keepCache: boolean }> {
    const inode = await this.getattr(ino); // close-to-open: the newest committed attributes
    if (inode.type === 'dir') throw errorWith('EISDIR', 'is a directory');
    this.refuseArchived(inode);
    if (inode.object?.sseCustomer !== undefined) this.refuseCustomerKeyed(inode.ino);
    if ((flags & O_ACCMODE) !== 0) await this.refuseLocked(inode.ino);
    return this.openInode(inode, flags);
  }

  // An archived file (GLACIER, DEEP_ARCHIVE) is opened only while a RestoreObject has made it
  // readable, as S3's GET: open is EACCES until then (the data is there, but not to be read, and
  // the state machine refuses writes into it too), said in the log with the way out.
  private refuseArchived(inode: Inode): void {
    if (dataReadable(inode.object, Date.now())) return;
    const storageClass = inode.object?.storageClass;
    this.log.warn('open of an archived file refused (EACCES): restore it with RestoreObject', {
      ino: inode.ino,
      storageClass,
    });
    throw new StrataError(
      'INVALID_OBJECT_STATE',
      `inode ${inode.ino} is archived (${storageClass})`,
    );
  }

  // An SSE-C object's key comes only with the S3 requests that read or write it; a mount never
  // has it, so the file cannot be opened (EACCES), for reading or writing. A read that still
  // meets such a stripe (the object replaced under an open handle) fails the same way.
  private refuseCustomerKeyed(ino: number): never {
    this.log.warn(
      'open refused: the file is an S3 object encrypted with a customer-provided key (SSE-C), ' +
        'readable only through S3 with that key',
      { ino },
    );
    throw new StrataError('CUSTOMER_KEY_REQUIRED', `inode ${ino} is encrypted with SSE-C`);
  }

  // A file under Object Lock refuses an open for writing with EPERM at once, rather than
  // taking writes that its first commit (or close) would refuse: programs check open(2), few
  // check close(2). An early answer only: the state machine refuses the change itself, with
  // its own clock, whatever this mount's clock says.
  private async refuseLocked(ino: number, saveToken?: string): Promise<void> {
    const lock = await this.client.fileLock(ino);
    if (lock === undefined) return;
    if (saveToken !== undefined && lock.saveToken === saveToken) return; // its own new file
    const retained = lock.retention !== undefined && lock.retention.untilMs > Date.now();
    if (lock.legalHold === true || retained)
      throw new StrataError('OBJECT_LOCKED', `inode ${ino} is under Object Lock`);
  }

  async create(
    parent: number,
    name: string,
    mode: number,
    flags: number,
    caller: Caller,
  ): Promise<{ inode: Inode; fh: number }> {
    // The new file's version and the writes through this handle are one save.
    const saveToken = this.newSaveToken();
    const behind = await this.createBehind(parent, name, mode, flags, caller, saveToken);
    if (behind !== undefined) return behind;
    const entry = await this.namedEntry(parent, name, () =>
      this.client.createAt(parent, name, mode & 0o7777, caller, (flags & O_EXCL) !== 0, saveToken),
    );
    const inode = entry.inode;
    // O_CREAT of an existing file opens it: a locked one is refused as open() refuses it. A file
    // this call made (the state machine returns the changed parent only then) carries at most the
    // bucket's default retention under this save's token, which refuseLocked lets through: the
    // round trip to read its lock is skipped (one of three per create).
    if (entry.parent === undefined) await this.refuseLocked(inode.ino, saveToken);
    const { fh } = this.openInode(inode, flags, saveToken);
    return { inode, fh };
  }

  // A create in a directory held for write-behind, answered here; undefined: the ordinary way
  // (the directory is not held, or the name exists and O_EXCL is not asked: open(2) of the file).
  private async createBehind(
    parent: number,
    name: string,
    mode: number,
    flags: number,
    caller: Caller,
    saveToken: string,
  ): Promise<{ inode: Inode; fh: number } | undefined> {
    const wb = this.writeBehind;
    if (wb === undefined) return undefined;
    await wb.settled(parent);
    const entry = wb.entry(parent, name);
    if (entry === undefined) return undefined;
    if (entry !== null) {
      if ((flags & O_EXCL) !== 0) throw errorWith('EEXIST', `${name} exists`);
      return undefined;
    }
    const inode = wb.create(parent, name, mode, caller);
    if (inode === undefined) return undefined; // no inode number left: given back, then as usual
    this.leases.added(parent, name, { inode, parent: wb.dirAttributes(parent) });
    const { fh } = this.openInode(inode, flags, saveToken);
    return { inode, fh };
  }

  private openInode(
    inode: Inode,
    flags: number,
    saveToken?: string,
  ): { fh: number; keepCache: boolean } {
    if (this.files.size >= HANDLES_MAX) throw errorWith('EMFILE', 'too many open files');
    const fh = this.nextHandle++;
    const writable = (flags & O_ACCMODE) !== 0;
    this.files.set(fh, { ino: inode.ino, writable });
    this.openCounts.set(inode.ino, (this.openCounts.get(inode.ino) ?? 0) + 1);
    if (writable && !this.writers.has(inode.ino)) {
      const writer = new InodeWriter(
        inode.ino,
        this.client,
        this.budget,
        this.batchBuffers,
        this.onLost,
        saveToken ?? this.newSaveToken(),
      );
      writer.knownSizeBytes = inode.size;
      this.writers.set(inode.ino, writer);
    }
    const version = versionOf(inode);
    const keepCache = this.cachedVersions.get(inode.ino) === version;
    if (!keepCache) this.readAhead.drop(inode.ino);
    this.cachedVersions.delete(inode.ino);
    this.cachedVersions.set(inode.ino, version);
    return { fh, keepCache };
  }

  file(fh: number): OpenFile {
    const file = this.files.get(fh);
    if (!file) throw errorWith('EBADF', `no open file ${fh}`);
    return file;
  }

  // Reads see this mount's writes not yet committed, laid over the committed bytes.
  // In parts to be written out together; `done` once they are (read-ahead.ts, ReadResult).
  async read(ino: number, offset: number, length: number): Promise<ReadResult> {
    const writer = this.writers.get(ino);
    if (!writer?.dirty) return this.readAhead.read(ino, offset, length);
    const pending = writer.overlay(offset, length);
    const inode = await this.client.getattr(ino);
    const base = await this.client.readAt(ino, offset, length, inode.size);
    const data = applyOverlay(base, offset, length, writer.sizeOver(inode.size), pending);
    return { parts: data.length === 0 ? [] : [data], done: () => {} };
  }

  async write(fh: number, offset: number, data: Buffer): Promise<number> {
    const file = this.file(fh);
    const writer = this.writers.get(file.ino);
    if (!file.writable || !writer) throw errorWith('EBADF', 'file not open for writing');
    this.readAhead.drop(file.ino);
    await writer.write(offset, data);
    return data.length;
  }

  // close(2) and fsync(2): every write accepted so far is committed and visible to every
  // client. Stripes are stored durably (fsync on the data servers) before their commit, and a
  // commit is on disk on a quorum of metadata members when it returns, so fsync needs no more.
  async flush(ino: number): Promise<void> {
    const writer = this.writers.get(ino);
    if (writer) await this.flushWriter(writer);
    // fsync(2) also makes the file's name durable (it may have been created behind).
    await this.syncNamespace();
  }

  // close(2) of a handle (FLUSH): as flush, and a writable handle's close ends the file's save, so
  // in a versioned bucket what was written through it is one version and later writes another.
  // (RELEASE comes asynchronously after close returns, too late to tell saves apart.)
  async close(ino: number, fh: number): Promise<void> {
    const writer = this.writers.get(ino);
    if (writer === undefined) return;
    await this.flushWriter(writer);
    if (this.files.get(fh)?.writable === true) writer.newSave(this.newSaveToken());
  }

  // A commit is noted once: noting it again would put a write's attributes back over a later
  // change (a utimens or chmod after the writes, as tar does).
  private async flushWriter(writer: InodeWriter): Promise<void> {
    await writer.flush();
    const committed = writer.lastCommitted;
    if (committed === undefined || this.notedCommits.get(writer) === committed) return;
    this.notedCommits.set(writer, committed);
    this.noteOwnChange(committed);
  }

  // A batch of writes that could not be stored: its bytes are gone. The writer reports it to the
  // file's next write, close or fsync; here it reaches the log and the metric even if none comes.
  private readonly onLost = (ino: number, error: unknown, bytes: number): void => {
    this.lostWrites.batches += 1;
    this.lostWrites.bytes += bytes;
    fuseWriteErrors.inc();
    this.log.error('writes could not be stored', { ino, bytes, error });
  };

  // Our own change must not look like another client's to the invalidation watcher.
  private noteOwnChange(inode: Inode): void {
    this.leases.updated(inode);
    this.readAhead.drop(inode.ino);
    if (this.cachedVersions.has(inode.ino)) this.cachedVersions.set(inode.ino, versionOf(inode));
  }

  async release(fh: number): Promise<number | undefined> {
    const file = this.files.get(fh);
    if (!file) return undefined;
    this.files.delete(fh);
    const left = (this.openCounts.get(file.ino) ?? 1) - 1;
    if (left > 0) {
      this.openCounts.set(file.ino, left);
      return file.ino;
    }
    this.openCounts.delete(file.ino);
    const writer = this.writers.get(file.ino);
    if (writer) {
      // Flushed before it goes, so sizes reported meanwhile still include its pending writes.
      // The kernel ignores RELEASE's error: a failure here (writes through a shared mapping
      // after the last close) reaches no process, only the log, the metric and the exit code.
      await this.flushWriter(writer).catch((error: unknown) => {
        this.log.error('writes of a closed file could not be stored; no process was told', {
          ino: file.ino,
          error,
        });
      });
      if (!this.openCounts.has(file.ino)) this.writers.delete(file.ino);
    }
    if (this.orphanCandidates.delete(file.ino) && this.options.mountId !== undefined) {
      await this.client.releaseOrphan(this.options.mountId, file.ino);
      this.leases.changed(file.ino);
    }
    return file.ino;
  }

  isOpen(ino: number): boolean {
    return this.openCounts.has(ino);
  }

  isDirty(ino: number): boolean {
    return this.writers.get(ino)?.dirty ?? false;
  }

  async fallocate(ino: number, offset: number, length: number, mode: number): Promise<void> {
    const KEEP_SIZE = 1;
    const PUNCH_HOLE = 2;
    await this.flush(ino);
    if (mode === 0 || mode === KEEP_SIZE) {
      // Space is not reserved ahead in an erasure-coded store; the size is what changes.
      const inode = await this.getattr(ino);
      if (mode === 0 && offset + length > inode.size) {
        const saveToken = this.writers.get(ino)?.saveToken;
        this.noteOwnChange(await this.client.setattr(ino, { size: offset + length, saveToken }));
      }
      return;
    }
    if (mode === (PUNCH_HOLE | KEEP_SIZE)) {
      const saveToken = this.writers.get(ino)?.saveToken;
      this.noteOwnChange(await this.client.punchHole(ino, offset, length, saveToken));
      return;
    }
    throw errorWith('ENOTSUP', `fallocate mode ${mode} is not supported`);
  }

  // SEEK_DATA (3) and SEEK_HOLE (4) from the file's extents: bytes no extent covers are a hole.
  async lseek(ino: number, offset: number, whence: number): Promise<number> {
    await this.flush(ino);
    const inode = await this.getattr(ino);
    if (offset >= inode.size) throw errorWith('ENXIO', 'offset past the end of the file');
    const extents = await this.client.extents(ino, offset, inode.size - offset);
    if (whence === 3) {
      const first = extents.find((e) => e.fileOffset + e.length > offset);
      if (!first) throw errorWith('ENXIO', 'no data after the offset');
      return Math.max(offset, first.fileOffset);
    }
    let at = offset;
    for (const extent of extents) {
      if (extent.fileOffset > at) return at;
      at = Math.max(at, extent.fileOffset + extent.length);
    }
    return Math.min(at, inode.size);
  }

  async copyFileRange(
    inoIn: number,
    offIn: number,
    fhOut: number,
    offOut: number,
    length: number,
  ): Promise<number> {
    const out = this.file(fhOut);
    if (out.ino === inoIn && offIn < offOut + length && offOut < offIn + length)
      throw errorWith('EINVAL', 'copy_file_range within one file with overlapping ranges');
    await this.flush(inoIn);
    const size = (await this.getattr(inoIn)).size;
    const end = Math.min(size, offIn + length);
    const CHUNK = this.options.stripeBytes;
    let copied = 0;
    for (let at = offIn; at < end; at += CHUNK) {
      const data = await this.client.read(inoIn, at, Math.min(CHUNK, end - at));
      if (data.length === 0) break;
      await this.write(fhOut, offOut + copied, data);
      copied += data.length;
    }
    await this.flush(out.ino);
    return copied;
  }

  // --- directories ---

  async opendir(ino: number): Promise<number> {
    if (this.directories.size >= HANDLES_MAX) throw errorWith('EMFILE', 'too many open dirs');
    const dir = await this.getattr(ino);
    if (dir.type !== 'dir') throw errorWith('ENOTDIR', 'not a directory');
    // The listing is taken once, so readdir offsets stay stable while the directory changes.
    const entries = await this.client.readdirIno(ino);
    const handle = this.nextHandle++;
    this.directories.set(handle, { ino, parentIno: dir.parent ?? 1, entries });
    return handle;
  }

  directory(handle: number): DirectoryHandle {
    const dir = this.directories.get(handle);
    if (!dir) throw errorWith('EBADF', 'bad directory handle');
    return dir;
  }

  releasedir(handle: number): void {
    this.directories.delete(handle);
  }

  // --- extended attributes ---

  // Answered as GETATTR is (what this mount made and has not sent, or a lease), also while the
  // file is written here: writes change its size, never its xattrs. The kernel asks for
  // security.capability before every write to a file and every chown: a round trip to the
  // service each time was a sixth of a `tar x`.
  async getxattr(ino: number, name: string): Promise<Buffer> {
    const made = this.writeBehind?.dirAttributes(ino) ?? this.writeBehind?.createdInode(ino);
    const inode = made ?? this.leases.attributes(ino)?.inode ?? (await this.getattr(ino));
    const derived = derivedXattrs(inode)[name];
    if (derived !== undefined) return Buffer.from(derived);
    const value = inode.xattrs[name];
    if (value === undefined) throw errorWith('ENODATA', `no attribute ${name}`);
    return Buffer.from(value);
  }

  // The derived attributes are not listed, only read by name (as CephFS's ceph.* attributes):
  // listed, every file would carry two attributes ext4 does not show, and `cp -a` or `rsync -X`
  // onto another mount would try to set them there and fail on read-only names.
  async listxattr(ino: number): Promise<Buffer> {
    const inode = await this.getattr(ino);
    return Buffer.from(
      Object.keys(inode.xattrs)
        .map((name) => `${name}\0`)
        .join(''),
    );
  }

  async setxattr(ino: number, name: string, value: Buffer, flags: number): Promise<void> {
    if (DERIVED_XATTRS.includes(name))
      throw errorWith('EPERM', `${name} is read-only (S3 storage class and restore)`);
    if (!XATTR_NAMESPACES.some((prefix) => name.startsWith(prefix)))
      throw errorWith('ENOTSUP', `attribute namespace of ${name} is not supported`);
    if (flags & (XATTR_CREATE | XATTR_REPLACE)) {
      const exists = (await this.getattr(ino)).xattrs[name] !== undefined;
      if (flags & XATTR_CREATE && exists) throw errorWith('EEXIST', `${name} exists`);
      if (flags & XATTR_REPLACE && !exists) throw errorWith('ENODATA', `no attribute ${name}`);
    }
    await this.releaseIfHeld(ino);
    await this.client.setxattr(ino, name, value);
    this.leases.changed(ino);
  }

  async removexattr(ino: number, name: string): Promise<void> {
    if (DERIVED_XATTRS.includes(name))
      throw errorWith('EPERM', `${name} is read-only (S3 storage class and restore)`);
    await this.releaseIfHeld(ino);
    await this.client.removexattr(ino, name);
    this.leases.changed(ino);
  }

  // The cluster's real capacity: the data disks' bytes scaled by k / (k + m), since parity takes
  // the rest. Cached briefly: df and many programs ask often.
  async statfs(): Promise<{ totalBytes: number; freeBytes: number }> {
    const now = Date.now();
    if (this.capacity && this.capacity.atMs > now - STATFS_CACHE_MS) return this.capacity;
    const status = await this.client.clusterStatus();
    const disks = status.dataServers.flatMap((s) => s.disks);
    const { k, m } = status.erasure;
    const usable = (bytes: number) => Math.floor((bytes * k) / (k + m));
    this.capacity = {
      atMs: now,
      totalBytes: usable(disks.reduce((sum, d) => sum + d.totalBytes, 0)),
      freeBytes: usable(disks.reduce((sum, d) => sum + d.freeBytes, 0)),
    };
    return this.capacity;
  }

  // Everything this mount holds unwritten, before unmount. Writes that cannot be stored now are
  // logged and counted (lostWrites), since no process is left to tell.
  async flushAll(): Promise<void> {
    const flushOne = (writer: InodeWriter) =>
      this.flushWriter(writer).catch((error: unknown) => {
        this.log.error('writes of an open file could not be stored at unmount', {
          ino: writer.ino,
          error,
        });
      });
    await Promise.all([...this.writers.values()].map(flushOne));
    await this.writeBehind?.close().catch((error: unknown) => {
      this.log.error('namespace changes could not be applied at unmount', { error });
    });
  }
}
