// Object keys as paths below a bucket directory. The rules for keys that cannot be paths are in
// docs/architecture/overview.md ("Keys and paths").
import assert from 'node:assert';
import { NAME_BYTES_MAX } from './keys.ts';
import { newInode } from './ops-namespace.ts';
import { fail, type Store } from './store.ts';
import type { Caller, Inode } from './types.ts';

const SEGMENT_BYTES_MAX = NAME_BYTES_MAX;
const KEY_BYTES_MAX = 1024;

export interface KeyPath {
  dirs: string[]; // parent directories below the bucket
  name: string; // last segment
  isDirMarker: boolean; // key ends in "/"
}

export function parseKey(key: string): KeyPath {
  if (typeof key !== 'string' || key.length === 0) fail('INVALID_KEY', 'the key is empty');
  if (Buffer.byteLength(key) > KEY_BYTES_MAX)
    fail('ENAMETOOLONG', `the key is longer than ${KEY_BYTES_MAX} bytes`);
  const isDirMarker = key.endsWith('/');
  const segments = (isDirMarker ? key.slice(0, -1) : key).split('/');
  for (const segment of segments) {
    if (segment.length === 0)
      fail('INVALID_KEY', `key ${JSON.stringify(key)} has an empty path segment`);
    if (segment === '.' || segment === '..')
      fail('INVALID_KEY', `key ${JSON.stringify(key)} has a "${segment}" segment`);
    if (segment.includes('\0')) fail('INVALID_KEY', 'a key cannot contain NUL');
    if (Buffer.byteLength(segment) > SEGMENT_BYTES_MAX) {
      fail('INVALID_KEY', `a path segment of the key is longer than ${SEGMENT_BYTES_MAX} bytes`);
    }
  }
  assert(segments.length >= 1);
  return { dirs: segments.slice(0, -1), name: segments[segments.length - 1], isDirMarker };
}

// Whether a key could name an object: GET and HEAD of one that cannot are NoSuchKey, as DELETE
// finds it already absent, instead of resolving it as a path ("/g" would be "g").
export function isStorableKey(key: string): boolean {
  try {
    parseKey(key);
    return true;
  } catch {
    return false;
  }
}

export const namesOf = (path: KeyPath): string[] => [...path.dirs, path.name];

export function bucketDir(store: Store, name: string): Inode {
  const bucket = store.bucket(name) ?? fail('NO_SUCH_BUCKET', `no bucket ${name}`);
  const dir = store.mustInode(bucket.ino);
  assert(dir.type === 'dir', `bucket ${name} is a directory`);
  return dir;
}

// Follows names from a directory; undefined when a name is missing or a non-directory is crossed.
export function lookupPath(store: Store, from: Inode, names: string[]): Inode | undefined {
  let at = from;
  for (const name of names) {
    if (at.type !== 'dir') return undefined;
    const entry = store.dirent(at.ino, name);
    if (!entry) return undefined;
    at = store.mustInode(entry.ino);
  }
  return at;
}

// Adds a directory entry for a new directory under `parent` (which gains a link).
export function addSubdir(
  store: Store,
  parentIno: number,
  name: string,
  dir: Inode,
  nowMs: number,
) {
  assert(dir.type === 'dir' && dir.parent === parentIno);
  store.putDirent(parentIno, name, { ino: dir.ino, type: 'dir' });
  store.putInode(dir);
  const parent = store.mustInode(parentIno);
  store.putInode({ ...parent, nlink: parent.nlink + 1, mtimeMs: nowMs, ctimeMs: nowMs });
}

// Walks the parents of a key, creating the missing ones as implicit directories.
export function parentsOf(
  store: Store,
  bucket: Inode,
  dirs: string[],
  caller: Caller,
  nowMs: number,
): Inode {
  let parent = bucket;
  for (const name of dirs) {
    const entry = store.dirent(parent.ino, name);
    if (entry && entry.type !== 'dir')
      fail('KEY_CONFLICT', `"${name}" exists as an object, not a directory`);
    if (entry) {
      parent = store.mustInode(entry.ino);
      continue;
    }
    const dir: Inode = {
      ...newInode(store, 'dir', 0o755, caller, nowMs, parent),
      parent: parent.ino,
      implicit: true,
    };
    addSubdir(store, parent.ino, name, dir, nowMs);
    parent = dir;
  }
  return parent;
}
