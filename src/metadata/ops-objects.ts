// The S3 view's object commands: whole-object put, delete, copy and tagging. Keys are paths below
// the bucket directory (object-path.ts).
import assert from 'node:assert';
import {
  addRef,
  checkExtents,
  checkInlineRule,
  inlineLimit,
  releaseExtents,
  removeAllExtents,
  writeExtents,
} from './extent-ops.ts';
import { withEncryption } from './object-encryption.ts';
import { checkLockRequest, checkRemovable } from './object-lock.ts';
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
import { clusterConfig } from './ops-cluster.ts';
import { dropLink, newInode, removeDir } from './ops-namespace.ts';
import { adoptRestoredCopy, freeRestoredCopy } from './restored-copy.ts';
import { dataIno, dataReadable, isArchiveClass, storagePolicy } from './storage-class.ts';
import { fail, type Store } from './store.ts';
import type {
  BucketInfo,
  Command,
  Extent,
  FileExtent,
  Inode,
  ObjectMeta,
  StorageClass,
} from './types.ts';
import { objectVersion } from './version-reads.ts';
import {
  findVersion,
  freeFrozen,
  isVersionId,
  materialise,
  newest,
  type ReplicaPlace,
  recordDeleteMarker,
  recordVersion,
  removeRecord,
  replicaPlace,
  retireCurrent,
} from './versions.ts';

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
  checkExtents(w.extents, w.size, inlineLimit(store));
  const info = store.bucket(w.bucket) as BucketInfo;
  // SSE-S3 and the bucket's default encryption, refused before anything changes.
  const object = withEncryption(store, info, w.object, w.extents);
  // Refused before anything changes: a lock asked of a bucket without Object Lock, or of a
  // directory marker (not versioned, so nothing to retain).
  if (w.lock !== undefined) {
    checkLockRequest(info, w.lock, w.nowMs);
    if (path.isDirMarker) fail('INVALID_KEY', 'a directory marker has no versions to lock');
  }
  const existing = lookupPath(store, bucket, namesOf(path));
  // The object the key names now: a file, or for "dir/" an explicit directory.
  const isObject = path.isDirMarker
    ? existing?.type === 'dir' && !existing.implicit
    : existing?.type === 'file';
  checkPreconditions(isObject ? existing : undefined, w.ifMatch, w.ifNoneMatch);
  let replica: ReplicaPlace | undefined;
  if (w.replicaVersionId !== undefined) {
    if (path.isDirMarker) fail('INVALID_KEY', 'a directory marker has no versions to replicate');
    const live = isObject ? existing : undefined;
    replica = replicaPlace(store, info, { key: w.key, live }, w.replicaVersionId);
    if (!replica.current) return storeNoncurrentReplica(store, info, { ...w, object }, replica);
  }
  const parent = parentsOf(store, bucket, path.dirs, w.caller, w.nowMs);
  if (path.isDirMarker) return storeDirMarker(store, parent, path.name, { ...w, object });
  const entry = store.dirent(parent.ino, path.name);
  if (entry && entry.type !== 'file') {
    fail(
      'KEY_CONFLICT',
      `"${path.name}" exists as a ${entry.type === 'dir' ? 'directory' : 'link'}`,
    );
  }
  const versioned = info.versioning !== undefined;
  // New references first, before anything is released: a stripe the new content shares with what
  // goes (the version a restore copies, replaced under Suspended) never drops to zero between.
  if (!refsHeld) for (const extent of w.extents) if (extent.stripe) addRef(store, extent.stripe, 1);
  let file: Inode;
  let replaced: ReturnType<typeof removeAllExtents> = [];
  if (entry) {
    file = store.mustInode(entry.ino);
    if (versioned) retireCurrent(store, info, w.key, file);
    // Its restored copy goes with its data (a noncurrent version made above has taken it over).
    freeRestoredCopy(store, file);
    replaced = removeAllExtents(store, file.ino);
  } else {
    if (versioned) retireCurrent(store, info, w.key, undefined);
    file = newInode(store, 'file', 0o644, w.caller, w.nowMs, parent);
    store.putDirent(parent.ino, path.name, { ino: file.ino, type: 'file' });
    const fresh = store.mustInode(parent.ino);
    store.putInode({ ...fresh, mtimeMs: w.nowMs, ctimeMs: w.nowMs });
  }
  writeExtents(store, file.ino, w.extents, true);
  releaseExtents(store, replaced);
  const next: Inode = { ...file, size: w.size, object, mtimeMs: w.nowMs };
  next.ctimeMs = w.nowMs;
  checkInlineRule(store, next);
  store.putInode(next);
  if (!versioned) return { ok: true as const, inode: next };
  const version = { ino: next.ino, mtimeMs: w.nowMs, lock: w.lock };
  const versionId = recordVersion(store, info, w.key, version, replica);
  return { ok: true as const, inode: next, versionId };
}

// A replica older than the key's newest version here: its data goes straight into a frozen
// inode (no name, as every noncurrent version's), the live file and the namespace stay as they
// are.
function storeNoncurrentReplica(
  store: Store,
  info: BucketInfo,
  w: ObjectWrite,
  replica: ReplicaPlace,
) {
  assert(!replica.current, 'a noncurrent replica');
  for (const extent of w.extents) if (extent.stripe) addRef(store, extent.stripe, 1);
  const frozen: Inode = {
    ...newInode(store, 'file', 0o644, w.caller, w.nowMs),
    nlink: 0,
    frozen: true,
    size: w.size,
    object: w.object,
  };
  writeExtents(store, frozen.ino, w.extents, true);
  store.putInode(frozen);
  const version = { ino: frozen.ino, mtimeMs: w.nowMs, lock: w.lock };
  const versionId = recordVersion(store, info, w.key, version, replica);
  assert(versionId === replica.versionId, 'a replica keeps its source version id');
  return { ok: true as const, inode: frozen, versionId };
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

// The file holding a version's data: the current one's without a version id (ENOENT when there
// is none), the named one's with it (NO_SUCH_VERSION; a delete marker has none to offer).
export function versionFile(store: Store, bucket: string, key: string, versionId?: string): Inode {
  bucketDir(store, bucket);
  if (versionId === undefined)
    return objectFile(store, bucket, key) ?? fail('ENOENT', `no object ${key}`);
  if (!isVersionId(versionId)) fail('EINVAL', 'Invalid version id specified');
  const version =
    objectVersion(store, bucket, key, versionId) ??
    fail('NO_SUCH_VERSION', `no version ${versionId} of ${key}`);
  if (version.deleteMarker) fail('METHOD_NOT_ALLOWED', `version ${versionId} is a delete marker`);
  return version.inode as Inode;
}

export function setObjectTags(store: Store, c: Op<'setObjectTags'>) {
  const file = versionFile(store, c.bucket, c.key, c.versionId);
  const tags = Object.keys(c.tags).length > 0 ? c.tags : undefined;
  const next = {
    ...file,
    object: { userMeta: {}, etag: '', ...file.object, tags },
    ctimeMs: c.nowMs,
  };
  store.putInode(next);
  const version = objectVersion(store, c.bucket, c.key, c.versionId);
  if (version?.versioned !== true) return { ok: true as const, inode: next };
  return { ok: true as const, inode: next, versionId: version.versionId };
}

export function setObjectAcl(store: Store, c: Op<'setObjectAcl'>) {
  if (c.acl !== null && typeof c.acl !== 'string') fail('EINVAL', 'an ACL is a string or null');
  const file = objectFile(store, c.bucket, c.key) ?? fail('ENOENT', `no object ${c.key}`);
  if (
    c.acl !== null &&
    c.acl !== 'private' &&
    store.bucket(c.bucket)?.ownership === 'BucketOwnerEnforced'
  )
    fail('EINVAL', `bucket ${c.bucket} has ACLs disabled (BucketOwnerEnforced)`);
  const object = { userMeta: {}, etag: '', ...file.object };
  if (c.acl === null || c.acl === 'private') delete object.acl;
  else object.acl = c.acl;
  const next = { ...file, object, ctimeMs: c.nowMs };
  store.putInode(next);
  return { ok: true as const, inode: next };
}

export function copyObject(store: Store, c: Op<'copyObject'>) {
  const src = versionFile(store, c.srcBucket, c.srcKey, c.srcVersionId);
  // An archived source is copied only while restored (AWS: 403 InvalidObjectState): a copy
  // would otherwise read around the restore.
  if (!dataReadable(src.object, c.nowMs))
    fail('INVALID_OBJECT_STATE', 'The source object of the COPY action is not in the active tier');
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
        bytesCrc32c: src.object?.bytesCrc32c,
        checksumAlgorithm: src.object?.checksumAlgorithm,
        checksumType: src.object?.checksumType,
        partChecksums: src.object?.partChecksums,
      }
    : { userMeta: {}, ...src.object, etag };
  // A copy is not the result of the source's multipart upload (ops-multipart.ts, retries).
  delete object.uploadId;
  // Its class is its request's (STANDARD unless named, as on AWS) and it has no restore; it
  // shares the source's stripes whatever code they have (a stripe records its own): a restored
  // source's copy (STANDARD stripes), else its own.
  delete object.restore;
  if (c.storageClass === undefined || c.storageClass === 'STANDARD') delete object.storageClass;
  else object.storageClass = c.storageClass;
  // Its encryption is its own request's or its bucket's default, never the source's (as on AWS);
  // storeObject checks the shared stripes are sealed.
  delete object.kmsKeyId;
  delete object.sseContext;
  delete object.bucketKeyEnabled;
  if (c.sse === undefined) delete object.sse;
  else object.sse = c.sse;
  if (c.sse === 'aws:kms') {
    if (c.kmsKeyId !== undefined) object.kmsKeyId = c.kmsKeyId;
    if (c.sseContext !== undefined) object.sseContext = c.sseContext;
    if (c.bucketKeyEnabled === true) object.bucketKeyEnabled = true;
  }
  if (c.sseCustomer === undefined) delete object.sseCustomer;
  else object.sseCustomer = c.sseCustomer;
  object.tags = tags && Object.keys(tags).length > 0 ? tags : undefined;
  // A copy starts private, as on AWS, unless the request names its own ACL.
  if (c.acl !== undefined && c.acl !== 'private') object.acl = c.acl;
  else delete object.acl;
  const destination = lookupPath(store, bucketDir(store, c.bucket), namesOf(parseKey(c.key)));
  if (c.lock !== undefined) checkLockRequest(store.bucket(c.bucket) as BucketInfo, c.lock, c.nowMs);
  // In a versioned bucket a copy onto itself is a new version like any other.
  const versioned = store.bucket(c.bucket)?.versioning !== undefined;
  if (destination?.ino === src.ino && !versioned && c.rewritten === undefined) {
    checkPreconditions(destination, c.ifMatch, c.ifNoneMatch);
    const info = store.bucket(c.bucket) as BucketInfo;
    // In place, a restore's copy goes with the restore: into a class that is not archived its
    // stripes become the file's (the archive's are released), else the file keeps its own.
    if (isArchiveClass(c.storageClass)) freeRestoredCopy(store, src);
    else adoptRestoredCopy(store, src);
    const stored = withEncryption(store, info, object, store.allExtents(src.ino));
    const next = { ...src, object: stored, ctimeMs: c.nowMs, mtimeMs: c.nowMs };
    store.putInode(next);
    return { ok: true as const, inode: next };
  }
  const extents =
    c.rewritten === undefined ? store.allExtents(dataIno(src)) : rewrittenFrom(src, c);
  checkClassStripes(store, c.storageClass, extents);
  return storeObject(store, { ...c, object, size: src.size, extents }, false);
}

// A copy into an archive class holds stripes of that class's code only (its writer re-encoded
// the source): shared stripes of another code would be an archive in name only.
function checkClassStripes(
  store: Store,
  storageClass: StorageClass | undefined,
  extents: FileExtent[],
) {
  if (!isArchiveClass(storageClass)) return;
  const config = clusterConfig(store);
  if (config === undefined) return; // no policy recorded yet: nothing to judge the code by
  const policy = storagePolicy(config, storageClass);
  for (const e of extents)
    if (e.stripe === undefined || e.stripe.k !== policy.k || e.stripe.m !== policy.m)
      fail(
        'EINVAL',
        `a copy into ${storageClass} is written with its ${policy.k}+${policy.m} code`,
      );
}

// The sealed copy of the source's bytes, if the source is still what the writer read.
function rewrittenFrom(src: Inode, c: Op<'copyObject'>): Extent[] {
  const r = c.rewritten;
  assert(r !== undefined, 'a rewritten copy');
  if (r.srcIno !== src.ino || r.srcCtimeMs !== src.ctimeMs || r.size !== src.size)
    fail('PRECONDITION_FAILED', 'the copy source changed while its bytes were being encrypted');
  return r.extents;
}

export function deleteObject(store: Store, c: Op<'deleteObject'>) {
  const bucket = bucketDir(store, c.bucket);
  const info = store.bucket(c.bucket) as BucketInfo;
  let path: KeyPath;
  try {
    path = parseKey(c.key);
  } catch {
    return { ok: true as const }; // a key that cannot be stored is already absent
  }
  if (c.replicaVersionId !== undefined && (c.versionId !== undefined || path.isDirMarker))
    fail('EINVAL', 'a replicated delete makes a delete marker: no version id, not a directory');
  if (c.versionId !== undefined) {
    if (!isVersionId(c.versionId)) fail('EINVAL', 'Invalid version id specified');
    if (c.versionId !== 'null' || info.versioning !== undefined)
      return deleteVersion(store, info, c.key, c.versionId, c);
  }
  if (info.versioning !== undefined && !path.isDirMarker) return markDeleted(store, info, c.key, c);
  if (c.replicaVersionId !== undefined)
    fail('INVALID_BUCKET_STATE', `a replica needs versioning Enabled on bucket ${c.bucket}`);
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

// DELETE without a version id in a versioned bucket: a delete marker becomes current; the live
// file's data stays as a noncurrent version (unless it was a suspended bucket's null version).
function markDeleted(
  store: Store,
  info: BucketInfo,
  key: string,
  c: { nowMs: number; replicaVersionId?: string },
) {
  const nowMs = c.nowMs;
  const path = parseKey(key);
  const bucket = store.mustInode(info.ino);
  const parent = lookupPath(store, bucket, path.dirs);
  const entry = parent?.type === 'dir' ? store.dirent(parent.ino, path.name) : undefined;
  if (entry !== undefined && entry.type !== 'file') return { ok: true as const }; // not an object
  const live = entry === undefined ? undefined : store.mustInode(entry.ino);
  let replica: ReplicaPlace | undefined;
  if (c.replicaVersionId !== undefined) {
    replica = replicaPlace(store, info, { key, live }, c.replicaVersionId);
    // Older than the key's newest version here: a noncurrent delete marker, nothing else moves.
    if (!replica.current) {
      const versionId = recordDeleteMarker(store, info, key, nowMs, replica);
      return { ok: true as const, versionId, deleteMarker: true };
    }
  }
  retireCurrent(store, info, key, live);
  if (entry !== undefined && live !== undefined)
    unlinkLive(store, parent as Inode, entry.sortName, live, nowMs);
  pruneImplicit(store, bucket, path.dirs, nowMs);
  const versionId = recordDeleteMarker(store, info, key, nowMs, replica);
  return { ok: true as const, versionId, deleteMarker: true };
}

function unlinkLive(store: Store, parent: Inode, sortName: string, live: Inode, nowMs: number) {
  store.removeDirent(parent.ino, sortName);
  dropLink(store, live, nowMs);
  const fresh = store.mustInode(parent.ino);
  store.putInode({ ...fresh, mtimeMs: nowMs, ctimeMs: nowMs });
}

// DELETE with a version id removes that version for good. When it was the current one, the next
// newest becomes current: an object's frozen data is linked at the key again.
function deleteVersion(
  store: Store,
  info: BucketInfo,
  key: string,
  versionId: string,
  c: Op<'deleteObject'>,
) {
  const nowMs = c.nowMs;
  const path = parseKey(key);
  if (path.isDirMarker) return { ok: true as const }; // directory markers have no versions
  const bucket = store.mustInode(info.ino);
  const parent = lookupPath(store, bucket, path.dirs);
  const entry = parent?.type === 'dir' ? store.dirent(parent.ino, path.name) : undefined;
  const live = entry?.type === 'file' ? store.mustInode(entry.ino) : undefined;
  materialise(store, info, key, live);
  const found = findVersion(store, info.ino, key, versionId);
  if (found === undefined) return { ok: true as const };
  checkRemovable(key, found.record, nowMs, c.bypassGovernance === true);
  const current = newest(store, info.ino, key);
  removeRecord(store, info.ino, key, found);
  if (found.inverted !== current?.inverted) {
    if (found.record.ino !== undefined) freeFrozen(store, found.record.ino);
  } else {
    if (found.record.deleteMarker !== true) {
      assert(live !== undefined && entry !== undefined && live.ino === found.record.ino);
      unlinkLive(store, parent as Inode, entry.sortName, live, nowMs);
    }
    promote(store, info, key, nowMs);
  }
  pruneImplicit(store, bucket, path.dirs, nowMs);
  return { ok: true as const, versionId, deleteMarker: found.record.deleteMarker === true };
}

// The key's newest version, once its newer one is gone, becomes the live file (a delete marker
// leaves none). Its parents are made again if a delete pruned them; a directory or link that has
// taken the key's place since is a KEY_CONFLICT and the delete is not done.
function promote(store: Store, info: BucketInfo, key: string, nowMs: number): void {
  const next = newest(store, info.ino, key);
  if (next === undefined || next.record.deleteMarker === true) return;
  const frozen = store.mustInode(next.record.ino as number);
  assert(frozen.frozen === true, `the noncurrent version ${next.record.versionId} is frozen`);
  const path = parseKey(key);
  const owner = { uid: frozen.uid, gid: frozen.gid };
  const parent = parentsOf(store, store.mustInode(info.ino), path.dirs, owner, nowMs);
  if (store.dirent(parent.ino, path.name) !== undefined)
    fail('KEY_CONFLICT', `"${path.name}" exists as a directory or link`);
  const { frozen: _, ...live } = frozen;
  store.putInode({ ...live, nlink: 1, ctimeMs: nowMs });
  store.putDirent(parent.ino, path.name, { ino: frozen.ino, type: 'file' });
  const fresh = store.mustInode(parent.ino);
  store.putInode({ ...fresh, mtimeMs: nowMs, ctimeMs: nowMs });
}

// Removes implicit directories that a delete left empty, deepest first, up to the bucket.
function pruneImplicit(store: Store, bucket: Inode, dirs: string[], nowMs: number): void {
  for (let depth = dirs.length; depth > 0; depth--) {
    const parent = lookupPath(store, bucket, dirs.slice(0, depth - 1));
    // A versioned delete may find no directory at all (a key deleted while absent).
    if (parent?.type !== 'dir') continue;
    const dir = lookupPath(store, parent, [dirs[depth - 1]]);
    if (dir?.type !== 'dir' || !dir.implicit || !store.isEmptyDir(dir.ino)) return;
    removeDir(store, parent, dirs[depth - 1], nowMs);
  }
}
