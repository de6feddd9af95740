// Get/Put/DeleteBucketLifecycleConfiguration, and x-amz-expiration on GET, HEAD and PUT. The
// rules are carried out by the metadata leader's lifecycle runner (src/metadata/lifecycle/).
import { AWS_TIMING, currentExpiry } from '../../metadata/lifecycle/decide.ts';
import type { BucketInfo, Inode } from '../../metadata/types.ts';
import { httpDate, type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { renderXml } from '../xml.ts';
import { parseLifecycleXml, renderRule } from './lifecycle-xml.ts';

export async function getBucketLifecycle(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  if (info.lifecycle === undefined)
    throw new S3Error(
      'NoSuchLifecycleConfiguration',
      404,
      'The lifecycle configuration does not exist',
    );
  const body = { Rule: info.lifecycle.rules.map(renderRule) };
  sendXml(ctx, 200, renderXml('LifecycleConfiguration', body));
}

export async function putBucketLifecycle(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  const config = parseLifecycleXml((await readSmallBody(ctx)).toString('utf8'));
  await ctx.client.setBucketLifecycle(bucket, config);
  sendEmpty(ctx, 200);
}

export async function deleteBucketLifecycle(ctx: RequestContext, bucket: string) {
  await ctx.client.setBucketLifecycle(bucket, null);
  sendEmpty(ctx, 204);
}

// x-amz-expiration for the current version in `inode`: the earliest expiration its bucket's
// rules give it, and the rule's id (URL-encoded, as AWS sends it). Noncurrent versions get none.
// `info`: the bucket's record as read with the object (GET, HEAD), or as the gateway keeps it
// for access decisions (PUT).
export function expirationHeader(
  ctx: RequestContext,
  key: string,
  inode: Inode,
  info: BucketInfo | undefined,
): Record<string, string> {
  const rules = info?.lifecycle?.rules;
  if (rules === undefined) return {};
  const current = {
    versionId: '',
    deleteMarker: false,
    lastModifiedMs: inode.mtimeMs,
    sizeBytes: inode.size,
    tags: inode.object?.tags,
  };
  const expiry = currentExpiry(rules, key, current, ctx.options.lifecycleTiming ?? AWS_TIMING);
  if (expiry === undefined) return {};
  const value = `expiry-date="${httpDate(expiry.dueMs)}", rule-id="${encodeURIComponent(expiry.ruleId)}"`;
  return { 'x-amz-expiration': value };
}
