// Restore commands: RestoreObject records the request; the leader's restore runner
// (src/cluster/restore-runner.ts) makes the temporary copy once the tier's delay has passed and
// commits it with commitRestoredCopy, and ends it with expireRestoredCopy once it has expired.
// Each judges the version as it is when it applies, on the proposer-stamped nowMs only.
import assert from 'node:assert/strict';
import { writeExtents } from './extent-ops.ts';
import { dueAtMs } from './lifecycle/decide.ts';
import { checkKeptEncryption } from './object-encryption.ts';
import { checkTiming } from './ops-lifecycle.ts';
import { versionFile } from './ops-objects.ts';
import { checkCovers } from './ops-storage-class.ts';
import { freeRestoredCopy } from './restored-copy.ts';
import {
  isArchiveClass,
  nextRestore,
  RESTORE_DAYS_MAX,
  RESTORE_TIERS,
  restoreStatus,
} from './storage-class.ts';
import { fail, type Store } from './store.ts';
import { type Command, type Inode, type ObjectMeta, type RestoreState, ROOT_INO } from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

const RESTORE_DELAY_MS_MAX = 7 * 86_400_000; // as lifecycle.restore_delay_seconds_* allow

export function restoreObject(store: Store, c: Op<'restoreObject'>) {
  checkTiming(c.timing);
  if (!Number.isSafeInteger(c.days) || c.days < 1 || c.days > RESTORE_DAYS_MAX)
    fail('EINVAL', 'Days of a restore is a positive integer');
  if (!RESTORE_TIERS.includes(c.tier)) fail('EINVAL', `unknown restore tier ${String(c.tier)}`);
  if (!Number.isSafeInteger(c.delayMs) || c.delayMs < 0 || c.delayMs > RESTORE_DELAY_MS_MAX)
    fail('EINVAL', `a restore delay is 0 to ${RESTORE_DELAY_MS_MAX} ms`);
  const file = versionFile(store, c.bucket, c.key, c.versionId);
  if (!isArchiveClass(file.object?.storageClass))
    fail('INVALID_OBJECT_STATE', "Restore is not allowed for the object's current storage class");
  // The cluster never holds an SSE-C object's key, so it cannot copy its bytes.
  if (file.object?.sseCustomer !== undefined)
    fail('ENOTSUP', 'RestoreObject of an SSE-C object is not implemented by Strata');
  const next =
    nextRestore(file.object?.restore, c, c.timing) ??
    fail('RESTORE_IN_PROGRESS', 'Object restore is already in progress');
  // A new restore over an expired copy the runner has not released yet releases it now.
  if (!next.extended) freeRestoredCopy(store, file);
  const object = { userMeta: {}, etag: '', ...file.object, restore: next.state };
  // A restore changes neither the data nor the ETag, as tags do not: mtime and ctime stay.
  const changed: Inode = { ...file, object };
  store.putInode(changed);
  const restore: 'started' | 'extended' = next.extended ? 'extended' : 'started';
  return { ok: true as const, inode: changed, restore };
}

// The file and its restore, if the restore still waits for this copy.
function waitingFor(store: Store, c: Op<'commitRestoredCopy'>): [Inode, RestoreState, number] {
  const file = store.inode(c.ino);
  const restore = file?.object?.restore;
  const wanted =
    file?.type === 'file' &&
    isArchiveClass(file.object?.storageClass) &&
    restore?.days !== undefined &&
    restore.copyIno === undefined &&
    restore.requestedAtMs === c.requestedAtMs &&
    restore.readyAtMs <= c.nowMs;
  if (!wanted || file === undefined || restore?.days === undefined)
    return fail('PRECONDITION_FAILED', `inode ${c.ino} no longer waits for this restored copy`);
  return [file, restore, restore.days];
}

export function commitRestoredCopy(store: Store, c: Op<'commitRestoredCopy'>) {
  checkTiming(c.timing);
  const [file, restore, days] = waitingFor(store, c);
  const old = store.allExtents(file.ino);
  const unchanged =
    Array.isArray(c.fromStripeIds) &&
    old.length === c.fromStripeIds.length &&
    old.every((e, i) => e.stripe?.id === c.fromStripeIds[i]);
  if (!unchanged) fail('PRECONDITION_FAILED', `inode ${c.ino} changed while it was copied`);
  checkCovers(c.extents, file.size);
  checkKeptEncryption(file.object, c.extents);
  const copy: Inode = {
    ino: store.nextCounter('ino', ROOT_INO + 1),
    type: 'file',
    mode: file.mode,
    uid: file.uid,
    gid: file.gid,
    size: file.size,
    nlink: 0,
    atimeMs: c.nowMs,
    mtimeMs: c.nowMs,
    ctimeMs: c.nowMs,
    birthtimeMs: c.nowMs,
    xattrs: {},
    restoredCopyOf: file.ino,
  };
  writeExtents(store, copy.ino, c.extents);
  store.putInode(copy);
  // AWS: Days count from the restore's completion.
  const expiresAtMs = dueAtMs(c.nowMs, days, c.timing);
  const object: ObjectMeta = {
    userMeta: {},
    etag: '',
    ...file.object,
    restore: { ...restore, copyIno: copy.ino, expiresAtMs },
  };
  const changed: Inode = { ...file, object };
  store.putInode(changed);
  assert.equal(restoreStatus(object.restore, c.nowMs), 'restored', 'a committed copy is readable');
  return { ok: true as const, inode: changed };
}

export function expireRestoredCopy(store: Store, c: Op<'expireRestoredCopy'>) {
  const file = store.inode(c.ino);
  if (file === undefined || restoreStatus(file.object?.restore, c.nowMs) !== 'expired')
    fail('PRECONDITION_FAILED', `inode ${c.ino} has no expired restore`);
  assert(file !== undefined && file.object !== undefined, 'an expired restore is recorded');
  freeRestoredCopy(store, file);
  const object: ObjectMeta = { ...file.object };
  delete object.restore;
  const changed: Inode = { ...file, object };
  store.putInode(changed);
  return { ok: true as const, inode: changed };
}
