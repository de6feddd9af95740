import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';
import { requestedVersion, versionHeaders } from './object-get.ts';

const TAGS_MAX = 10;
const TAG_KEY_CHARS_MAX = 128;
const TAG_VALUE_CHARS_MAX = 256;

export function checkTags(
  tags: Array<[string, string]>,
  tagsMax = TAGS_MAX,
): Record<string, string> {
  if (tags.length > tagsMax)
    throw new S3Error('BadRequest', 400, `Object tags cannot be greater than ${tagsMax}`);
  const out: Record<string, string> = {};
  for (const [key, value] of tags) {
    if (key.length === 0 || key.length > TAG_KEY_CHARS_MAX || value.length > TAG_VALUE_CHARS_MAX) {
      throw new S3Error(
        'InvalidTag',
        400,
        'The TagKey or TagValue you have provided is too long or empty.',
      );
    }
    if (key in out)
      throw new S3Error('InvalidTag', 400, 'Cannot provide multiple Tags with the same key');
    out[key] = value;
  }
  return out;
}

// The x-amz-tagging header: URL query encoding, "k1=v1&k2=v2".
export function tagsFromHeader(
  header: string | string[] | undefined,
): Record<string, string> | undefined {
  if (typeof header !== 'string') return undefined;
  return checkTags([...new URLSearchParams(header)]);
}

export async function getObjectTagging(ctx: RequestContext, bucket: string, key: string) {
  const version = await requestedVersion(ctx, bucket, key);
  const tags = Object.entries(version.inode.object?.tags ?? {}).map(([Key, Value]) => ({
    Key,
    Value,
  }));
  sendXml(ctx, 200, renderXml('Tagging', { TagSet: { Tag: tags } }), versionHeaders(version));
}

// The version id a tagging request names, and the header that answers it.
function taggedVersion(ctx: RequestContext): string | undefined {
  return ctx.url.searchParams.get('versionId') ?? undefined;
}

function taggedHeaders(change: { versionId?: string }): Record<string, string> {
  return change.versionId === undefined ? {} : { 'x-amz-version-id': change.versionId };
}

export async function putObjectTagging(ctx: RequestContext, bucket: string, key: string) {
  const parsed = parseXml((await readSmallBody(ctx)).toString('utf8')).Tagging;
  const list: Array<{ Key?: unknown; Value?: unknown }> = parsed?.TagSet?.Tag ?? [];
  if (!parsed) throw new S3Error('MalformedXML', 400, 'The XML you provided was not well-formed.');
  const tags = checkTags(list.map((t) => [String(t.Key ?? ''), String(t.Value ?? '')]));
  const versionId = taggedVersion(ctx);
  const change = await ctx.client.setObjectTags(bucket, key, tags, versionId);
  sendEmpty(ctx, 200, taggedHeaders(change));
}

export async function deleteObjectTagging(ctx: RequestContext, bucket: string, key: string) {
  const versionId = taggedVersion(ctx);
  const change = await ctx.client.setObjectTags(bucket, key, {}, versionId);
  sendEmpty(ctx, 204, taggedHeaders(change));
}

// Bucket tags: up to 50, the same key and value limits as object tags.
const BUCKET_TAGS_MAX = 50;

export async function getBucketTagging(ctx: RequestContext, bucket: string) {
  const info = await ctx.client.getBucket(bucket);
  if (info.tags === undefined) throw new S3Error('NoSuchTagSet', 404, 'The TagSet does not exist');
  const tags = Object.entries(info.tags).map(([Key, Value]) => ({ Key, Value }));
  sendXml(ctx, 200, renderXml('Tagging', { TagSet: { Tag: tags } }));
}

export async function putBucketTagging(ctx: RequestContext, bucket: string) {
  const parsed = parseXml((await readSmallBody(ctx)).toString('utf8')).Tagging;
  if (!parsed) throw new S3Error('MalformedXML', 400, 'The XML you provided was not well-formed.');
  const list: Array<{ Key?: unknown; Value?: unknown }> = parsed?.TagSet?.Tag ?? [];
  if (list.length > BUCKET_TAGS_MAX)
    throw new S3Error('BadRequest', 400, `Bucket tags cannot be greater than ${BUCKET_TAGS_MAX}`);
  const tags = checkTags(
    list.map((t) => [String(t.Key ?? ''), String(t.Value ?? '')]),
    BUCKET_TAGS_MAX,
  );
  await ctx.client.setBucketAttr(bucket, 'tags', tags);
  sendEmpty(ctx, 204);
}

export async function deleteBucketTagging(ctx: RequestContext, bucket: string) {
  await ctx.client.setBucketAttr(bucket, 'tags', null);
  sendEmpty(ctx, 204);
}
