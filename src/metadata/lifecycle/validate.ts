// A lifecycle configuration checked as AWS checks one (PutBucketLifecycleConfiguration), in the
// state machine so that every path is held to it. The gateway parses the XML and refuses what
// Strata does not do (Transition: 501); everything about the rules' values is judged here, and a
// refusal is EINVAL with AWS's message (InvalidArgument at the S3 edge).
import { isArchiveClass } from '../storage-class.ts';
import { fail } from '../store.ts';
import type { LifecycleConfig, LifecycleFilter, LifecycleRule } from '../types.ts';
import { DAY_MS } from './decide.ts';

export const LIFECYCLE_RULES_MAX = 1000; // AWS's limit per bucket
export const RULE_ID_CHARS_MAX = 255;
const NEWER_NONCURRENT_MAX = 100;
const TAGS_MAX = 50;
const DAYS_MAX = 2 ** 31 - 1;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function positiveDays(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > DAYS_MAX)
    fail('EINVAL', `'${what}' in a lifecycle rule must be a positive integer`);
  return value as number;
}

function checkFilter(filter: unknown, id: string): LifecycleFilter {
  if (!isObject(filter)) return fail('EINVAL', `rule ${id}: a filter is an object`);
  const f = filter as LifecycleFilter;
  if (f.prefix !== undefined && typeof f.prefix !== 'string')
    fail('EINVAL', `rule ${id}: the prefix is a string`);
  if (f.tags !== undefined) {
    if (!isObject(f.tags)) fail('EINVAL', `rule ${id}: tags are an object of strings`);
    const tags = Object.entries(f.tags as Record<string, unknown>);
    if (tags.length > TAGS_MAX || !tags.every(([, v]) => typeof v === 'string'))
      fail('EINVAL', `rule ${id}: at most ${TAGS_MAX} tags, each a string`);
  }
  for (const size of [f.sizeGreaterThanBytes, f.sizeLessThanBytes]) {
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0))
      fail('EINVAL', `rule ${id}: an object size is an integer of at least 0`);
  }
  const { sizeGreaterThanBytes: above, sizeLessThanBytes: below } = f;
  if (above !== undefined && below !== undefined && above >= below)
    fail('EINVAL', 'ObjectSizeGreaterThan must be less than ObjectSizeLessThan');
  return f;
}

function checkExpiration(rule: LifecycleRule): void {
  const e = rule.expiration;
  if (e === undefined) return;
  const given = [e.days, e.dateMs, e.expiredObjectDeleteMarker].filter((v) => v !== undefined);
  if (given.length !== 1)
    fail('EINVAL', 'Expiration takes exactly one of Days, Date and ExpiredObjectDeleteMarker');
  if (e.days !== undefined) positiveDays(e.days, 'Days');
  if (e.dateMs !== undefined && (!Number.isSafeInteger(e.dateMs) || e.dateMs % DAY_MS !== 0))
    fail('EINVAL', "'Date' must be at midnight GMT");
  if (e.expiredObjectDeleteMarker !== undefined) {
    if (typeof e.expiredObjectDeleteMarker !== 'boolean')
      fail('EINVAL', 'ExpiredObjectDeleteMarker is true or false');
    if (rule.filter.tags !== undefined)
      fail('EINVAL', 'ExpiredObjectDeleteMarker cannot be specified with object tags');
  }
}

function checkActions(rule: LifecycleRule): void {
  checkExpiration(rule);
  const n = rule.noncurrentExpiration;
  if (n !== undefined) {
    positiveDays(n.noncurrentDays, 'NoncurrentDays');
    checkNewer(n.newerNoncurrentVersions);
  }
  if (rule.abortIncompleteUploadDays !== undefined) {
    positiveDays(rule.abortIncompleteUploadDays, 'DaysAfterInitiation');
    const f = rule.filter;
    if (f.tags !== undefined)
      fail('EINVAL', 'AbortIncompleteMultipartUpload cannot be specified with Tags');
    if (f.sizeGreaterThanBytes !== undefined || f.sizeLessThanBytes !== undefined)
      fail('EINVAL', 'AbortIncompleteMultipartUpload cannot be specified with an object size');
  }
  checkTransitions(rule);
  if (
    rule.expiration === undefined &&
    n === undefined &&
    rule.abortIncompleteUploadDays === undefined &&
    rule.transitions === undefined &&
    rule.noncurrentTransitions === undefined
  )
    fail('EINVAL', 'At least one action needs to be specified in a rule');
}

const TRANSITIONS_MAX = 10; // per rule and kind: more would only repeat a class

// AWS: an object moves to STANDARD_IA only once 30 days old (or noncurrent for 30 days).
const STANDARD_IA_DAYS_MIN = 30;

// Transitions go to a colder class: STANDARD_IA (a label of the same policy) or an archive class
// (GLACIER, DEEP_ARCHIVE; src/metadata/storage-class.ts).
function checkTransitions(rule: LifecycleRule): void {
  const lists = [rule.transitions, rule.noncurrentTransitions];
  for (const list of lists) {
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0 || list.length > TRANSITIONS_MAX)
      fail('EINVAL', `rule ${rule.id}: 1 to ${TRANSITIONS_MAX} transitions of a kind`);
    for (const t of list)
      if (!isArchiveClass(t?.storageClass) && t?.storageClass !== 'STANDARD_IA')
        fail(
          'EINVAL',
          `rule ${rule.id}: a transition goes to STANDARD_IA, GLACIER or DEEP_ARCHIVE`,
        );
  }
  for (const t of rule.transitions ?? []) {
    if ((t.days === undefined) === (t.dateMs === undefined))
      fail('EINVAL', 'Transition takes exactly one of Days and Date');
    if (t.days !== undefined) positiveDays(t.days, 'Days');
    if (t.dateMs !== undefined && (!Number.isSafeInteger(t.dateMs) || t.dateMs % DAY_MS !== 0))
      fail('EINVAL', "'Date' must be at midnight GMT");
    if (t.storageClass === 'STANDARD_IA' && t.days !== undefined && t.days < STANDARD_IA_DAYS_MIN)
      fail(
        'EINVAL',
        `'Days' in Transition action must be greater than or equal to ${STANDARD_IA_DAYS_MIN} for storageClass 'STANDARD_IA'`,
      );
  }
  for (const t of rule.noncurrentTransitions ?? []) {
    positiveDays(t.noncurrentDays, 'NoncurrentDays');
    checkNewer(t.newerNoncurrentVersions);
    if (t.storageClass === 'STANDARD_IA' && t.noncurrentDays < STANDARD_IA_DAYS_MIN)
      fail(
        'EINVAL',
        `'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal to ${STANDARD_IA_DAYS_MIN} for storageClass 'STANDARD_IA'`,
      );
  }
}

function checkNewer(newer: number | undefined): void {
  if (
    newer !== undefined &&
    (!Number.isSafeInteger(newer) || newer < 1 || newer > NEWER_NONCURRENT_MAX)
  )
    fail('EINVAL', `'NewerNoncurrentVersions' must be from 1 to ${NEWER_NONCURRENT_MAX}`);
}

function checkRule(value: unknown): LifecycleRule {
  if (!isObject(value)) return fail('EINVAL', 'a lifecycle rule is an object');
  const rule = value as unknown as LifecycleRule;
  if (typeof rule.id !== 'string' || rule.id.length === 0 || rule.id.length > RULE_ID_CHARS_MAX)
    fail('EINVAL', `The ID of a rule is 1 to ${RULE_ID_CHARS_MAX} characters`);
  if (typeof rule.enabled !== 'boolean') fail('EINVAL', `rule ${rule.id}: Status is required`);
  if (rule.legacyPrefix !== undefined && typeof rule.legacyPrefix !== 'boolean')
    fail('EINVAL', `rule ${rule.id}: legacyPrefix is true or false`);
  checkFilter(rule.filter, rule.id);
  checkActions(rule);
  return copyRule(rule);
}

// What is stored: the rule's known fields only (a command from another client than the gateway
// cannot leave fields the decision does not read).
function copyRule(rule: LifecycleRule): LifecycleRule {
  const f = rule.filter;
  const filter: LifecycleFilter = {};
  if (f.prefix !== undefined) filter.prefix = f.prefix;
  if (f.tags !== undefined) filter.tags = { ...f.tags };
  if (f.sizeGreaterThanBytes !== undefined) filter.sizeGreaterThanBytes = f.sizeGreaterThanBytes;
  if (f.sizeLessThanBytes !== undefined) filter.sizeLessThanBytes = f.sizeLessThanBytes;
  const copy: LifecycleRule = { id: rule.id, enabled: rule.enabled, filter };
  if (rule.legacyPrefix === true) copy.legacyPrefix = true;
  const e = rule.expiration;
  if (e?.days !== undefined) copy.expiration = { days: e.days };
  else if (e?.dateMs !== undefined) copy.expiration = { dateMs: e.dateMs };
  else if (e?.expiredObjectDeleteMarker !== undefined)
    copy.expiration = { expiredObjectDeleteMarker: e.expiredObjectDeleteMarker };
  const n = rule.noncurrentExpiration;
  if (n !== undefined) {
    copy.noncurrentExpiration = { noncurrentDays: n.noncurrentDays };
    if (n.newerNoncurrentVersions !== undefined)
      copy.noncurrentExpiration.newerNoncurrentVersions = n.newerNoncurrentVersions;
  }
  if (rule.abortIncompleteUploadDays !== undefined)
    copy.abortIncompleteUploadDays = rule.abortIncompleteUploadDays;
  if (rule.transitions !== undefined)
    copy.transitions = rule.transitions.map((t) =>
      t.days !== undefined
        ? { days: t.days, storageClass: t.storageClass }
        : { dateMs: t.dateMs as number, storageClass: t.storageClass },
    );
  if (rule.noncurrentTransitions !== undefined)
    copy.noncurrentTransitions = rule.noncurrentTransitions.map((t) => ({
      noncurrentDays: t.noncurrentDays,
      storageClass: t.storageClass,
      ...(t.newerNoncurrentVersions !== undefined
        ? { newerNoncurrentVersions: t.newerNoncurrentVersions }
        : {}),
    }));
  return copy;
}

export function checkLifecycleConfig(config: unknown): LifecycleConfig {
  if (!isObject(config) || !Array.isArray(config.rules))
    return fail('EINVAL', 'a lifecycle configuration is an object with rules');
  const rules = config.rules as unknown[];
  if (rules.length === 0 || rules.length > LIFECYCLE_RULES_MAX)
    fail('EINVAL', `a lifecycle configuration has 1 to ${LIFECYCLE_RULES_MAX} rules`);
  const ids = new Set<string>();
  const checked: LifecycleRule[] = [];
  for (const value of rules) {
    const rule = checkRule(value);
    if (ids.has(rule.id))
      fail('EINVAL', 'Rule ID must be unique. Found same ID for more than one rule');
    ids.add(rule.id);
    checked.push(rule);
  }
  return { rules: checked };
}
