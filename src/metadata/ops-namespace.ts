// POSIX namespace commands: mkdir, create, symlink, link, unlink, rmdir, rename, setattr, xattrs.
import { checkInlineRule, punch } from './extent-ops.ts';
import { NAME_BYTES_MAX } from './keys.ts';
import { inodeFields } from './new-inode.ts';
import { checkPosixChange } from './object-lock.ts';
import { refuseArchived } from './ops-data.ts';
import { freeInode, keepOrphan } from './ops-mounts.ts';
import { fail, type Store } from './store.ts';
import { type Caller, type Command, type Inode, type InodeType, ROOT_INO } from './types.ts';
import {
  beginChange,
  checkNotFrozen,
  recordDeleteMarker,
  recordVersion,
  retireCurrent,
  versionedAt,
} from './versions.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

export function checkName(name: string): void {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name === '.' ||
    name === '..' ||
    name.includes('/')
  ) {
    fail('EINVAL', `invalid name ${JSON.stringify(name)}`);
  }
  if (name.includes('\0')) fail('EINVAL', 'a name cannot contain NUL');
  if (Buffer.byteLength(name, 'utf8') > NAME_BYTES_MAX)
    fail('ENAMETOOLONG', `name longer than ${NAME_BYTES_MAX} bytes`);
}

export function directory(store: Store, ino: number): Inode {
  const dir = store.mustInode(ino);
  if (dir.type !== 'dir') fail('ENOTDIR', `inode ${ino} is not a directory`);
  return dir;
}

export function newInode(
  store: Store,
  type: InodeType,
  mode: number,
  caller: Caller,
  nowMs: number,
  parentDir?: Inode,
): Inode {
  const ino = store.nextCounter('ino', ROOT_INO + 1);
  return inodeFields(ino, type, mode, caller, nowMs, parentDir);
}

function touch(store: Store, inode: Inode, nowMs: number, nlinkDelta = 0): void {
  store.putInode({ ...inode, mtimeMs: nowMs, ctimeMs: nowMs, nlink: inode.nlink + nlinkDelta });
}

// Adds a new child to a directory, which must not have the name yet.
export function link(store: Store, parent: Inode, name: string, child: Inode, nowMs: number): void {
  checkName(name);
  if (store.dirent(parent.ino, name)) fail('EEXIST', `${name} exists`);
  store.putDirent(parent.ino, name, { ino: child.ino, type: child.type });
  touch(store, parent, nowMs, child.type === 'dir' ? 1 : 0);
}

function noFilesAtRoot(parent: number): void {
  if (parent === ROOT_INO) fail('EPERM', 'only buckets (directories) may live at the top level');
}

// `ino`: the number a mount chose from its reserved range (a dirBatch mkdir); otherwise the next
// one.
export function mkdir(store: Store, c: Op<'mkdir'>, ino?: number) {
  const parent = directory(store, c.parent);
  if (c.parent === ROOT_INO) fail('EPERM', 'top-level directories are buckets: use createBucket');
  const fields =
    ino === undefined
      ? newInode(store, 'dir', c.mode, c.caller, c.nowMs, parent)
      : inodeFields(ino, 'dir', c.mode, c.caller, c.nowMs, parent);
  const dir = { ...fields, parent: parent.ino };
  link(store, parent, c.name, dir, c.nowMs);
  store.putInode(dir);
  return { ok: true as const, inode: dir, parent: store.mustInode(c.parent) };
}

// `ino`: the number a mount chose from its reserved range (a dirBatch create); otherwise the
// next one.
export function create(store: Store, c: Op<'create'>, ino?: number) {
  const parent = directory(store, c.parent);
  checkName(c.name);
  const existing = store.dirent(c.parent, c.name);
  if (existing) {
    if (c.exclusive) fail('EEXIST', `${c.name} exists`);
    if (existing.type === 'dir') fail('EISDIR', `${c.name} is a directory`);
    return { ok: true as const, inode: store.mustInode(existing.ino) };
  }
  noFilesAtRoot(c.parent);
  const file =
    ino === undefined
      ? newInode(store, 'file', c.mode, c.caller, c.nowMs, parent)
      : inodeFields(ino, 'file', c.mode, c.caller, c.nowMs, parent);
  link(store, parent, c.name, file, c.nowMs);
  store.putInode(file);
  // The directory as changed: the mount answers the GETATTR that follows without asking.
  const touched = store.mustInode(c.parent);
  // In a versioned bucket the new file is a new version, the first of its save.
  const at = versionedAt(store, c.parent, c.name);
  if (at === undefined) return { ok: true as const, inode: file, parent: touched };
  retireCurrent(store, at.bucket, at.key, undefined);
  const version = { ino: file.ino, mtimeMs: c.nowMs, saveToken: c.saveToken };
  return {
    ok: true as const,
    inode: file,
    parent: touched,
    versionId: recordVersion(store, at.bucket, at.key, version),
  };
}

export function symlink(store: Store, c: Op<'symlink'>) {
  const parent = directory(store, c.parent);
  noFilesAtRoot(c.parent);
  if (c.target.length === 0 || Buffer.byteLength(c.target) > 4096)
    fail('EINVAL', 'bad symlink target');
  const inode = {
    ...newInode(store, 'symlink', 0o777, c.caller, c.nowMs, parent),
    target: c.target,
  };
  inode.size = Buffer.byteLength(c.target);
  link(store, parent, c.name, inode, c.nowMs);
  store.putInode(inode);
  return { ok: true as const, inode, parent: store.mustInode(c.parent) };
}

const SPECIAL_FORMATS = new Set(['fifo', 'socket', 'char', 'block']);

export function mknod(store: Store, c: Op<'mknod'>) {
  const parent = directory(store, c.parent);
  noFilesAtRoot(c.parent);
  if (!SPECIAL_FORMATS.has(c.format)) fail('EINVAL', `bad special file format ${c.format}`);
  if (!Number.isSafeInteger(c.rdev) || c.rdev < 0) fail('EINVAL', `bad device number ${c.rdev}`);
  const inode: Inode = {
    ...newInode(store, 'special', c.mode, c.caller, c.nowMs, parent),
    format: c.format,
    rdev: c.format === 'char' || c.format === 'block' ? c.rdev : 0,
  };
  link(store, parent, c.name, inode, c.nowMs);
  store.putInode(inode);
  return { ok: true as const, inode, parent: store.mustInode(c.parent) };
}

export function hardLink(store: Store, c: Op<'link'>) {
  const inode = store.mustInode(c.ino);
  if (inode.type === 'dir') fail('EPERM', 'hard links to directories are not allowed');
  checkNotFrozen(inode);
  // A versioned key has one file; a second name would be a key whose versions are another's.
  if (versionedAt(store, c.parent, c.name) !== undefined)
    fail('EPERM', 'hard links are not supported in a versioned bucket');
  // linkat(2) of an unlinked open file: ENOENT (Linux, without O_TMPFILE).
  if (inode.nlink === 0) fail('ENOENT', `inode ${c.ino} has been unlinked`);
  const parent = directory(store, c.parent);
  noFilesAtRoot(c.parent);
  link(store, parent, c.name, inode, c.nowMs);
  const linked = { ...inode, nlink: inode.nlink + 1, ctimeMs: c.nowMs };
  store.putInode(linked);
  return { ok: true as const, inode: linked, parent: store.mustInode(c.parent) };
}

// Drops one link of a non-directory; the last link frees the inode and its extents, unless a
// live mount session keeps it (the mount still has it open: see ops-mounts.ts).
export function dropLink(store: Store, inode: Inode, nowMs: number, keepForMount?: string): void {
  if (inode.nlink > 1) {
    store.putInode({ ...inode, nlink: inode.nlink - 1, ctimeMs: nowMs });
    return;
  }
  if (keepForMount !== undefined && keepOrphan(store, inode, keepForMount, nowMs)) return;
  freeInode(store, inode.ino);
}

export function unlink(store: Store, c: Op<'unlink'>) {
  const parent = directory(store, c.parent);
  checkName(c.name);
  const entry = store.dirent(c.parent, c.name) ?? fail('ENOENT', `no entry ${c.name}`);
  if (entry.type === 'dir') fail('EISDIR', `${c.name} is a directory`);
  const file = store.mustInode(entry.ino);
  // In a versioned bucket, unlink is S3's DELETE: a delete marker, the data kept as a version.
  const at = entry.type === 'file' ? versionedAt(store, c.parent, c.name) : undefined;
  // A locked file is WORM on the mount (and for `strata fs rm`): EPERM, though S3's DELETE
  // without a versionId may still hide it behind a delete marker.
  if (at !== undefined) checkPosixChange(store, at.bucket, at.key, c.nowMs);
  if (at !== undefined) retireCurrent(store, at.bucket, at.key, file);
  store.removeDirent(c.parent, entry.sortName);
  touch(store, parent, c.nowMs);
  dropLink(store, file, c.nowMs, c.keepForMount);
  if (at === undefined) return { ok: true as const, parent: store.mustInode(c.parent) };
  const versionId = recordDeleteMarker(store, at.bucket, at.key, c.nowMs);
  return { ok: true as const, versionId, deleteMarker: true, parent: store.mustInode(c.parent) };
}

export function removeDir(store: Store, parent: Inode, name: string, nowMs: number): void {
  const entry = store.dirent(parent.ino, name) ?? fail('ENOENT', `no entry ${name}`);
  if (entry.type !== 'dir') fail('ENOTDIR', `${name} is not a directory`);
  if (!store.isEmptyDir(entry.ino)) fail('ENOTEMPTY', `${name} is not empty`);
  store.removeDirent(parent.ino, entry.sortName);
  touch(store, parent, nowMs, -1);
  store.removeInode(entry.ino);
}

export function rmdir(store: Store, c: Op<'rmdir'>) {
  const parent = directory(store, c.parent);
  if (c.parent === ROOT_INO) fail('EPERM', 'top-level directories are buckets: use deleteBucket');
  checkName(c.name);
  removeDir(store, parent, c.name, c.nowMs);
  return { ok: true as const };
}

export function setattr(store: Store, c: Op<'setattr'>) {
  const inode = store.mustInode(c.ino);
  checkNotFrozen(inode);
  if (c.size !== undefined && inode.type === 'file' && c.size !== inode.size)
    beginChange(store, inode, c.nowMs, c.saveToken);
  const next: Inode = { ...inode, ctimeMs: c.nowMs };
  if (c.mode !== undefined) next.mode = c.mode & 0o7777;
  if (c.uid !== undefined) next.uid = c.uid;
  if (c.gid !== undefined) next.gid = c.gid;
  if (c.atimeMs !== undefined) next.atimeMs = c.atimeMs;
  if (c.mtimeMs !== undefined) next.mtimeMs = c.mtimeMs;
  if (c.size !== undefined) {
    if (inode.type !== 'file')
      fail(inode.type === 'dir' ? 'EISDIR' : 'EINVAL', 'only files have a size to set');
    if (!Number.isSafeInteger(c.size) || c.size < 0) fail('EINVAL', `bad size ${c.size}`);
    if (c.size !== inode.size) refuseArchived(inode, c.nowMs);
    if (c.size < inode.size) punch(store, inode.ino, c.size, inode.size);
    next.size = c.size;
    // Growing past the inline threshold: the writer moves the inline bytes into stripes first.
    checkInlineRule(store, next);
    if (c.mtimeMs === undefined) next.mtimeMs = c.nowMs;
    // The S3 view's etag described the old bytes.
    if (next.object && c.size !== inode.size) next.object = { ...next.object, etag: '' };
  }
  store.putInode(next);
  return { ok: true as const, inode: next };
}

export function setxattr(store: Store, c: Op<'setxattr'>) {
  const inode = store.mustInode(c.ino);
  checkNotFrozen(inode);
  if (c.name.length === 0 || c.name.length > 255 || c.value.length > 64 * 1024)
    fail('EINVAL', 'xattr too large');
  const next = { ...inode, xattrs: { ...inode.xattrs, [c.name]: c.value }, ctimeMs: c.nowMs };
  store.putInode(next);
  return { ok: true as const, inode: next };
}

export function removexattr(store: Store, c: Op<'removexattr'>) {
  const inode = store.mustInode(c.ino);
  checkNotFrozen(inode);
  if (!(c.name in inode.xattrs)) fail('ENODATA', `no attribute ${c.name}`);
  const xattrs = { ...inode.xattrs };
  delete xattrs[c.name];
  const next = { ...inode, xattrs, ctimeMs: c.nowMs };
  store.putInode(next);
  return { ok: true as const, inode: next };
}
