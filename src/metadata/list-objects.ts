// ListObjects over the inode tree, in UTF-8 binary key order across the whole key space of a
// bucket. Directory entries are keyed by "name/" for directories, so a depth-first walk in key
// order visits keys in S3 order; the walk starts at the deepest directory the prefix names and
// resumes after startAfter by descending along its path instead of scanning from the start.
//
// The result is the sorted list of entries (object keys, and common prefixes for keys that hold
// the delimiter after the prefix) that sort after startAfter, cut at maxKeys. A directory whose
// own key already holds the delimiter is one common prefix as a whole: it is not descended into.
import assert from 'node:assert';
import type { Store } from './store.ts';
import type { Inode, ListedObject, ListObjectsQuery, ListObjectsResult } from './types.ts';

const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
const MAX_KEYS_LIMIT = 1000;

export interface Item {
  key: string;
  commonPrefix: boolean;
  inode?: Inode;
}

interface Walk {
  store: Store;
  prefix: string;
  delimiter: string | undefined;
  startAfter: string | undefined;
}

export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function listObjects(
  store: Store,
  bucketIno: number,
  q: ListObjectsQuery,
): ListObjectsResult {
  const result: ListObjectsResult = { objects: [], commonPrefixes: [], isTruncated: false };
  const maxKeys = Math.min(Math.max(0, Math.floor(q.maxKeys)), MAX_KEYS_LIMIT);
  // S3 answers max-keys=0 with nothing, not truncated.
  if (!(maxKeys > 0)) return result;
  let count = 0;
  for (const entry of listedEntries(store, bucketIno, q)) {
    if (count === maxKeys) {
      result.isTruncated = true;
      break;
    }
    count++;
    result.nextStartAfter = entry.key;
    if (entry.commonPrefix) result.commonPrefixes.push(entry.key);
    else result.objects.push(listed(entry.key, entry.inode as Inode));
  }
  if (!result.isTruncated) result.nextStartAfter = undefined;
  assert(result.objects.length + result.commonPrefixes.length <= maxKeys);
  return result;
}

// What a listing shows, in order: the live objects (an inode each) and common prefixes (once
// each) after startAfter. ListObjectVersions merges this with the version records.
export function* listedEntries(
  store: Store,
  bucketIno: number,
  q: Pick<ListObjectsQuery, 'prefix' | 'delimiter' | 'startAfter'>,
): Generator<Item> {
  const w: Walk = {
    store,
    prefix: q.prefix ?? '',
    delimiter: q.delimiter || undefined, // S3: an empty delimiter is no delimiter
    startAfter: q.startAfter,
  };
  let lastCommonPrefix: string | undefined;
  for (const item of itemsOf(w, bucketIno)) {
    const entry = grouped(w, item);
    if (w.startAfter !== undefined && compareUtf8(entry.key, w.startAfter) <= 0) continue;
    if (entry.commonPrefix) {
      if (entry.key === lastCommonPrefix) continue;
      lastCommonPrefix = entry.key;
    }
    yield entry;
  }
}

// An object whose key holds the delimiter after the prefix counts as its common prefix.
function grouped(w: Walk, item: Item): Item {
  if (item.commonPrefix || w.delimiter === undefined) return item;
  const at = item.key.indexOf(w.delimiter, w.prefix.length);
  if (at < 0) return item;
  return { key: item.key.slice(0, at + w.delimiter.length), commonPrefix: true };
}

function* itemsOf(w: Walk, bucketIno: number): Generator<Item> {
  const lastSlash = w.prefix.lastIndexOf('/');
  const dirPath = w.prefix.slice(0, lastSlash + 1);
  const dir = descend(w.store, bucketIno, dirPath);
  if (dir === undefined) return;
  // A prefix that names an explicit directory ("a/") lists that directory's marker first.
  if (dirPath.length > 0 && dirPath === w.prefix && !dir.implicit) {
    yield { key: dirPath, commonPrefix: false, inode: dir };
  }
  yield* walkDir(w, dir.ino, dirPath, w.prefix.slice(lastSlash + 1));
}

// The directory that dirPath ("" or "a/b/") names. An empty segment ("/", "a//") is in no key
// (object-path.ts refuses it), so it names nothing: skipping it would list "a/x" as "/a/x".
function descend(store: Store, ino: number, dirPath: string): Inode | undefined {
  let at = store.inode(ino);
  if (dirPath === '') return at;
  assert(dirPath.endsWith('/'));
  for (const name of dirPath.slice(0, -1).split('/')) {
    if (name.length === 0) return undefined;
    const entry = at && store.dirent(at.ino, name);
    if (entry?.type !== 'dir') return undefined;
    at = store.inode(entry.ino);
  }
  return at;
}

// Where to start in a directory: at the name prefix, or further on along startAfter's path.
function startIn(w: Walk, dirPath: string, namePrefix: string): string {
  if (w.startAfter === undefined || !w.startAfter.startsWith(dirPath)) return namePrefix;
  const rest = w.startAfter.slice(dirPath.length);
  const slash = rest.indexOf('/');
  const segment = slash >= 0 ? rest.slice(0, slash + 1) : rest;
  return compareUtf8(segment, namePrefix) > 0 ? segment : namePrefix;
}

function* walkDir(w: Walk, dirIno: number, dirPath: string, namePrefix: string): Generator<Item> {
  for (const entry of w.store.dirents(dirIno, startIn(w, dirPath, namePrefix))) {
    if (!entry.sortName.startsWith(namePrefix)) return;
    // Symbolic links and special files are not objects; only the POSIX view shows them.
    if (entry.type === 'symlink' || entry.type === 'special') continue;
    const key = dirPath + entry.sortName;
    const inode = w.store.inode(entry.ino);
    assert(inode !== undefined, `directory entry ${key} has its inode`);
    if (entry.type === 'file') {
      yield { key, commonPrefix: false, inode };
      continue;
    }
    const at = w.delimiter === undefined ? -1 : key.indexOf(w.delimiter, w.prefix.length);
    if (at >= 0 && at + (w.delimiter as string).length <= key.length) {
      // Every key below shares this common prefix: one entry, if there is any key below.
      if (hasObjects(w.store, inode)) {
        yield { key: key.slice(0, at + (w.delimiter as string).length), commonPrefix: true };
      }
      continue;
    }
    if (!inode.implicit) yield { key, commonPrefix: false, inode };
    yield* walkDir(w, entry.ino, key, '');
  }
}

// Whether a directory is, or holds, anything listed as an object.
function hasObjects(store: Store, dir: Inode): boolean {
  if (!dir.implicit) return true;
  for (const entry of store.dirents(dir.ino)) {
    if (entry.type === 'file') return true;
    if (entry.type !== 'dir') continue;
    const child = store.inode(entry.ino);
    if (child && hasObjects(store, child)) return true;
  }
  return false;
}

export function listed(key: string, inode: Inode): ListedObject {
  const isDirMarker = inode.type === 'dir';
  return {
    key,
    size: isDirMarker ? 0 : inode.size,
    etag: isDirMarker ? EMPTY_MD5 : (inode.object?.etag ?? ''),
    lastModifiedMs: inode.mtimeMs,
    isDirMarker,
    ...(inode.object?.storageClass !== undefined
      ? { storageClass: inode.object.storageClass }
      : {}),
  };
}
