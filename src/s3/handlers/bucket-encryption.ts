// Get/Put/DeleteBucketEncryption: a bucket's default encryption, recorded in the bucket's
// replicated record by the state machine, which applies it to every new object of the bucket
// (src/metadata/object-encryption.ts). SSE-S3 (AES256) only; SSE-KMS is 501.
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';
import { sseKeyMissing } from './sse.ts';

function malformed(): S3Error {
  return new S3Error(
    'MalformedXML',
    400,
    'The XML you provided was not well-formed or did not validate against our published schema.',
  );
}

export async function getBucketEncryption(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  if (info.encryption === undefined) {
    throw new S3Error(
      'ServerSideEncryptionConfigurationNotFoundError',
      404,
      'The server side encryption configuration was not found',
    );
  }
  const rule = {
    ApplyServerSideEncryptionByDefault: { SSEAlgorithm: info.encryption },
    BucketKeyEnabled: 'false',
  };
  sendXml(ctx, 200, renderXml('ServerSideEncryptionConfiguration', { Rule: rule }));
}

// <ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>
// <SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>...
export async function putBucketEncryption(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  const config = parseXml(
    (await readSmallBody(ctx)).toString('utf8'),
  ).ServerSideEncryptionConfiguration;
  const rules: unknown[] = Array.isArray(config?.Rule) ? config.Rule : [config?.Rule];
  if (rules.length !== 1 || typeof rules[0] !== 'object' || rules[0] === null) throw malformed();
  const rule = rules[0] as Record<string, Record<string, unknown> | string | undefined>;
  const byDefault = rule.ApplyServerSideEncryptionByDefault;
  if (typeof byDefault !== 'object') throw malformed();
  const algorithm = byDefault.SSEAlgorithm;
  if (algorithm === 'aws:kms' || algorithm === 'aws:kms:dsse' || 'KMSMasterKeyID' in byDefault) {
    throw new S3Error(
      'NotImplemented',
      501,
      'Default encryption with KMS keys (SSE-KMS) is not implemented by Strata; use AES256.',
    );
  }
  if (algorithm !== 'AES256') throw malformed();
  // An S3 Bucket Key is an SSE-KMS cost saving; with AES256 AWS has nothing to apply it to.
  if (rule.BucketKeyEnabled !== undefined && rule.BucketKeyEnabled !== 'false') {
    throw new S3Error('NotImplemented', 501, 'S3 Bucket Keys (SSE-KMS) are not implemented.');
  }
  // A default this gateway cannot honour would make every later PUT fail: refused now instead.
  if (!ctx.client.sealsOnRequest()) throw sseKeyMissing();
  await ctx.client.setBucketAttr(bucket, 'encryption', algorithm);
  sendEmpty(ctx, 200);
}

export async function deleteBucketEncryption(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  await ctx.client.setBucketAttr(bucket, 'encryption', null);
  sendEmpty(ctx, 204);
}
