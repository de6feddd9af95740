// LifecycleConfiguration XML to rules and back. The element grammar is checked here (unknown or
// repeated elements are MalformedXML, never ignored); Transition and NoncurrentVersionTransition
// to GLACIER or DEEP_ARCHIVE are taken (the leader's transition runner re-encodes the data), to
// any other AWS class refused with 501, so a configuration is never stored with part of it left
// out. The rules' values are the state machine's to judge (src/metadata/lifecycle/validate.ts).
import { randomBytes } from 'node:crypto';
import type {
  LifecycleConfig,
  LifecycleFilter,
  LifecycleNoncurrentTransition,
  LifecycleRule,
  LifecycleTransition,
  StorageClass,
} from '../../metadata/types.ts';
import { S3Error } from '../errors.ts';
import { STORAGE_CLASSES } from '../request-headers.ts';
import { isoDate, parseXml } from '../xml.ts';

const malformed = (why: string) =>
  new S3Error(
    'MalformedXML',
    400,
    'The XML you provided was not well-formed or did not validate against our published schema.',
    why,
  );

const RULE_ELEMENTS = new Set([
  'ID',
  'Status',
  'Filter',
  'Prefix',
  'Expiration',
  'NoncurrentVersionExpiration',
  'AbortIncompleteMultipartUpload',
  'Transition',
  'NoncurrentVersionTransition',
]);
// The classes a transition can move data to: the archived ones, and STANDARD_IA (which shares
// STANDARD's policy: the transition only records the class).
const TRANSITION_CLASSES: readonly string[] = ['STANDARD_IA', 'GLACIER', 'DEEP_ARCHIVE'];

type Element = Record<string, unknown>;

// The children of an element, whitespace text left out; an element holding only text or
// nothing (<Filter></Filter>) has none.
function children(value: unknown, name: string): Element {
  if (value === undefined || typeof value === 'string') return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed(`${name} appears more than once`);
  const out: Element = {};
  for (const [k, v] of Object.entries(value)) if (k !== '#text') out[k] = v;
  return out;
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string') throw malformed(`${name} holds text`);
  return value;
}

function integer(value: unknown, name: string): number {
  const s = text(value, name).trim();
  if (!/^-?\d{1,15}$/.test(s))
    throw new S3Error('InvalidArgument', 400, `'${name}' must be an integer`);
  return Number(s);
}

function only(element: Element, allowed: readonly string[], name: string): void {
  for (const k of Object.keys(element))
    if (!allowed.includes(k)) throw malformed(`${name} does not take ${k}`);
}

function tagsOf(list: unknown): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of list as unknown[]) {
    const t = children(tag, 'Tag');
    only(t, ['Key', 'Value'], 'Tag');
    const key = text(t.Key, 'Key');
    if (key in tags)
      throw new S3Error('InvalidArgument', 400, 'Duplicate Tag Keys are not allowed.');
    tags[key] = t.Value === undefined ? '' : text(t.Value, 'Value');
  }
  return tags;
}

function parseAnd(value: unknown): LifecycleFilter {
  const and = children(value, 'And');
  only(and, ['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'], 'And');
  const filter: LifecycleFilter = {};
  if (and.Prefix !== undefined) filter.prefix = text(and.Prefix, 'Prefix');
  if (and.Tag !== undefined) filter.tags = tagsOf(and.Tag);
  if (and.ObjectSizeGreaterThan !== undefined)
    filter.sizeGreaterThanBytes = integer(and.ObjectSizeGreaterThan, 'ObjectSizeGreaterThan');
  if (and.ObjectSizeLessThan !== undefined)
    filter.sizeLessThanBytes = integer(and.ObjectSizeLessThan, 'ObjectSizeLessThan');
  if (Object.keys(and).length === 0) throw malformed('And holds no condition');
  return filter;
}

// A Filter holds at most one condition; several go inside And.
function parseFilter(value: unknown): LifecycleFilter {
  const f = children(value, 'Filter');
  only(f, ['Prefix', 'Tag', 'And', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'], 'Filter');
  const given = Object.keys(f);
  if (given.length > 1 || (Array.isArray(f.Tag) && f.Tag.length > 1))
    throw malformed('Filter holds one condition (several go inside And)');
  if (f.Prefix !== undefined) return { prefix: text(f.Prefix, 'Prefix') };
  if (f.Tag !== undefined) return { tags: tagsOf(f.Tag) };
  if (f.And !== undefined) return parseAnd(f.And);
  if (f.ObjectSizeGreaterThan !== undefined)
    return { sizeGreaterThanBytes: integer(f.ObjectSizeGreaterThan, 'ObjectSizeGreaterThan') };
  if (f.ObjectSizeLessThan !== undefined)
    return { sizeLessThanBytes: integer(f.ObjectSizeLessThan, 'ObjectSizeLessThan') };
  return {};
}

function parseDate(value: unknown): number {
  const s = text(value, 'Date').trim();
  const ms = Date.parse(s);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(s) || !Number.isFinite(ms))
    throw new S3Error('InvalidArgument', 400, "'Date' must be an ISO 8601 date");
  return ms;
}

function parseExpiration(value: unknown): NonNullable<LifecycleRule['expiration']> {
  const e = children(value, 'Expiration');
  only(e, ['Days', 'Date', 'ExpiredObjectDeleteMarker'], 'Expiration');
  const out: NonNullable<LifecycleRule['expiration']> = {};
  if (e.Days !== undefined) out.days = integer(e.Days, 'Days');
  if (e.Date !== undefined) out.dateMs = parseDate(e.Date);
  if (e.ExpiredObjectDeleteMarker !== undefined) {
    const flag = text(e.ExpiredObjectDeleteMarker, 'ExpiredObjectDeleteMarker').trim();
    if (flag !== 'true' && flag !== 'false') throw malformed('ExpiredObjectDeleteMarker');
    out.expiredObjectDeleteMarker = flag === 'true';
  }
  return out;
}

function transitionClass(value: unknown): StorageClass {
  const name = text(value, 'StorageClass').trim();
  if (TRANSITION_CLASSES.includes(name)) return name as StorageClass;
  if ((STORAGE_CLASSES as readonly string[]).includes(name))
    throw new S3Error(
      'NotImplemented',
      501,
      `A transition to ${name} is not implemented by Strata (STANDARD_IA, GLACIER and DEEP_ARCHIVE are)`,
    );
  throw new S3Error('InvalidStorageClass', 400, 'The storage class you specified is not valid');
}

const listOf = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

function parseTransitions(r: Element, rule: LifecycleRule): void {
  if (r.Transition !== undefined)
    rule.transitions = listOf(r.Transition).map((value) => {
      const t = children(value, 'Transition');
      only(t, ['Days', 'Date', 'StorageClass'], 'Transition');
      if (t.StorageClass === undefined) throw malformed('a Transition names its StorageClass');
      const out: LifecycleTransition = { storageClass: transitionClass(t.StorageClass) };
      if (t.Days !== undefined) out.days = integer(t.Days, 'Days');
      if (t.Date !== undefined) out.dateMs = parseDate(t.Date);
      return out;
    });
  if (r.NoncurrentVersionTransition !== undefined)
    rule.noncurrentTransitions = listOf(r.NoncurrentVersionTransition).map((value) => {
      const t = children(value, 'NoncurrentVersionTransition');
      only(
        t,
        ['NoncurrentDays', 'StorageClass', 'NewerNoncurrentVersions'],
        'NoncurrentVersionTransition',
      );
      if (t.StorageClass === undefined || t.NoncurrentDays === undefined)
        throw malformed('a NoncurrentVersionTransition has NoncurrentDays and StorageClass');
      const out: LifecycleNoncurrentTransition = {
        noncurrentDays: integer(t.NoncurrentDays, 'NoncurrentDays'),
        storageClass: transitionClass(t.StorageClass),
      };
      if (t.NewerNoncurrentVersions !== undefined)
        out.newerNoncurrentVersions = integer(t.NewerNoncurrentVersions, 'NewerNoncurrentVersions');
      return out;
    });
}

function parseRule(value: unknown): LifecycleRule {
  const r = children(value, 'Rule');
  for (const k of Object.keys(r))
    if (!RULE_ELEMENTS.has(k)) throw malformed(`Rule does not take ${k}`);
  if (r.Filter !== undefined && r.Prefix !== undefined)
    throw malformed('a rule has Filter or Prefix, not both');
  const status = r.Status === undefined ? '' : text(r.Status, 'Status');
  if (status !== 'Enabled' && status !== 'Disabled')
    throw malformed('Status is Enabled or Disabled');
  // AWS names a rule put without an ID itself.
  const id = r.ID === undefined ? randomBytes(24).toString('base64url') : text(r.ID, 'ID');
  const rule: LifecycleRule = { id, enabled: status === 'Enabled', filter: {} };
  if (r.Prefix !== undefined) {
    rule.filter = { prefix: text(r.Prefix, 'Prefix') };
    rule.legacyPrefix = true;
  } else rule.filter = parseFilter(r.Filter);
  if (r.Expiration !== undefined) rule.expiration = parseExpiration(r.Expiration);
  if (r.NoncurrentVersionExpiration !== undefined) {
    const n = children(r.NoncurrentVersionExpiration, 'NoncurrentVersionExpiration');
    only(n, ['NoncurrentDays', 'NewerNoncurrentVersions'], 'NoncurrentVersionExpiration');
    if (n.NoncurrentDays === undefined) throw malformed('NoncurrentDays is required');
    rule.noncurrentExpiration = { noncurrentDays: integer(n.NoncurrentDays, 'NoncurrentDays') };
    if (n.NewerNoncurrentVersions !== undefined)
      rule.noncurrentExpiration.newerNoncurrentVersions = integer(
        n.NewerNoncurrentVersions,
        'NewerNoncurrentVersions',
      );
  }
  if (r.AbortIncompleteMultipartUpload !== undefined) {
    const a = children(r.AbortIncompleteMultipartUpload, 'AbortIncompleteMultipartUpload');
    only(a, ['DaysAfterInitiation'], 'AbortIncompleteMultipartUpload');
    rule.abortIncompleteUploadDays = integer(a.DaysAfterInitiation, 'DaysAfterInitiation');
  }
  parseTransitions(r, rule);
  return rule;
}

export function parseLifecycleXml(xml: string): LifecycleConfig {
  const root = parseXml(xml).LifecycleConfiguration;
  if (root === undefined) throw malformed('no LifecycleConfiguration');
  const top = children(root, 'LifecycleConfiguration');
  only(top, ['Rule'], 'LifecycleConfiguration');
  const list = top.Rule === undefined ? [] : Array.isArray(top.Rule) ? top.Rule : [top.Rule];
  if (list.length === 0) throw malformed('a configuration has at least one Rule');
  return { rules: list.map(parseRule) };
}

function renderFilter(f: LifecycleFilter): Element {
  const tags = Object.entries(f.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  const conditions: Element = {};
  if (f.prefix !== undefined) conditions.Prefix = f.prefix;
  if (tags.length > 0) conditions.Tag = tags;
  if (f.sizeGreaterThanBytes !== undefined)
    conditions.ObjectSizeGreaterThan = f.sizeGreaterThanBytes;
  if (f.sizeLessThanBytes !== undefined) conditions.ObjectSizeLessThan = f.sizeLessThanBytes;
  const count = Object.keys(conditions).length + Math.max(0, tags.length - 1);
  return count > 1 ? { And: conditions } : conditions;
}

export function renderRule(rule: LifecycleRule): Element {
  const out: Element = { ID: rule.id };
  if (rule.legacyPrefix === true) out.Prefix = rule.filter.prefix ?? '';
  else out.Filter = renderFilter(rule.filter);
  out.Status = rule.enabled ? 'Enabled' : 'Disabled';
  const e = rule.expiration;
  if (e !== undefined) {
    if (e.days !== undefined) out.Expiration = { Days: e.days };
    else if (e.dateMs !== undefined) out.Expiration = { Date: isoDate(e.dateMs) };
    else out.Expiration = { ExpiredObjectDeleteMarker: String(e.expiredObjectDeleteMarker) };
  }
  const n = rule.noncurrentExpiration;
  if (n !== undefined) {
    out.NoncurrentVersionExpiration = {
      NoncurrentDays: n.noncurrentDays,
      ...(n.newerNoncurrentVersions === undefined
        ? {}
        : { NewerNoncurrentVersions: n.newerNoncurrentVersions }),
    };
  }
  if (rule.abortIncompleteUploadDays !== undefined)
    out.AbortIncompleteMultipartUpload = { DaysAfterInitiation: rule.abortIncompleteUploadDays };
  if (rule.transitions !== undefined)
    out.Transition = rule.transitions.map((t) => ({
      ...(t.days !== undefined ? { Days: t.days } : { Date: isoDate(t.dateMs as number) }),
      StorageClass: t.storageClass,
    }));
  if (rule.noncurrentTransitions !== undefined)
    out.NoncurrentVersionTransition = rule.noncurrentTransitions.map((t) => ({
      NoncurrentDays: t.noncurrentDays,
      StorageClass: t.storageClass,
      ...(t.newerNoncurrentVersions === undefined
        ? {}
        : { NewerNoncurrentVersions: t.newerNoncurrentVersions }),
    }));
  return out;
}
