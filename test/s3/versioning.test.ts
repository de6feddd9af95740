// S3 versioning through @aws-sdk/client-s3 against a real server: Enabled and Suspended, the null
// version as AWS defines it, delete markers on GET, HEAD and by id, tagging and copies by
// versionId, multipart uploads as one version, DeleteObjects with VersionId, and
// ListObjectVersions paged by key and version-id markers, with a delimiter.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const MiB = 1024 * 1024;

// The error an SDK call failed with: its code, HTTP status and response headers.
async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof S3ServiceException, String(error));
    const response = error.$response as { headers?: Record<string, string> } | undefined;
    return {
      name: error.name,
      status: error.$metadata.httpStatusCode,
      headers: response?.headers ?? {},
    };
  }
  assert.fail('the call succeeded');
}

describe('S3 versioning (SDK)', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const put = async (Bucket: string, Key: string, Body: string) =>
    (await s3.send(new PutObjectCommand({ Bucket, Key, Body }))).VersionId;
  const text = async (Bucket: string, Key: string, VersionId?: string) =>
    (
      await bodyBytes((await s3.send(new GetObjectCommand({ Bucket, Key, VersionId }))).Body)
    ).toString();
  const versioning = (Bucket: string, Status: 'Enabled' | 'Suspended') =>
    s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status } }));

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('Get/PutBucketVersioning: none, Enabled, Suspended; MFA delete is NotImplemented', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vconf' }));
    assert.equal(
      (await s3.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status,
      undefined,
    );
    await versioning('vconf', 'Enabled');
    assert.equal(
      (await s3.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status,
      'Enabled',
    );
    const mfa = await failure(
      s3.send(
        new PutBucketVersioningCommand({
          Bucket: 'vconf',
          VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' },
        }),
      ),
    );
    assert.equal(mfa.status, 501);
    await versioning('vconf', 'Suspended');
    assert.equal(
      (await s3.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status,
      'Suspended',
    );
  });

  test('the null version: from before versioning, replaced by PUT and DELETE under Suspended', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vnull' }));
    assert.equal(await put('vnull', 'k', 'before'), undefined, 'no version id before versioning');
    await versioning('vnull', 'Enabled');
    const v1 = await put('vnull', 'k', 'enabled');
    assert.match(v1 ?? '', /^[0-9a-f]{14}$/);
    assert.equal(await text('vnull', 'k', 'null'), 'before');
    await versioning('vnull', 'Suspended');
    assert.equal(await put('vnull', 'k', 'suspended-1'), 'null');
    assert.equal(await put('vnull', 'k', 'suspended-2'), 'null');
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vnull' }));
    assert.deepEqual(
      listed.Versions?.map((v) => [v.VersionId, v.IsLatest, v.Size]),
      [
        ['null', true, 'suspended-2'.length],
        [v1, false, 'enabled'.length],
      ],
      'the older null version ("before") was replaced',
    );
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: 'vnull', Key: 'k' }));
    assert.equal(deleted.DeleteMarker, true);
    assert.equal(deleted.VersionId, 'null');
    const after = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vnull' }));
    assert.deepEqual(
      after.Versions?.map((v) => v.VersionId),
      [v1],
    );
    assert.deepEqual(
      after.DeleteMarkers?.map((m) => [m.VersionId, m.IsLatest]),
      [['null', true]],
    );
    assert.equal(await text('vnull', 'k', v1), 'enabled');
  });

  test('delete markers: GET and HEAD 404 with x-amz-delete-marker, by id 405; ListObjectsV2 hides the key', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vdel' }));
    await versioning('vdel', 'Enabled');
    const v1 = await put('vdel', 'a/k', 'one');
    const marker = (await s3.send(new DeleteObjectCommand({ Bucket: 'vdel', Key: 'a/k' })))
      .VersionId;
    const get = await failure(s3.send(new GetObjectCommand({ Bucket: 'vdel', Key: 'a/k' })));
    assert.equal(get.name, 'NoSuchKey');
    assert.equal(get.headers['x-amz-delete-marker'], 'true');
    assert.equal(get.headers['x-amz-version-id'], marker);
    const head = await failure(s3.send(new HeadObjectCommand({ Bucket: 'vdel', Key: 'a/k' })));
    assert.equal(head.status, 404);
    assert.equal(head.headers['x-amz-delete-marker'], 'true');
    const byId = await failure(
      s3.send(new GetObjectCommand({ Bucket: 'vdel', Key: 'a/k', VersionId: marker })),
    );
    assert.equal(byId.status, 405);
    assert.equal(byId.headers['x-amz-delete-marker'], 'true');
    const missing = await failure(
      s3.send(new GetObjectCommand({ Bucket: 'vdel', Key: 'a/k', VersionId: '00000000000001' })),
    );
    assert.equal(missing.name, 'NoSuchVersion');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'vdel' }));
    assert.equal(listed.KeyCount, 0);
    assert.equal(await text('vdel', 'a/k', v1), 'one');
    // Removing the marker makes the object current again; the bucket empties only with every version gone.
    await s3.send(new DeleteObjectCommand({ Bucket: 'vdel', Key: 'a/k', VersionId: marker }));
    assert.equal(await text('vdel', 'a/k'), 'one');
    await s3.send(new DeleteObjectCommand({ Bucket: 'vdel', Key: 'a/k' }));
    const notEmpty = await failure(s3.send(new DeleteBucketCommand({ Bucket: 'vdel' })));
    assert.equal(notEmpty.name, 'BucketNotEmpty');
    const left = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vdel' }));
    const ids = [...(left.Versions ?? []), ...(left.DeleteMarkers ?? [])].map((v) => ({
      Key: v.Key as string,
      VersionId: v.VersionId as string,
    }));
    assert.equal(ids.length, 2);
    const removed = await s3.send(
      new DeleteObjectsCommand({ Bucket: 'vdel', Delete: { Objects: ids } }),
    );
    assert.equal(removed.Deleted?.length, 2);
    assert.equal(removed.Errors, undefined);
    await s3.send(new DeleteBucketCommand({ Bucket: 'vdel' }));
  });

  test('tagging and copies by versionId; a copy of an old version onto its key restores it', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vtag' }));
    await versioning('vtag', 'Enabled');
    const v1 = await put('vtag', 'k', 'first');
    const v2 = await put('vtag', 'k', 'second');
    const tagged = await s3.send(
      new PutObjectTaggingCommand({
        Bucket: 'vtag',
        Key: 'k',
        VersionId: v1,
        Tagging: { TagSet: [{ Key: 'era', Value: 'old' }] },
      }),
    );
    assert.equal(tagged.VersionId, v1);
    const tags = (VersionId?: string) =>
      s3.send(new GetObjectTaggingCommand({ Bucket: 'vtag', Key: 'k', VersionId }));
    assert.deepEqual((await tags(v1)).TagSet, [{ Key: 'era', Value: 'old' }]);
    assert.deepEqual((await tags(v2)).TagSet, []);
    const copied = await s3.send(
      new CopyObjectCommand({ Bucket: 'vtag', Key: 'k', CopySource: `vtag/k?versionId=${v1}` }),
    );
    assert.equal(copied.CopySourceVersionId, v1);
    assert.ok(copied.VersionId !== undefined && copied.VersionId !== v1 && copied.VersionId !== v2);
    assert.equal(await text('vtag', 'k'), 'first');
    const elsewhere = await s3.send(
      new CopyObjectCommand({ Bucket: 'vtag', Key: 'other', CopySource: `vtag/k?versionId=${v2}` }),
    );
    assert.equal(await text('vtag', 'other', elsewhere.VersionId), 'second');
  });

  test('a multipart upload into a versioned bucket is one version, made at completion', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vmp' }));
    await versioning('vmp', 'Enabled');
    const v1 = await put('vmp', 'big', 'small');
    const body = patternBytes(5 * MiB + 7, 3);
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'vmp', Key: 'big' }),
    );
    const parts = [];
    for (const [i, slice] of [body.subarray(0, 5 * MiB), body.subarray(5 * MiB)].entries()) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: 'vmp',
          Key: 'big',
          UploadId,
          PartNumber: i + 1,
          Body: slice,
        }),
      );
      parts.push({ PartNumber: i + 1, ETag: part.ETag });
      const during = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vmp' }));
      assert.equal(during.Versions?.length, 1, 'parts make no version');
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'vmp',
        Key: 'big',
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    assert.match(done.VersionId ?? '', /^[0-9a-f]{14}$/);
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vmp' }));
    assert.deepEqual(
      listed.Versions?.map((v) => v.VersionId),
      [done.VersionId, v1],
    );
    const got = await bodyBytes(
      (await s3.send(new GetObjectCommand({ Bucket: 'vmp', Key: 'big' }))).Body,
    );
    assert.ok(got.equals(body));
    assert.equal(await text('vmp', 'big', v1), 'small');
  });

  test('ListObjectVersions pages by key and version-id markers, with and without a delimiter', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vpage' }));
    await s3.send(new PutObjectCommand({ Bucket: 'vpage', Key: 'pre', Body: 'null one' }));
    await versioning('vpage', 'Enabled');
    const keys = ['a', 'd/x', 'd/y', 'e/f/g', 'z'];
    for (let round = 0; round < 3; round++) {
      for (const key of keys) await put('vpage', key, `${key}#${round}`);
      await s3.send(new DeleteObjectCommand({ Bucket: 'vpage', Key: keys[round] }));
    }
    const entries = (page: ListObjectVersionsCommandOutput) => [
      ...(page.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`),
      ...(page.DeleteMarkers ?? []).map((m) => `${m.Key}@${m.VersionId}!`),
      ...(page.CommonPrefixes ?? []).map((p) => `${p.Prefix}`),
    ];
    for (const Delimiter of [undefined, '/']) {
      const whole = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vpage', Delimiter }));
      assert.equal(whole.IsTruncated, false);
      const expected = entries(whole);
      assert.equal(expected.length, Delimiter ? 10 : 19, JSON.stringify(expected));
      for (const MaxKeys of [1, 2, 5]) {
        const seen: string[] = [];
        let KeyMarker: string | undefined;
        let VersionIdMarker: string | undefined;
        for (let pages = 0; pages < 100; pages++) {
          const page = await s3.send(
            new ListObjectVersionsCommand({
              Bucket: 'vpage',
              Delimiter,
              MaxKeys,
              KeyMarker,
              VersionIdMarker,
            }),
          );
          const got = entries(page);
          assert.ok(got.length <= MaxKeys);
          seen.push(...got);
          if (!page.IsTruncated) break;
          KeyMarker = page.NextKeyMarker;
          VersionIdMarker = page.NextVersionIdMarker;
        }
        assert.deepEqual(seen.sort(), [...expected].sort(), `MaxKeys ${MaxKeys} ${Delimiter}`);
      }
    }
  });
});
