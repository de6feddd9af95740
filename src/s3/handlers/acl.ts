// Get/PutBucketAcl and Get/PutObjectAcl: canned ACLs (x-amz-acl), or an AccessControlPolicy
// body whose grants equal a canned ACL. Both feed the same authorization (src/s3/access.ts).
import {
  aclDocument,
  type CannedAcl,
  cannedFromGrants,
  parseCannedAcl,
} from '../../auth/policy/index.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';
import { requestedVersion, versionHeaders } from './object-get.ts';

export async function getBucketAcl(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  const acl = (info.acl ?? 'private') as CannedAcl;
  sendXml(ctx, 200, renderXml('AccessControlPolicy', aclDocument(acl, info.owner, true)));
}

export async function putBucketAcl(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  const acl = await requestedAcl(ctx, info.owner);
  await ctx.client.setBucketAttr(bucket, 'acl', acl === 'private' ? null : acl);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 200);
}

export async function getObjectAcl(ctx: RequestContext, bucket: string, key: string) {
  const info = await ctx.client.getBucket(bucket);
  const version = await requestedVersion(ctx, bucket, key);
  const acl = (version.inode.object?.acl ?? 'private') as CannedAcl;
  const xml = renderXml('AccessControlPolicy', aclDocument(acl, info.owner, false));
  sendXml(ctx, 200, xml, versionHeaders(version));
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
  const acl = await requestedAcl(ctx, info.owner);
  await ctx.client.setObjectAcl(bucket, key, acl === 'private' ? null : acl);
  sendEmpty(ctx, 200);
}

// x-amz-acl, or the grants of an AccessControlPolicy body; not both (AWS: UnexpectedContent).
async function requestedAcl(ctx: RequestContext, owner: string): Promise<CannedAcl> {
  const header = ctx.req.headers['x-amz-acl'];
  const body = await readSmallBody(ctx);
  if (typeof header === 'string') {
    if (body.length > 0)
      throw new S3Error('UnexpectedContent', 400, 'This request does not support content');
    return parseCannedAcl(header) as CannedAcl;
  }
  if (body.length === 0)
    throw new S3Error('MissingSecurityHeader', 400, 'Your request was missing a required header');
  const policy = parseXml(body.toString('utf8')).AccessControlPolicy;
  if (!policy)
    throw new S3Error(
      'MalformedACLError',
      400,
      'The XML you provided was not well-formed or did not validate against our published schema',
    );
  const list = policy.AccessControlList?.Grant;
  const grants = (Array.isArray(list) ? list : list === undefined ? [] : [list]).map(
    (g: { Grantee?: { URI?: unknown; ID?: unknown }; Permission?: unknown }) => ({
      uri: typeof g.Grantee?.URI === 'string' ? g.Grantee.URI : undefined,
      id: typeof g.Grantee?.ID === 'string' ? g.Grantee.ID : undefined,
      permission: String(g.Permission ?? ''),
    }),
  );
  return cannedFromGrants(grants, owner);
}
