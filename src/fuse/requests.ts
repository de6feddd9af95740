// Decoding of FUSE request bodies (the *_in structs of linux/fuse.h that follow the header).
// Offsets are those of the structs; names are NUL-terminated and follow the fixed part.

function u64(body: Buffer, at: number): number {
  return Number(body.readBigUInt64LE(at));
}

// Reads the NUL-terminated string at `at`; returns it and where the next one starts.
export function cString(body: Buffer, at = 0): { value: string; next: number } {
  const end = body.indexOf(0, at);
  const stop = end < 0 ? body.length : end;
  return { value: body.subarray(at, stop).toString('utf8'), next: stop + 1 };
}

export interface SetattrIn {
  valid: number;
  fh: number;
  size: number;
  atimeMs: number;
  mtimeMs: number;
  mode: number;
  uid: number;
  gid: number;
}

export function decodeSetattr(body: Buffer): SetattrIn {
  const time = (secondsAt: number, nsecAt: number) =>
    u64(body, secondsAt) * 1000 + Math.floor(body.readUInt32LE(nsecAt) / 1e6);
  return {
    valid: body.readUInt32LE(0),
    fh: u64(body, 8),
    size: u64(body, 16),
    atimeMs: time(32, 56),
    mtimeMs: time(40, 60),
    mode: body.readUInt32LE(68),
    uid: body.readUInt32LE(76),
    gid: body.readUInt32LE(80),
  };
}

// fuse_mknod_in: mode, rdev, umask, padding, then the name.
export function decodeMknod(body: Buffer): { mode: number; rdev: number; name: string } {
  return { mode: body.readUInt32LE(0), rdev: body.readUInt32LE(4), name: cString(body, 16).value };
}

// fuse_mkdir_in: mode, umask, then the name.
export function decodeMkdir(body: Buffer): { mode: number; name: string } {
  return { mode: body.readUInt32LE(0), name: cString(body, 8).value };
}

// FUSE_SYMLINK: the link's name, then its target.
export function decodeSymlink(body: Buffer): { name: string; target: string } {
  const name = cString(body, 0);
  return { name: name.value, target: cString(body, name.next).value };
}

export interface RenameIn {
  newParent: number;
  flags: number;
  oldName: string;
  newName: string;
}

// FUSE_RENAME (fuse_rename_in: newdir) and FUSE_RENAME2 (fuse_rename2_in: newdir, flags, padding).
export function decodeRename(body: Buffer, version2: boolean): RenameIn {
  const fixed = version2 ? 16 : 8;
  const oldName = cString(body, fixed);
  return {
    newParent: u64(body, 0),
    flags: version2 ? body.readUInt32LE(8) : 0,
    oldName: oldName.value,
    newName: cString(body, oldName.next).value,
  };
}

// fuse_link_in: oldnodeid, then the new name.
export function decodeLink(body: Buffer): { ino: number; name: string } {
  return { ino: u64(body, 0), name: cString(body, 8).value };
}

// fuse_create_in: flags, mode, umask, open_flags, then the name.
export function decodeCreate(body: Buffer): { flags: number; mode: number; name: string } {
  return { flags: body.readUInt32LE(0), mode: body.readUInt32LE(4), name: cString(body, 16).value };
}

// fuse_read_in and the fixed part of fuse_write_in share their first fields.
export function decodeIo(body: Buffer): { fh: number; offset: number; size: number } {
  return { fh: u64(body, 0), offset: u64(body, 8), size: body.readUInt32LE(16) };
}

export const WRITE_IN_BYTES = 40;

// fuse_release_in: fh, flags, release_flags, lock_owner.
export function decodeRelease(body: Buffer): { fh: number; releaseFlags: number; owner: bigint } {
  return { fh: u64(body, 0), releaseFlags: body.readUInt32LE(12), owner: body.readBigUInt64LE(16) };
}

// fuse_flush_in: fh, unused, padding, lock_owner.
export function decodeFlush(body: Buffer): { fh: number; owner: bigint } {
  return { fh: u64(body, 0), owner: body.readBigUInt64LE(16) };
}

// fuse_setxattr_in without FUSE_SETXATTR_EXT (8 bytes: size, flags), then the name and value.
export function decodeSetxattr(body: Buffer): { name: string; value: Buffer; flags: number } {
  const size = body.readUInt32LE(0);
  const name = cString(body, 8);
  return {
    flags: body.readUInt32LE(4),
    name: name.value,
    value: Buffer.from(body.subarray(name.next, name.next + size)),
  };
}

// fuse_getxattr_in: size, padding, then (GETXATTR only) the name.
export function decodeGetxattr(body: Buffer): { size: number; name: string } {
  return { size: body.readUInt32LE(0), name: body.length > 8 ? cString(body, 8).value : '' };
}

export interface LkIn {
  fh: number;
  owner: bigint;
  start: number;
  end: number;
  type: number; // F_RDLCK 0, F_WRLCK 1, F_UNLCK 2
  pid: number;
  flock: boolean;
}

// fuse_lk_in: fh, owner, fuse_file_lock (start, end, type, pid), lk_flags, padding.
export function decodeLk(body: Buffer): LkIn {
  return {
    fh: u64(body, 0),
    owner: body.readBigUInt64LE(8),
    start: Math.min(u64(body, 16), Number.MAX_SAFE_INTEGER),
    end: Math.min(u64(body, 24), Number.MAX_SAFE_INTEGER),
    type: body.readUInt32LE(32),
    pid: body.readUInt32LE(36),
    flock: (body.readUInt32LE(40) & 1) !== 0,
  };
}

// fuse_fallocate_in: fh, offset, length, mode, padding.
export function decodeFallocate(body: Buffer): { offset: number; length: number; mode: number } {
  return { offset: u64(body, 8), length: u64(body, 16), mode: body.readUInt32LE(24) };
}

// fuse_lseek_in: fh, offset, whence, padding.
export function decodeLseek(body: Buffer): { offset: number; whence: number } {
  return { offset: u64(body, 8), whence: body.readUInt32LE(16) };
}

// fuse_copy_file_range_in: fh_in, off_in, nodeid_out, fh_out, off_out, len, flags.
export function decodeCopyFileRange(body: Buffer) {
  return {
    offIn: u64(body, 8),
    nodeOut: u64(body, 16),
    offOut: u64(body, 32),
    length: u64(body, 40),
    flags: u64(body, 48),
  };
}

// FUSE_BATCH_FORGET: count, dummy, then count × (nodeid, nlookup).
export function decodeBatchForget(body: Buffer): number[] {
  const count = body.readUInt32LE(0);
  const nodes: number[] = [];
  for (let i = 0; i < count && 8 + i * 16 + 16 <= body.length; i++)
    nodes.push(u64(body, 8 + i * 16));
  return nodes;
}
