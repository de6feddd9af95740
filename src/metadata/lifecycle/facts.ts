// What lifecycle rules judge a key by: its versions newest first, each with its time, size,
// tags and lock. The same function feeds the runner's decision (through the reader) and the
// state machine's own, repeated when the command applies (ops-lifecycle.ts).
import assert from 'node:assert/strict';
import { inlineLimit } from '../extent-ops.ts';
import { isStorableKey, lookupPath, namesOf, parseKey } from '../object-path.ts';
import type { Store } from '../store.ts';
import type { BucketInfo, Inode, LifecycleKeyFacts, LifecycleVersionFacts } from '../types.ts';
import { NULL_VERSION, versionsOf } from '../versions.ts';

// The live file at the key, if any. Directory markers ("dir/") are not judged: they hold no
// data and are not versioned.
export function liveFile(store: Store, bucket: BucketInfo, key: string): Inode | undefined {
  if (!isStorableKey(key)) return undefined;
  const path = parseKey(key);
  if (path.isDirMarker) return undefined;
  const inode = lookupPath(store, store.mustInode(bucket.ino), namesOf(path));
  return inode?.type === 'file' ? inode : undefined;
}

function ofInode(store: Store, versionId: string, inode: Inode): LifecycleVersionFacts {
  const facts: LifecycleVersionFacts = {
    versionId,
    deleteMarker: false,
    lastModifiedMs: inode.mtimeMs,
    sizeBytes: inode.size,
  };
  if (inode.object?.tags !== undefined) facts.tags = inode.object.tags;
  if (inode.object !== undefined) facts.objectMeta = true;
  if (inode.object?.storageClass !== undefined) facts.storageClass = inode.object.storageClass;
  if (inode.object?.sseCustomer !== undefined) facts.customerKeyed = true;
  // Inline bytes lie within the threshold, so only a file that small is looked at.
  if (inode.size <= inlineLimit(store) && store.allExtents(inode.ino).some((e) => e.inline))
    facts.inline = true;
  return facts;
}

export function keyFacts(
  store: Store,
  bucket: BucketInfo,
  key: string,
): LifecycleKeyFacts | undefined {
  if (!isStorableKey(key) || parseKey(key).isDirMarker) return undefined;
  const versions: LifecycleVersionFacts[] = [];
  for (const { record } of versionsOf(store, bucket.ino, key)) {
    if (record.deleteMarker === true) {
      versions.push({
        versionId: record.versionId,
        deleteMarker: true,
        lastModifiedMs: record.mtimeMs,
        sizeBytes: 0,
      });
      continue;
    }
    const inode = store.inode(record.ino as number);
    assert(inode !== undefined, `version ${record.versionId} of ${key} has its data`);
    const facts = ofInode(store, record.versionId, inode);
    if (record.retention !== undefined) facts.retention = record.retention;
    if (record.legalHold === true) facts.legalHold = true;
    versions.push(facts);
  }
  const versioned = bucket.versioning !== undefined;
  if (versions.length === 0) {
    // No records: the live file, if any, is the key's one version (null).
    const live = liveFile(store, bucket, key);
    if (live === undefined) return undefined;
    versions.push(ofInode(store, NULL_VERSION, live));
  }
  return { key, versioned, versions };
}
