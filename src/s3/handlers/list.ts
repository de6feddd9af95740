import type { ListObjectsResult } from '../../metadata/types.ts';
import { quoteEtag, type RequestContext, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { isoDate, renderXml } from '../xml.ts';

const MAX_KEYS_LIMIT = 1000;

function maxKeysOf(ctx: RequestContext): number {
  const raw = ctx.url.searchParams.get('max-keys');
  if (raw === null) return MAX_KEYS_LIMIT;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) {
    throw new S3Error(
      'InvalidArgument',
      400,
      'Provided max-keys not an integer or within integer range',
    );
  }
  return Math.min(value, MAX_KEYS_LIMIT);
}

// encoding-type=url: keys and prefixes are URL-encoded in the response (for keys that XML 1.0
// cannot carry).
function encoder(ctx: RequestContext): (s: string) => string {
  const type = ctx.url.searchParams.get('encoding-type');
  if (type === null) return (s) => s;
  if (type !== 'url')
    throw new S3Error('InvalidArgument', 400, 'Invalid Encoding Method specified in Request');
  return (s) => encodeURIComponent(s).replaceAll('%2F', '/');
}

function contents(
  ctx: RequestContext,
  result: ListObjectsResult,
  encode: (s: string) => string,
  owner: boolean,
) {
  return result.objects.map((o) => ({
    Key: encode(o.key),
    LastModified: isoDate(o.lastModifiedMs),
    ETag: quoteEtag(o.etag || '00000000000000000000000000000000-0'),
    Size: o.size,
    ...(owner ? { Owner: { ID: ctx.owner, DisplayName: ctx.owner } } : {}),
    StorageClass: 'STANDARD',
  }));
}

export async function listObjectsV2(ctx: RequestContext, bucket: string) {
  const q = ctx.url.searchParams;
  const encode = encoder(ctx);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') || undefined;
  const token = q.get('continuation-token');
  let startAfter = q.get('start-after') ?? undefined;
  if (token !== null) {
    const decoded = Buffer.from(token, 'base64url').toString('utf8');
    if (!decoded.startsWith('k:'))
      throw new S3Error('InvalidArgument', 400, 'The continuation token provided is incorrect');
    startAfter = decoded.slice(2);
  }
  const maxKeys = maxKeysOf(ctx);
  const result = await ctx.client.listObjects({ bucket, prefix, delimiter, startAfter, maxKeys });
  const next =
    result.isTruncated && result.nextStartAfter !== undefined
      ? Buffer.from(`k:${result.nextStartAfter}`).toString('base64url')
      : undefined;
  const xml = renderXml('ListBucketResult', {
    Name: bucket,
    Prefix: encode(prefix),
    ...(delimiter ? { Delimiter: encode(delimiter) } : {}),
    MaxKeys: maxKeys,
    KeyCount: result.objects.length + result.commonPrefixes.length,
    IsTruncated: result.isTruncated,
    ...(token !== null ? { ContinuationToken: token } : {}),
    ...(next ? { NextContinuationToken: next } : {}),
    ...(q.get('start-after') !== null
      ? { StartAfter: encode(q.get('start-after') as string) }
      : {}),
    ...(q.get('encoding-type') ? { EncodingType: 'url' } : {}),
    Contents: contents(ctx, result, encode, q.get('fetch-owner') === 'true'),
    CommonPrefixes: result.commonPrefixes.map((p) => ({ Prefix: encode(p) })),
  });
  sendXml(ctx, 200, xml);
}

export async function listObjectsV1(ctx: RequestContext, bucket: string) {
  const q = ctx.url.searchParams;
  const encode = encoder(ctx);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') || undefined;
  const marker = q.get('marker') ?? '';
  const maxKeys = maxKeysOf(ctx);
  const result = await ctx.client.listObjects({
    bucket,
    prefix,
    delimiter,
    startAfter: marker || undefined,
    maxKeys,
  });
  const xml = renderXml('ListBucketResult', {
    Name: bucket,
    Prefix: encode(prefix),
    Marker: encode(marker),
    ...(result.isTruncated && result.nextStartAfter !== undefined
      ? { NextMarker: encode(result.nextStartAfter) }
      : {}),
    MaxKeys: maxKeys,
    ...(delimiter ? { Delimiter: encode(delimiter) } : {}),
    IsTruncated: result.isTruncated,
    ...(q.get('encoding-type') ? { EncodingType: 'url' } : {}),
    Contents: contents(ctx, result, encode, true),
    CommonPrefixes: result.commonPrefixes.map((p) => ({ Prefix: encode(p) })),
  });
  sendXml(ctx, 200, xml);
}

// ListObjectVersions for buckets without versioning: every object is its only version, "null".
export async function listObjectVersions(ctx: RequestContext, bucket: string) {
  const q = ctx.url.searchParams;
  const encode = encoder(ctx);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') || undefined;
  const keyMarker = q.get('key-marker') ?? '';
  const maxKeys = maxKeysOf(ctx);
  const result = await ctx.client.listObjects({
    bucket,
    prefix,
    delimiter,
    startAfter: keyMarker || undefined,
    maxKeys,
  });
  const owner = { ID: ctx.owner, DisplayName: ctx.owner };
  const xml = renderXml('ListVersionsResult', {
    Name: bucket,
    Prefix: encode(prefix),
    KeyMarker: encode(keyMarker),
    VersionIdMarker: q.get('version-id-marker') ?? '',
    ...(result.isTruncated && result.nextStartAfter !== undefined
      ? { NextKeyMarker: encode(result.nextStartAfter), NextVersionIdMarker: 'null' }
      : {}),
    MaxKeys: maxKeys,
    ...(delimiter ? { Delimiter: encode(delimiter) } : {}),
    IsTruncated: result.isTruncated,
    ...(q.get('encoding-type') ? { EncodingType: 'url' } : {}),
    Version: result.objects.map((o) => ({
      Key: encode(o.key),
      VersionId: 'null',
      IsLatest: true,
      LastModified: isoDate(o.lastModifiedMs),
      ETag: quoteEtag(o.etag || '00000000000000000000000000000000-0'),
      Size: o.size,
      Owner: owner,
      StorageClass: 'STANDARD',
    })),
    CommonPrefixes: result.commonPrefixes.map((p) => ({ Prefix: encode(p) })),
  });
  sendXml(ctx, 200, xml);
}
