// Put/Get/DeleteBucketPolicy. Only the bucket's owner (or an administrator) may call them.
import { parsePolicy } from '../../auth/policy/index.ts';
import { knownUsersOf, requireOwner } from '../access.ts';
import { type RequestContext, readSmallBody, sendEmpty } from '../context.ts';
import { S3Error } from '../errors.ts';
import { checkPolicyAllowed } from './public-access.ts';

export async function getBucketPolicy(ctx: RequestContext, bucket: string) {
  const access = await requireOwner(ctx, bucket);
  const policy = access.info.policy;
  if (policy === undefined)
    throw new S3Error('NoSuchBucketPolicy', 404, 'The bucket policy does not exist');
  const body = Buffer.from(policy, 'utf8');
  ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  ctx.res.end(body);
}

export async function putBucketPolicy(ctx: RequestContext, bucket: string) {
  await requireOwner(ctx, bucket);
  const text = (await readSmallBody(ctx)).toString('utf8');
  const knownUsers = knownUsersOf(ctx.options.auth);
  const policy = parsePolicy(text, { bucket, knownUsers }); // MalformedPolicy when it does not validate
  // The record itself, not the gateway's cached copy: a block set through another gateway a
  // moment ago holds here too.
  checkPolicyAllowed((await ctx.client.getBucket(bucket)).publicAccessBlock, policy);
  await ctx.client.setBucketAttr(bucket, 'policy', text);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 204);
}

export async function deleteBucketPolicy(ctx: RequestContext, bucket: string) {
  await requireOwner(ctx, bucket);
  await ctx.client.setBucketAttr(bucket, 'policy', null);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 204);
}
