// ListObjects over the inode tree, in UTF-8 binary key order across the whole key space of a
// bucket. Directory entries are keyed by "name/" for directories, so a depth-first walk in key
// order visits keys in S3 order; the walk starts at the deepest directory the prefix names and
// resumes after startAfter by descending along its path instead of scanning from the start.
import type { Store } from './store.ts';
import type { Inode, ListedObject, ListObjectsQuery, ListObjectsResult } from './types.ts';

const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

interface Item {
  key: string;
  commonPrefix: boolean;
  inode?: Inode;
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
  const slashMode = q.delimiter === '/';
  const lastSlash = q.prefix.lastIndexOf('/');
  const startDirPath = q.prefix.slice(0, lastSlash + 1);
  const namePrefix = q.prefix.slice(lastSlash + 1);
  const startDir = descend(store, bucketIno, startDirPath);
  if (startDir === undefined) return result;
  const walk = walkDir(store, startDir, startDirPath, namePrefix, q.startAfter, slashMode);
  let lastCommonPrefix: string | undefined;
  let count = 0;
  for (const item of walk) {
    if (q.startAfter !== undefined && compareUtf8(item.key, q.startAfter) <= 0) continue;
    let entry = item;
    if (!item.commonPrefix && q.delimiter) {
      const at = item.key.indexOf(q.delimiter, q.prefix.length);
      if (at >= 0) entry = { key: item.key.slice(0, at + q.delimiter.length), commonPrefix: true };
    }
    if (entry.commonPrefix) {
      if (entry.key === lastCommonPrefix || entry.key === q.startAfter) continue;
      lastCommonPrefix = entry.key;
    }
    if (count === q.maxKeys) {
      result.isTruncated = true;
      break;
    }
    count++;
    result.nextStartAfter = entry.key;
    if (entry.commonPrefix) result.commonPrefixes.push(entry.key);
    else result.objects.push(listed(entry.key, entry.inode as Inode));
  }
  if (!result.isTruncated) result.nextStartAfter = undefined;
  return result;
}

function descend(store: Store, ino: number, dirPath: string): number | undefined {
  let at = ino;
  for (const name of dirPath.split('/').filter((s) => s.length > 0)) {
    const entry = store.dirent(at, name);
    if (entry?.type !== 'dir') return undefined;
    at = entry.ino;
  }
  return at;
}

function* walkDir(
  store: Store,
  dirIno: number,
  dirPath: string,
  namePrefix: string,
  startAfter: string | undefined,
  slashMode: boolean,
): Generator<Item> {
  let from = namePrefix;
  if (startAfter?.startsWith(dirPath)) {
    const rest = startAfter.slice(dirPath.length);
    const slash = rest.indexOf('/');
    const segment = slash >= 0 ? rest.slice(0, slash + 1) : rest;
    if (compareUtf8(segment, from) > 0) from = segment;
  }
  for (const entry of store.dirents(dirIno, from)) {
    if (!entry.sortName.startsWith(namePrefix)) return;
    const key = dirPath + entry.sortName;
    if (entry.type === 'symlink') continue; // not objects; only the POSIX view shows them
    const inode = store.inode(entry.ino);
    if (!inode) continue;
    if (entry.type !== 'dir') {
      yield { key, commonPrefix: false, inode };
      continue;
    }
    // With "/" as delimiter every directory at this level is a common prefix: no need to descend.
    if (slashMode) {
      yield { key, commonPrefix: true };
      continue;
    }
    if (!inode.implicit) yield { key, commonPrefix: false, inode };
    yield* walkDir(store, entry.ino, key, '', startAfter, false);
  }
}

function listed(key: string, inode: Inode): ListedObject {
  const isDirMarker = inode.type === 'dir';
  return {
    key,
    size: isDirMarker ? 0 : inode.size,
    etag: isDirMarker ? EMPTY_MD5 : (inode.object?.etag ?? ''),
    lastModifiedMs: inode.mtimeMs,
    isDirMarker,
  };
}
