// The FUSE kernel protocol (structs of /usr/include/linux/fuse.h, protocol 7.x): decoding request
// headers and bodies, encoding replies. Nothing here knows about files (go-fuse's `fuse/` layer).
import assert from 'node:assert';

export const KERNEL_MAJOR = 7;
export const KERNEL_MINOR_MAX = 38; // what this code speaks; the kernel may ask for less
export const ROOT_ID = 1;

export const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SYNCFS: 50,
} as const;

export const INIT_FLAGS = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  BIG_WRITES: 1 << 5,
  FLOCK_LOCKS: 1 << 10,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
} as const;

// fuse_setattr_in.valid bits.
export const FATTR = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
} as const;

export const FOPEN_KEEP_CACHE = 1 << 1;
export const RELEASE_FLOCK_UNLOCK = 1 << 1;
export const LK_FLOCK = 1 << 0;
export const NOTIFY = { INVAL_INODE: 2, INVAL_ENTRY: 3 } as const;

export const IN_HEADER_BYTES = 40;
export const OUT_HEADER_BYTES = 16;
export const ATTR_BYTES = 88;

export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
}

export function decodeInHeader(buf: Buffer): InHeader {
  assert(buf.length >= IN_HEADER_BYTES, 'a request has a 40-byte header');
  return {
    len: buf.readUInt32LE(0),
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: buf.readBigUInt64LE(16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
  };
}

// A reply: header (with the total length and a negative errno, 0 for success) and body.
// A reply goes to /dev/fuse in one write, which must carry all of it: libuv cuts a writev to
// IOV_MAX (1024) buffers, so a body of more parts than this (a read across many tiny extents)
// is joined first.
export const REPLY_PARTS_MAX = 64;

// The reply's buffers for one writev: its header, then the body as it came (parts kept apart).
export function encodeReply(unique: bigint, errno: number, body?: Buffer | Buffer[]): Buffer[] {
  let parts = body === undefined ? [] : Array.isArray(body) ? body : [body];
  if (parts.length > REPLY_PARTS_MAX) parts = [Buffer.concat(parts)];
  const header = Buffer.alloc(OUT_HEADER_BYTES);
  let len = OUT_HEADER_BYTES;
  for (const part of parts) len += part.length;
  header.writeUInt32LE(len, 0);
  header.writeInt32LE(errno === 0 ? 0 : -Math.abs(errno), 4);
  header.writeBigUInt64LE(unique, 8);
  return [header, ...parts.filter((part) => part.length > 0)];
}

export interface Attr {
  ino: number;
  size: number;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  mode: number; // with the file type bits (S_IFDIR, S_IFREG, S_IFLNK)
  nlink: number;
  uid: number;
  gid: number;
  rdev?: number;
}

function writeTime(buf: Buffer, secondsAt: number, nsecAt: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  buf.writeBigUInt64LE(BigInt(seconds), secondsAt);
  buf.writeUInt32LE(Math.round((ms - seconds * 1000) * 1e6), nsecAt);
}

export function writeAttr(buf: Buffer, at: number, attr: Attr): void {
  buf.writeBigUInt64LE(BigInt(attr.ino), at);
  buf.writeBigUInt64LE(BigInt(attr.size), at + 8);
  buf.writeBigUInt64LE(BigInt(attr.blocks), at + 16);
  writeTime(buf, at + 24, at + 48, attr.atimeMs);
  writeTime(buf, at + 32, at + 52, attr.mtimeMs);
  writeTime(buf, at + 40, at + 56, attr.ctimeMs);
  buf.writeUInt32LE(attr.mode, at + 60);
  buf.writeUInt32LE(attr.nlink, at + 64);
  buf.writeUInt32LE(attr.uid, at + 68);
  buf.writeUInt32LE(attr.gid, at + 72);
  buf.writeUInt32LE(attr.rdev ?? 0, at + 76);
  buf.writeUInt32LE(4096, at + 80); // blksize
  buf.writeUInt32LE(0, at + 84); // flags
}

// fuse_entry_out: nodeid, generation, entry_valid, attr_valid, their nsec parts, attr.
export function encodeEntryOut(attr: Attr, validMs: number): Buffer {
  const buf = Buffer.alloc(40 + ATTR_BYTES);
  buf.writeBigUInt64LE(BigInt(attr.ino), 0);
  buf.writeBigUInt64LE(1n, 8);
  writeValid(buf, 16, 32, validMs);
  writeValid(buf, 24, 36, validMs);
  writeAttr(buf, 40, attr);
  return buf;
}

// A fuse_entry_out with node id 0: "no such name", which the kernel keeps as a negative entry for
// entry_valid (linux/fuse.h: "a zero nodeid is the same as -ENOENT, but with a valid timeout").
export function encodeNegativeEntryOut(validMs: number): Buffer {
  const buf = Buffer.alloc(40 + ATTR_BYTES);
  writeValid(buf, 16, 32, validMs);
  return buf;
}

// fuse_attr_out: attr_valid, attr_valid_nsec, dummy, attr.
export function encodeAttrOut(attr: Attr, validMs: number): Buffer {
  const buf = Buffer.alloc(16 + ATTR_BYTES);
  writeValid(buf, 0, 8, validMs);
  writeAttr(buf, 16, attr);
  return buf;
}

function writeValid(buf: Buffer, secondsAt: number, nsecAt: number, msAny: number): void {
  const ms = Math.max(0, Math.floor(msAny));
  buf.writeBigUInt64LE(BigInt(Math.floor(ms / 1000)), secondsAt);
  buf.writeUInt32LE((ms % 1000) * 1e6, nsecAt);
}

// fuse_open_out: fh, open_flags, padding.
export function encodeOpenOut(fh: number, openFlags = 0): Buffer {
  const buf = Buffer.alloc(16);
  buf.writeBigUInt64LE(BigInt(fh), 0);
  buf.writeUInt32LE(openFlags, 8);
  return buf;
}

// fuse_init_out (64 bytes).
export function encodeInitOut(minor: number, flags: number, maxWriteBytes: number): Buffer {
  const buf = Buffer.alloc(64);
  buf.writeUInt32LE(KERNEL_MAJOR, 0);
  buf.writeUInt32LE(minor, 4);
  buf.writeUInt32LE(1024 * 1024, 8); // max_readahead
  buf.writeUInt32LE(flags, 12);
  buf.writeUInt16LE(64, 16); // max_background
  buf.writeUInt16LE(48, 18); // congestion_threshold
  buf.writeUInt32LE(maxWriteBytes, 20);
  buf.writeUInt32LE(1, 24); // time_gran: nanoseconds
  buf.writeUInt16LE(Math.ceil(maxWriteBytes / 4096), 28); // max_pages
  return buf;
}

// The longest name in a directory, in bytes (NAME_MAX; the metadata service refuses longer).
export const NAME_BYTES_MAX = 255;

// fuse_kstatfs: blocks, bfree, bavail, files, ffree, bsize, namelen, frsize, padding, spare[6].
export function encodeStatfsOut(s: {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
}): Buffer {
  const buf = Buffer.alloc(80);
  buf.writeBigUInt64LE(BigInt(s.blocks), 0);
  buf.writeBigUInt64LE(BigInt(s.bfree), 8);
  buf.writeBigUInt64LE(BigInt(s.bavail), 16);
  buf.writeBigUInt64LE(BigInt(s.files), 24);
  buf.writeBigUInt64LE(BigInt(s.ffree), 32);
  buf.writeUInt32LE(s.bsize, 40);
  buf.writeUInt32LE(NAME_BYTES_MAX, 44); // namelen
  buf.writeUInt32LE(s.bsize, 48); // frsize
  return buf;
}

// One fuse_dirent: ino, off (of the next entry), namelen, type, name padded to 8 bytes.
export function direntBytes(name: string): number {
  return (24 + Buffer.byteLength(name) + 7) & ~7;
}

export function writeDirent(
  buf: Buffer,
  at: number,
  ino: number,
  nextOffset: number,
  name: string,
  type: number,
): number {
  const nameBytes = Buffer.from(name);
  buf.writeBigUInt64LE(BigInt(ino), at);
  buf.writeBigUInt64LE(BigInt(nextOffset), at + 8);
  buf.writeUInt32LE(nameBytes.length, at + 16);
  buf.writeUInt32LE(type, at + 20);
  nameBytes.copy(buf, at + 24);
  const size = direntBytes(name);
  buf.fill(0, at + 24 + nameBytes.length, at + size);
  return size;
}

// Directory entry types (DT_* of dirent.h).
export const DT = { FIFO: 1, CHR: 2, DIR: 4, BLK: 6, REG: 8, LNK: 10, SOCK: 12 } as const;

// fuse_write_out: size, padding.
export function encodeWriteOut(size: number): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeUInt32LE(size, 0);
  return buf;
}

// fuse_getxattr_out (the size a value or name list needs, when the caller asked with size 0).
export function encodeXattrSize(size: number): Buffer {
  return encodeWriteOut(size);
}

// fuse_lk_out: the conflicting lock (start, end, type, pid), or type F_UNLCK.
export function encodeLkOut(lock: { start: number; end: number; type: number; pid: number }) {
  const buf = Buffer.alloc(24);
  buf.writeBigUInt64LE(BigInt(lock.start), 0);
  // A lock to the end of the file ends at OFFSET_MAX (beyond what a JavaScript number holds).
  const end = lock.end >= Number.MAX_SAFE_INTEGER ? 0x7fff_ffff_ffff_ffffn : BigInt(lock.end);
  buf.writeBigUInt64LE(end, 8);
  buf.writeUInt32LE(lock.type, 16);
  buf.writeUInt32LE(lock.pid, 20);
  return buf;
}

export function encodeU64(value: number): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(BigInt(value), 0);
  return buf;
}

// One fuse_direntplus: a fuse_entry_out (nodeid 0: no attributes, as for "." and "..") followed
// by a fuse_dirent, padded to 8 bytes.
export function direntPlusBytes(name: string): number {
  return 40 + ATTR_BYTES + direntBytes(name);
}

export function writeDirentPlus(
  buf: Buffer,
  at: number,
  entry: Buffer | undefined,
  ino: number,
  nextOffset: number,
  name: string,
  type: number,
): number {
  if (entry) entry.copy(buf, at);
  else buf.fill(0, at, at + 40 + ATTR_BYTES);
  return 40 + ATTR_BYTES + writeDirent(buf, at + 40 + ATTR_BYTES, ino, nextOffset, name, type);
}

// Notifications: an out header with unique 0 and the notify code in the error field.
export function encodeNotify(code: number, body: Buffer): Buffer[] {
  const header = Buffer.alloc(OUT_HEADER_BYTES);
  header.writeUInt32LE(OUT_HEADER_BYTES + body.length, 0);
  header.writeInt32LE(code, 4);
  return [header, body];
}

export function encodeInvalInode(ino: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(24);
  buf.writeBigUInt64LE(BigInt(ino), 0);
  buf.writeBigInt64LE(BigInt(offset), 8);
  buf.writeBigInt64LE(BigInt(length), 16);
  return buf;
}

export function encodeInvalEntry(parent: number, name: string): Buffer {
  const nameBytes = Buffer.from(name);
  const buf = Buffer.alloc(16 + nameBytes.length + 1);
  buf.writeBigUInt64LE(BigInt(parent), 0);
  buf.writeUInt32LE(nameBytes.length, 8);
  nameBytes.copy(buf, 16);
  return buf;
}
