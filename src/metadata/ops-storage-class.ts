// The commit of a lifecycle transition (the leader's runner re-encoded the version's data under
// the class's policy; this swaps the extents), judged on the version as it is when it applies,
// on the proposer-stamped nowMs. Restores are in ops-restore.ts.
import assert from 'node:assert/strict';
import { addRef, checkExtents, releaseExtents, removeAllExtents } from './extent-ops.ts';
import { decideTransitions } from './lifecycle/decide.ts';
import { keyFacts } from './lifecycle/facts.ts';
import { checkKeptEncryption } from './object-encryption.ts';
import { checkTiming } from './ops-lifecycle.ts';
import { versionFile } from './ops-objects.ts';
import { freeRestoredCopy } from './restored-copy.ts';
import { isArchiveClass, isStorageClass } from './storage-class.ts';
import { fail, type Store } from './store.ts';
import type { Command, Extent, Inode, StorageClass } from './types.ts';
import { objectVersion } from './version-reads.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

export function transitionObject(store: Store, c: Op<'transitionObject'>) {
  checkTiming(c.timing);
  if (!isStorageClass(c.storageClass)) fail('EINVAL', `unknown storage class ${c.storageClass}`);
  const file = versionFile(store, c.bucket, c.key, c.versionId);
  const old = store.allExtents(file.ino);
  const unchanged =
    file.ino === c.ino &&
    Array.isArray(c.fromStripeIds) &&
    old.length === c.fromStripeIds.length &&
    old.every((e, i) => e.stripe?.id === c.fromStripeIds[i]); // inline bytes are never moved
  if (!unchanged)
    fail('PRECONDITION_FAILED', `${c.key} ${c.versionId} changed while it was re-encoded`);
  const bucket = store.bucket(c.bucket);
  assert(bucket !== undefined, 'versionFile found the bucket');
  const facts = keyFacts(store, bucket, c.key);
  const due = facts && decideTransitions(bucket.lifecycle?.rules ?? [], facts, c.nowMs, c.timing);
  const action = due?.find((a) => a.versionId === c.versionId);
  if (action?.storageClass !== c.storageClass)
    fail(
      'PRECONDITION_FAILED',
      `the rules no longer move ${c.key} ${c.versionId} to ${c.storageClass}`,
    );
  if (c.relabel === true) return relabel(store, file, c.storageClass);
  checkCovers(c.extents, file.size);
  checkKeptEncryption(file.object, c.extents);
  // The new references first: the old stripes lose theirs only after, in the same command, so
  // their shards are queued for collection only once the new ones are committed.
  for (const extent of c.extents) addRef(store, extent.stripe, 1);
  const replaced = removeAllExtents(store, file.ino);
  for (const extent of c.extents) store.putExtent(file.ino, extent);
  releaseExtents(store, replaced);
  // A restore of the old class does not carry over to the new one, nor does its copy.
  freeRestoredCopy(store, file);
  const object = { userMeta: {}, etag: '', ...file.object, storageClass: c.storageClass };
  delete object.restore;
  const changed: Inode = { ...file, object };
  store.putInode(changed);
  const version = objectVersion(store, c.bucket, c.key, c.versionId);
  assert(version?.inode?.ino === file.ino, 'the version holds the transitioned file');
  return { ok: true as const, inode: changed };
}

// A transition between classes of one policy (STANDARD to STANDARD_IA, storage-class.ts): the
// version keeps its stripes, only its class changes. Never to or from an archive class, whose
// stripes are of another policy and which read only while restored.
function relabel(store: Store, file: Inode, storageClass: StorageClass) {
  if (isArchiveClass(file.object?.storageClass) || isArchiveClass(storageClass))
    fail('EINVAL', `a transition to ${storageClass} re-encodes the data`);
  const object = { userMeta: {}, etag: '', ...file.object, storageClass };
  assert(object.restore === undefined, 'only an archived version has a restore');
  const changed: Inode = { ...file, object };
  store.putInode(changed);
  return { ok: true as const, inode: changed };
}

// The re-encoded data covers the file exactly, contiguous from 0: a transition moves bytes,
// never changes them.
export function checkCovers(extents: Extent[], sizeBytes: number): void {
  checkExtents(extents, sizeBytes);
  let at = 0;
  for (const e of extents) {
    if (e.fileOffset !== at) fail('EINVAL', `the re-encoded data leaves a gap at ${at}`);
    at += e.length;
  }
  if (at !== sizeBytes) fail('EINVAL', `the re-encoded data covers ${at} of ${sizeBytes} bytes`);
}
