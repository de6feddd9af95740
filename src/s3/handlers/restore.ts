// RestoreObject (POST /bucket/key?restore[&versionId=]): makes an archived version (GLACIER,
// DEEP_ARCHIVE) readable for Days lifecycle days once its tier's delay has passed. The state
// machine judges it (src/metadata/ops-storage-class.ts): 202 for a new restore, 200 when a
// completed one is extended, 409 RestoreAlreadyInProgress while one is ongoing, 403
// InvalidObjectState for a version that is not archived. Restores with a Select request or an
// output location (AWS's restore-and-query) are refused with 501.
import { isStrataError } from '../../common/errors.ts';
import { AWS_TIMING } from '../../metadata/lifecycle/decide.ts';
import { RESTORE_TIERS } from '../../metadata/storage-class.ts';
import type { RestoreTier } from '../../metadata/types.ts';
import { restoreRequests } from '../../observability/metrics.ts';
import { type RequestContext, readSmallBody, sendEmpty } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml } from '../xml.ts';

// The configuration's defaults (lifecycle.restore_delay_seconds_*), for gateways given none.
const DEFAULT_DELAY_MS: Record<RestoreTier, number> = {
  Expedited: 60_000,
  Standard: 3 * 3_600_000,
  Bulk: 5 * 3_600_000,
};

const malformed = (why: string) =>
  new S3Error(
    'MalformedXML',
    400,
    'The XML you provided was not well-formed or did not validate against our published schema.',
    why,
  );

function one(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed(`${name} appears once, with elements`);
  return value as Record<string, unknown>;
}

function textOf(value: unknown, name: string): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw malformed(`${name} is text`);
  return String(value).trim();
}

// RestoreRequest: Days (required here: without it AWS restores for Select only), and
// GlacierJobParameters/Tier (default Standard).
export function parseRestoreRequest(xml: string): { days: number; tier: RestoreTier } {
  const root = one(parseXml(xml).RestoreRequest, 'RestoreRequest');
  for (const name of ['Type', 'SelectParameters', 'OutputLocation', 'Description'])
    if (root[name] !== undefined)
      throw new S3Error(
        'NotImplemented',
        501,
        `RestoreObject with ${name} is not implemented by Strata yet.`,
      );
  for (const name of Object.keys(root))
    if (name !== 'Days' && name !== 'GlacierJobParameters' && name !== 'Tier' && name !== '#text')
      throw malformed(`RestoreRequest does not take ${name}`);
  if (root.Days === undefined) throw malformed('RestoreRequest needs Days');
  const daysText = textOf(root.Days, 'Days');
  if (!/^\d{1,10}$/.test(daysText) || Number(daysText) < 1)
    throw new S3Error('InvalidArgument', 400, 'Days must be a positive integer');
  let tier = 'Standard';
  if (root.GlacierJobParameters !== undefined) {
    const job = one(root.GlacierJobParameters, 'GlacierJobParameters');
    if (job.Tier !== undefined) tier = textOf(job.Tier, 'Tier');
  } else if (root.Tier !== undefined) tier = textOf(root.Tier, 'Tier');
  if (!(RESTORE_TIERS as readonly string[]).includes(tier)) throw malformed(`unknown Tier ${tier}`);
  return { days: Number(daysText), tier: tier as RestoreTier };
}

export async function restoreObject(ctx: RequestContext, bucket: string, key: string) {
  const { days, tier } = parseRestoreRequest((await readSmallBody(ctx)).toString('utf8'));
  const versionId = ctx.url.searchParams.get('versionId') ?? undefined;
  const delayMs = (ctx.options.restoreDelayMs ?? DEFAULT_DELAY_MS)[tier];
  const timing = ctx.options.lifecycleTiming ?? AWS_TIMING;
  let result: Awaited<ReturnType<typeof ctx.client.restoreObject>>;
  try {
    result = await ctx.client.restoreObject(bucket, key, {
      versionId,
      days,
      tier,
      delayMs,
      timing,
    });
  } catch (error) {
    if (isStrataError(error, 'RESTORE_IN_PROGRESS'))
      restoreRequests.inc({ tier, outcome: 'in_progress' });
    if (isStrataError(error, 'INVALID_OBJECT_STATE'))
      restoreRequests.inc({ tier, outcome: 'invalid_state' });
    throw error;
  }
  restoreRequests.inc({ tier, outcome: result.restore });
  ctx.log.info('restore requested', {
    bucket,
    key,
    versionId,
    tier,
    days,
    outcome: result.restore,
  });
  // AWS: 202 Accepted for a new restore, 200 OK for one already restored (its days extended).
  sendEmpty(ctx, result.restore === 'started' ? 202 : 200);
}
