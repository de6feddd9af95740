// Get/Put/DeleteBucketEncryption: a bucket's default encryption, recorded in the bucket's
// replicated record by the state machine, which applies it to every new object of the bucket
// (src/metadata/object-encryption.ts). SSE-S3 (AES256), or SSE-KMS (aws:kms) under the key
// KMSMasterKeyID names (id, ARN or alias; absent: the cluster's default key, alias/aws/s3).
// DSSE-KMS is 501.
import { kmsKeyArn, kmsKeyRef } from '../../client/kms-keys.ts';
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
  const byDefault: Record<string, string> = { SSEAlgorithm: info.encryption };
  if (info.encryptionKmsKeyId !== undefined)
    byDefault.KMSMasterKeyID = kmsKeyArn(ctx.options.region, info.encryptionKmsKeyId);
  const rule = {
    ApplyServerSideEncryptionByDefault: byDefault,
    BucketKeyEnabled: info.encryptionBucketKeyEnabled === true ? 'true' : 'false',
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
  if (algorithm === 'aws:kms:dsse') {
    throw new S3Error(
      'NotImplemented',
      501,
      'Dual-layer default encryption with KMS keys (DSSE-KMS) is not implemented by Strata.',
    );
  }
  if (algorithm !== 'AES256' && algorithm !== 'aws:kms') throw malformed();
  const bucketKey = rule.BucketKeyEnabled;
  if (bucketKey !== undefined && bucketKey !== 'true' && bucketKey !== 'false') throw malformed();
  // An S3 Bucket Key is an SSE-KMS cost saving; with AES256 AWS has nothing to apply it to.
  if (algorithm === 'AES256' && bucketKey === 'true') {
    throw new S3Error('NotImplemented', 501, 'S3 Bucket Keys apply to SSE-KMS (aws:kms) only.');
  }
  const keyId = byDefault.KMSMasterKeyID;
  if (keyId !== undefined && (algorithm !== 'aws:kms' || typeof keyId !== 'string')) {
    throw new S3Error('InvalidArgument', 400, 'KMSMasterKeyID is only valid with aws:kms.');
  }
  // A default this gateway cannot honour would make every later PUT fail: refused now instead.
  if (!ctx.client.sealsOnRequest()) throw sseKeyMissing();
  // The state machine resolves an id or alias to the key's id (KMS.NotFoundException if none).
  const value =
    algorithm === 'AES256'
      ? algorithm
      : {
          sseAlgorithm: algorithm,
          ...(keyId === undefined ? {} : { kmsKeyId: kmsKeyRef(keyId) }),
          ...(bucketKey === 'true' ? { bucketKeyEnabled: 'true' } : {}),
        };
  await ctx.client.setBucketAttr(bucket, 'encryption', value);
  sendEmpty(ctx, 200);
}

export async function deleteBucketEncryption(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  await ctx.client.setBucketAttr(bucket, 'encryption', null);
  sendEmpty(ctx, 204);
}
