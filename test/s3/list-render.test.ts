// Listing query parameters in, listing XML out, parsed back the way SDKs parse it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import type { ListObjectsResult, ListVersionsResult } from '../../src/metadata/types.ts';
import { S3Error } from '../../src/s3/errors.ts';
import {
  decodeContinuationToken,
  encodeContinuationToken,
  listParamsOf,
  metadataQueryV1,
  metadataQueryV2,
  renderListV1,
  renderListV2,
  renderListVersions,
} from '../../src/s3/handlers/list-render.ts';

const parser = new XMLParser({
  parseTagValue: false,
  ignoreAttributes: false,
  isArray: (name) => ['Contents', 'CommonPrefixes', 'Version'].includes(name),
});
const paramsOf = (query: string) => listParamsOf('b', new URLSearchParams(query));
const T = Date.UTC(2026, 0, 2, 3, 4, 5);

const result: ListObjectsResult = {
  objects: [
    {
      key: 'a b&<c>',
      size: 3,
      etag: '900150983cd24fb0d6963f7d28e17f72',
      lastModifiedMs: T,
      isDirMarker: false,
    },
    { key: 'posix-file', size: 9, etag: '', lastModifiedMs: T, isDirMarker: false },
  ],
  commonPrefixes: ['d/'],
  isTruncated: true,
  nextStartAfter: 'd/',
};

test('ListObjectsV2 parses back with KeyCount, escaped keys and an opaque next token', () => {
  const p = paramsOf('list-type=2&prefix=&delimiter=/&max-keys=3');
  const xml = renderListV2(p, result, 'alice');
  const doc = parser.parse(xml).ListBucketResult;
  assert.equal(doc['@_xmlns'], 'http://s3.amazonaws.com/doc/2006-03-01/');
  assert.equal(doc.Name, 'b');
  assert.equal(doc.KeyCount, '3');
  assert.equal(doc.MaxKeys, '3');
  assert.equal(doc.IsTruncated, 'true');
  assert.equal(doc.Delimiter, '/');
  assert.deepEqual(
    doc.Contents.map((c: { Key: string }) => c.Key),
    ['a b&<c>', 'posix-file'],
  );
  assert.equal(doc.Contents[0].ETag, '"900150983cd24fb0d6963f7d28e17f72"');
  assert.equal(doc.Contents[0].LastModified, '2026-01-02T03:04:05.000Z');
  assert.equal(doc.Contents[0].Owner, undefined, 'no owner without fetch-owner');
  assert.deepEqual(doc.CommonPrefixes, [{ Prefix: 'd/' }]);
  assert.equal(decodeContinuationToken(doc.NextContinuationToken), 'd/');
});

test('a file without an MD5 gets a stable, quoted, non-MD5 placeholder ETag', () => {
  const etagOnce = parser.parse(renderListV2(paramsOf(''), result, 'o')).ListBucketResult
    .Contents[1].ETag;
  const etagAgain = parser.parse(renderListV1(paramsOf(''), result, 'o')).ListBucketResult
    .Contents[1].ETag;
  assert.match(etagOnce, /^"[0-9a-f]{32}-0"$/);
  assert.equal(etagOnce, etagAgain);
});

test('continuation tokens round-trip any key and refuse foreign tokens', () => {
  for (const key of ['', 'a', 'é/ü 漢字', 'x'.repeat(1024)]) {
    assert.equal(decodeContinuationToken(encodeContinuationToken(key)), key);
  }
  assert.throws(
    () => decodeContinuationToken(Buffer.from('not ours').toString('base64url')),
    (e: unknown) => e instanceof S3Error && e.s3Code === 'InvalidArgument',
  );
});

test('the token wins over start-after; V1 starts after the marker', () => {
  const token = encodeContinuationToken('m');
  assert.equal(
    metadataQueryV2(paramsOf(`start-after=c&continuation-token=${token}`)).startAfter,
    'm',
  );
  assert.equal(metadataQueryV2(paramsOf('start-after=c')).startAfter, 'c');
  assert.equal(metadataQueryV2(paramsOf('')).startAfter, undefined);
  assert.equal(metadataQueryV1(paramsOf('marker=k')).startAfter, 'k');
  assert.equal(metadataQueryV1(paramsOf('key-marker=v')).startAfter, 'v');
});

test('max-keys defaults to 1000, is capped at 1000, and must be a non-negative integer', () => {
  assert.equal(paramsOf('').maxKeys, 1000);
  assert.equal(paramsOf('max-keys=5000').maxKeys, 1000);
  assert.equal(paramsOf('max-keys=0').maxKeys, 0);
  for (const bad of ['-1', 'ten', '1.5', '']) {
    assert.throws(
      () => paramsOf(`max-keys=${bad}`),
      (e: unknown) => e instanceof S3Error && e.s3Code === 'InvalidArgument',
      bad,
    );
  }
  assert.throws(() => paramsOf('encoding-type=base64'), S3Error);
});

test('encoding-type=url encodes keys, prefixes and delimiters but keeps slashes', () => {
  const p = paramsOf('encoding-type=url&prefix=a b/&fetch-owner=true&start-after=a b/0');
  const doc = parser.parse(renderListV2(p, result, 'alice')).ListBucketResult;
  assert.equal(doc.EncodingType, 'url');
  assert.equal(doc.Prefix, 'a%20b/');
  assert.equal(doc.StartAfter, 'a%20b/0');
  assert.equal(doc.Contents[0].Key, 'a%20b%26%3Cc%3E');
  assert.equal(decodeURIComponent(doc.Contents[0].Key), 'a b&<c>');
  assert.deepEqual(doc.Contents[0].Owner, { ID: 'alice', DisplayName: 'alice' });
});

test('ListObjects V1 names the marker, NextMarker and always the owner', () => {
  const doc = parser.parse(renderListV1(paramsOf('marker=a'), result, 'alice')).ListBucketResult;
  assert.equal(doc.Marker, 'a');
  assert.equal(doc.NextMarker, 'd/');
  assert.equal(doc.KeyCount, undefined);
  assert.deepEqual(doc.Contents[1].Owner, { ID: 'alice', DisplayName: 'alice' });
  const done = { ...result, isTruncated: false, nextStartAfter: undefined };
  const last = parser.parse(renderListV1(paramsOf(''), done, 'o')).ListBucketResult;
  assert.equal(last.IsTruncated, 'false');
  assert.equal(last.NextMarker, undefined);
});

test('an empty listing still has its fixed elements', () => {
  const empty: ListObjectsResult = { objects: [], commonPrefixes: [], isTruncated: false };
  const doc = parser.parse(renderListV2(paramsOf('prefix=none/'), empty, 'o')).ListBucketResult;
  assert.equal(doc.KeyCount, '0');
  assert.equal(doc.Prefix, 'none/');
  assert.equal(doc.Contents, undefined);
  assert.equal(doc.NextContinuationToken, undefined);
});

test('ListObjectVersions puts versions and delete markers in elements of their own', () => {
  const versions: ListVersionsResult = {
    versions: [
      {
        key: 'a b&<c>',
        versionId: '1ffffffffffffe',
        isLatest: true,
        deleteMarker: true,
        lastModifiedMs: T,
        size: 0,
        etag: '',
        isDirMarker: false,
      },
      {
        key: 'a b&<c>',
        versionId: 'null',
        isLatest: false,
        deleteMarker: false,
        lastModifiedMs: T,
        size: 3,
        etag: '900150983cd24fb0d6963f7d28e17f72',
        isDirMarker: false,
      },
    ],
    commonPrefixes: ['d/'],
    isTruncated: true,
    nextKeyMarker: 'd/',
  };
  const doc = parser.parse(renderListVersions(paramsOf(''), versions, 'o')).ListVersionsResult;
  assert.deepEqual(
    doc.Version.map((v: { Key: string; VersionId: string; IsLatest: string }) => [
      v.Key,
      v.VersionId,
      v.IsLatest,
    ]),
    [['a b&<c>', 'null', 'false']],
  );
  assert.equal(doc.DeleteMarker.VersionId, '1ffffffffffffe');
  assert.equal(doc.DeleteMarker.IsLatest, 'true');
  assert.equal(doc.NextKeyMarker, 'd/');
  assert.equal(doc.NextVersionIdMarker, undefined, 'a page ending on a common prefix has none');
});

// AWS sends one sequence of Version and DeleteMarker elements in listing order; readers that keep
// them as one list (the Java SDK v1, raw XML) depend on it.
test('ListObjectVersions keeps versions and delete markers in listing order, mixed', () => {
  const version = (versionId: string, deleteMarker: boolean, isLatest: boolean) => ({
    key: 'k',
    versionId,
    isLatest,
    deleteMarker,
    lastModifiedMs: T,
    size: deleteMarker ? 0 : 1,
    etag: deleteMarker ? '' : '0cc175b9c0f1b6a831c399e269772661',
    isDirMarker: false,
  });
  const ids = ['1ffffffffffff1', '1ffffffffffff2', '1ffffffffffff3', '1ffffffffffff4'];
  const result: ListVersionsResult = {
    versions: [
      version(ids[0], false, true),
      version(ids[1], true, false),
      version(ids[2], false, false),
      version(ids[3], true, false),
    ],
    commonPrefixes: ['z/'],
    isTruncated: false,
  };
  const xml = renderListVersions(paramsOf(''), result, 'o');
  const order = [...xml.matchAll(/<(Version|DeleteMarker|CommonPrefixes)>/g)].map((m) => m[1]);
  assert.deepEqual(order, ['Version', 'DeleteMarker', 'Version', 'DeleteMarker', 'CommonPrefixes']);
  const listed = [...xml.matchAll(/<VersionId>([^<]*)<\/VersionId>/g)].map((m) => m[1]);
  assert.deepEqual(listed, ids);
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<ListVersionsResult xmlns="/);
});
