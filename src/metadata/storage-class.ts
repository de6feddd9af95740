// Storage classes as storage policies, and the restore of archived versions: pure functions of
// the recorded cluster configuration, an object's metadata and a time (no store, no clock), used
// by the state machine, the client's writers, the S3 gateway and the FUSE mount alike.
//
// STANDARD and STANDARD_IA are stored with the cluster's erasure profile on every server.
// GLACIER and DEEP_ARCHIVE are archived: a wider code (fewer parity bytes per data byte) on the
// servers labelled with the cold pool (data.pool), or on every server when none is, and their
// data is readable only while a restore (RestoreObject) is complete and not expired, as on AWS.
// A restore makes a temporary copy: once its tier's delay has passed, the leader's restore runner
// re-encodes the version as STANDARD stripes on the default pool and commits them as the
// version's restored copy (src/metadata/ops-restore.ts); reads use the copy until it expires,
// `days` lifecycle days after the commit, when the runner's command releases its stripes.
import assert from 'node:assert/strict';
import { dueAtMs } from './lifecycle/decide.ts';
import type {
  ClusterConfig,
  Inode,
  LifecycleTiming,
  ObjectMeta,
  RestoreState,
  RestoreTier,
  StorageClass,
  StoragePolicy,
} from './types.ts';

export const STORAGE_CLASSES_STORED: readonly StorageClass[] = [
  'STANDARD',
  'STANDARD_IA',
  'GLACIER',
  'DEEP_ARCHIVE',
];
export const ARCHIVE_CLASSES: readonly StorageClass[] = ['GLACIER', 'DEEP_ARCHIVE'];
export const RESTORE_TIERS: readonly RestoreTier[] = ['Expedited', 'Standard', 'Bulk'];
// AWS: a restored copy lasts 1 day at least, and Days is a positive integer.
export const RESTORE_DAYS_MAX = 2 ** 31 - 1;

export function isStorageClass(value: unknown): value is StorageClass {
  return (STORAGE_CLASSES_STORED as readonly unknown[]).includes(value);
}

export function isArchiveClass(storageClass: StorageClass | undefined): boolean {
  return storageClass !== undefined && ARCHIVE_CLASSES.includes(storageClass);
}

// How cold a class is: a transition only ever moves a version to a colder one.
export function classRank(storageClass: StorageClass | undefined): number {
  switch (storageClass ?? 'STANDARD') {
    case 'STANDARD':
      return 0;
    case 'STANDARD_IA':
      return 1;
    case 'GLACIER':
      return 2;
    case 'DEEP_ARCHIVE':
      return 3;
  }
  return assert.fail(`unknown storage class ${storageClass}`);
}

// The code and pool a class's stripes are written with.
export function storagePolicy(config: ClusterConfig, storageClass?: StorageClass): StoragePolicy {
  const profile = { k: config.erasure.k, m: config.erasure.m };
  if (storageClass !== 'GLACIER' && storageClass !== 'DEEP_ARCHIVE') return profile;
  // Configurations recorded before storage classes: the profile on every server.
  const policy = config.storageClasses?.[storageClass] ?? profile;
  assert(policy.k >= 1 && policy.m >= 1 && policy.k + policy.m <= 256, 'a valid archive code');
  return policy;
}

export type RestoreStatus = 'none' | 'ongoing' | 'restored' | 'expired';

// Ongoing until the copy is committed; restored while the copy has not expired. A record written
// before restores made copies (no `days`) is judged by its times alone, as it was then, and its
// reads decode the archive.
export function restoreStatus(restore: RestoreState | undefined, nowMs: number): RestoreStatus {
  if (restore === undefined) return 'none';
  if (restore.copyIno === undefined && restore.days !== undefined) return 'ongoing';
  assert(restore.readyAtMs <= restore.expiresAtMs, 'a restore is ready before it expires');
  if (nowMs < restore.readyAtMs) return 'ongoing';
  return nowMs < restore.expiresAtMs ? 'restored' : 'expired';
}

// The inode whose extents hold the bytes a read of this file gets: its restored copy's, if it has
// one (readable or not: whether it may be read is dataReadable's to say).
export function dataIno(inode: Inode): number {
  return inode.object?.restore?.copyIno ?? inode.ino;
}

// Whether the version's bytes may be read now: always for the classes that are not archived,
// only while restored for the others.
export function dataReadable(object: ObjectMeta | undefined, nowMs: number): boolean {
  if (!isArchiveClass(object?.storageClass)) return true;
  return restoreStatus(object?.restore, nowMs) === 'restored';
}

// The state of a restore asked at nowMs of a version whose restore is `current`: a new one, the
// completed one extended (AWS: Days counted again from the request), or refused because one is
// still in progress (null).
export function nextRestore(
  current: RestoreState | undefined,
  request: { nowMs: number; days: number; tier: RestoreTier; delayMs: number },
  timing: LifecycleTiming,
): { state: RestoreState; extended: boolean } | null {
  const { nowMs, days, tier, delayMs } = request;
  assert(Number.isSafeInteger(delayMs) && delayMs >= 0, 'a restore delay is whole ms');
  const status = restoreStatus(current, nowMs);
  if (status === 'ongoing') return null;
  if (status === 'restored') {
    const expiresAtMs = dueAtMs(nowMs, days, timing);
    const state = { ...(current as RestoreState), expiresAtMs };
    // A record from before copies (no `days`) stays one: it has no copy to wait for.
    if (state.days !== undefined) state.days = days;
    return { state, extended: true };
  }
  // A new restore (an expired copy not yet released is released by the command).
  const readyAtMs = nowMs + delayMs;
  const state = { tier, requestedAtMs: nowMs, readyAtMs, expiresAtMs: 0, days };
  state.expiresAtMs = dueAtMs(readyAtMs, days, timing);
  return { state, extended: false };
}

// The x-amz-restore header of a version, if it has a restore to tell about (an expired one is
// as good as none).
export function restoreHeader(object: ObjectMeta | undefined, nowMs: number): string | undefined {
  const restore = object?.restore;
  const status = restoreStatus(restore, nowMs);
  if (status === 'ongoing') return 'ongoing-request="true"';
  if (status !== 'restored' || restore === undefined) return undefined;
  const expiry = new Date(restore.expiresAtMs).toUTCString();
  return `ongoing-request="false", expiry-date="${expiry}"`;
}
