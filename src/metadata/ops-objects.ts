// The S3 view's commands: buckets, whole-object put and delete, multipart uploads. Keys are paths
// below the bucket directory; the rules for keys that cannot be paths are in
// docs/architecture/overview.md ("Keys and paths").
import { addRef, releaseAll, releaseExtents, writeExtents } from './extent-ops.ts';
import * as K from './keys.ts';
import { dropLink, newInode, removeDir } from './ops-namespace.ts';
import { fail, type Store } from './store.ts';
import {
  type Caller,
  type Command,
  type Extent,
  type Inode,
  type ObjectMeta,
  ROOT_INO,
} from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

const SEGMENT_BYTES_MAX = 255;
const KEY_BYTES_MAX = 1024;

export interface KeyPath {
  dirs: string[]; // parent directories below the bucket
  name: string; // last segment
  isDirMarker: boolean; // key ends in "/"
}

export function parseKey(key: string): KeyPath {
  if (typeof key !== 'string' || key.length === 0) fail('INVALID_KEY', 'the key is empty');
  if (Buffer.byteLength(key) > KEY_BYTES_MAX)
    fail('INVALID_KEY', `the key is longer than ${KEY_BYTES_MAX} bytes`);
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
  return { dirs: segments.slice(0, -1), name: segments[segments.length - 1], isDirMarker };
}

export function bucketDir(store: Store, name: string): Inode {
  const bucket = store.bucket(name) ?? fail('NO_SUCH_BUCKET', `no bucket ${name}`);
  return store.mustInode(bucket.ino);
}

export function createBucket(store: Store, c: Op<'createBucket'>) {
  if (c.name.length === 0 || c.name.includes('/') || c.name === '.' || c.name === '..') {
    fail('EINVAL', `invalid bucket name ${JSON.stringify(c.name)}`);
  }
  if (store.bucket(c.name) || store.dirent(ROOT_INO, c.name))
    fail('BUCKET_EXISTS', `bucket ${c.name} exists`);
  const root = store.mustInode(ROOT_INO);
  const dir = { ...newInode(store, 'dir', 0o755, c.caller, c.nowMs), parent: ROOT_INO };
  store.putDirent(ROOT_INO, c.name, { ino: dir.ino, type: 'dir' });
  store.putInode(dir);
  store.putInode({ ...root, nlink: root.nlink + 1, mtimeMs: c.nowMs, ctimeMs: c.nowMs });
  const bucket = { name: c.name, ino: dir.ino, createdAtMs: c.nowMs, owner: c.owner };
  store.db.putSync(K.bucketKey(c.name), bucket);
  return { ok: true as const, bucket, inode: dir };
}

export function deleteBucket(store: Store, c: Op<'deleteBucket'>) {
  const dir = bucketDir(store, c.name);
  if (!store.isEmptyDir(dir.ino)) fail('BUCKET_NOT_EMPTY', `bucket ${c.name} is not empty`);
  for (const { value } of store.db.getRange({
    start: K.uploadPrefix(),
    end: K.uploadPrefixEnd(),
  })) {
    if ((value as { bucket: string }).bucket === c.name) {
      fail('BUCKET_NOT_EMPTY', `bucket ${c.name} has multipart uploads in progress`);
    }
  }
  removeDir(store, store.mustInode(ROOT_INO), c.name, c.nowMs);
  store.db.removeSync(K.bucketKey(c.name));
  return { ok: true as const };
}

// Walks (and creates, as implicit directories) the parents of a key.
function parentsOf(
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
    store.putDirent(parent.ino, name, { ino: dir.ino, type: 'dir' });
    store.putInode(dir);
    const fresh = store.mustInode(parent.ino);
    store.putInode({ ...fresh, nlink: fresh.nlink + 1, mtimeMs: nowMs, ctimeMs: nowMs });
    parent = dir;
  }
  return parent;
}

function checkPreconditions(current: Inode | undefined, ifMatch?: string, ifNoneMatch?: string) {
  const etag = current?.object?.etag;
  if (ifNoneMatch !== undefined && current)
    fail('PRECONDITION_FAILED', 'the object exists (If-None-Match)');
  if (ifMatch !== undefined) {
    if (!current) fail('ENOENT', 'no object to match (If-Match)');
    const want = ifMatch.replaceAll('"', '');
    if (want !== '*' && want !== etag)
      fail('PRECONDITION_FAILED', 'the object has another ETag (If-Match)');
  }
}

// What storeObject needs: a putObject command, whichever command it came from.
export type ObjectWrite = Omit<Op<'putObject'>, 'op'>;

export function storeObject(store: Store, w: ObjectWrite, refsHeld: boolean) {
  const path = parseKey(w.key);
  const bucket = bucketDir(store, w.bucket);
  if (path.isDirMarker && w.size > 0)
    fail('INVALID_KEY', 'a key ending in "/" names a directory and must be empty');
  const existing = lookupPath(store, bucket, [...path.dirs, path.name]);
  const current = existing?.type === 'file' ? existing : undefined;
  if (!path.isDirMarker) checkPreconditions(current, w.ifMatch, w.ifNoneMatch);
  const parent = parentsOf(store, bucket, path.dirs, w.caller, w.nowMs);
  const entry = store.dirent(parent.ino, path.name);
  if (path.isDirMarker) {
    if (entry && entry.type !== 'dir') fail('KEY_CONFLICT', `"${path.name}" exists as an object`);
    if (entry) {
      const dir = store.mustInode(entry.ino);
      store.putInode({ ...dir, implicit: false, object: w.object, ctimeMs: w.nowMs });
      return { ok: true as const, inode: store.mustInode(entry.ino) };
    }
    const dir: Inode = {
      ...newInode(store, 'dir', 0o755, w.caller, w.nowMs, parent),
      parent: parent.ino,
      object: w.object,
    };
    store.putDirent(parent.ino, path.name, { ino: dir.ino, type: 'dir' });
    store.putInode(dir);
    const fresh = store.mustInode(parent.ino);
    store.putInode({ ...fresh, nlink: fresh.nlink + 1, mtimeMs: w.nowMs, ctimeMs: w.nowMs });
    return { ok: true as const, inode: dir };
  }
  if (entry && entry.type !== 'file') fail('KEY_CONFLICT', `"${path.name}" exists as a directory`);
  let file: Inode;
  if (entry) {
    file = store.mustInode(entry.ino);
    releaseAll(store, file.ino);
  } else {
    file = newInode(store, 'file', 0o644, w.caller, w.nowMs, parent);
    store.putDirent(parent.ino, path.name, { ino: file.ino, type: 'file' });
    const fresh = store.mustInode(parent.ino);
    store.putInode({ ...fresh, mtimeMs: w.nowMs, ctimeMs: w.nowMs });
  }
  const end = writeExtents(store, file.ino, w.extents, refsHeld);
  if (end > w.size) fail('EINVAL', `extents reach ${end}, past the object size ${w.size}`);
  const next = { ...file, size: w.size, object: w.object, mtimeMs: w.nowMs, ctimeMs: w.nowMs };
  store.putInode(next);
  return { ok: true as const, inode: next };
}

function lookupPath(store: Store, from: Inode, names: string[]): Inode | undefined {
  let at = from;
  for (const name of names) {
    if (at.type !== 'dir') return undefined;
    const entry = store.dirent(at.ino, name);
    if (!entry) return undefined;
    at = store.mustInode(entry.ino);
  }
  return at;
}

export function putObject(store: Store, c: Op<'putObject'>) {
  return storeObject(store, c, false);
}

export function setObjectTags(store: Store, c: Op<'setObjectTags'>) {
  const path = parseKey(c.key);
  const inode = lookupPath(store, bucketDir(store, c.bucket), [...path.dirs, path.name]);
  if (inode?.type !== 'file' || path.isDirMarker) fail('ENOENT', `no object ${c.key}`);
  const file = inode as Inode;
  const tags = Object.keys(c.tags).length > 0 ? c.tags : undefined;
  const next = {
    ...file,
    object: { userMeta: {}, etag: '', ...file.object, tags },
    ctimeMs: c.nowMs,
  };
  store.putInode(next);
  return { ok: true as const, inode: next };
}

export function copyObject(store: Store, c: Op<'copyObject'>) {
  const srcPath = parseKey(c.srcKey);
  const source = lookupPath(store, bucketDir(store, c.srcBucket), [...srcPath.dirs, srcPath.name]);
  if (source?.type !== 'file' || srcPath.isDirMarker)
    fail('ENOENT', `no source object ${c.srcKey}`);
  const src = source as Inode;
  const etag = src.object?.etag ?? '';
  if (c.copyIfMatch !== undefined && c.copyIfMatch.replaceAll('"', '') !== etag) {
    fail('PRECONDITION_FAILED', 'the source has another ETag (x-amz-copy-source-if-match)');
  }
  if (c.copyIfNoneMatch !== undefined && c.copyIfNoneMatch.replaceAll('"', '') === etag) {
    fail('PRECONDITION_FAILED', 'the source has that ETag (x-amz-copy-source-if-none-match)');
  }
  // Tags follow the source unless the new metadata names its own (an empty set clears them).
  const tags = c.object?.tags === undefined ? src.object?.tags : c.object.tags;
  const object: ObjectMeta = c.object
    ? { ...c.object, etag, checksums: src.object?.checksums, partSizes: src.object?.partSizes }
    : { userMeta: {}, ...src.object, etag };
  object.tags = tags && Object.keys(tags).length > 0 ? tags : undefined;
  const destination = lookupPath(store, bucketDir(store, c.bucket), parseKeyNames(c.key));
  if (destination?.ino === src.ino) {
    checkPreconditions(destination, c.ifMatch, c.ifNoneMatch);
    const next = { ...src, object, ctimeMs: c.nowMs, mtimeMs: c.nowMs };
    store.putInode(next);
    return { ok: true as const, inode: next };
  }
  const extents = store.allExtents(src.ino);
  return storeObject(store, { ...c, object, size: src.size, extents }, false);
}

function parseKeyNames(key: string): string[] {
  const path = parseKey(key);
  return [...path.dirs, path.name];
}

export function deleteObject(store: Store, c: Op<'deleteObject'>) {
  const bucket = bucketDir(store, c.bucket);
  let path: KeyPath;
  try {
    path = parseKey(c.key);
  } catch {
    return { ok: true as const }; // a key that cannot exist is already absent
  }
  const parent = lookupPath(store, bucket, path.dirs);
  const entry = parent && parent.type === 'dir' ? store.dirent(parent.ino, path.name) : undefined;
  if (!parent || !entry) return { ok: true as const };
  if (path.isDirMarker) {
    if (entry.type !== 'dir') return { ok: true as const };
    if (store.isEmptyDir(entry.ino)) {
      removeDir(store, parent, path.name, c.nowMs);
    } else {
      const dir = store.mustInode(entry.ino);
      store.putInode({ ...dir, implicit: true, object: undefined });
      return { ok: true as const };
    }
  } else {
    if (entry.type === 'dir') return { ok: true as const };
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
    const dir = parent && lookupPath(store, parent, [dirs[depth - 1]]);
    if (!parent || !dir || dir.type !== 'dir' || !dir.implicit || !store.isEmptyDir(dir.ino))
      return;
    removeDir(store, parent, dirs[depth - 1], nowMs);
  }
}

export function createUpload(store: Store, c: Op<'createUpload'>) {
  bucketDir(store, c.bucket);
  parseKey(c.key);
  if (store.upload(c.uploadId)) fail('EEXIST', 'upload id in use');
  const upload = {
    uploadId: c.uploadId,
    bucket: c.bucket,
    key: c.key,
    initiatedAtMs: c.nowMs,
    object: c.object,
    owner: c.owner,
  };
  store.db.putSync(K.uploadKey(c.uploadId), upload);
  return { ok: true as const };
}

export function putPart(store: Store, c: Op<'putPart'>) {
  if (!store.upload(c.uploadId)) fail('NO_SUCH_UPLOAD', `no upload ${c.uploadId}`);
  if (!Number.isInteger(c.partNumber) || c.partNumber < 1 || c.partNumber > 10_000)
    fail('EINVAL', 'part number 1..10000');
  const key = K.partKey(c.uploadId, c.partNumber);
  const previous = store.db.get(key) as { extents: Extent[] } | undefined;
  if (previous) releaseExtents(store, previous.extents);
  for (const extent of c.extents) addRef(store, extent.stripe, 1);
  const part = {
    partNumber: c.partNumber,
    size: c.size,
    etag: c.etag,
    lastModifiedMs: c.nowMs,
    extents: c.extents,
  };
  store.db.putSync(key, part);
  return { ok: true as const };
}

export function completeUpload(store: Store, c: Op<'completeUpload'>) {
  const upload = store.upload(c.uploadId) ?? fail('NO_SUCH_UPLOAD', `no upload ${c.uploadId}`);
  if (c.parts.length === 0) fail('INVALID_PART', 'a multipart upload needs at least one part');
  const stored = new Map(store.parts(c.uploadId).map((p) => [p.partNumber, p]));
  const extents: Extent[] = [];
  let offset = 0;
  const sizes: number[] = [];
  c.parts.forEach((want, i) => {
    if (i > 0 && want.partNumber <= c.parts[i - 1].partNumber)
      fail('INVALID_PART_ORDER', 'parts must ascend');
    const part =
      stored.get(want.partNumber) ??
      fail('INVALID_PART', `part ${want.partNumber} was not uploaded`);
    if (part.etag !== want.etag.replaceAll('"', ''))
      fail('INVALID_PART', `part ${want.partNumber} has another ETag`);
    if (i < c.parts.length - 1 && part.size < c.minPartSizeBytes) {
      fail('ENTITY_TOO_SMALL', `part ${want.partNumber} is ${part.size} bytes, below the minimum`);
    }
    for (const e of part.extents) extents.push({ ...e, fileOffset: e.fileOffset + offset });
    offset += part.size;
    sizes.push(part.size);
    stored.delete(want.partNumber);
  });
  const object: ObjectMeta = { ...upload.object, etag: c.etag, partSizes: sizes };
  const result = storeObject(
    store,
    {
      bucket: upload.bucket,
      key: upload.key,
      size: offset,
      extents,
      object,
      caller: c.caller,
      nowMs: c.nowMs,
      ifMatch: c.ifMatch,
      ifNoneMatch: c.ifNoneMatch,
    },
    true,
  );
  for (const unused of stored.values()) releaseExtents(store, unused.extents);
  removeUpload(store, c.uploadId);
  return result;
}

export function abortUpload(store: Store, c: Op<'abortUpload'>) {
  if (!store.upload(c.uploadId)) fail('NO_SUCH_UPLOAD', `no upload ${c.uploadId}`);
  for (const part of store.parts(c.uploadId)) releaseExtents(store, part.extents);
  removeUpload(store, c.uploadId);
  return { ok: true as const };
}

function removeUpload(store: Store, uploadId: string): void {
  for (const part of store.parts(uploadId))
    store.db.removeSync(K.partKey(uploadId, part.partNumber));
  store.db.removeSync(K.uploadKey(uploadId));
}
