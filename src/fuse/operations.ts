// One FUSE request in, one reply body out: decodes the request (requests.ts), calls the file-system
// layer, encodes the answer (protocol.ts). Returns undefined for requests that get no reply
// (FORGET, INTERRUPT) and null for an empty successful reply; errors are thrown with codes.
import { StrataError } from '../common/errors.ts';
import { type Caller, type Inode, ROOT_INO } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { fuseBytes } from '../observability/metrics.ts';
import type { ChangeFeed } from './change-feed.ts';
import { direntType, type StrataFileSystem } from './file-system.ts';
import {
  DT,
  direntBytes,
  direntPlusBytes,
  encodeAttrOut,
  encodeEntryOut,
  encodeInitOut,
  encodeInvalInode,
  encodeLkOut,
  encodeNegativeEntryOut,
  encodeOpenOut,
  encodeStatfsOut,
  encodeU64,
  encodeWriteOut,
  encodeXattrSize,
  FOPEN_KEEP_CACHE,
  INIT_FLAGS,
  type InHeader,
  KERNEL_MAJOR,
  KERNEL_MINOR_MAX,
  NOTIFY,
  OP,
  writeDirent,
  writeDirentPlus,
} from './protocol.ts';
import type { ReadResult } from './read-ahead.ts';
import * as R from './requests.ts';

// How long the kernel may trust a name or attributes without asking again: the staleness another
// mount's change can have (open() always asks, for close-to-open consistency).
export const CACHE_VALID_MS = 1000;
const MAX_WRITE_BYTES = 1024 * 1024;

export interface LockService {
  getlk(
    ino: number,
    lk: R.LkIn,
  ): Promise<{ start: number; end: number; type: number; pid: number }>;
  setlk(ino: number, lk: R.LkIn, wait: boolean, signal: AbortSignal): Promise<void>;
  releaseOwner(ino: number, owner: bigint, kind: 'posix' | 'flock'): Promise<void>;
  // A RELEASE that drops a flock began: a lock refused meanwhile is tried again after it.
  noteRelease(ino: number, released: Promise<unknown>): void;
}

function fail(code: 'ENOSYS' | 'EINVAL' | 'EINTR', message: string): never {
  throw new StrataError(code, message);
}

export class FuseOperations {
  private readonly fs: StrataFileSystem;
  private readonly log: Logger;
  locks: LockService | undefined;
  feed: ChangeFeed | undefined;
  // Mounted as a user (an access key): its change feed names only what the user may list now
  // (src/metadata/namespace-access.ts, visibleChanges), and a removed bucket is no one's to list,
  // so neither that name's removal nor the root's attributes are ever told to it.
  userMount = false;
  notifier: (code: number, body: Buffer) => Promise<void> = async () => {};
  onDestroy: () => void = () => {};
  // Requests that may wait long (SETLKW), by unique, so FUSE_INTERRUPT can end them with EINTR.
  private readonly waiting = new Map<bigint, AbortController>();

  constructor(fs: StrataFileSystem, log: Logger) {
    this.fs = fs;
    this.log = log;
  }

  // A name or attributes as the service's state, a lease or this mount's own change give them, in
  // a reply to a request begun at `position` (the change feed's): the kernel keeps them long while
  // the feed runs (change-feed.ts, which keeps the leases as current as its answers), else for
  // `shortMs` (a lease's time left) at most CACHE_VALID_MS.
  private entryOut(
    position: number,
    parent: number,
    name: string,
    inode: Inode,
    shortMs = CACHE_VALID_MS,
  ): Buffer {
    const long =
      this.writing(inode) || this.untold(inode, parent)
        ? undefined
        : this.feed?.entryValidMs(position, parent, name, inode.ino);
    return encodeEntryOut(this.fs.attr(inode), long ?? Math.min(shortMs, CACHE_VALID_MS));
  }

  private attrOut(position: number, inode: Inode, shortMs = CACHE_VALID_MS): Buffer {
    const long =
      this.writing(inode) || this.untold(inode)
        ? undefined
        : this.feed?.attrValidMs(position, inode.ino);
    return encodeAttrOut(this.fs.attr(inode), long ?? Math.min(shortMs, CACHE_VALID_MS));
  }

  // A file with writes here not yet committed: its mtime (and size) change when they are, a
  // change of this mount's own that the feed does not report; the kernel drops its attributes
  // after each write, not after the commit at close.
  private writing(inode: Inode): boolean {
    return this.fs.isDirty(inode.ino);
  }

  // What the feed would not tell this mount of (userMount): a bucket's name and the root's
  // attributes on a user's mount keep the short time.
  private untold(inode: Inode, parent?: number): boolean {
    return this.userMount && (parent === ROOT_INO || inode.ino === ROOT_INO);
  }

  // A name not there is kept no longer than the lease that says so.
  private async lookup(position: number, parent: number, name: string): Promise<Buffer> {
    const answer = await this.fs.lookupEntry(parent, name);
    if ('absent' in answer) return encodeNegativeEntryOut(answer.validMs);
    const shortMs = 'validMs' in answer ? answer.validMs : CACHE_VALID_MS;
    return this.entryOut(position, parent, name, answer.inode, shortMs);
  }

  private async getattr(position: number, ino: number): Promise<Buffer> {
    const { inode, validMs } = await this.fs.getattrEntry(ino);
    return this.attrOut(position, inode, validMs);
  }

  // A reply's body, in parts written out together with `done` called after (a read's), null
  // for none, or undefined for no reply at all.
  async dispatch(h: InHeader, body: Buffer): Promise<Buffer | ReadResult | null | undefined> {
    const node = Number(h.nodeid);
    const caller: Caller = { uid: h.uid, gid: h.gid };
    const fs = this.fs;
    const position = this.feed?.position ?? 0; // before any wait: what the reply may show
    switch (h.opcode) {
      case OP.INIT:
        return this.init(body);
      case OP.LOOKUP:
        return this.lookup(position, node, R.cString(body).value);
      case OP.FORGET:
      case OP.BATCH_FORGET:
        return undefined; // node ids are inode numbers: nothing to forget
      case OP.GETATTR:
        return this.getattr(position, node);
      case OP.SETATTR:
        return this.attrOut(position, await fs.setattr(node, R.decodeSetattr(body)));
      case OP.READLINK:
        return fs.readlink(node);
      case OP.SYMLINK: {
        const { name, target } = R.decodeSymlink(body);
        return this.entryOut(position, node, name, await fs.symlink(node, name, target, caller));
      }
      case OP.MKNOD: {
        const { name, mode, rdev } = R.decodeMknod(body);
        return this.entryOut(position, node, name, await fs.mknod(node, name, mode, rdev, caller));
      }
      case OP.MKDIR: {
        const { name, mode } = R.decodeMkdir(body);
        return this.entryOut(position, node, name, await fs.mkdir(node, name, mode, caller));
      }
      case OP.UNLINK:
        await fs.unlink(node, R.cString(body).value);
        return null;
      case OP.RMDIR:
        await fs.rmdir(node, R.cString(body).value);
        return null;
      case OP.RENAME:
      case OP.RENAME2: {
        const r = R.decodeRename(body, h.opcode === OP.RENAME2);
        await fs.rename(node, r.oldName, r.newParent, r.newName, r.flags);
        this.feed?.renamed(node, r.oldName, r.newParent, r.newName);
        return null;
      }
      case OP.LINK: {
        const { ino, name } = R.decodeLink(body);
        return this.entryOut(position, node, name, await fs.link(ino, node, name));
      }
      case OP.OPEN: {
        const { fh, keepCache } = await fs.open(node, body.readUInt32LE(0));
        // Close-to-open: the kernel bounds reads by the size it has cached, so attributes it may
        // hold from before another client's change are dropped before open returns (pages are
        // dropped by the kernel itself, without FOPEN_KEEP_CACHE).
        if (!keepCache) await this.notifier(NOTIFY.INVAL_INODE, encodeInvalInode(node, -1, 0));
        return encodeOpenOut(fh, keepCache ? FOPEN_KEEP_CACHE : 0);
      }
      case OP.CREATE: {
        const c = R.decodeCreate(body);
        const { inode, fh } = await fs.create(node, c.name, c.mode, c.flags, caller);
        return Buffer.concat([this.entryOut(position, node, c.name, inode), encodeOpenOut(fh)]);
      }
      case OP.READ: {
        const { offset, size } = R.decodeIo(body);
        const read = await fs.read(node, offset, size);
        fuseBytes.inc(
          { direction: 'read' },
          read.parts.reduce((sum, part) => sum + part.length, 0),
        );
        if (read.parts.length > 0) return read; // written, then done (session.ts)
        read.done();
        return null;
      }
      case OP.WRITE: {
        const { fh, offset, size } = R.decodeIo(body);
        const data = body.subarray(R.WRITE_IN_BYTES, R.WRITE_IN_BYTES + size);
        const written = await fs.write(fh, offset, data);
        fuseBytes.inc({ direction: 'write' }, written);
        return encodeWriteOut(written);
      }
      case OP.FLUSH: {
        const { fh, owner } = R.decodeFlush(body);
        await fs.close(node, fh);
        // close(2) drops the closing process's POSIX locks on the file.
        await this.locks?.releaseOwner(node, owner, 'posix');
        return null;
      }
      case OP.FSYNC:
        await fs.flush(node);
        return null;
      case OP.RELEASE: {
        const r = R.decodeRelease(body);
        const released = (async () => {
          await fs.release(r.fh);
          if (r.releaseFlags & 2) await this.locks?.releaseOwner(node, r.owner, 'flock');
        })();
        if (r.releaseFlags & 2) this.locks?.noteRelease(node, released);
        await released;
        return null;
      }
      case OP.OPENDIR:
        return encodeOpenOut(await fs.opendir(node));
      case OP.READDIR:
        return this.readdir(body, false);
      case OP.READDIRPLUS:
        return this.readdir(body, true);
      case OP.RELEASEDIR:
        fs.releasedir(Number(body.readBigUInt64LE(0)));
        return null;
      case OP.FSYNCDIR:
      case OP.SYNCFS:
        // A namespace change is durable once it returns, unless it was answered behind
        // (write-behind: src/client/write-behind.ts): those are applied first.
        await fs.syncNamespace();
        return null;
      case OP.STATFS:
        return this.statfs();
      case OP.ACCESS:
        return null; // default_permissions: the kernel checks modes itself
      case OP.GETXATTR: {
        const { size, name } = R.decodeGetxattr(body);
        return this.sized(await fs.getxattr(node, name), size);
      }
      case OP.LISTXATTR:
        return this.sized(await fs.listxattr(node), R.decodeGetxattr(body).size);
      case OP.SETXATTR: {
        const { name, value, flags } = R.decodeSetxattr(body);
        await fs.setxattr(node, name, value, flags);
        return null;
      }
      case OP.REMOVEXATTR:
        await fs.removexattr(node, R.cString(body).value);
        return null;
      case OP.FALLOCATE: {
        const { offset, length, mode } = R.decodeFallocate(body);
        await fs.fallocate(node, offset, length, mode);
        return null;
      }
      case OP.LSEEK: {
        const { offset, whence } = R.decodeLseek(body);
        if (whence !== 3 && whence !== 4) fail('EINVAL', 'the kernel seeks by itself');
        return encodeU64(await fs.lseek(node, offset, whence));
      }
      case OP.COPY_FILE_RANGE: {
        const c = R.decodeCopyFileRange(body);
        if (c.flags !== 0) fail('EINVAL', 'copy_file_range flags');
        const length = Math.min(c.length, 0xffff_f000); // the reply's size field is 32 bits
        const fhOut = Number(body.readBigUInt64LE(24));
        return encodeWriteOut(await fs.copyFileRange(node, c.offIn, fhOut, c.offOut, length));
      }
      case OP.GETLK: {
        if (!this.locks) fail('ENOSYS', 'locks are local');
        return encodeLkOut(await this.locks.getlk(node, R.decodeLk(body)));
      }
      case OP.SETLK:
      case OP.SETLKW:
        return this.setlk(h, node, body);
      case OP.INTERRUPT:
        this.waiting.get(body.readBigUInt64LE(0))?.abort();
        return undefined;
      case OP.DESTROY:
        await fs.flushAll();
        this.onDestroy();
        return null;
      default:
        return fail('ENOSYS', `opcode ${h.opcode}`);
    }
  }

  private async setlk(h: InHeader, node: number, body: Buffer): Promise<null> {
    if (!this.locks) fail('ENOSYS', 'locks are local');
    const controller = new AbortController();
    this.waiting.set(h.unique, controller);
    try {
      await this.locks.setlk(node, R.decodeLk(body), h.opcode === OP.SETLKW, controller.signal);
    } finally {
      this.waiting.delete(h.unique);
    }
    return null;
  }

  // GETXATTR/LISTXATTR: size 0 asks how big; a buffer too small is ERANGE.
  private sized(value: Buffer, size: number): Buffer {
    if (size === 0) return encodeXattrSize(value.length);
    if (value.length > size) throw new StrataError('ERANGE', 'value larger than the buffer');
    return value;
  }

  private init(body: Buffer): Buffer {
    const major = body.readUInt32LE(0);
    const minor = body.readUInt32LE(4);
    const kernelFlags = body.readUInt32LE(12);
    if (major !== KERNEL_MAJOR) fail('EINVAL', `FUSE major ${major}`);
    const wanted =
      INIT_FLAGS.ASYNC_READ |
      INIT_FLAGS.BIG_WRITES |
      INIT_FLAGS.PARALLEL_DIROPS |
      INIT_FLAGS.MAX_PAGES |
      INIT_FLAGS.AUTO_INVAL_DATA |
      INIT_FLAGS.DO_READDIRPLUS |
      INIT_FLAGS.READDIRPLUS_AUTO |
      (this.locks ? INIT_FLAGS.POSIX_LOCKS | INIT_FLAGS.FLOCK_LOCKS : 0);
    const negotiated = Math.min(minor, KERNEL_MINOR_MAX);
    this.log.info('FUSE session started', { kernelMinor: minor, minor: negotiated });
    return encodeInitOut(negotiated, kernelFlags & wanted, MAX_WRITE_BYTES);
  }

  private async statfs(): Promise<Buffer> {
    const { totalBytes, freeBytes } = await this.fs.statfs();
    const bsize = 4096;
    const free = Math.floor(freeBytes / bsize);
    // Inodes are not a limited resource here: report plenty, as most network file systems do.
    const files = 2 ** 32;
    const blocks = Math.floor(totalBytes / bsize);
    return encodeStatfsOut({ blocks, bfree: free, bavail: free, files, ffree: files, bsize });
  }

  // Offsets: 1 is ".", 2 is "..", 3 + i is entries[i]. READDIRPLUS also carries each entry's
  // attributes, fetched in one metadata call for the entries that fit.
  private async readdir(body: Buffer, plus: boolean): Promise<Buffer> {
    const { fh, offset, size } = R.decodeIo(body);
    const dir = this.fs.directory(fh);
    const all = [
      { name: '.', ino: dir.ino, type: DT.DIR },
      { name: '..', ino: dir.parentIno, type: DT.DIR },
      ...dir.entries.map((e) => ({ name: e.name, ino: e.ino, type: direntType(e) })),
    ];
    const out = Buffer.alloc(size);
    let used = 0;
    if (!plus) {
      for (let i = offset; i < all.length; i++) {
        const need = direntBytes(all[i].name);
        if (used + need > size) break;
        used += writeDirent(out, used, all[i].ino, i + 1, all[i].name, all[i].type);
      }
      return out.subarray(0, used);
    }
    let count = 0;
    for (let i = offset, room = size; i < all.length; i++, count++) {
      room -= direntPlusBytes(all[i].name);
      if (room < 0) break;
    }
    const slice = all.slice(offset, offset + count);
    const wanted = slice.filter((e) => e.name !== '.' && e.name !== '..').map((e) => e.ino);
    const inodes = new Map<number, Inode>();
    for (let i = 0; i < wanted.length; i += 1000) {
      for (const inode of await this.fs.client.getattrMany(wanted.slice(i, i + 1000))) {
        if (inode) inodes.set(inode.ino, inode);
      }
    }
    for (const [i, e] of slice.entries()) {
      const inode = e.name === '.' || e.name === '..' ? undefined : inodes.get(e.ino);
      // An entry removed since opendir goes without attributes (node id 0), as "." and ".." do.
      const entry = inode ? encodeEntryOut(this.fs.attr(inode), CACHE_VALID_MS) : undefined;
      used += writeDirentPlus(out, used, entry, e.ino, offset + i + 1, e.name, e.type);
    }
    return out.subarray(0, used);
  }
}
