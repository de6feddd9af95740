// Get/Put/DeleteBucketReplication. The gateway checks the configuration as AWS does (schema V1
// or V2, priorities, delete markers, destinations) and the state machine records it
// (src/metadata/bucket-replication.ts); the metadata leader sends the versions
// (src/cluster/bucket-replication-runner.ts). What Strata does not do is refused with 501.
import { randomBytes } from 'node:crypto';
import type {
  ReplicationConfig,
  ReplicationRule,
} from '../../metadata/bucket-replication-types.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';

const RULES_MAX = 1000;
const RULE_ID_CHARS_MAX = 255;
const ARN_PREFIX = 'arn:aws:s3:::';
const RULE_FIELDS = new Set([
  'ID',
  'Priority',
  'Status',
  'Filter',
  'Prefix',
  'DeleteMarkerReplication',
  'Destination',
]);
// Elements of the full API Strata does not do: refused, never accepted and ignored.
const UNSUPPORTED_RULE_FIELDS = ['SourceSelectionCriteria', 'ExistingObjectReplication'];
const UNSUPPORTED_DESTINATION_FIELDS = [
  'Account',
  'AccessControlTranslation',
  'EncryptionConfiguration',
  'ReplicationTime',
  'Metrics',
];

const malformed = () =>
  new S3Error(
    'MalformedXML',
    400,
    'The XML you provided was not well-formed or did not validate against our published schema.',
  );
const invalidRequest = (message: string) => new S3Error('InvalidRequest', 400, message);
const invalidArgument = (message: string) => new S3Error('InvalidArgument', 400, message);
const notImplemented = (what: string) =>
  new S3Error('NotImplemented', 501, `${what} is not implemented by Strata's bucket replication.`);

export async function getBucketReplication(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  if (info.replication === undefined)
    throw new S3Error(
      'ReplicationConfigurationNotFoundError',
      404,
      'The replication configuration was not found',
    );
  sendXml(ctx, 200, renderXml('ReplicationConfiguration', renderConfig(info.replication)));
}

export async function putBucketReplication(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  const body = parseXml((await readSmallBody(ctx)).toString('utf8')).ReplicationConfiguration;
  if (typeof body !== 'object' || body === null) throw malformed();
  const config = parseConfig(body, bucket, ctx.options.replicationBuckets ?? []);
  // AWS checks versioning after the document; the state machine checks it again, atomically.
  if (info.versioning !== 'Enabled')
    throw invalidRequest(
      "Versioning must be 'Enabled' on the bucket to apply a replication configuration",
    );
  await ctx.client.setBucketReplication(bucket, config);
  sendEmpty(ctx, 200);
}

export async function deleteBucketReplication(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  await ctx.client.setBucketReplication(bucket, null);
  sendEmpty(ctx, 204);
}

function parseConfig(
  body: Record<string, any>,
  source: string,
  targetBuckets: readonly string[],
): ReplicationConfig {
  const unknown = Object.keys(body).find((k) => !['Role', 'Rule', '#text'].includes(k));
  if (unknown !== undefined) throw malformed();
  if (typeof body.Role !== 'string') throw malformed();
  const raw = body.Rule === undefined ? [] : [body.Rule].flat();
  if (raw.length === 0 || raw.length > RULES_MAX) throw malformed();
  const rules = raw.map((r) => parseRule(r, source, targetBuckets));
  const v1 = rules.filter((r) => r.shape === 'V1').length;
  if (v1 !== 0 && v1 !== rules.length)
    throw invalidRequest('Rules of the V1 schema (Prefix) and V2 schema (Filter) cannot be mixed');
  const ids = new Set(rules.map((r) => r.id));
  if (ids.size !== rules.length) throw invalidArgument('Rule Id must be unique');
  if (v1 === 0 && new Set(rules.map((r) => r.priority)).size !== rules.length)
    throw invalidArgument('Found overlapping priorities. Priorities must be unique');
  if (new Set(rules.map((r) => r.destinationBucket)).size !== 1)
    throw notImplemented('Replication to more than one destination bucket');
  return { role: body.Role, rules };
}

function parseRule(r: unknown, source: string, targetBuckets: readonly string[]): ReplicationRule {
  if (typeof r !== 'object' || r === null) throw malformed();
  const rule = r as Record<string, any>;
  const unsupported = UNSUPPORTED_RULE_FIELDS.find((f) => f in rule);
  if (unsupported !== undefined) throw notImplemented(unsupported);
  if (Object.keys(rule).some((k) => k !== '#text' && !RULE_FIELDS.has(k))) throw malformed();
  if (rule.Status !== 'Enabled' && rule.Status !== 'Disabled') throw malformed();
  const id = rule.ID === undefined ? randomBytes(12).toString('base64url') : rule.ID;
  if (typeof id !== 'string' || id.length > RULE_ID_CHARS_MAX)
    throw invalidArgument(`The ID is longer than ${RULE_ID_CHARS_MAX} characters`);
  const destinationBucket = parseDestination(rule.Destination, source, targetBuckets);
  const common = { id, enabled: rule.Status === 'Enabled', destinationBucket };
  if (rule.Filter === undefined) {
    // V1: a rule-level Prefix, every object under it, delete markers replicated.
    if (typeof rule.Prefix !== 'string') throw malformed();
    if (rule.DeleteMarkerReplication !== undefined || rule.Priority !== undefined)
      throw invalidRequest('Priority and DeleteMarkerReplication need a Filter (schema V2)');
    const v1 = { priority: 0, shape: 'V1' as const, prefix: rule.Prefix, tags: [] };
    return { ...common, ...v1, deleteMarkers: true };
  }
  if (rule.Prefix !== undefined) throw invalidRequest('A rule has either Prefix or Filter');
  const filter = parseFilter(rule.Filter);
  const deleteMarkers = parseDeleteMarkers(rule.DeleteMarkerReplication);
  if (deleteMarkers && filter.tags.length > 0)
    throw invalidRequest(
      'Delete marker replication is not supported if any Tag filter is specified.',
    );
  const priority = rule.Priority === undefined ? 0 : Number(rule.Priority);
  if (!Number.isSafeInteger(priority) || priority < 0 || !/^\d+$/.test(String(rule.Priority ?? 0)))
    throw invalidArgument('Priority must be a non-negative integer');
  return { ...common, priority, deleteMarkers, ...filter };
}

type ParsedFilter = Pick<ReplicationRule, 'shape' | 'prefix' | 'tags'>;

function parseFilter(f: unknown): ParsedFilter {
  // <Filter/> or <Filter></Filter>: every object.
  if (typeof f === 'string') {
    if (f.trim() !== '') throw malformed();
    return { shape: 'Empty', prefix: '', tags: [] };
  }
  if (typeof f !== 'object' || f === null) throw malformed();
  const filter = f as Record<string, any>;
  const children = Object.keys(filter).filter((k) => k !== '#text');
  if (children.length === 0) return { shape: 'Empty', prefix: '', tags: [] };
  if (children.length !== 1) throw malformed();
  if ('Prefix' in filter) return { shape: 'Prefix', prefix: stringOf(filter.Prefix), tags: [] };
  if ('Tag' in filter) {
    const tags = parseTags(filter.Tag);
    if (tags.length !== 1) throw malformed();
    return { shape: 'Tag', prefix: '', tags };
  }
  const and = filter.And as Record<string, any> | undefined;
  if (typeof and !== 'object' || and === null) throw malformed();
  if (Object.keys(and).some((k) => !['Prefix', 'Tag', '#text'].includes(k))) throw malformed();
  const tags = and.Tag === undefined ? [] : parseTags(and.Tag);
  const keys = new Set(tags.map((t) => t.key));
  if (keys.size !== tags.length) throw invalidArgument('Duplicate Tag Keys are not allowed.');
  return { shape: 'And', prefix: and.Prefix === undefined ? '' : stringOf(and.Prefix), tags };
}

function parseTags(raw: unknown): Array<{ key: string; value: string }> {
  return [raw].flat().map((t) => {
    const tag = t as Record<string, unknown>;
    if (typeof tag !== 'object' || tag === null || typeof tag.Key !== 'string') throw malformed();
    return { key: tag.Key, value: tag.Value === undefined ? '' : stringOf(tag.Value) };
  });
}

function stringOf(value: unknown): string {
  if (typeof value !== 'string') throw malformed();
  return value;
}

function parseDeleteMarkers(d: unknown): boolean {
  // AWS: with a Filter, the rule must say whether delete markers are replicated.
  if (typeof d !== 'object' || d === null)
    throw invalidRequest(
      'DeleteMarkerReplication must be specified for this version of the Cross Region ' +
        'Replication configuration schema.',
    );
  const status = (d as Record<string, unknown>).Status;
  if (status !== 'Enabled' && status !== 'Disabled') throw malformed();
  return status === 'Enabled';
}

function parseDestination(d: unknown, source: string, targetBuckets: readonly string[]): string {
  if (typeof d !== 'object' || d === null) throw malformed();
  const destination = d as Record<string, unknown>;
  const unsupported = UNSUPPORTED_DESTINATION_FIELDS.find((f) => f in destination);
  if (unsupported !== undefined) throw notImplemented(`Destination ${unsupported}`);
  const storageClass = destination.StorageClass;
  if (storageClass !== undefined && storageClass !== 'STANDARD')
    throw notImplemented(`StorageClass ${String(storageClass)}`);
  const arn = destination.Bucket;
  if (typeof arn !== 'string' || !arn.startsWith(ARN_PREFIX))
    throw invalidArgument('Invalid bucket ARN: the destination is arn:aws:s3:::BUCKET');
  const name = arn.slice(ARN_PREFIX.length);
  if (name === source)
    throw invalidRequest('Destination bucket cannot be the same as the source bucket.');
  if (!targetBuckets.includes(name))
    throw invalidArgument(
      `Destination bucket ${name} is served by no replication target of this server ` +
        '(replication.targets in its configuration)',
    );
  return name;
}

function renderConfig(config: ReplicationConfig): Record<string, unknown> {
  return { Role: config.role, Rule: config.rules.map(renderRule) };
}

function renderRule(rule: ReplicationRule): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ID: rule.id,
    Status: rule.enabled ? 'Enabled' : 'Disabled',
  };
  const tag = (t: { key: string; value: string }) => ({ Key: t.key, Value: t.value });
  if (rule.shape === 'V1') out.Prefix = rule.prefix;
  else {
    out.Priority = rule.priority;
    if (rule.shape === 'Empty') out.Filter = '';
    if (rule.shape === 'Prefix') out.Filter = { Prefix: rule.prefix };
    if (rule.shape === 'Tag') out.Filter = { Tag: tag(rule.tags[0]) };
    if (rule.shape === 'And')
      out.Filter = { And: { Prefix: rule.prefix, Tag: rule.tags.map(tag) } };
    out.DeleteMarkerReplication = { Status: rule.deleteMarkers ? 'Enabled' : 'Disabled' };
  }
  out.Destination = { Bucket: `${ARN_PREFIX}${rule.destinationBucket}` };
  return out;
}
