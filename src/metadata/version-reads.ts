// Reads of object versions: one version (GET, HEAD, tagging by versionId) and ListObjectVersions.
// A key's versions are its records (versions.ts) or, without records, its live file as the
// implicit null version; the listing merges the namespace walk (list-objects.ts) with the record
// table, both in UTF-8 binary key order.
import assert from 'node:assert/strict';
import * as K from './keys.ts';
import { locationOf } from './links.ts';
import { compareUtf8, type Item, listed, listedEntries } from './list-objects.ts';
import { isStorableKey, lookupPath, namesOf, parseKey } from './object-path.ts';
import type { Store } from './store.ts';
import type {
  BucketInfo,
  FileObjectLock,
  Inode,
  ListedObject,
  ListedVersion,
  ListVersionsQuery,
  ListVersionsResult,
  ObjectVersion,
  VersionRecord,
} from './types.ts';
import { invertedOfId, VERSION_SEQ_MAX, versionIdOf } from './version-id.ts';
import { findVersion, isVersionId, NULL_VERSION, newest, versionsOf } from './versions.ts';

const MAX_KEYS_LIMIT = 1000;

// The live object at a key, if any: the current version's file, or for a "dir/" key its
// explicit directory (directory markers are not versioned: their one version is null).
function liveObject(store: Store, bucket: BucketInfo, key: string): Inode | undefined {
  if (!isStorableKey(key)) return undefined;
  const path = parseKey(key);
  const inode = lookupPath(store, store.mustInode(bucket.ino), namesOf(path));
  if (path.isDirMarker) return inode?.type === 'dir' && !inode.implicit ? inode : undefined;
  return inode?.type === 'file' ? inode : undefined;
}

export function objectVersion(
  store: Store,
  bucketName: string,
  key: string,
  versionId?: string,
): ObjectVersion | undefined {
  const bucket = store.bucket(bucketName);
  if (bucket === undefined || !isStorableKey(key)) return undefined;
  if (versionId !== undefined && !isVersionId(versionId)) return undefined;
  const versioned = bucket.versioning !== undefined;
  const live = liveObject(store, bucket, key);
  const current = newest(store, bucket.ino, key);
  if (current === undefined) {
    // No records: the live file is the one version, null.
    if (live === undefined || (versionId !== undefined && versionId !== NULL_VERSION))
      return undefined;
    return { versionId: NULL_VERSION, isLatest: true, deleteMarker: false, ...of(live), versioned };
  }
  const found = versionId === undefined ? current : findVersion(store, bucket.ino, key, versionId);
  if (found === undefined) return undefined;
  const isLatest = found.inverted === current.inverted;
  if (found.record.deleteMarker === true) {
    const { versionId: id, mtimeMs } = found.record;
    return { versionId: id, isLatest, deleteMarker: true, lastModifiedMs: mtimeMs, versioned };
  }
  const inode = store.inode(found.record.ino as number);
  assert(inode !== undefined, `version ${found.record.versionId} of ${key} has its data`);
  const { retention, legalHold } = found.record;
  return {
    versionId: found.record.versionId,
    isLatest,
    deleteMarker: false,
    ...of(inode),
    versioned,
    ...(retention === undefined ? {} : { retention }),
    ...(legalHold === true ? { legalHold } : {}),
  };
}

const of = (inode: Inode) => ({ inode, lastModifiedMs: inode.mtimeMs });

// The lock of the version a live file holds, in a bucket with Object Lock.
export function fileLock(store: Store, ino: number): FileObjectLock | undefined {
  const at = locationOf(store, ino);
  if (at?.bucket.objectLock === undefined) return undefined;
  const current = newest(store, at.bucket.ino, at.key);
  if (current === undefined || current.record.ino !== ino) return undefined;
  const { retention, legalHold, saveToken } = current.record;
  return { retention, legalHold, saveToken };
}

interface VersionItem {
  key: string;
  commonPrefix: boolean;
  version?: ListedVersion;
  inverted?: number; // a recorded version's place among its key's (smaller is newer)
}

export function listObjectVersions(
  store: Store,
  bucket: BucketInfo,
  q: ListVersionsQuery,
): ListVersionsResult {
  const result: ListVersionsResult = { versions: [], commonPrefixes: [], isTruncated: false };
  const maxKeys = Math.min(Math.max(0, Math.floor(q.maxKeys)), MAX_KEYS_LIMIT);
  if (!(maxKeys > 0)) return result;
  let last: VersionItem | undefined;
  for (const item of merged(store, bucket, q)) {
    if (result.versions.length + result.commonPrefixes.length === maxKeys) {
      result.isTruncated = true;
      break;
    }
    last = item;
    if (item.commonPrefix) result.commonPrefixes.push(item.key);
    else result.versions.push(item.version as ListedVersion);
  }
  if (result.isTruncated && last !== undefined) {
    result.nextKeyMarker = last.key;
    if (last.version !== undefined) result.nextVersionIdMarker = versionMarkerOf(last);
  }
  return result;
}

// Where the next page resumes: after this version. A version id names its place among its key's
// versions, whether or not the version still exists when the next page comes (it may be deleted
// by id meanwhile). The null version's id does not: a PUT under Suspended replaces it by a new,
// newest null, and resuming after that one would list the key's versions again. So a recorded
// null version's marker is the id of its place, which no other version of the key can have.
function versionMarkerOf(item: VersionItem): string {
  const version = item.version as ListedVersion;
  if (version.versionId !== NULL_VERSION || item.inverted === undefined) return version.versionId;
  return versionIdOf(item.inverted);
}

// The live objects without records (each its implicit null version) and the records, merged by
// key; a key in both is listed from its records.
function* merged(store: Store, bucket: BucketInfo, q: ListVersionsQuery): Generator<VersionItem> {
  const live = listedEntries(store, bucket.ino, {
    prefix: q.prefix,
    delimiter: q.delimiter,
    startAfter: q.keyMarker || undefined,
  });
  const recorded = recordItems(store, bucket, q);
  // Both are closed however this ends: each holds an LMDB range iterator, whose read transaction
  // stays open until its generator finishes. A page that stopped early (MaxKeys) used to leave
  // them to the garbage collector, and under paging load the environment ran out of reader slots
  // (MDB_READERS_FULL), which stopped the metadata member (versions-paging.test.ts in CI).
  try {
    yield* mergedOf(live, recorded);
  } finally {
    live.return(undefined);
    recorded.return(undefined);
  }
}

function* mergedOf(
  live: Generator<Item>,
  recorded: Generator<VersionItem>,
): Generator<VersionItem> {
  let a = live.next();
  let b = recorded.next();
  while (!a.done || !b.done) {
    const order = a.done ? 1 : b.done ? -1 : compareUtf8(a.value.key, b.value.key);
    if (order < 0) {
      yield implicitNull(a.value);
      a = live.next();
      continue;
    }
    if (order === 0) {
      // The same key or common prefix from both: the records tell its versions.
      const key = a.value.key;
      while (!a.done && a.value.key === key) a = live.next();
      if (b.value.commonPrefix) {
        yield b.value;
        b = recorded.next();
        continue;
      }
    }
    yield b.value as VersionItem;
    b = recorded.next();
  }
}

function implicitNull(item: Item): VersionItem {
  if (item.commonPrefix) return { key: item.key, commonPrefix: true };
  const object = listed(item.key, item.inode as Inode);
  return {
    key: item.key,
    commonPrefix: false,
    version: {
      key: item.key,
      versionId: NULL_VERSION,
      isLatest: true,
      deleteMarker: false,
      lastModifiedMs: object.lastModifiedMs,
      size: object.size,
      etag: object.etag,
      isDirMarker: object.isDirMarker,
      ...(object.storageClass !== undefined ? { storageClass: object.storageClass } : {}),
    },
  };
}

// The record table from where the markers say, each record once, common prefixes once.
function* recordItems(
  store: Store,
  bucket: BucketInfo,
  q: ListVersionsQuery,
): Generator<VersionItem> {
  const prefix = q.prefix ?? '';
  const delimiter = q.delimiter || undefined;
  const range = K.versionPrefixRange(bucket.ino, prefix);
  let { start, withinMarkerKey } = startAfterMarkers(store, bucket, q, range.start);
  // Resuming inside the key marker's versions: its newest was on an earlier page.
  let currentKey = withinMarkerKey ? q.keyMarker : undefined;
  for (;;) {
    let reseek: Buffer | undefined;
    for (const { key: raw, value } of store.db.getRange({ start, end: range.end })) {
      const { key, inverted } = K.versionKeyParts(raw as Buffer);
      const at = delimiter === undefined ? -1 : key.indexOf(delimiter, prefix.length);
      if (at >= 0) {
        const commonPrefix = key.slice(0, at + (delimiter as string).length);
        // Everything below the common prefix is skipped in one seek (UTF-8 has no 0xff byte).
        reseek = K.versionPrefixRange(bucket.ino, commonPrefix).end;
        if (q.keyMarker === undefined || compareUtf8(commonPrefix, q.keyMarker) > 0)
          yield { key: commonPrefix, commonPrefix: true };
        break;
      }
      const record = value as VersionRecord;
      const isLatest = key !== currentKey;
      currentKey = key;
      const version = listedVersion(store, key, record, isLatest);
      yield { key, commonPrefix: false, version, inverted };
    }
    if (reseek === undefined) return;
    start = reseek;
  }
}

// Where the record scan starts: after the key marker's versions, or after the place the
// version-id marker names within them (see versionMarkerOf): a hex id names its place even when
// its version was deleted since, "null" names the key's null version where it is now.
function startAfterMarkers(
  store: Store,
  bucket: BucketInfo,
  q: ListVersionsQuery,
  prefixStart: Buffer,
): { start: Buffer; withinMarkerKey: boolean } {
  if (!q.keyMarker) return { start: prefixStart, withinMarkerKey: false };
  let from = K.versionKeyRange(bucket.ino, q.keyMarker).end;
  let withinMarkerKey = false;
  const marker = q.versionIdMarker;
  if (marker !== undefined && isVersionId(marker)) {
    const inverted =
      marker === NULL_VERSION
        ? findVersion(store, bucket.ino, q.keyMarker, NULL_VERSION)?.inverted
        : invertedOfId(marker);
    // A hex id past any Strata issues (above VERSION_SEQ_MAX) is after all the key's versions.
    if (inverted !== undefined && inverted < VERSION_SEQ_MAX) {
      from = K.versionKey(bucket.ino, q.keyMarker, inverted + 1);
      withinMarkerKey = true;
    }
  }
  if (Buffer.compare(from, prefixStart) > 0) return { start: from, withinMarkerKey };
  return { start: prefixStart, withinMarkerKey: false };
}

function listedVersion(
  store: Store,
  key: string,
  record: VersionRecord,
  isLatest: boolean,
): ListedVersion {
  const base = { key, versionId: record.versionId, isLatest, isDirMarker: false };
  if (record.deleteMarker === true)
    return { ...base, deleteMarker: true, lastModifiedMs: record.mtimeMs, size: 0, etag: '' };
  const inode = store.inode(record.ino as number);
  assert(inode !== undefined, `version ${record.versionId} of ${key} has its data`);
  const object = listed(key, inode);
  return { ...base, deleteMarker: false, ...pick(object) };
}

const pick = (o: ListedObject) => ({
  lastModifiedMs: o.lastModifiedMs,
  size: o.size,
  etag: o.etag,
  ...(o.storageClass !== undefined ? { storageClass: o.storageClass } : {}),
});

// Exported for the tests' model: every version of one key, newest first.
export function versionIdsOf(store: Store, bucketIno: number, key: string): string[] {
  return [...versionsOf(store, bucketIno, key)].map((v) => v.record.versionId);
}
