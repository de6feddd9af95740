// rename(2) with RENAME_NOREPLACE and RENAME_EXCHANGE semantics, as Linux answers them.
import { checkPosixChange } from './object-lock.ts';
import { checkName, directory, dropLink, removeDir } from './ops-namespace.ts';
import { fail, type Store } from './store.ts';
import { type Command, type Inode, ROOT_INO } from './types.ts';
import { recordDeleteMarker, recordVersion, retireCurrent, versionedAt } from './versions.ts';

type Rename = Extract<Command, { op: 'rename' }>;

// Is `ino` the directory `ancestor` or below it? Walks parent pointers up to the root.
function isWithin(store: Store, ino: number, ancestor: number): boolean {
  for (let at: number | undefined = ino, steps = 0; at !== undefined; steps++) {
    if (at === ancestor) return true;
    if (at === ROOT_INO || steps > 4096) return false;
    at = store.inode(at)?.parent;
  }
  return false;
}

export function rename(store: Store, c: Rename) {
  checkName(c.srcName);
  checkName(c.dstName);
  if (c.noReplace && c.exchange) fail('EINVAL', 'RENAME_NOREPLACE and RENAME_EXCHANGE together');
  const srcParent = directory(store, c.srcParent);
  const src = store.dirent(c.srcParent, c.srcName) ?? fail('ENOENT', `no entry ${c.srcName}`);
  const dstParentBefore = directory(store, c.dstParent);
  const dst = store.dirent(c.dstParent, c.dstName);
  if (c.srcParent === ROOT_INO || c.dstParent === ROOT_INO) {
    fail('EPERM', 'buckets cannot be renamed, and nothing else lives at the top level');
  }
  if (src.type === 'dir' && isWithin(store, c.dstParent, src.ino)) {
    fail('EINVAL', 'cannot move a directory into itself');
  }
  if (dst?.ino === src.ino) return { ok: true as const };
  const versioning = versionedSides(store, c, src.type);
  if (c.exchange) return exchange(store, c, src, dst);
  if (dst) {
    if (c.noReplace) fail('EEXIST', `${c.dstName} exists`);
    if (src.type === 'dir' && dst.type !== 'dir')
      fail('ENOTDIR', `${c.dstName} is not a directory`);
    if (src.type !== 'dir' && dst.type === 'dir') fail('EISDIR', `${c.dstName} is a directory`);
    if (dst.type === 'dir') {
      removeDir(store, dstParentBefore, c.dstName, c.nowMs);
    } else {
      store.removeDirent(c.dstParent, dst.sortName);
      dropLink(store, store.mustInode(dst.ino), c.nowMs, c.keepReplacedForMount);
    }
  }
  store.removeDirent(c.srcParent, src.sortName);
  store.putDirent(c.dstParent, c.dstName, { ino: src.ino, type: src.type });
  moveChild(store, src.ino, src.type === 'dir', srcParent.ino, c.dstParent, c.nowMs);
  versioning.after(src.ino);
  return { ok: true as const };
}

// In a versioned bucket a file's rename is S3's copy and delete: the source key gets a delete
// marker (its data kept as a version), the destination a new version (the one it replaces kept).
// A directory's rename would change the keys of every version below it: EXDEV, which mv(1)
// answers by copying. All of it happens in the rename's transaction, which a later check still
// aborts as a whole.
function versionedSides(store: Store, c: Rename, srcType: Inode['type']) {
  const srcAt = versionedAt(store, c.srcParent, c.srcName);
  const dstAt = versionedAt(store, c.dstParent, c.dstName);
  const none = { after: (_ino: number) => {} };
  if (srcAt === undefined && dstAt === undefined) return none;
  if (srcType === 'dir') fail('EXDEV', 'directories of a versioned bucket cannot be renamed');
  if (c.exchange) fail('EINVAL', 'RENAME_EXCHANGE is not supported in a versioned bucket');
  const dst = store.dirent(c.dstParent, c.dstName);
  const replaced = dst?.type === 'file' ? store.mustInode(dst.ino) : undefined;
  const moving =
    srcType === 'file'
      ? store.mustInode(store.dirent(c.srcParent, c.srcName)?.ino as number)
      : undefined;
  // Renaming a locked file, or over one, changes a WORM file: EPERM.
  if (srcAt !== undefined && moving !== undefined)
    checkPosixChange(store, srcAt.bucket, srcAt.key, c.nowMs);
  if (dstAt !== undefined && replaced !== undefined)
    checkPosixChange(store, dstAt.bucket, dstAt.key, c.nowMs);
  if (srcAt !== undefined && moving !== undefined)
    retireCurrent(store, srcAt.bucket, srcAt.key, moving);
  const dstChanges = dstAt !== undefined && (moving !== undefined || replaced !== undefined);
  if (dstChanges) retireCurrent(store, dstAt.bucket, dstAt.key, replaced);
  return {
    after(ino: number) {
      if (srcAt !== undefined && moving !== undefined)
        recordDeleteMarker(store, srcAt.bucket, srcAt.key, c.nowMs);
      if (!dstChanges) return;
      if (moving !== undefined)
        recordVersion(store, dstAt.bucket, dstAt.key, { ino, mtimeMs: c.nowMs });
      else recordDeleteMarker(store, dstAt.bucket, dstAt.key, c.nowMs);
    },
  };
}

function exchange(
  store: Store,
  c: Rename,
  src: { ino: number; type: Inode['type']; sortName: string },
  dst?: { ino: number; type: Inode['type']; sortName: string },
) {
  if (!dst) fail('ENOENT', `no entry ${c.dstName} to exchange with`);
  const other = dst as NonNullable<typeof dst>;
  if (other.type === 'dir' && isWithin(store, c.srcParent, other.ino)) {
    fail('EINVAL', 'cannot move a directory into itself');
  }
  store.removeDirent(c.srcParent, src.sortName);
  store.removeDirent(c.dstParent, other.sortName);
  store.putDirent(c.srcParent, c.srcName, { ino: other.ino, type: other.type });
  store.putDirent(c.dstParent, c.dstName, { ino: src.ino, type: src.type });
  if (c.srcParent !== c.dstParent) {
    moveChild(store, src.ino, src.type === 'dir', c.srcParent, c.dstParent, c.nowMs);
    moveChild(store, other.ino, other.type === 'dir', c.dstParent, c.srcParent, c.nowMs);
  } else {
    touchDir(store, c.srcParent, c.nowMs, 0);
  }
  return { ok: true as const };
}

// Fixes link counts, the moved directory's parent pointer and the times after a move.
function moveChild(
  store: Store,
  ino: number,
  isDir: boolean,
  from: number,
  to: number,
  nowMs: number,
) {
  const moved = store.mustInode(ino);
  store.putInode({ ...moved, ctimeMs: nowMs, ...(isDir ? { parent: to } : {}) });
  touchDir(store, from, nowMs, isDir && from !== to ? -1 : 0);
  if (from !== to) touchDir(store, to, nowMs, isDir ? 1 : 0);
}

function touchDir(store: Store, ino: number, nowMs: number, nlinkDelta: number) {
  const dir = store.mustInode(ino);
  store.putInode({ ...dir, mtimeMs: nowMs, ctimeMs: nowMs, nlink: dir.nlink + nlinkDelta });
}
