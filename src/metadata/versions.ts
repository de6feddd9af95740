// Object versions (S3 versioning) as records beside the namespace. The namespace keeps showing
// the current version: the live file at the key's path is the current version's data. Every
// other version's data lives in a frozen inode (no name, nlink 0, `frozen`), made by copying the
// live file's extents (one more reference on each stripe) when it stops being current. A key's
// records ('V' + bucket + key + inverted sequence) are newest first; a key with no records and a
// live file has one version, the implicit "null" (written before versioning, or in a bucket that
// never had it), given a record the first time a versioned change touches the key.
//
// Version ids come from a counter in the state (`version`), so they are the same on every replica
// and sort newest first within a key: the id is the inverted sequence in hex. Under Suspended a
// new version is "null", and replaces the key's previous null version (AWS's rule).
import assert from 'node:assert/strict';
import { addRef } from './extent-ops.ts';
import * as K from './keys.ts';
import { locationIn, locationOf, type ObjectLocation } from './links.ts';
import { checkPosixChange, newVersionLock } from './object-lock.ts';
import { freeInode } from './ops-mounts.ts';
import { moveRestoredCopy } from './restored-copy.ts';
import { fail, type Store } from './store.ts';
import {
  type BucketInfo,
  type Inode,
  type ObjectLockRequest,
  ROOT_INO,
  type VersionRecord,
} from './types.ts';
import {
  invertedOfId,
  isVersionId,
  NULL_VERSION,
  VERSION_SEQ_MAX,
  versionIdOf,
} from './version-id.ts';

export { isVersionId, NULL_VERSION } from './version-id.ts';

export interface FoundVersion {
  inverted: number; // the record's position: smaller is newer
  record: VersionRecord;
}

export function nextInverted(store: Store): number {
  const seq = store.nextCounter('version', 1);
  assert(seq < VERSION_SEQ_MAX, 'version sequence exhausted');
  return VERSION_SEQ_MAX - seq;
}

export function* versionsOf(store: Store, bucketIno: number, key: string) {
  for (const { key: k, value } of store.db.getRange(K.versionKeyRange(bucketIno, key))) {
    yield { inverted: K.versionKeyParts(k as Buffer).inverted, record: value as VersionRecord };
  }
}

export function newest(store: Store, bucketIno: number, key: string): FoundVersion | undefined {
  for (const found of versionsOf(store, bucketIno, key)) return found;
  return undefined;
}

export function hasVersions(store: Store, bucketIno: number): boolean {
  for (const _ of store.db.getKeys({ ...K.versionPrefixRange(bucketIno, ''), limit: 1 }))
    return true;
  return false;
}

export function findVersion(
  store: Store,
  bucketIno: number,
  key: string,
  versionId: string,
): FoundVersion | undefined {
  const inverted =
    versionId === NULL_VERSION
      ? (store.db.get(K.nullVersionKey(bucketIno, key)) as number | undefined)
      : invertedOfId(versionId);
  if (inverted === undefined) return undefined;
  const record = store.db.get(K.versionKey(bucketIno, key, inverted)) as VersionRecord | undefined;
  if (record === undefined || record.versionId !== versionId) return undefined;
  return { inverted, record };
}

export function putRecord(store: Store, bucketIno: number, key: string, found: FoundVersion): void {
  store.db.putSync(K.versionKey(bucketIno, key, found.inverted), found.record);
  if (found.record.versionId === NULL_VERSION)
    store.db.putSync(K.nullVersionKey(bucketIno, key), found.inverted);
}

export function removeRecord(store: Store, bucketIno: number, key: string, found: FoundVersion) {
  store.db.removeSync(K.versionKey(bucketIno, key, found.inverted));
  if (found.record.versionId === NULL_VERSION)
    store.db.removeSync(K.nullVersionKey(bucketIno, key));
}

// A live file with no records is the key's implicit null version: it gets its record.
export function materialise(store: Store, bucket: BucketInfo, key: string, live?: Inode): void {
  if (live?.type !== 'file' || newest(store, bucket.ino, key) !== undefined) return;
  const record: VersionRecord = { versionId: NULL_VERSION, ino: live.ino, mtimeMs: live.mtimeMs };
  putRecord(store, bucket.ino, key, { inverted: nextInverted(store), record });
}

// A noncurrent copy of the live file: same attributes and object metadata, its own inode number
// and its own reference on each stripe, unreachable by name.
function freezeCopy(store: Store, live: Inode): Inode {
  assert(live.type === 'file' && live.frozen !== true, 'only a live file is frozen');
  const frozen: Inode = {
    ...live,
    ino: store.nextCounter('ino', ROOT_INO + 1),
    nlink: 0,
    frozen: true,
  };
  for (const extent of store.allExtents(live.ino)) {
    if (extent.stripe !== undefined) addRef(store, extent.stripe, 1); // inline bytes are copied
    store.putExtent(frozen.ino, extent);
  }
  store.putInode(frozen);
  moveRestoredCopy(store, live, frozen);
  return frozen;
}

export function freeFrozen(store: Store, ino: number): void {
  const inode = store.mustInode(ino);
  assert(inode.frozen === true, `version data ${ino} is a frozen inode`);
  freeInode(store, ino);
}

// The live file at the key is about to stop being the current version: replaced by a new one
// (PUT, copy, multipart completion, the first change of a POSIX save) or by a delete marker. What
// versioning keeps is kept: the current version's data moves to a frozen copy, except a null
// version under Suspended, which the new null version overwrites (the caller replaces or frees
// the live data). Under Suspended a noncurrent null version goes too.
export function retireCurrent(store: Store, bucket: BucketInfo, key: string, live?: Inode): void {
  assert(bucket.versioning !== undefined, 'a versioned bucket');
  // Suspended versioning replaces null versions, which Object Lock would have to keep: a bucket
  // with Object Lock never suspends (setBucketAttr refuses it).
  assert(bucket.versioning === 'Enabled' || bucket.objectLock === undefined, 'lock suspended');
  materialise(store, bucket, key, live);
  const current = newest(store, bucket.ino, key);
  const suspended = bucket.versioning === 'Suspended';
  const currentIsObject = current !== undefined && current.record.deleteMarker !== true;
  assert(live === undefined || currentIsObject, `${key}: a live file is the current version`);
  if (current !== undefined && current.record.deleteMarker !== true) {
    assert(
      live !== undefined && current.record.ino === live.ino,
      `${key}: the live file is current`,
    );
    if (suspended && current.record.versionId === NULL_VERSION) {
      removeRecord(store, bucket.ino, key, current);
    } else {
      const { saveToken: _, ...kept } = current.record;
      putRecord(store, bucket.ino, key, {
        inverted: current.inverted,
        record: { ...kept, ino: freezeCopy(store, live).ino },
      });
    }
  }
  if (!suspended) return;
  const previousNull = findVersion(store, bucket.ino, key, NULL_VERSION);
  if (previousNull === undefined) return;
  removeRecord(store, bucket.ino, key, previousNull);
  if (previousNull.record.ino !== undefined) freeFrozen(store, previousNull.record.ino);
}

// The live file `ino` now holds the new current version (after retireCurrent). It gets the lock
// the write asked for, or the bucket's default retention (mtimeMs is the command's nowMs). A
// replica takes the place its source's id names (replicaPlace) instead of a new one.
export function recordVersion(
  store: Store,
  bucket: BucketInfo,
  key: string,
  version: { ino: number; mtimeMs: number; saveToken?: string; lock?: ObjectLockRequest },
  replica?: ReplicaPlace,
): string {
  const lock = newVersionLock(bucket, version.mtimeMs, version.lock);
  const { inverted, versionId } = replica ?? newPlace(store, bucket);
  const record: VersionRecord = { versionId, ino: version.ino, mtimeMs: version.mtimeMs };
  if (version.saveToken !== undefined) record.saveToken = version.saveToken;
  if (lock.retention !== undefined) record.retention = lock.retention;
  if (lock.legalHold === true) record.legalHold = true;
  putRecord(store, bucket.ino, key, { inverted, record });
  return versionId;
}

// A delete marker becomes the current version (after retireCurrent), or for a replica older
// than the key's newest version, a noncurrent one.
export function recordDeleteMarker(
  store: Store,
  bucket: BucketInfo,
  key: string,
  nowMs: number,
  replica?: ReplicaPlace,
): string {
  const { inverted, versionId } = replica ?? newPlace(store, bucket);
  putRecord(store, bucket.ino, key, {
    inverted,
    record: { versionId, deleteMarker: true, mtimeMs: nowMs },
  });
  return versionId;
}

function newPlace(store: Store, bucket: BucketInfo): { inverted: number; versionId: string } {
  const inverted = nextInverted(store);
  const versionId = bucket.versioning === 'Suspended' ? NULL_VERSION : versionIdOf(inverted);
  return { inverted, versionId };
}

// Where a replica goes (bucket replication from another Strata cluster, which sends each version
// with its own id): at the place the source's id names, so a key's replicas sort as their
// sources do. `current`: it is newer than every version the key has here, so it becomes the
// current version; otherwise it joins as a noncurrent one (a version the destination wrote
// itself meanwhile stays current). The version counter moves past the replica's sequence, so a
// version made here later is newer than every replica. A version id the key has already is
// EEXIST: the sender's retry after a lost answer, which the gateway answers as done.
const REPLICA_INVERTED_MIN = Math.floor(VERSION_SEQ_MAX / 2);

export interface ReplicaPlace {
  inverted: number;
  versionId: string;
  current: boolean;
}

export function replicaPlace(
  store: Store,
  bucket: BucketInfo,
  at: { key: string; live?: Inode },
  sourceId: unknown,
): ReplicaPlace {
  const key = at.key;
  if (bucket.versioning !== 'Enabled')
    fail('INVALID_BUCKET_STATE', `a replica needs versioning Enabled on bucket ${bucket.name}`);
  const versionId =
    isVersionId(sourceId) && sourceId !== NULL_VERSION
      ? sourceId
      : fail('EINVAL', `a replica's version id is a source version id, got ${String(sourceId)}`);
  const inverted = invertedOfId(versionId);
  // The counter moves up to the replica's sequence: one from the upper half of the space (an id
  // no cluster reaches in 2^52 versions) would leave the destination few versions to make.
  if (!(inverted > REPLICA_INVERTED_MIN && inverted < VERSION_SEQ_MAX))
    fail('EINVAL', `version id ${versionId} is not one a source cluster issues`);
  if (store.db.get(K.versionKey(bucket.ino, key, inverted)) !== undefined)
    fail('EEXIST', `${key} has version ${versionId} already`);
  // A live file without records (written before versioning) is placed first, as the null version.
  materialise(store, bucket, key, at.live);
  const newestNow = newest(store, bucket.ino, key);
  const seq = VERSION_SEQ_MAX - inverted;
  const counter = (store.db.get(K.counterKey('version')) as number | undefined) ?? 0;
  if (counter < seq) store.db.putSync(K.counterKey('version'), seq);
  const current = newestNow === undefined || inverted < newestNow.inverted;
  return { inverted, versionId, current };
}

// A change of the live file through the mount: the first one of a save (a new saveToken, or
// none) makes a new version; the others of the same save change that version in place. Under
// Suspended the null version is changed in place, as a PUT would overwrite it.
export function startSave(
  store: Store,
  bucket: BucketInfo,
  key: string,
  live: Inode,
  nowMs: number,
  saveToken?: string,
): void {
  materialise(store, bucket, key, live);
  const current = newest(store, bucket.ino, key);
  const own = current !== undefined && current.record.ino === live.ino;
  if (own && saveToken !== undefined && current.record.saveToken === saveToken) return;
  if (own && bucket.versioning === 'Suspended' && current.record.versionId === NULL_VERSION) return;
  retireCurrent(store, bucket, key, live);
  recordVersion(store, bucket, key, { ino: live.ino, mtimeMs: nowMs, saveToken });
}

// Before a POSIX change of a file's content (write, truncate, punch): a noncurrent version never
// changes, and in a versioned bucket the change belongs to a save (startSave).
export function beginChange(store: Store, inode: Inode, nowMs: number, saveToken?: string): void {
  checkNotFrozen(inode);
  if (inode.type !== 'file') return;
  const at = locationOf(store, inode.ino);
  if (at?.bucket.versioning === undefined) return;
  checkPosixChange(store, at.bucket, at.key, nowMs, saveToken);
  startSave(store, at.bucket, at.key, inode, nowMs, saveToken);
}

export function checkNotFrozen(inode: Inode): void {
  if (inode.frozen === true) fail('EROFS', `inode ${inode.ino} is a noncurrent object version`);
}

// The entry's bucket and key when its bucket has versioning.
export function versionedAt(
  store: Store,
  parent: number,
  name: string,
): ObjectLocation | undefined {
  const at = locationIn(store, parent, name);
  return at?.bucket.versioning === undefined ? undefined : at;
}
