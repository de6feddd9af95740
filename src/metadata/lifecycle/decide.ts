// The lifecycle decision, a pure function of (rules, a key's versions or an upload, now,
// timing) → actions: no store, no clock. The leader's runner calls it to find work and the
// state machine calls it again when the command applies, on the state as it is then.
//
// AWS's semantics (S3 User Guide, "Lifecycle configuration elements"):
// - Expiration Days: the current version expires `days` after it was made, rounded up to the
//   next midnight UTC; Date: from that midnight on. In a versioned bucket expiring the current
//   version makes a delete marker; in one that never had versioning the object goes.
// - Expiration with Days also removes a delete marker that is a key's only version once it is
//   that old; ExpiredObjectDeleteMarker removes such a marker at once.
// - NoncurrentVersionExpiration: a noncurrent version (a delete marker too) goes
//   `noncurrentDays` after it became noncurrent (when its successor was made), except the
//   `newerNoncurrentVersions` newest noncurrent ones, which stay whatever their age.
// - AbortIncompleteMultipartUpload: an upload goes `days` after it was initiated.
// Disabled rules do nothing. A version is judged by the first rule that expires it.
import assert from 'node:assert/strict';
import { classRank } from '../storage-class.ts';
import type {
  LifecycleFilter,
  LifecycleKeyFacts,
  LifecycleRule,
  LifecycleTiming,
  LifecycleVersionFacts,
  StorageClass,
} from '../types.ts';

export const DAY_MS = 86_400_000;
export const AWS_TIMING: LifecycleTiming = { dayMs: DAY_MS, roundToMidnight: true };

export type LifecycleAction =
  | { kind: 'expireCurrent'; ruleId: string } // a delete without a version id
  | { kind: 'expireNoncurrent'; versionId: string; ruleId: string } // removed for good
  | { kind: 'removeExpiredMarker'; versionId: string; ruleId: string };

// When something made at startMs is `days` old: rounded up to the next midnight UTC (a time
// already at midnight stays), or exact with a test timing.
export function dueAtMs(startMs: number, days: number, timing: LifecycleTiming): number {
  assert(Number.isSafeInteger(days) && days > 0, `days ${days} is a positive integer`);
  assert(timing.dayMs > 0, 'a lifecycle day lasts some time');
  const due = startMs + days * timing.dayMs;
  if (!timing.roundToMidnight) return due;
  return Math.ceil(due / DAY_MS) * DAY_MS;
}

function tagsMatch(wanted: Record<string, string> | undefined, tags?: Record<string, string>) {
  if (wanted === undefined) return true;
  for (const [name, value] of Object.entries(wanted)) if (tags?.[name] !== value) return false;
  return true;
}

// Whether the filter takes this version. A delete marker has no size and no tags: only a rule
// filtering on neither (a prefix at most) applies to it.
export function filterMatches(
  filter: LifecycleFilter,
  key: string,
  version: Pick<LifecycleVersionFacts, 'deleteMarker' | 'sizeBytes' | 'tags'>,
): boolean {
  if (filter.prefix !== undefined && !key.startsWith(filter.prefix)) return false;
  const bySize =
    filter.sizeGreaterThanBytes !== undefined || filter.sizeLessThanBytes !== undefined;
  if (version.deleteMarker) return filter.tags === undefined && !bySize;
  if (!tagsMatch(filter.tags, version.tags)) return false;
  if (
    filter.sizeGreaterThanBytes !== undefined &&
    !(version.sizeBytes > filter.sizeGreaterThanBytes)
  )
    return false;
  if (filter.sizeLessThanBytes !== undefined && !(version.sizeBytes < filter.sizeLessThanBytes))
    return false;
  return true;
}

// The earliest expiration the rules give the current version of `key`, for x-amz-expiration.
export function currentExpiry(
  rules: readonly LifecycleRule[],
  key: string,
  current: LifecycleVersionFacts,
  timing: LifecycleTiming,
): { dueMs: number; ruleId: string } | undefined {
  if (current.deleteMarker) return undefined;
  let best: { dueMs: number; ruleId: string } | undefined;
  for (const rule of rules) {
    if (!rule.enabled || !filterMatches(rule.filter, key, current)) continue;
    const e = rule.expiration;
    let dueMs: number | undefined;
    if (e?.days !== undefined) dueMs = dueAtMs(current.lastModifiedMs, e.days, timing);
    else if (e?.dateMs !== undefined) dueMs = e.dateMs;
    if (dueMs !== undefined && (best === undefined || dueMs < best.dueMs))
      best = { dueMs, ruleId: rule.id };
  }
  return best;
}

function soleMarkerRule(
  rules: readonly LifecycleRule[],
  facts: LifecycleKeyFacts,
  nowMs: number,
  timing: LifecycleTiming,
): string | undefined {
  const marker = facts.versions[0];
  for (const rule of rules) {
    if (!rule.enabled || !filterMatches(rule.filter, facts.key, marker)) continue;
    const e = rule.expiration;
    if (e?.expiredObjectDeleteMarker === true) return rule.id;
    if (e?.days !== undefined && dueAtMs(marker.lastModifiedMs, e.days, timing) <= nowMs)
      return rule.id;
  }
  return undefined;
}

// The rule that expires the noncurrent version at `index` (1 and up: 0 is current), if any.
function noncurrentRule(
  rules: readonly LifecycleRule[],
  facts: LifecycleKeyFacts,
  index: number,
  nowMs: number,
  timing: LifecycleTiming,
): string | undefined {
  const version = facts.versions[index];
  // It became noncurrent when the version after it was made.
  const noncurrentSinceMs = facts.versions[index - 1].lastModifiedMs;
  const newerNoncurrent = index - 1;
  for (const rule of rules) {
    const n = rule.noncurrentExpiration;
    if (!rule.enabled || n === undefined) continue;
    if (!filterMatches(rule.filter, facts.key, version)) continue;
    if (newerNoncurrent < (n.newerNoncurrentVersions ?? 0)) continue;
    if (dueAtMs(noncurrentSinceMs, n.noncurrentDays, timing) <= nowMs) return rule.id;
  }
  return undefined;
}

// What the rules do to one key now: noncurrent versions first (oldest last), then the current
// version or the expired delete marker.
export function decideKey(
  rules: readonly LifecycleRule[],
  facts: LifecycleKeyFacts,
  nowMs: number,
  timing: LifecycleTiming,
): LifecycleAction[] {
  const actions: LifecycleAction[] = [];
  const versions = facts.versions;
  if (versions.length === 0) return actions;
  assert(facts.versioned || versions.length === 1, `${facts.key}: one version when unversioned`);
  for (let i = 1; i < versions.length; i++) {
    const ruleId = noncurrentRule(rules, facts, i, nowMs, timing);
    if (ruleId !== undefined)
      actions.push({ kind: 'expireNoncurrent', versionId: versions[i].versionId, ruleId });
  }
  const current = versions[0];
  if (!current.deleteMarker) {
    const expiry = currentExpiry(rules, facts.key, current, timing);
    if (expiry !== undefined && expiry.dueMs <= nowMs)
      actions.push({ kind: 'expireCurrent', ruleId: expiry.ruleId });
  } else if (versions.length === 1) {
    const ruleId = soleMarkerRule(rules, facts, nowMs, timing);
    if (ruleId !== undefined)
      actions.push({ kind: 'removeExpiredMarker', versionId: current.versionId, ruleId });
  }
  return actions;
}

// The rule that aborts an upload of `key` initiated at initiatedAtMs, if one does now.
// Uploads have no tags or size yet: only the prefix of a rule's filter applies.
export function decideUpload(
  rules: readonly LifecycleRule[],
  upload: { key: string; initiatedAtMs: number },
  nowMs: number,
  timing: LifecycleTiming,
): string | undefined {
  for (const rule of rules) {
    const days = rule.abortIncompleteUploadDays;
    if (!rule.enabled || days === undefined) continue;
    if (rule.filter.prefix !== undefined && !upload.key.startsWith(rule.filter.prefix)) continue;
    if (dueAtMs(upload.initiatedAtMs, days, timing) <= nowMs) return rule.id;
  }
  return undefined;
}

// A version the rules move to a colder storage class now: the coldest class a due Transition
// (current version) or NoncurrentVersionTransition (noncurrent one, unless it is one of the
// rule's NewerNoncurrentVersions newest noncurrent ones) names, when it is colder than the
// version's own. Delete markers and files without S3 metadata (written only through the
// mount) are not moved. Object Lock does not stop a transition: it forbids removal, not a change
// of class (AWS transitions locked versions too), and the re-encoded data is committed before the
// old is let go.
export interface LifecycleTransitionAction {
  versionId: string;
  storageClass: StorageClass;
  ruleId: string;
}

export function decideTransitions(
  rules: readonly LifecycleRule[],
  facts: LifecycleKeyFacts,
  nowMs: number,
  timing: LifecycleTiming,
): LifecycleTransitionAction[] {
  const actions: LifecycleTransitionAction[] = [];
  facts.versions.forEach((version, index) => {
    // A small object kept inline stays STANDARD: a wider code on a cold pool saves nothing on a
    // few KiB (AWS's lifecycle skips objects under 128 KiB by default for the same reason).
    // An SSE-C version stays too: re-encoding needs its bytes, readable only with the customer's
    // key, which the cluster never keeps.
    if (version.deleteMarker || version.objectMeta !== true || version.inline === true) return;
    if (version.customerKeyed === true) return;
    let best: LifecycleTransitionAction | undefined;
    const consider = (storageClass: StorageClass, ruleId: string) => {
      if (classRank(storageClass) <= classRank(version.storageClass)) return;
      if (best === undefined || classRank(storageClass) > classRank(best.storageClass))
        best = { versionId: version.versionId, storageClass, ruleId };
    };
    for (const rule of rules) {
      if (!rule.enabled || !filterMatches(rule.filter, facts.key, version)) continue;
      if (index === 0) {
        for (const t of rule.transitions ?? []) {
          const dueMs =
            t.days !== undefined ? dueAtMs(version.lastModifiedMs, t.days, timing) : t.dateMs;
          if (dueMs !== undefined && dueMs <= nowMs) consider(t.storageClass, rule.id);
        }
        continue;
      }
      // It became noncurrent when the version after it was made.
      const noncurrentSinceMs = facts.versions[index - 1].lastModifiedMs;
      // The newest NewerNoncurrentVersions noncurrent versions stay whatever their age.
      const newerNoncurrent = index - 1;
      for (const t of rule.noncurrentTransitions ?? []) {
        if (newerNoncurrent < (t.newerNoncurrentVersions ?? 0)) continue;
        if (dueAtMs(noncurrentSinceMs, t.noncurrentDays, timing) <= nowMs)
          consider(t.storageClass, rule.id);
      }
    }
    if (best !== undefined) actions.push(best);
  });
  return actions;
}
