import { storedAcl } from '../../auth/policy/index.ts';
import { isStrataError } from '../../common/errors.ts';
import type { ObjectOwnership } from '../../metadata/types.ts';
import { aclFromHeaders } from '../acl-request.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { isoDate, parseXml, renderXml } from '../xml.ts';
import { parseObjectOwnership } from './ownership-controls.ts';

function headerOf(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

// AWS's general-purpose bucket naming rules.
export function checkBucketName(name: string): void {
  const valid =
    name.length >= 3 &&
    name.length <= 63 &&
    /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !name.startsWith('xn--') &&
    !name.startsWith('sthree-') &&
    !name.endsWith('-s3alias') &&
    !name.endsWith('--ol-s3');
  if (!valid) throw new S3Error('InvalidBucketName', 400, 'The specified bucket is not valid.');
}

const MAX_BUCKETS_LIMIT = 10_000;

// ListBuckets with the optional pagination of current S3: max-buckets, continuation-token, prefix.
export async function listBuckets(ctx: RequestContext) {
  const q = ctx.url.searchParams;
  const prefix = q.get('prefix') ?? '';
  const maxRaw = q.get('max-buckets');
  const maxBuckets = maxRaw === null ? MAX_BUCKETS_LIMIT : Number(maxRaw);
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1 || maxBuckets > MAX_BUCKETS_LIMIT) {
    throw new S3Error(
      'InvalidArgument',
      400,
      `max-buckets must be an integer from 1 to ${MAX_BUCKETS_LIMIT}`,
    );
  }
  const token = q.get('continuation-token');
  const after = token === null ? undefined : Buffer.from(token, 'base64url').toString('utf8');
  // A user lists the buckets it owns; an administrator lists them all.
  const principal = ctx.auth.principal;
  const all = (await ctx.client.listBuckets())
    .filter((b) => principal?.admin || b.owner === principal?.user)
    .filter((b) => b.name.startsWith(prefix) && (after === undefined || b.name > after))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const page = all.slice(0, maxBuckets);
  const next =
    all.length > page.length
      ? Buffer.from(page[page.length - 1].name).toString('base64url')
      : undefined;
  const xml = renderXml('ListAllMyBucketsResult', {
    Owner: { ID: ctx.owner, DisplayName: ctx.owner },
    Buckets: {
      Bucket: page.map((b) => ({
        Name: b.name,
        CreationDate: isoDate(b.createdAtMs),
        BucketRegion: ctx.options.region,
      })),
    },
    ...(next ? { ContinuationToken: next } : {}),
    ...(prefix ? { Prefix: prefix } : {}),
  });
  sendXml(ctx, 200, xml);
}

// CreateBucketConfiguration elements other than LocationConstraint ask for directory buckets
// (Location, Bucket) or tags at creation (Tags): refused, so no bucket is made without them.
function refuseUnprovidedConfiguration(config: unknown): void {
  if (typeof config !== 'object' || config === null) return;
  const unprovided = Object.keys(config).filter((name) => name !== 'LocationConstraint');
  if (unprovided.length > 0) {
    throw new S3Error(
      'NotImplemented',
      501,
      `CreateBucketConfiguration ${unprovided.join(', ')} is not implemented by Strata yet.`,
    );
  }
}

export async function createBucket(ctx: RequestContext, bucket: string) {
  checkBucketName(bucket);
  const body = await readSmallBody(ctx);
  if (body.length > 0) {
    const config = parseXml(body.toString('utf8')).CreateBucketConfiguration;
    refuseUnprovidedConfiguration(config);
    const location =
      typeof config?.LocationConstraint === 'string' ? config.LocationConstraint : '';
    if (location !== '' && location !== ctx.options.region) {
      throw new S3Error(
        'IllegalLocationConstraintException',
        400,
        `The ${location} location constraint is incompatible for the region specific ` +
          'endpoint this request was sent to.',
      );
    }
  }
  const { acl, ownership } = requestedControls(ctx);
  try {
    // x-amz-bucket-object-lock-enabled: true makes it with Object Lock (and versioning) on.
    const objectLock = headerOf(ctx, 'x-amz-bucket-object-lock-enabled')?.toLowerCase() === 'true';
    await ctx.client.createBucket(bucket, ctx.owner, { objectLock });
  } catch (error) {
    if (!isStrataError(error, 'BUCKET_EXISTS')) throw error;
    const existing = await ctx.client.getBucket(bucket);
    if (existing.owner !== ctx.owner) {
      throw new S3Error(
        'BucketAlreadyExists',
        409,
        'The requested bucket name is not available. The bucket namespace is shared by all ' +
          'users of the system. Please select a different name and try again.',
      );
    }
    throw error;
  }
  if (ownership !== undefined) await ctx.client.setBucketAttr(bucket, 'ownership', ownership);
  if (acl !== null) await ctx.client.setBucketAttr(bucket, 'acl', acl);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 200, { location: `/${bucket}` });
}

// The ACL (x-amz-acl or x-amz-grant-*, stored form) and Object Ownership (x-amz-object-ownership)
// a new bucket asks for; an ACL beyond the owner with BucketOwnerEnforced is refused, as on AWS.
function requestedControls(ctx: RequestContext): {
  acl: string | null;
  ownership: ObjectOwnership | undefined;
} {
  const knownUsers = ctx.access.knownUsers;
  const target = { owner: ctx.owner, knownUsers, forObject: false };
  const requested = aclFromHeaders(ctx.req.headers, target);
  const header = headerOf(ctx, 'x-amz-object-ownership');
  const ownership =
    header === undefined ? undefined : parseObjectOwnership(header.trim(), 'InvalidArgument');
  if (ownership === 'BucketOwnerEnforced' && requested !== undefined && !requested.ownerOnly)
    throw new S3Error(
      'InvalidBucketAclWithObjectOwnership',
      400,
      "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    );
  const acl = requested === undefined ? null : storedAcl(requested.grants, ctx.owner);
  return { acl, ownership };
}

export async function headBucket(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  sendEmpty(ctx, 200, { 'x-amz-bucket-region': ctx.options.region });
}

export async function deleteBucket(ctx: RequestContext, bucket: string) {
  await ctx.client.deleteBucket(bucket);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 204);
}

export async function getBucketLocation(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  // us-east-1 is reported as an empty constraint, as AWS does.
  const region = ctx.options.region === 'us-east-1' ? '' : ctx.options.region;
  sendXml(ctx, 200, renderXml('LocationConstraint', { '#text': region }));
}
