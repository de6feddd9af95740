// The pure half of the listings: query parameters in, XML out. The handlers in list.ts only add
// the metadata call between the two.
import assert from 'node:assert';
import type {
  ListedVersion,
  ListObjectsQuery,
  ListObjectsResult,
  ListVersionsQuery,
  ListVersionsResult,
} from '../../metadata/types.ts';
import { isVersionId } from '../../metadata/version-id.ts';
import { quoteEtag } from '../context.ts';
import { S3Error } from '../errors.ts';
import { isoDate, renderXml, renderXmlInOrder } from '../xml.ts';
import { listedEtag } from './object-meta.ts';

export const MAX_KEYS_LIMIT = 1000;

export interface ListParams {
  bucket: string;
  prefix: string;
  delimiter: string | undefined;
  maxKeys: number; // 0..MAX_KEYS_LIMIT
  urlEncoding: boolean; // encoding-type=url
  fetchOwner: boolean; // V2 only: V1 and version listings always name the owner
  startAfter: string | undefined; // V2 start-after, as sent
  continuationToken: string | undefined; // V2, as sent
  marker: string; // V1 marker, or key-marker of a version listing
  versionIdMarker: string;
}

// Larger values are capped, as AWS does; anything that is not a non-negative integer is refused.
export function parseMaxKeys(raw: string | null): number {
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

export function listParamsOf(bucket: string, q: URLSearchParams): ListParams {
  const encodingType = q.get('encoding-type');
  if (encodingType !== null && encodingType !== 'url')
    throw new S3Error('InvalidArgument', 400, 'Invalid Encoding Method specified in Request');
  return {
    bucket,
    prefix: q.get('prefix') ?? '',
    delimiter: q.get('delimiter') || undefined,
    maxKeys: parseMaxKeys(q.get('max-keys')),
    urlEncoding: encodingType === 'url',
    fetchOwner: q.get('fetch-owner') === 'true',
    startAfter: q.get('start-after') ?? undefined,
    continuationToken: q.get('continuation-token') ?? undefined,
    marker: q.get('marker') ?? q.get('key-marker') ?? '',
    versionIdMarker: q.get('version-id-marker') ?? '',
  };
}

// Continuation tokens are opaque to clients: base64url of "k:" and the last key or common prefix
// returned. The "k:" tag lets a token from anywhere else be refused instead of misread.
export function encodeContinuationToken(lastKey: string): string {
  return Buffer.from(`k:${lastKey}`, 'utf8').toString('base64url');
}

export function decodeContinuationToken(token: string): string {
  const decoded = Buffer.from(token, 'base64url').toString('utf8');
  if (!decoded.startsWith('k:'))
    throw new S3Error('InvalidArgument', 400, 'The continuation token provided is incorrect');
  return decoded.slice(2);
}

// The token wins over start-after when both are sent (AWS: start-after is for the first page).
// An empty token is no token, as on AWS (echoed back as an empty ContinuationToken).
export function metadataQueryV2(p: ListParams): ListObjectsQuery {
  const startAfter = p.continuationToken
    ? decodeContinuationToken(p.continuationToken)
    : p.startAfter || undefined;
  return {
    bucket: p.bucket,
    prefix: p.prefix,
    delimiter: p.delimiter,
    startAfter,
    maxKeys: p.maxKeys,
  };
}

export function metadataQueryV1(p: ListParams): ListObjectsQuery {
  const startAfter = p.marker || undefined;
  return {
    bucket: p.bucket,
    prefix: p.prefix,
    delimiter: p.delimiter,
    startAfter,
    maxKeys: p.maxKeys,
  };
}

// version-id-marker goes with key-marker only, and must be an id Strata could have issued.
export function metadataQueryVersions(p: ListParams): ListVersionsQuery {
  if (p.versionIdMarker !== '' && p.marker === '')
    throw new S3Error(
      'InvalidArgument',
      400,
      'A version-id marker cannot be specified without a key marker.',
    );
  if (p.versionIdMarker !== '' && !isVersionId(p.versionIdMarker))
    throw new S3Error('InvalidArgument', 400, 'Invalid version id specified');
  return {
    bucket: p.bucket,
    prefix: p.prefix,
    delimiter: p.delimiter,
    keyMarker: p.marker || undefined,
    versionIdMarker: p.versionIdMarker || undefined,
    maxKeys: p.maxKeys,
  };
}

// encoding-type=url: keys and prefixes URL-encoded, for keys that XML 1.0 cannot carry.
function encoderOf(p: ListParams): (s: string) => string {
  return p.urlEncoding ? (s) => encodeURIComponent(s).replaceAll('%2F', '/') : (s) => s;
}

function ownerOf(owner: string) {
  return { ID: owner, DisplayName: owner };
}

function contents(result: ListObjectsResult, encode: (s: string) => string, owner?: string) {
  return result.objects.map((o) => ({
    Key: encode(o.key),
    LastModified: isoDate(o.lastModifiedMs),
    ETag: quoteEtag(listedEtag(o)),
    Size: o.size,
    ...(owner !== undefined ? { Owner: ownerOf(owner) } : {}),
    StorageClass: o.storageClass ?? 'STANDARD',
  }));
}

function nextKeyOf(result: ListObjectsResult): string | undefined {
  if (!result.isTruncated) return undefined;
  assert(result.nextStartAfter !== undefined, 'a truncated listing names where to go on');
  return result.nextStartAfter;
}

export function renderListV2(p: ListParams, result: ListObjectsResult, owner: string): string {
  const encode = encoderOf(p);
  const next = nextKeyOf(result);
  return renderXml('ListBucketResult', {
    Name: p.bucket,
    Prefix: encode(p.prefix),
    ...(p.delimiter ? { Delimiter: encode(p.delimiter) } : {}),
    MaxKeys: p.maxKeys,
    KeyCount: result.objects.length + result.commonPrefixes.length,
    IsTruncated: result.isTruncated,
    ...(p.continuationToken !== undefined ? { ContinuationToken: p.continuationToken } : {}),
    ...(next !== undefined ? { NextContinuationToken: encodeContinuationToken(next) } : {}),
    ...(p.startAfter !== undefined ? { StartAfter: encode(p.startAfter) } : {}),
    ...(p.urlEncoding ? { EncodingType: 'url' } : {}),
    Contents: contents(result, encode, p.fetchOwner ? owner : undefined),
    CommonPrefixes: result.commonPrefixes.map((prefix) => ({ Prefix: encode(prefix) })),
  });
}

// V1 sends NextMarker always when truncated (AWS only with a delimiter; clients that find none
// use the last key, which is the same value). Its Prefix is never URL-encoded: AWS encodes only
// Delimiter, Marker, NextMarker and the keys in V1, and botocore (awscli) decodes only those.
export function renderListV1(p: ListParams, result: ListObjectsResult, owner: string): string {
  const encode = encoderOf(p);
  const next = nextKeyOf(result);
  return renderXml('ListBucketResult', {
    Name: p.bucket,
    Prefix: p.prefix,
    Marker: encode(p.marker),
    ...(next !== undefined ? { NextMarker: encode(next) } : {}),
    MaxKeys: p.maxKeys,
    ...(p.delimiter ? { Delimiter: encode(p.delimiter) } : {}),
    IsTruncated: result.isTruncated,
    ...(p.urlEncoding ? { EncodingType: 'url' } : {}),
    Contents: contents(result, encode, owner),
    CommonPrefixes: result.commonPrefixes.map((prefix) => ({ Prefix: encode(prefix) })),
  });
}

// ListObjectVersions: versions and delete markers in key order, each key's newest first, in
// one sequence of Version and DeleteMarker elements as AWS sends them (clients that read two
// lists, as the AWS SDK v3 does, lose nothing; those that read one keep the order).
export function renderListVersions(
  p: ListParams,
  result: ListVersionsResult,
  owner: string,
): string {
  const encode = encoderOf(p);
  const entry = (v: ListedVersion) => ({
    Key: encode(v.key),
    VersionId: v.versionId,
    IsLatest: v.isLatest,
    LastModified: isoDate(v.lastModifiedMs),
  });
  const next = result.isTruncated
    ? {
        NextKeyMarker: encode(result.nextKeyMarker ?? ''),
        ...(result.nextVersionIdMarker !== undefined
          ? { NextVersionIdMarker: result.nextVersionIdMarker }
          : {}),
      }
    : {};
  const head = {
    Name: p.bucket,
    Prefix: encode(p.prefix),
    KeyMarker: encode(p.marker),
    VersionIdMarker: p.versionIdMarker,
    ...next,
    MaxKeys: p.maxKeys,
    ...(p.delimiter ? { Delimiter: encode(p.delimiter) } : {}),
    IsTruncated: result.isTruncated,
    ...(p.urlEncoding ? { EncodingType: 'url' } : {}),
  };
  const versions = result.versions.map((v): [string, unknown] =>
    v.deleteMarker
      ? ['DeleteMarker', { ...entry(v), Owner: ownerOf(owner) }]
      : [
          'Version',
          {
            ...entry(v),
            ETag: quoteEtag(listedEtag({ ...v, lastModifiedMs: v.lastModifiedMs })),
            Size: v.size,
            Owner: ownerOf(owner),
            StorageClass: v.storageClass ?? 'STANDARD',
          },
        ],
  );
  const prefixes = result.commonPrefixes.map((prefix) => ({ Prefix: encode(prefix) }));
  return renderXmlInOrder('ListVersionsResult', [
    ...Object.entries(head),
    ...versions,
    ['CommonPrefixes', prefixes],
  ]);
}
