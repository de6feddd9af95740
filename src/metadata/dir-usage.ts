// Recursive usage per directory, as CephFS keeps its rstats: every directory records how many
// regular files lie below it, at any depth, and their bytes. A bucket's record is the bucket's
// object count and size (the console shows them), without listing it.
//
// The invariant: a directory's usage is the sum, over the entries below it, of one file and its
// inode's current size for each regular-file entry (a hard-linked file counts once per name, as
// a listing shows it once per key). Store keeps it in the command's own transaction at the four
// places the sum can change: an entry put or removed (putDirent, removeDirent; a directory
// entry moves its whole subtree's usage, which is how a rename between buckets stays O(depth)),
// and a file's size changed or its inode removed (putInode, removeInode). Each change is added
// to the entry's directory and every directory above it, found through the link index.
// Like the link index it is a function of the entries and inodes alone, so every replica holds
// the same usage at the same applied index; a state from before it gets it rebuilt once.
import assert from 'node:assert/strict';
import * as K from './keys.ts';
import { linksOf } from './links.ts';
import type { Dirent, Store } from './store.ts';
import { ROOT_INO } from './types.ts';

export interface DirectoryUsage {
  files: number;
  bytes: number;
}

// Deeper than any path a 1,024-byte key can name (each segment takes at least two bytes).
const PATH_DEPTH_MAX = 1024;
const ZERO: DirectoryUsage = { files: 0, bytes: 0 };

export function directoryUsage(store: Store, ino: number): DirectoryUsage {
  return (store.db.get(K.dirUsageKey(ino)) as DirectoryUsage | undefined) ?? ZERO;
}

function addTo(store: Store, ino: number, change: DirectoryUsage): void {
  const current = directoryUsage(store, ino);
  // Never below zero. A usage figure is advisory: were it ever to drift (the seeded test in
  // test/metadata/dir-usage.test.ts compares it with a recount), an assertion here would fail
  // the unlink or delete that found it, on every replica, for good.
  const next = {
    files: Math.max(0, current.files + change.files),
    bytes: Math.max(0, current.bytes + change.bytes),
  };
  if (next.files === 0 && next.bytes === 0) store.db.removeSync(K.dirUsageKey(ino));
  else store.db.putSync(K.dirUsageKey(ino), next);
}

// Adds `change` to `dir` and every directory above it. A directory no longer linked (the top of
// a tree removed while a mount still holds a file in it) ends the walk there.
export function addUsageUpFrom(store: Store, dir: number, change: DirectoryUsage): void {
  if (change.files === 0 && change.bytes === 0) return;
  let at = dir;
  for (let depth = 0; depth < PATH_DEPTH_MAX; depth++) {
    addTo(store, at, change);
    if (at === ROOT_INO) return;
    const [link] = linksOf(store, at, 1);
    if (link === undefined) return;
    at = link.parent;
  }
  assert.fail(`directory ${dir} is deeper than ${PATH_DEPTH_MAX} levels`);
}

const negate = (u: DirectoryUsage): DirectoryUsage => ({ files: -u.files, bytes: -u.bytes });

// What an entry adds to the directories above it: a file, one file of its inode's size (0 while
// its inode is not written yet); a directory, its own usage; anything else, nothing.
export function entryUsage(store: Store, entry: Dirent): DirectoryUsage {
  if (entry.type === 'file') return { files: 1, bytes: store.inode(entry.ino)?.size ?? 0 };
  if (entry.type === 'dir') return directoryUsage(store, entry.ino);
  return ZERO;
}

export function entryAdded(store: Store, parent: number, entry: Dirent): void {
  addUsageUpFrom(store, parent, entryUsage(store, entry));
}

export function entryRemoved(store: Store, parent: number, entry: Dirent): void {
  addUsageUpFrom(store, parent, negate(entryUsage(store, entry)));
}

// A file's size went from `before` to `after`: every name it has sees the difference.
export function fileResized(store: Store, ino: number, before: number, after: number): void {
  if (before === after) return;
  for (const { parent } of linksOf(store, ino, Number.MAX_SAFE_INTEGER))
    addUsageUpFrom(store, parent, { files: 0, bytes: after - before });
}

// Builds the usage of a state from before it was kept, in one transaction: each file entry is
// added up from its directory. Returns whether it had to.
export function ensureDirectoryUsage(store: Store): boolean {
  if (store.db.get(K.dirUsageReadyKey()) !== undefined) return false;
  store.db.transactionSync(() => {
    for (const key of store.db.getKeys(K.dirUsageRange())) store.db.removeSync(key as Buffer);
    const entries = { start: Buffer.of(K.TAG.dirent), end: Buffer.of(K.TAG.dirent + 1) };
    for (const { key, value } of store.db.getRange(entries)) {
      const entry = value as Dirent;
      if (entry.type !== 'file') continue;
      addUsageUpFrom(store, K.readU64(key as Buffer, 1), entryUsage(store, entry));
    }
    store.db.putSync(K.dirUsageReadyKey(), true);
  });
  return true;
}

// For a fresh state (only the root): the usage starts maintained.
export function markDirectoryUsageReady(store: Store): void {
  assert.deepEqual(directoryUsage(store, ROOT_INO), ZERO, 'a fresh state holds no files');
  store.db.putSync(K.dirUsageReadyKey(), true);
}
