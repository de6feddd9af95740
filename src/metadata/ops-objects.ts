// The S3 view's object commands: whole-object put, delete, copy and tagging. Keys are paths below
// the bucket directory (object-path.ts).
import assert from 'node:assert';
import { checkExtents, releaseExtents, removeAllExtents, writeExtents } from './extent-ops.ts';
import {
  addSubdir,
  bucketDir,
  isStorableKey,
  type KeyPath,
  lookupPath,
  namesOf,
  parentsOf,
  parseKey,
} from './object-path.ts';
import { dropLink, newInode, removeDir } from './ops-namespace.ts';
import { fail, type Store } from './store.ts';
import type { Command, Inode, ObjectMeta } from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

const unquote = (etag: string) => etag.replaceAll('"', '');
const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

// The entity tags of an If-Match / If-None-Match header (RFC 9110 13.1.1-2): "*", or a list of
// quoted tags, weak ones (W/"...") compared by their value as S3 does.
export function etagList(header: string): string[] | '*' {
  if (header.trim() === '*') return '*';
  return header
    .split(',')
    .map((tag) => unquote(tag.trim().replace(/^W\//, '')))
    .filter((tag) => tag.length > 0);
}

// Decided here, in the state machine, atomically with the write: of two conditional writes
// racing for one key, the first applied wins and the other finds its condition false.
// If-None-Match "*" means the object must not exist; a list of tags, that it must not have one of
// them. If-Match needs the object (NoSuchKey otherwise, as on AWS) with one of the tags.
export function checkPreconditions(
  current: Inode | undefined,
  ifMatch?: string,
  ifNoneMatch?: string,
) {
  const etag = current && (current.object?.etag || (current.type === 'dir' ? EMPTY_MD5 : ''));
  if (ifNoneMatch !== undefined && current) {
    const tags = etagList(ifNoneMatch);
    if (tags === '*') fail('PRECONDITION_FAILED', 'the object exists (If-None-Match: *)');
    if (tags.includes(etag as string))
      fail('PRECONDITION_FAILED', 'the object has one of the ETags (If-None-Match)');
  }
  if (ifMatch !== undefined) {
    if (!current) fail('ENOENT', 'no object to match (If-Match)');
    const tags = etagList(ifMatch);
    if (tags !== '*' && !tags.includes(etag as string))
      fail('PRECONDITION_FAILED', 'the object has another ETag (If-Match)');
  }
}

// What storeObject needs: a putObject command, whichever command it came from.
export type ObjectWrite = Omit<Op<'putObject'>, 'op'>;

// Creates or replaces the object. `refsHeld`: the extents already hold one stripe reference each
// (multipart parts moving into their object), so none is added.
export function storeObject(store: Store, w: ObjectWrite, refsHeld: boolean) {
  const path = parseKey(w.key);
  const bucket = bucketDir(store, w.bucket);
  if (!Number.isSafeInteger(w.size) || w.size < 0) fail('EINVAL', `bad object size ${w.size}`);
  if (path.isDirMarker && (w.size > 0 || w.extents.length > 0))
    fail('INVALID_KEY', 'a key ending in "/" names a directory and must be empty');
  checkExtents(w.extents, w.size);
  const existing = lookupPath(store, bucket, namesOf(path));
  // The object the key names now: a file, or for "dir/" an explicit directory.
  const isObject = path.isDirMarker
    ? existing?.type === 'dir' && !existing.implicit
    : existing?.type === 'file';
  checkPreconditions(isObject ? existing : undefined, w.ifMatch, w.ifNoneMatch);
  const parent = parentsOf(store, bucket, path.dirs, w.caller, w.nowMs);
  if (path.isDirMarker) return storeDirMarker(store, parent, path.name, w);
  const entry = store.dirent(parent.ino, path.name);
  if (entry && entry.type !== 'file') {
    fail(
      'KEY_CONFLICT',
      `"${path.name}" exists as a ${entry.type === 'dir' ? 'directory' : 'link'}`,
    );
  }
  let file: Inode;
  let replaced: ReturnType<typeof removeAllExtents> = [];
  if (entry) {
    file = store.mustInode(entry.ino);
    replaced = removeAllExtents(store, file.ino);
  } else {
    file = newInode(store, 'file', 0o644, w.caller, w.nowMs, parent);
    store.putDirent(parent.ino, path.name, { ino: file.ino, type: 'file' });
    const fresh = store.mustInode(parent.ino);
    store.putInode({ ...fresh, mtimeMs: w.nowMs, ctimeMs: w.nowMs });
  }
  // New references first, then the old ones go: a stripe in both never drops to zero between.
  writeExtents(store, file.ino, w.extents, refsHeld);
  releaseExtents(store, replaced);
  const next: Inode = { ...file, size: w.size, object: w.object, mtimeMs: w.nowMs };
  next.ctimeMs = w.nowMs;
  store.putInode(next);
  return { ok: true as const, inode: next };
}

function storeDirMarker(store: Store, parent: Inode, name: string, w: ObjectWrite) {
  const entry = store.dirent(parent.ino, name);
  if (entry && entry.type !== 'dir') fail('KEY_CONFLICT', `"${name}" exists as an object`);
  if (entry) {
    const dir = store.mustInode(entry.ino);
    const next = { ...dir, implicit: false, object: w.object, ctimeMs: w.nowMs };
    store.putInode(next);
    return { ok: true as const, inode: next };
  }
  const dir: Inode = {
    ...newInode(store, 'dir', 0o755, w.caller, w.nowMs, parent),
    parent: parent.ino,
    object: w.object,
  };
  addSubdir(store, parent.ino, name, dir, w.nowMs);
  return { ok: true as const, inode: dir };
}

export function putObject(store: Store, c: Op<'putObject'>) {
  return storeObject(store, c, false);
}

// The file an object key names, if any (directories and symlinks are not objects here). A key
// that cannot be stored names none (object-path.ts, isStorableKey): "/g" is not "g".
function objectFile(store: Store, bucket: string, key: string): Inode | undefined {
  const dir = bucketDir(store, bucket);
  if (!isStorableKey(key)) return undefined;
  const path = parseKey(key);
  if (path.isDirMarker) return undefined;
  const inode = lookupPath(store, dir, namesOf(path));
  return inode?.type === 'file' ? inode : undefined;
}

export function setObjectTags(store: Store, c: Op<'setObjectTags'>) {
  const file = objectFile(store, c.bucket, c.key) ?? fail('ENOENT', `no object ${c.key}`);
  const tags = Object.keys(c.tags).length > 0 ? c.tags : undefined;
  const next = {
    ...file,
    object: { userMeta: {}, etag: '', ...file.object, tags },
    ctimeMs: c.nowMs,
  };
  store.putInode(next);
  return { ok: true as const, inode: next };
}

export function setObjectAcl(store: Store, c: Op<'setObjectAcl'>) {
  if (c.acl !== null && typeof c.acl !== 'string') fail('EINVAL', 'an ACL is a string or null');
  const file = objectFile(store, c.bucket, c.key) ?? fail('ENOENT', `no object ${c.key}`);
  const object = { userMeta: {}, etag: '', ...file.object };
  if (c.acl === null || c.acl === 'private') delete object.acl;
  else object.acl = c.acl;
  const next = { ...file, object, ctimeMs: c.nowMs };
  store.putInode(next);
  return { ok: true as const, inode: next };
}

export function copyObject(store: Store, c: Op<'copyObject'>) {
  const src =
    objectFile(store, c.srcBucket, c.srcKey) ?? fail('ENOENT', `no source object ${c.srcKey}`);
  const etag = src.object?.etag ?? '';
  if (c.copyIfMatch !== undefined && unquote(c.copyIfMatch) !== etag) {
    fail('PRECONDITION_FAILED', 'the source has another ETag (x-amz-copy-source-if-match)');
  }
  if (c.copyIfNoneMatch !== undefined && unquote(c.copyIfNoneMatch) === etag) {
    fail('PRECONDITION_FAILED', 'the source has that ETag (x-amz-copy-source-if-none-match)');
  }
  // Tags follow the source unless the request names its own (an empty set clears them).
  const tags = c.tags ?? (c.object?.tags === undefined ? src.object?.tags : c.object.tags);
  const object: ObjectMeta = c.object
    ? {
        ...c.object,
        etag,
        checksums: src.object?.checksums,
        partSizes: src.object?.partSizes,
        checksumAlgorithm: src.object?.checksumAlgorithm,
        checksumType: src.object?.checksumType,
        partChecksums: src.object?.partChecksums,
      }
    : { userMeta: {}, ...src.object, etag };
  // A copy is not the result of the source's multipart upload (ops-multipart.ts, retries).
  delete object.uploadId;
  object.tags = tags && Object.keys(tags).length > 0 ? tags : undefined;
  // A copy starts private, as on AWS, unless the request names its own ACL.
  if (c.acl !== undefined && c.acl !== 'private') object.acl = c.acl;
  else delete object.acl;
  const destination = lookupPath(store, bucketDir(store, c.bucket), namesOf(parseKey(c.key)));
  if (destination?.ino === src.ino) {
    checkPreconditions(destination, c.ifMatch, c.ifNoneMatch);
    const next = { ...src, object, ctimeMs: c.nowMs, mtimeMs: c.nowMs };
    store.putInode(next);
    return { ok: true as const, inode: next };
  }
  const extents = store.allExtents(src.ino);
  return storeObject(store, { ...c, object, size: src.size, extents }, false);
}

export function deleteObject(store: Store, c: Op<'deleteObject'>) {
  const bucket = bucketDir(store, c.bucket);
  let path: KeyPath;
  try {
    path = parseKey(c.key);
  } catch {
    return { ok: true as const }; // a key that cannot be stored is already absent
  }
  const parent = lookupPath(store, bucket, path.dirs);
  if (parent?.type !== 'dir') return { ok: true as const };
  const entry = store.dirent(parent.ino, path.name);
  if (!entry) return { ok: true as const };
  if (path.isDirMarker) {
    if (entry.type !== 'dir') return { ok: true as const };
    if (!store.isEmptyDir(entry.ino)) {
      // The marker goes; the directory stays for the keys below it, now implicit.
      const dir = store.mustInode(entry.ino);
      store.putInode({ ...dir, implicit: true, object: undefined, ctimeMs: c.nowMs });
      return { ok: true as const };
    }
    removeDir(store, parent, path.name, c.nowMs);
  } else {
    if (entry.type !== 'file') return { ok: true as const };
    store.removeDirent(parent.ino, entry.sortName);
    dropLink(store, store.mustInode(entry.ino), c.nowMs);
    const fresh = store.mustInode(parent.ino);
    store.putInode({ ...fresh, mtimeMs: c.nowMs, ctimeMs: c.nowMs });
  }
  pruneImplicit(store, bucket, path.dirs, c.nowMs);
  return { ok: true as const };
}

// Removes implicit directories that a delete left empty, deepest first, up to the bucket.
function pruneImplicit(store: Store, bucket: Inode, dirs: string[], nowMs: number): void {
  for (let depth = dirs.length; depth > 0; depth--) {
    const parent = lookupPath(store, bucket, dirs.slice(0, depth - 1));
    assert(parent?.type === 'dir', 'the parents of a deleted key are directories');
    const dir = lookupPath(store, parent, [dirs[depth - 1]]);
    if (dir?.type !== 'dir' || !dir.implicit || !store.isEmptyDir(dir.ino)) return;
    removeDir(store, parent, dirs[depth - 1], nowMs);
  }
}
