// S3 Object Lock, enforced here in the state machine so that no path escapes it: S3, `strata fs`
// and the mount all reach a version's removal or change through these checks. A version's lock
// (retention and legal hold) lives on its version record, so it follows the version when the
// version stops being current. Times are the command's proposer-stamped nowMs, never a clock.
//
// What a lock forbids (AWS's rules, and the WORM file rule for the POSIX view):
// - removing the version (DeleteObject with its versionId), unless only GOVERNANCE retention holds
//   and the gateway passed bypassGovernance (header and s3:BypassGovernanceRetention);
// - on the mount, changing or removing the current version's file (write, truncate, unlink,
//   rename): EPERM. S3 writes and deletes without a versionId make a new version or a delete
//   marker and keep the locked one, so they proceed, as on AWS.
// - weakening a retention: COMPLIANCE never (its mode and date only grow); GOVERNANCE with bypass.
import assert from 'node:assert/strict';
import * as K from './keys.ts';
import { bucketDir, isStorableKey, lookupPath, namesOf, parseKey } from './object-path.ts';
import { fail, type Store } from './store.ts';
import type {
  BucketInfo,
  Command,
  ObjectLockRequest,
  ObjectLockRule,
  Retention,
  VersionRecord,
} from './types.ts';
import { type FoundVersion, findVersion, materialise, newest, putRecord } from './versions.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

const DAY_MS = 86_400_000;
// AWS's limits on a default retention period.
const RULE_DAYS_MAX = 36_500;
const RULE_YEARS_MAX = 100;
const MODES = new Set(['GOVERNANCE', 'COMPLIANCE']);

// A version is locked while its retention date is ahead of nowMs or a legal hold is on.
export function isLocked(record: VersionRecord, nowMs: number): boolean {
  return record.legalHold === true || activeRetention(record, nowMs) !== undefined;
}

function activeRetention(record: VersionRecord, nowMs: number): Retention | undefined {
  const r = record.retention;
  return r !== undefined && r.untilMs > nowMs ? r : undefined;
}

// Before a version is removed for good.
export function checkRemovable(
  key: string,
  record: VersionRecord,
  nowMs: number,
  bypassGovernance: boolean,
): void {
  const what = `${key} version ${record.versionId}`;
  if (record.legalHold === true) fail('OBJECT_LOCKED', `${what} is under a legal hold`);
  const retention = activeRetention(record, nowMs);
  if (retention === undefined) return;
  if (retention.mode === 'GOVERNANCE' && bypassGovernance) return;
  fail('OBJECT_LOCKED', `${what} is retained (${retention.mode}) until ${iso(retention.untilMs)}`);
}

const iso = (ms: number) => new Date(ms).toISOString();

// The POSIX view: the key's current version must not be locked before its file changes or goes.
// A save's own version (made by its first change) stays writable by that save until the save
// ends or a retention or legal hold is set on it (which seals it: setRecordLock drops the token),
// so default retention does not stop a file in the middle of being written.
export function checkPosixChange(
  store: Store,
  bucket: BucketInfo,
  key: string,
  nowMs: number,
  saveToken?: string,
): void {
  if (bucket.objectLock === undefined) return;
  const current = newest(store, bucket.ino, key);
  if (current === undefined || !isLocked(current.record, nowMs)) return;
  if (saveToken !== undefined && current.record.saveToken === saveToken) return;
  checkRemovable(key, current.record, nowMs, false);
  assert.fail(`${key}: a locked version passed the check`);
}

// The lock a new version gets: what the write asked, with the bucket's default retention where
// it asked none. A bucket without Object Lock takes no lock request (AWS: InvalidRequest).
export function newVersionLock(
  bucket: BucketInfo,
  nowMs: number,
  requested?: ObjectLockRequest,
): ObjectLockRequest {
  if (requested !== undefined) checkLockRequest(bucket, requested, nowMs);
  const lock: ObjectLockRequest = {};
  const rule = bucket.objectLock?.rule;
  if (requested?.retention !== undefined) lock.retention = { ...requested.retention };
  else if (rule !== undefined)
    lock.retention = { mode: rule.mode, untilMs: ruleUntil(rule, nowMs) };
  if (requested?.legalHold === true) lock.legalHold = true;
  return lock;
}

// Years are 365 days, as a period rather than a calendar (AWS documents no leap-year rule).
function ruleUntil(rule: ObjectLockRule, nowMs: number): number {
  const days = rule.days ?? (rule.years as number) * 365;
  return nowMs + days * DAY_MS;
}

export function checkLockRequest(bucket: BucketInfo, lock: ObjectLockRequest, nowMs: number) {
  if (typeof lock !== 'object' || lock === null) fail('EINVAL', 'a lock request is an object');
  const asked = lock.retention !== undefined || lock.legalHold !== undefined;
  if (asked && bucket.objectLock === undefined)
    fail('OBJECT_LOCK_MISSING', 'Bucket is missing Object Lock Configuration');
  if (lock.retention !== undefined) checkRetention(lock.retention, nowMs);
  if (lock.legalHold !== undefined && typeof lock.legalHold !== 'boolean')
    fail('EINVAL', 'a legal hold is on or off');
}

function checkRetention(retention: Retention, nowMs: number): void {
  if (!MODES.has(retention?.mode)) fail('EINVAL', 'Unknown wormMode directive.');
  if (!Number.isSafeInteger(retention.untilMs)) fail('EINVAL', 'a retain-until date in ms');
  if (retention.untilMs <= nowMs) fail('EINVAL', 'The retain until date must be in the future!');
}

export function checkRule(rule: ObjectLockRule): void {
  if (typeof rule !== 'object' || rule === null || !MODES.has(rule.mode))
    fail('EINVAL', 'a default retention has the mode GOVERNANCE or COMPLIANCE');
  const { days, years } = rule;
  if ((days === undefined) === (years === undefined))
    fail('EINVAL', 'a default retention has either Days or Years');
  const [n, max] = days !== undefined ? [days, RULE_DAYS_MAX] : [years as number, RULE_YEARS_MAX];
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    fail('EINVAL', `the default retention period must be 1 to ${max}`);
}

// PutObjectLockConfiguration: enables Object Lock on a versioned bucket and sets its default.
export function setObjectLockConfig(store: Store, c: Op<'setObjectLockConfig'>) {
  const bucket = store.bucket(c.name) ?? fail('NO_SUCH_BUCKET', `no bucket ${c.name}`);
  if (bucket.versioning !== 'Enabled')
    fail(
      'INVALID_BUCKET_STATE',
      "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
    );
  if (c.rule !== null) checkRule(c.rule);
  const next: BucketInfo = { ...bucket, objectLock: c.rule === null ? {} : { rule: c.rule } };
  store.db.putSync(K.bucketKey(c.name), next);
  return { ok: true as const, bucket: next };
}

// The version a retention or legal hold request names (the current one without a versionId).
function lockTarget(store: Store, bucketName: string, key: string, versionId?: string) {
  const dir = bucketDir(store, bucketName);
  const bucket = store.bucket(bucketName) as BucketInfo;
  if (bucket.objectLock === undefined)
    fail('OBJECT_LOCK_MISSING', 'Bucket is missing Object Lock Configuration');
  if (!isStorableKey(key) || parseKey(key).isDirMarker) fail('ENOENT', `no object ${key}`);
  const live = lookupPath(store, dir, namesOf(parseKey(key)));
  materialise(store, bucket, key, live?.type === 'file' ? live : undefined);
  const found: FoundVersion =
    (versionId === undefined
      ? newest(store, bucket.ino, key)
      : findVersion(store, bucket.ino, key, versionId)) ??
    fail(versionId === undefined ? 'ENOENT' : 'NO_SUCH_VERSION', `no such version of ${key}`);
  if (found.record.deleteMarker === true)
    fail('METHOD_NOT_ALLOWED', `${key} version ${found.record.versionId} is a delete marker`);
  return { bucket, found };
}

// Setting a lock seals the version: a mount's save can no longer change it (checkPosixChange).
function setRecordLock(store: Store, bucket: BucketInfo, key: string, found: FoundVersion) {
  const { saveToken: _, ...record } = found.record;
  putRecord(store, bucket.ino, key, { inverted: found.inverted, record });
  return { ok: true as const, versionId: record.versionId };
}

export function setObjectRetention(store: Store, c: Op<'setObjectRetention'>) {
  const { bucket, found } = lockTarget(store, c.bucket, c.key, c.versionId);
  const record = { ...found.record };
  const old = activeRetention(record, c.nowMs);
  const next = c.retention;
  if (next !== null) checkRetention(next, c.nowMs);
  if (old !== undefined && weakens(old, next)) {
    const what = `${c.key} version ${record.versionId}`;
    if (old.mode === 'COMPLIANCE')
      fail('OBJECT_LOCKED', `${what}: a COMPLIANCE retention cannot be shortened or changed`);
    if (c.bypassGovernance !== true)
      fail('OBJECT_LOCKED', `${what}: weakening a GOVERNANCE retention needs the bypass`);
  }
  if (next === null) delete record.retention;
  else record.retention = { mode: next.mode, untilMs: next.untilMs };
  return setRecordLock(store, bucket, c.key, { inverted: found.inverted, record });
}

// Anything but the same mode with the same or a later date weakens it (GOVERNANCE to COMPLIANCE
// included: AWS asks for the bypass there too).
function weakens(old: Retention, next: Retention | null): boolean {
  return next === null || next.mode !== old.mode || next.untilMs < old.untilMs;
}

export function setObjectLegalHold(store: Store, c: Op<'setObjectLegalHold'>) {
  if (typeof c.on !== 'boolean') fail('EINVAL', 'a legal hold is on or off');
  const { bucket, found } = lockTarget(store, c.bucket, c.key, c.versionId);
  const record = { ...found.record };
  if (c.on) record.legalHold = true;
  else delete record.legalHold;
  return setRecordLock(store, bucket, c.key, { inverted: found.inverted, record });
}
