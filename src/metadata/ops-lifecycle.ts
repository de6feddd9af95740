// Lifecycle commands: a bucket's rules, and carrying them out on one key or upload. The
// decision is taken here again on the state as it is at apply time (lifecycle/decide.ts), so
// the runner only says where to look: nothing the rules keep goes because the runner's view was
// stale, and Object Lock is judged on the command's nowMs like any delete's.
import assert from 'node:assert/strict';
import * as K from './keys.ts';
import { decideKey, decideUpload, type LifecycleAction } from './lifecycle/decide.ts';
import { keyFacts } from './lifecycle/facts.ts';
import { checkLifecycleConfig } from './lifecycle/validate.ts';
import { isLocked } from './object-lock.ts';
import { abortUpload } from './ops-multipart.ts';
import { deleteObject } from './ops-objects.ts';
import { fail, type Store } from './store.ts';
import type { BucketInfo, Command, LifecycleOutcome, LifecycleTiming } from './types.ts';
import { findVersion } from './versions.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

// A test day is at least a second: shorter would let a command from a confused proposer
// sweep a bucket at once.
const DAY_MS_MIN = 1000;

export function setBucketLifecycle(store: Store, c: Op<'setBucketLifecycle'>) {
  const bucket = store.bucket(c.name) ?? fail('NO_SUCH_BUCKET', `no bucket ${c.name}`);
  const next: BucketInfo = { ...bucket };
  if (c.config === null) delete next.lifecycle;
  else next.lifecycle = checkLifecycleConfig(c.config);
  store.db.putSync(K.bucketKey(c.name), next);
  return { ok: true as const, bucket: next };
}

export function checkTiming(timing: LifecycleTiming): void {
  if (
    typeof timing !== 'object' ||
    timing === null ||
    !Number.isSafeInteger(timing.dayMs) ||
    timing.dayMs < DAY_MS_MIN ||
    typeof timing.roundToMidnight !== 'boolean'
  )
    fail('EINVAL', `a lifecycle day is an integer of at least ${DAY_MS_MIN} ms`);
}

export function applyLifecycle(store: Store, c: Op<'applyLifecycle'>) {
  checkTiming(c.timing);
  const bucket = store.bucket(c.bucket) ?? fail('NO_SUCH_BUCKET', `no bucket ${c.bucket}`);
  const outcome: LifecycleOutcome = {
    objectsExpired: 0,
    versionsExpired: 0,
    uploadsAborted: 0,
    skippedLocked: 0,
  };
  const rules = bucket.lifecycle?.rules ?? [];
  if ((c.key === undefined) === (c.uploadId === undefined))
    fail('EINVAL', 'applyLifecycle names a key or an upload');
  if (c.uploadId !== undefined) {
    const upload = store.upload(c.uploadId);
    if (upload === undefined || upload.bucket !== c.bucket)
      return { ok: true as const, lifecycle: outcome };
    if (decideUpload(rules, upload, c.nowMs, c.timing) === undefined)
      return { ok: true as const, lifecycle: outcome };
    abortUpload(store, { op: 'abortUpload', nowMs: c.nowMs, uploadId: c.uploadId });
    outcome.uploadsAborted = 1;
    return { ok: true as const, lifecycle: outcome };
  }
  const key = c.key as string;
  const facts = keyFacts(store, bucket, key);
  if (facts === undefined) return { ok: true as const, lifecycle: outcome };
  for (const action of decideKey(rules, facts, c.nowMs, c.timing))
    carryOut(store, bucket, key, action, c.nowMs, outcome);
  return { ok: true as const, lifecycle: outcome };
}

// One action, through the delete every client uses: a locked version is left and counted
// (checkRemovable would refuse it and abort the whole command).
function carryOut(
  store: Store,
  bucket: BucketInfo,
  key: string,
  action: LifecycleAction,
  nowMs: number,
  outcome: LifecycleOutcome,
): void {
  const del = { op: 'deleteObject' as const, nowMs, bucket: bucket.name, key };
  if (action.kind === 'expireCurrent') {
    deleteObject(store, del);
    outcome.objectsExpired++;
    return;
  }
  const found = findVersion(store, bucket.ino, key, action.versionId);
  assert(found !== undefined, `${key}: version ${action.versionId} decided on exists`);
  if (isLocked(found.record, nowMs)) {
    outcome.skippedLocked++;
    return;
  }
  deleteObject(store, { ...del, versionId: action.versionId });
  outcome.versionsExpired++;
}
