// S3 Object Lock: Get/PutObjectLockConfiguration, Get/PutObjectRetention, Get/PutObjectLegalHold,
// the x-amz-object-lock-* headers of writes and reads, and the governance bypass. The rules
// themselves are the state machine's (src/metadata/object-lock.ts): here requests are parsed,
// and the bypass is granted only for the header AND the s3:BypassGovernanceRetention permission.
import type {
  ObjectLockRequest,
  ObjectLockRule,
  ObjectVersion,
  Retention,
  RetentionMode,
} from '../../metadata/types.ts';
import { authorize } from '../access.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';
import { requestedVersion } from './object-get.ts';

const MALFORMED = () =>
  new S3Error(
    'MalformedXML',
    400,
    'The XML you provided was not well-formed or did not validate against our published schema.',
  );

const MODES: readonly string[] = ['GOVERNANCE', 'COMPLIANCE'];

function header(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

function parseMode(value: unknown): RetentionMode {
  if (typeof value !== 'string' || !MODES.includes(value))
    throw new S3Error('InvalidArgument', 400, 'Unknown wormMode directive.');
  return value as RetentionMode;
}

// ISO 8601 as AWS takes it (2030-01-01T00:00:00Z, with or without milliseconds).
function parseDate(value: unknown): number {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(String(value)))
    throw new S3Error('InvalidArgument', 400, 'The retain until date must be an ISO 8601 date.');
  return ms;
}

// x-amz-object-lock-mode, -retain-until-date and -legal-hold of PutObject, CopyObject and
// CreateMultipartUpload. Mode and date come together (AWS: InvalidArgument otherwise).
export function lockFromHeaders(ctx: RequestContext): ObjectLockRequest | undefined {
  const mode = header(ctx, 'x-amz-object-lock-mode');
  const until = header(ctx, 'x-amz-object-lock-retain-until-date');
  const hold = header(ctx, 'x-amz-object-lock-legal-hold');
  if (mode === undefined && until === undefined && hold === undefined) return undefined;
  if ((mode === undefined) !== (until === undefined))
    throw new S3Error(
      'InvalidArgument',
      400,
      'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied',
    );
  const lock: ObjectLockRequest = {};
  if (mode !== undefined) lock.retention = { mode: parseMode(mode), untilMs: parseDate(until) };
  if (hold !== undefined) lock.legalHold = parseHold(hold);
  return lock;
}

function parseHold(value: unknown): boolean {
  if (value === 'ON') return true;
  if (value === 'OFF') return false;
  throw new S3Error('InvalidArgument', 400, 'Legal Hold status must be ON or OFF');
}

// The lock of a version as GET and HEAD answer it.
export function lockHeaders(version: ObjectVersion): Record<string, string> {
  const headers: Record<string, string> = {};
  if (version.retention !== undefined) {
    headers['x-amz-object-lock-mode'] = version.retention.mode;
    headers['x-amz-object-lock-retain-until-date'] = isoDate(version.retention.untilMs);
  }
  if (version.legalHold === true) headers['x-amz-object-lock-legal-hold'] = 'ON';
  return headers;
}

const isoDate = (ms: number) => new Date(ms).toISOString();

// The bypass is granted only when asked for and allowed: without the permission the request
// goes on without it (and a GOVERNANCE-retained version then stays), as on AWS.
export async function bypassGovernance(ctx: RequestContext, bucket: string, key: string) {
  if (header(ctx, 'x-amz-bypass-governance-retention')?.toLowerCase() !== 'true') return false;
  try {
    await authorize(ctx, { action: 's3:BypassGovernanceRetention', bucket, key });
    return true;
  } catch (error) {
    if (error instanceof S3Error && error.s3Code === 'AccessDenied') return false;
    throw error;
  }
}

export async function getObjectLockConfiguration(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  if (info.objectLock === undefined)
    throw new S3Error(
      'ObjectLockConfigurationNotFoundError',
      404,
      'Object Lock configuration does not exist for this bucket',
    );
  const body: Record<string, unknown> = { ObjectLockEnabled: 'Enabled' };
  const rule = info.objectLock.rule;
  if (rule !== undefined) {
    const period = rule.days !== undefined ? { Days: rule.days } : { Years: rule.years };
    body.Rule = { DefaultRetention: { Mode: rule.mode, ...period } };
  }
  sendXml(ctx, 200, renderXml('ObjectLockConfiguration', body));
}

export async function putObjectLockConfiguration(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  const config = parseXml((await readSmallBody(ctx)).toString('utf8')).ObjectLockConfiguration;
  if (config === undefined || config.ObjectLockEnabled !== 'Enabled') throw MALFORMED();
  let rule: ObjectLockRule | null = null;
  if (config.Rule !== undefined) {
    const retention = config.Rule?.DefaultRetention;
    if (retention === undefined) throw MALFORMED();
    rule = { mode: parseMode(retention.Mode) };
    if (retention.Days !== undefined) rule.days = periodOf(retention.Days);
    if (retention.Years !== undefined) rule.years = periodOf(retention.Years);
    if ((rule.days === undefined) === (rule.years === undefined)) throw MALFORMED();
  }
  await ctx.client.setObjectLockConfig(bucket, rule);
  sendEmpty(ctx, 200);
}

function periodOf(value: unknown): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new S3Error(
      'InvalidArgument',
      400,
      'Default retention period must be a positive integer value.',
    );
  return n;
}

const versionIdOf = (ctx: RequestContext) => ctx.url.searchParams.get('versionId') ?? undefined;

export async function getObjectRetention(ctx: RequestContext, bucket: string, key: string) {
  await requireLock(ctx, bucket);
  const version = await requestedVersion(ctx, bucket, key);
  if (version.retention === undefined)
    throw new S3Error(
      'NoSuchObjectLockConfiguration',
      404,
      'The specified object does not have a ObjectLock configuration',
    );
  const { mode, untilMs } = version.retention;
  const xml = renderXml('Retention', { Mode: mode, RetainUntilDate: isoDate(untilMs) });
  sendXml(ctx, 200, xml);
}

export async function putObjectRetention(ctx: RequestContext, bucket: string, key: string) {
  const body = parseXml((await readSmallBody(ctx)).toString('utf8')).Retention;
  if (body === undefined) throw MALFORMED();
  // An empty Retention removes it (GOVERNANCE with the bypass only).
  let retention: Retention | null = null;
  if (body.Mode !== undefined || body.RetainUntilDate !== undefined) {
    if (body.Mode === undefined || body.RetainUntilDate === undefined) throw MALFORMED();
    retention = { mode: parseMode(body.Mode), untilMs: parseDate(body.RetainUntilDate) };
  }
  const bypass = await bypassGovernance(ctx, bucket, key);
  const options = { versionId: versionIdOf(ctx), bypassGovernance: bypass };
  const result = await ctx.client.setObjectRetention(bucket, key, retention, options);
  sendEmpty(ctx, 200, versionHeader(result.versionId));
}

export async function getObjectLegalHold(ctx: RequestContext, bucket: string, key: string) {
  await requireLock(ctx, bucket);
  const version = await requestedVersion(ctx, bucket, key);
  const status = version.legalHold === true ? 'ON' : 'OFF';
  sendXml(ctx, 200, renderXml('LegalHold', { Status: status }));
}

export async function putObjectLegalHold(ctx: RequestContext, bucket: string, key: string) {
  const body = parseXml((await readSmallBody(ctx)).toString('utf8')).LegalHold;
  if (body === undefined) throw MALFORMED();
  const on = parseHold(body.Status);
  const result = await ctx.client.setObjectLegalHold(bucket, key, on, versionIdOf(ctx));
  sendEmpty(ctx, 200, versionHeader(result.versionId));
}

const versionHeader = (versionId?: string): Record<string, string> =>
  versionId === undefined ? {} : { 'x-amz-version-id': versionId };

async function requireLock(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  if (info.objectLock === undefined)
    throw new S3Error('InvalidRequest', 400, 'Bucket is missing Object Lock Configuration');
}
