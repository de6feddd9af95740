// Put/Get/DeleteBucketOwnershipControls (S3 Object Ownership). BucketOwnerEnforced disables ACLs
// (access.ts ignores them, acl-request.ts refuses setting one, acl.ts shows the owner's full
// control only); BucketOwnerPreferred keeps ACLs, and every object belongs to the bucket's owner,
// as it always does in Strata. ObjectWriter (the uploader owns the object) would need an object
// owner Strata does not record: 501 NotImplemented.
import { grantsOfStored } from '../../auth/policy/index.ts';
import { OBJECT_OWNERSHIPS, type ObjectOwnership } from '../../metadata/types.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';

export async function getBucketOwnershipControls(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  if (info.ownership === undefined)
    throw new S3Error(
      'OwnershipControlsNotFoundError',
      404,
      'The bucket ownership controls were not found',
    );
  const body = { Rule: { ObjectOwnership: info.ownership } };
  sendXml(ctx, 200, renderXml('OwnershipControls', body));
}

export async function putBucketOwnershipControls(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  const config = parseXml((await readSmallBody(ctx)).toString('utf8')).OwnershipControls;
  const rule = config?.Rule;
  const value = typeof rule?.ObjectOwnership === 'string' ? rule.ObjectOwnership.trim() : '';
  const ownership = parseObjectOwnership(value, 'MalformedXML');
  // AWS refuses to disable ACLs while the bucket's ACL grants access beyond its owner.
  if (ownership === 'BucketOwnerEnforced' && grantsOfStored(info.acl).length > 0)
    throw new S3Error(
      'InvalidBucketAclWithObjectOwnership',
      400,
      "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    );
  await ctx.client.setBucketAttr(bucket, 'ownership', ownership);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 200);
}

export async function deleteBucketOwnershipControls(ctx: RequestContext, bucket: string) {
  await ctx.client.setBucketAttr(bucket, 'ownership', null);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 204);
}

// A setting from a body (MalformedXML when unknown) or the x-amz-object-ownership header of
// CreateBucket (InvalidArgument).
export function parseObjectOwnership(value: string, unknownCode: string): ObjectOwnership {
  if ((OBJECT_OWNERSHIPS as readonly string[]).includes(value)) return value as ObjectOwnership;
  if (value === 'ObjectWriter')
    throw new S3Error(
      'NotImplemented',
      501,
      'ObjectWriter ownership is not implemented by Strata: every object belongs to its bucket owner.',
    );
  throw new S3Error(unknownCode, 400, `Invalid object ownership: ${value}`);
}
