// Get/PutBucketAcl and Get/PutObjectAcl: a canned ACL (x-amz-acl), grant headers (x-amz-grant-*)
// or an AccessControlPolicy body, stored as grants and honoured by the same authorization as
// policies (src/s3/access.ts). Under BucketOwnerEnforced ACLs are disabled: the ACL shown is the
// owner's full control only and setting any other is refused.
import {
  ACL_GRANTS_MAX,
  type AclGrant,
  aclDocument,
  grantsOfStored,
  normalizeGrants,
  parseGrantee,
  parsePermission,
  storedAcl,
} from '../../auth/policy/index.ts';
import type { BucketInfo } from '../../metadata/types.ts';
import { aclFromHeaders, checkRequestedAcl, type RequestedAcl } from '../acl-request.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';
import { requestedVersion, versionHeaders } from './object-get.ts';

// The grants a GET shows: none beyond the owner's while ACLs are disabled (they stay stored).
function shownGrants(info: BucketInfo, stored: string | undefined): AclGrant[] {
  return info.ownership === 'BucketOwnerEnforced' ? [] : grantsOfStored(stored);
}

export async function getBucketAcl(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  const doc = aclDocument(shownGrants(info, info.acl), info.owner);
  sendXml(ctx, 200, renderXml('AccessControlPolicy', doc));
}

export async function putBucketAcl(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  const grants = checkRequestedAcl(info, await requestedAcl(ctx, info.owner, BUCKET));
  await ctx.client.setBucketAttr(bucket, 'acl', storedAcl(grants, info.owner));
  ctx.access.forget(bucket);
  sendEmpty(ctx, 200);
}

export async function getObjectAcl(ctx: RequestContext, bucket: string, key: string) {
  const info = await ctx.client.getBucket(bucket);
  const version = await requestedVersion(ctx, bucket, key);
  const doc = aclDocument(shownGrants(info, version.inode.object?.acl), info.owner);
  sendXml(ctx, 200, renderXml('AccessControlPolicy', doc), versionHeaders(version));
}

export async function putObjectAcl(ctx: RequestContext, bucket: string, key: string) {
  const info = await ctx.client.getBucket(bucket);
  // An ACL goes on the current version; naming another one is not implemented.
  const versionId = ctx.url.searchParams.get('versionId');
  if (versionId !== null) {
    const current = await ctx.client.objectVersion(bucket, key);
    if (current.versionId !== versionId)
      throw new S3Error(
        'NotImplemented',
        501,
        'PutObjectAcl of a version other than the current one is not implemented by Strata yet.',
      );
  }
  const grants = checkRequestedAcl(info, await requestedAcl(ctx, info.owner, OBJECT));
  await ctx.client.setObjectAcl(bucket, key, storedAcl(grants, info.owner));
  sendEmpty(ctx, 200);
}

const malformed = () =>
  new S3Error(
    'MalformedACLError',
    400,
    'The XML you provided was not well-formed or did not validate against our published schema',
  );

// x-amz-acl or grant headers, or the grants of an AccessControlPolicy body; not both (AWS:
// UnexpectedContent).
const BUCKET = { forObject: false };
const OBJECT = { forObject: true };

async function requestedAcl(
  ctx: RequestContext,
  owner: string,
  kind: { forObject: boolean },
): Promise<RequestedAcl> {
  const knownUsers = ctx.access.knownUsers;
  const fromHeaders = aclFromHeaders(ctx.req.headers, { owner, knownUsers, ...kind });
  const body = await readSmallBody(ctx);
  if (fromHeaders !== undefined) {
    if (body.length > 0)
      throw new S3Error('UnexpectedContent', 400, 'This request does not support content');
    return fromHeaders;
  }
  if (body.length === 0)
    throw new S3Error('MissingSecurityHeader', 400, 'Your request was missing a required header');
  const policy = parseXml(body.toString('utf8')).AccessControlPolicy;
  if (!policy || typeof policy !== 'object') throw malformed();
  const list = policy.AccessControlList?.Grant;
  const raw: unknown[] = Array.isArray(list) ? list : list === undefined ? [] : [list];
  if (raw.length > ACL_GRANTS_MAX) throw malformed();
  const grants = raw.map((g) => grantOf(g, ctx.access.knownUsers));
  const normal = normalizeGrants(grants, owner);
  return { grants: normal, ownerOnly: normal.length === 0 };
}

const text = (v: unknown) => (typeof v === 'string' ? v.trim() : undefined);

// <Grant><Grantee xsi:type="…"><ID>|<URI>|<EmailAddress></Grantee><Permission/></Grant>
function grantOf(value: unknown, knownUsers: ReadonlySet<string>): AclGrant {
  if (typeof value !== 'object' || value === null) throw malformed();
  const g = value as { Grantee?: Record<string, unknown>; Permission?: unknown };
  if (typeof g.Grantee !== 'object' || g.Grantee === null) throw malformed();
  const who = {
    id: text(g.Grantee.ID),
    uri: text(g.Grantee.URI),
    email: text(g.Grantee.EmailAddress),
  };
  const named = [who.id, who.uri, who.email].filter((v) => v !== undefined);
  if (named.length !== 1) throw malformed();
  return {
    grantee: parseGrantee(who, knownUsers),
    permission: parsePermission(text(g.Permission) ?? ''),
  };
}
