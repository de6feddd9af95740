// Put/Get/DeletePublicAccessBlock and GetBucketPolicyStatus. The four switches are stored in the
// bucket record (through the state machine) and enforced where access is decided
// (src/s3/access.ts: IgnorePublicAcls, RestrictPublicBuckets) and where ACLs and policies are set
// (src/s3/acl-request.ts: BlockPublicAcls; bucket-policy.ts: BlockPublicPolicy).
import { isPublicPolicy, type PolicyDocument } from '../../auth/policy/index.ts';
import type { PublicAccessBlock } from '../../metadata/types.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';

// XML element names, in the order AWS writes them.
const ELEMENTS: Array<[string, keyof PublicAccessBlock]> = [
  ['BlockPublicAcls', 'blockPublicAcls'],
  ['IgnorePublicAcls', 'ignorePublicAcls'],
  ['BlockPublicPolicy', 'blockPublicPolicy'],
  ['RestrictPublicBuckets', 'restrictPublicBuckets'],
];

const malformed = () =>
  new S3Error(
    'MalformedXML',
    400,
    'The XML you provided was not well-formed or did not validate against our published schema.',
  );

export async function getPublicAccessBlock(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  const block = info.publicAccessBlock;
  if (block === undefined)
    throw new S3Error(
      'NoSuchPublicAccessBlockConfiguration',
      404,
      'The public access block configuration was not found',
    );
  const body = Object.fromEntries(ELEMENTS.map(([xml, field]) => [xml, String(block[field])]));
  sendXml(ctx, 200, renderXml('PublicAccessBlockConfiguration', body));
}

// Elements left out are false, as on AWS.
export async function putPublicAccessBlock(ctx: RequestContext, bucket: string) {
  await ctx.client.getBucket(bucket);
  const config = parseXml(
    (await readSmallBody(ctx)).toString('utf8'),
  ).PublicAccessBlockConfiguration;
  if (config === undefined) throw malformed();
  const block = {} as PublicAccessBlock;
  for (const [xml, field] of ELEMENTS) {
    const value = typeof config === 'object' ? config[xml] : undefined;
    if (value === undefined) block[field] = false;
    else if (typeof value === 'string' && /^(true|false)$/i.test(value.trim()))
      block[field] = value.trim().toLowerCase() === 'true';
    else throw malformed();
  }
  await ctx.client.setBucketAttr(bucket, 'publicAccessBlock', block);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 200);
}

export async function deletePublicAccessBlock(ctx: RequestContext, bucket: string) {
  await ctx.client.setBucketAttr(bucket, 'publicAccessBlock', null);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 204);
}

// IsPublic of the bucket policy as AWS defines it (src/auth/policy/public.ts); a bucket without
// a policy answers NoSuchBucketPolicy, as on AWS.
export async function getBucketPolicyStatus(ctx: RequestContext, bucket: string) {
  const access = await ctx.access.get(ctx, bucket);
  if (access === undefined)
    throw new S3Error('NoSuchBucket', 404, 'The specified bucket does not exist');
  if (access.policy === undefined)
    throw new S3Error('NoSuchBucketPolicy', 404, 'The bucket policy does not exist');
  sendXml(ctx, 200, renderXml('PolicyStatus', { IsPublic: String(access.policyIsPublic) }));
}

// BlockPublicPolicy: a public policy is refused when it is put (existing ones stay, as on AWS).
export function checkPolicyAllowed(
  block: PublicAccessBlock | undefined,
  policy: PolicyDocument,
): void {
  if (block?.blockPublicPolicy === true && isPublicPolicy(policy))
    throw new S3Error('AccessDenied', 403, 'Access Denied');
}
