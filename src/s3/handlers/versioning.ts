// Get/PutBucketVersioning. Enabled and Suspended are recorded by the state machine (versions.ts
// does the rest); MFA delete is refused: Strata has no second factor to check.
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';

export async function getBucketVersioning(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  // A bucket that never had versioning answers an empty configuration, as on AWS.
  const body = info.versioning === undefined ? {} : { Status: info.versioning };
  sendXml(ctx, 200, renderXml('VersioningConfiguration', body));
}

export async function putBucketVersioning(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  const config = parseXml((await readSmallBody(ctx)).toString('utf8')).VersioningConfiguration;
  const status = typeof config?.Status === 'string' ? config.Status : undefined;
  if (config === undefined || (status !== 'Enabled' && status !== 'Suspended')) {
    throw new S3Error(
      'MalformedXML',
      400,
      'The XML you provided was not well-formed or did not validate against our published schema.',
    );
  }
  const mfaDelete = typeof config.MfaDelete === 'string' ? config.MfaDelete : 'Disabled';
  if (mfaDelete !== 'Disabled') {
    throw new S3Error(
      'NotImplemented',
      501,
      'MFA delete is not implemented by Strata: there is no second factor to verify.',
    );
  }
  await ctx.client.setBucketAttr(bucket, 'versioning', status);
  sendEmpty(ctx, 200);
}
