// @aws-sdk/client-s3 at its default settings (CRC32 checksums, aws-chunked streaming) against a
// real server: round trips, ranges, listing, multipart, errors, both addressing styles.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Agent, type AgentOptions } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectTaggingCommand,
  GetBucketLocationCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

describe('S3 through @aws-sdk/client-s3', () => {
  let server: StrataProcess;
  let s3: S3Client;
  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'sdk' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  for (const size of [0, 1, MiB + 1]) {
    test(`PutObject and GetObject round-trip ${size} bytes`, async () => {
      const body = patternBytes(size, size + 3);
      const put = await s3.send(
        new PutObjectCommand({ Bucket: 'sdk', Key: `size/${size}`, Body: body }),
      );
      assert.equal(put.ETag, `"${createHash('md5').update(body).digest('hex')}"`);
      const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: `size/${size}` }));
      assert.equal(sha256(await bodyBytes(got.Body)), sha256(body));
      assert.equal(got.ContentLength, size);
    });
  }

  // Overlapping bodies share the hashing thread's SIMD MD5 lanes (src/common/md5-lanes.ts).
  test('ten large PUTs at once each get the MD5 of their own bytes as ETag', async () => {
    const bodies = Array.from({ length: 10 }, (_, i) => patternBytes(5 * MiB + 4099 * i, 100 + i));
    const puts = await Promise.all(
      bodies.map((body, i) =>
        s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: `together/${i}`, Body: body })),
      ),
    );
    for (const [i, put] of puts.entries())
      assert.equal(put.ETag, `"${createHash('md5').update(bodies[i]).digest('hex')}"`, `body ${i}`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'together/7' }));
    assert.equal(sha256(await bodyBytes(got.Body)), sha256(bodies[7]));
  });

  test('a streamed body (aws-chunked with a CRC32 trailer) is stored without its framing', async () => {
    const body = patternBytes(3 * MiB + 17, 77);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'sdk',
        Key: 'streamed',
        Body: Readable.from([body.subarray(0, MiB), body.subarray(MiB)]),
        ContentLength: body.length,
      }),
    );
    const got = await s3.send(
      new GetObjectCommand({ Bucket: 'sdk', Key: 'streamed', ChecksumMode: 'ENABLED' }),
    );
    assert.equal(sha256(await bodyBytes(got.Body)), sha256(body));
  });

  test('a 100 MiB object in three multipart parts round-trips', async () => {
    const body = patternBytes(100 * MiB, 100);
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: 'sdk',
        Key: 'big',
        ContentType: 'application/x-test',
      }),
    );
    const cuts = [0, 40 * MiB, 80 * MiB, 100 * MiB];
    const parts = [];
    for (let i = 0; i < 3; i++) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: 'sdk',
          Key: 'big',
          UploadId,
          PartNumber: i + 1,
          Body: body.subarray(cuts[i], cuts[i + 1]),
        }),
      );
      parts.push({ PartNumber: i + 1, ETag: part.ETag });
    }
    const listed = await s3.send(new ListPartsCommand({ Bucket: 'sdk', Key: 'big', UploadId }));
    assert.deepEqual(
      listed.Parts?.map((p) => p.Size),
      [40 * MiB, 40 * MiB, 20 * MiB],
    );
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sdk',
        Key: 'big',
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    // As AWS: the MD5 of the parts' binary MD5s, then "-" and the part count.
    const md5s = [0, 1, 2].map((i) =>
      createHash('md5')
        .update(body.subarray(cuts[i], cuts[i + 1]))
        .digest(),
    );
    const expected = createHash('md5').update(Buffer.concat(md5s)).digest('hex');
    assert.equal(done.ETag, `"${expected}-3"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'big' }));
    assert.equal(got.ContentType, 'application/x-test');
    assert.equal(sha256(await bodyBytes(got.Body)), sha256(body));
    const ranged = await s3.send(
      new GetObjectCommand({
        Bucket: 'sdk',
        Key: 'big',
        Range: `bytes=${40 * MiB - 5}-${40 * MiB + 4}`,
      }),
    );
    assert.deepEqual(await bodyBytes(ranged.Body), body.subarray(40 * MiB - 5, 40 * MiB + 5));
  });

  test('an aborted multipart upload is gone', async () => {
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'sdk', Key: 'aborted' }),
    );
    await s3.send(
      new UploadPartCommand({
        Bucket: 'sdk',
        Key: 'aborted',
        UploadId,
        PartNumber: 1,
        Body: Buffer.alloc(10),
      }),
    );
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'sdk', Key: 'aborted', UploadId }));
    const error = await s3
      .send(new ListPartsCommand({ Bucket: 'sdk', Key: 'aborted', UploadId }))
      .catch((e) => e);
    assert.equal(error.name, 'NoSuchUpload');
  });

  test('Range GETs: first bytes, open end, suffix, and unsatisfiable', async () => {
    const body = patternBytes(10_000, 9);
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'ranged', Body: body }));
    const cases: Array<[string, Buffer]> = [
      ['bytes=0-9', body.subarray(0, 10)],
      ['bytes=9990-', body.subarray(9990)],
      ['bytes=-7', body.subarray(10_000 - 7)],
      ['bytes=5000-99999', body.subarray(5000)],
    ];
    for (const [range, want] of cases) {
      const got = await s3.send(
        new GetObjectCommand({ Bucket: 'sdk', Key: 'ranged', Range: range }),
      );
      assert.deepEqual(await bodyBytes(got.Body), want, range);
      assert.match(got.ContentRange ?? '', /^bytes \d+-\d+\/10000$/);
    }
    const error = await s3
      .send(new GetObjectCommand({ Bucket: 'sdk', Key: 'ranged', Range: 'bytes=20000-' }))
      .catch((e) => e);
    assert.equal(error.name, 'InvalidRange');
  });

  test('paged listings stay ordered and complete while other clients write and delete', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'churn' }));
    const key = (i: number, tag: string) => `k/${String(i).padStart(4, '0')}${tag}`;
    const originals = Array.from({ length: 200 }, (_, i) => key(i * 2, ''));
    for (let i = 0; i < originals.length; i += 20) {
      await Promise.all(
        originals
          .slice(i, i + 20)
          .map((k) => s3.send(new PutObjectCommand({ Bucket: 'churn', Key: k, Body: k }))),
      );
    }
    // Writers add keys between and around the originals and delete some of what they added.
    let stop = false;
    const churn = (async () => {
      for (let round = 0; !stop; round++) {
        const added = key((round * 37) % 400, `-${round}`);
        await s3.send(new PutObjectCommand({ Bucket: 'churn', Key: added, Body: 'x' }));
        if (round % 3 === 0)
          await s3.send(new DeleteObjectCommand({ Bucket: 'churn', Key: added }));
      }
    })();
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: 'churn', MaxKeys: 17, ContinuationToken: token }),
      );
      seen.push(...(page.Contents ?? []).map((c) => c.Key as string));
      token = page.NextContinuationToken;
    } while (token);
    stop = true;
    await churn;
    for (let i = 1; i < seen.length; i++) {
      assert.ok(
        Buffer.compare(Buffer.from(seen[i - 1]), Buffer.from(seen[i])) < 0,
        `strictly ascending, no duplicates: ${seen[i - 1]} then ${seen[i]}`,
      );
    }
    const listed = new Set(seen);
    const missing = originals.filter((k) => !listed.has(k));
    assert.deepEqual(missing, [], 'every key present throughout the listing is listed');
  });

  test('ListObjectsV2 orders the whole key space by bytes and pages with continuation tokens', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'order' }));
    const keys = ['a-b', 'a/b', 'a/c/d', 'a0', 'b', 'é', 'z/y/x', 'a/b-c'];
    for (const key of keys)
      await s3.send(new PutObjectCommand({ Bucket: 'order', Key: key, Body: key }));
    const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: 'order', MaxKeys: 3, ContinuationToken: token }),
      );
      seen.push(...(page.Contents ?? []).map((c) => c.Key as string));
      token = page.NextContinuationToken;
      assert.equal(page.IsTruncated, token !== undefined);
    } while (token);
    assert.deepEqual(seen, sorted);
    const grouped = await s3.send(
      new ListObjectsV2Command({ Bucket: 'order', Delimiter: '/', Prefix: 'a' }),
    );
    assert.deepEqual(
      grouped.Contents?.map((c) => c.Key),
      ['a-b', 'a0'],
    );
    assert.deepEqual(
      grouped.CommonPrefixes?.map((c) => c.Prefix),
      ['a/'],
    );
  });

  test('DeleteObjects, DeleteObject, HeadObject of a deleted key', async () => {
    for (const key of ['d/1', 'd/2', 'd/3'])
      await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: key, Body: 'x' }));
    const result = await s3.send(
      new DeleteObjectsCommand({
        Bucket: 'sdk',
        Delete: { Objects: [{ Key: 'd/1' }, { Key: 'd/2' }, { Key: 'never' }] },
      }),
    );
    assert.deepEqual(result.Deleted?.map((d) => d.Key).sort(), ['d/1', 'd/2', 'never']);
    await s3.send(new DeleteObjectCommand({ Bucket: 'sdk', Key: 'd/3' }));
    const error = await s3
      .send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'd/3' }))
      .catch((e) => e);
    assert.equal(error.$metadata?.httpStatusCode, 404);
  });

  test('keys that cannot be paths get clear errors, and nothing is lost', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'conflict/a', Body: 'file' }));
    const under = await s3
      .send(new PutObjectCommand({ Bucket: 'sdk', Key: 'conflict/a/b', Body: 'x' }))
      .catch((e) => e);
    assert.equal(under.name, 'KeyConflict');
    const dots = await s3
      .send(new PutObjectCommand({ Bucket: 'sdk', Key: 'x/../y', Body: 'x' }))
      .catch((e) => e);
    assert.equal(dots.name, 'InvalidArgument');
    const still = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'conflict/a' }));
    assert.equal((await bodyBytes(still.Body)).toString(), 'file');
  });

  test('user metadata and content headers round-trip', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: 'sdk',
        Key: 'meta',
        Body: 'm',
        ContentType: 'text/plain',
        CacheControl: 'max-age=60',
        Metadata: { colour: 'blue' },
      }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'meta' }));
    assert.equal(head.ContentType, 'text/plain');
    assert.equal(head.CacheControl, 'max-age=60');
    assert.deepEqual(head.Metadata, { colour: 'blue' });
  });

  test('buckets: list, head, NoSuchBucket, BucketNotEmpty, delete', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'short-lived' }));
    const list = await s3.send(new ListBucketsCommand({}));
    assert.ok(list.Buckets?.some((b) => b.Name === 'short-lived'));
    await s3.send(new HeadBucketCommand({ Bucket: 'short-lived' }));
    await s3.send(new PutObjectCommand({ Bucket: 'short-lived', Key: 'k', Body: 'v' }));
    const notEmpty = await s3
      .send(new DeleteBucketCommand({ Bucket: 'short-lived' }))
      .catch((e) => e);
    assert.equal(notEmpty.name, 'BucketNotEmpty');
    await s3.send(new DeleteObjectCommand({ Bucket: 'short-lived', Key: 'k' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'short-lived' }));
    const missing = await s3
      .send(new GetObjectCommand({ Bucket: 'short-lived', Key: 'k' }))
      .catch((e) => e);
    assert.equal(missing.name, 'NoSuchBucket');
    const badName = await s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })).catch((e) => e);
    assert.equal(badName.name, 'InvalidBucketName');
  });

  test('CopyObject copies without moving bytes: COPY and REPLACE metadata, conditions, source deleted after', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'sdk-copies' }));
    const body = patternBytes(5 * MiB + 3, 31);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'sdk',
        Key: 'copy/src',
        Body: body,
        ContentType: 'text/a',
        Metadata: { m: '1' },
      }),
    );
    const copied = await s3.send(
      new CopyObjectCommand({ Bucket: 'sdk-copies', Key: 'one', CopySource: '/sdk/copy/src' }),
    );
    assert.equal(copied.CopyObjectResult?.ETag, put.ETag);
    const replaced = await s3.send(
      new CopyObjectCommand({
        Bucket: 'sdk-copies',
        Key: 'two',
        CopySource: 'sdk/copy%2Fsrc',
        MetadataDirective: 'REPLACE',
        ContentType: 'text/b',
        Metadata: { n: '2' },
      }),
    );
    assert.equal(replaced.CopyObjectResult?.ETag, put.ETag);
    const one = await s3.send(new HeadObjectCommand({ Bucket: 'sdk-copies', Key: 'one' }));
    assert.deepEqual([one.ContentType, one.Metadata], ['text/a', { m: '1' }]);
    const two = await s3.send(new HeadObjectCommand({ Bucket: 'sdk-copies', Key: 'two' }));
    assert.deepEqual([two.ContentType, two.Metadata], ['text/b', { n: '2' }]);
    const toItself = await s3
      .send(new CopyObjectCommand({ Bucket: 'sdk', Key: 'copy/src', CopySource: 'sdk/copy/src' }))
      .catch((e) => e);
    assert.equal(toItself.name, 'InvalidRequest');
    const notMatching = await s3
      .send(
        new CopyObjectCommand({
          Bucket: 'sdk-copies',
          Key: 'three',
          CopySource: 'sdk/copy/src',
          CopySourceIfMatch: '"0123"',
        }),
      )
      .catch((e) => e);
    assert.equal(notMatching.name, 'PreconditionFailed');
    const missing = await s3
      .send(
        new CopyObjectCommand({ Bucket: 'sdk-copies', Key: 'three', CopySource: 'sdk/copy/none' }),
      )
      .catch((e) => e);
    assert.equal(missing.name, 'NoSuchKey');
    await s3.send(new DeleteObjectCommand({ Bucket: 'sdk', Key: 'copy/src' }));
    await new Promise((r) => setTimeout(r, 2500)); // a collector pass, had it wrongly freed the stripes
    for (const key of ['one', 'two']) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk-copies', Key: key }));
      assert.equal(
        sha256(await bodyBytes(got.Body)),
        sha256(body),
        `${key} survives the source's deletion`,
      );
    }
  });

  test('object tagging: on PUT, Put/Get/DeleteObjectTagging, limits, copied with the object', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: 'sdk', Key: 'tagged', Body: 'x', Tagging: 'team=a&env=dev' }),
    );
    const head = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'tagged' }));
    assert.equal(head.TagCount, 2);
    const first = await s3.send(new GetObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged' }));
    assert.deepEqual(first.TagSet?.map((t) => `${t.Key}=${t.Value}`).sort(), ['env=dev', 'team=a']);
    await s3.send(
      new PutObjectTaggingCommand({
        Bucket: 'sdk',
        Key: 'tagged',
        Tagging: { TagSet: [{ Key: 'only', Value: 'one' }] },
      }),
    );
    const second = await s3.send(new GetObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged' }));
    assert.deepEqual(second.TagSet, [{ Key: 'only', Value: 'one' }]);
    await s3.send(
      new CopyObjectCommand({ Bucket: 'sdk', Key: 'tagged-copy', CopySource: 'sdk/tagged' }),
    );
    const copied = await s3.send(
      new GetObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged-copy' }),
    );
    assert.deepEqual(copied.TagSet, [{ Key: 'only', Value: 'one' }]);
    // x-amz-tagging-directive REPLACE applies with the default (COPY) metadata directive too.
    await s3.send(
      new CopyObjectCommand({
        Bucket: 'sdk',
        Key: 'tagged-retagged',
        CopySource: 'sdk/tagged',
        TaggingDirective: 'REPLACE',
        Tagging: 'fresh=yes',
      }),
    );
    const retagged = await s3.send(
      new GetObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged-retagged' }),
    );
    assert.deepEqual(retagged.TagSet, [{ Key: 'fresh', Value: 'yes' }]);
    const tooMany = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    const refused = await s3
      .send(
        new PutObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged', Tagging: { TagSet: tooMany } }),
      )
      .catch((e) => e);
    assert.equal(refused.$metadata?.httpStatusCode, 400);
    await s3.send(new DeleteObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged' }));
    const none = await s3.send(new GetObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged' }));
    assert.deepEqual(none.TagSet ?? [], []);
    const missing = await s3
      .send(new GetObjectTaggingCommand({ Bucket: 'sdk', Key: 'no-such' }))
      .catch((e) => e);
    assert.equal(missing.name, 'NoSuchKey');
  });

  test('ListBuckets pages with max-buckets and a continuation token', async () => {
    for (const name of ['page-a', 'page-b', 'page-c'])
      await s3.send(new CreateBucketCommand({ Bucket: name }));
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListBucketsCommand({ MaxBuckets: 2, Prefix: 'page-', ContinuationToken: token }),
      );
      assert.ok((page.Buckets?.length ?? 0) <= 2);
      seen.push(...(page.Buckets ?? []).map((b) => b.Name as string));
      token = page.ContinuationToken;
    } while (token);
    assert.deepEqual(seen, ['page-a', 'page-b', 'page-c']);
  });

  test('GetObjectAttributes reports ETag, size, parts and the stored checksum', async () => {
    const body = Buffer.from('attributes');
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'sdk',
        Key: 'attrs',
        Body: body,
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    const single = await s3.send(
      new GetObjectAttributesCommand({
        Bucket: 'sdk',
        Key: 'attrs',
        ObjectAttributes: ['ETag', 'ObjectSize', 'Checksum', 'StorageClass'],
      }),
    );
    assert.equal(`"${single.ETag}"`, put.ETag);
    assert.equal(single.ObjectSize, body.length);
    assert.equal(
      single.Checksum?.ChecksumSHA256,
      createHash('sha256').update(body).digest('base64'),
    );
    assert.equal(single.StorageClass, 'STANDARD');
    const multi = await s3.send(
      new GetObjectAttributesCommand({
        Bucket: 'sdk',
        Key: 'big',
        ObjectAttributes: ['ObjectParts', 'ObjectSize'],
      }),
    );
    assert.equal(multi.ObjectParts?.TotalPartsCount, 3);
    assert.deepEqual(
      multi.ObjectParts?.Parts?.map((p) => p.Size),
      [40 * MiB, 40 * MiB, 20 * MiB],
    );
    assert.equal(multi.ObjectSize, 100 * MiB);
  });

  test('ListObjectVersions lists each object once as version "null"', async () => {
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'sdk', Prefix: 'size/' }));
    assert.deepEqual(
      listed.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest]),
      [
        ['size/0', 'null', true],
        ['size/1', 'null', true],
        ['size/1048577', 'null', true],
      ],
    );
  });

  test('CRC64NVME and CRC32C checksums are verified, stored and returned', async () => {
    const body = patternBytes(300_000, 64);
    for (const algorithm of ['CRC64NVME', 'CRC32C'] as const) {
      const key = `checksum-${algorithm}`;
      const put = await s3.send(
        new PutObjectCommand({ Bucket: 'sdk', Key: key, Body: body, ChecksumAlgorithm: algorithm }),
      );
      const field = `Checksum${algorithm}` as 'ChecksumCRC64NVME' | 'ChecksumCRC32C';
      assert.ok(put[field], `${algorithm} echoed on PUT`);
      const got = await s3.send(
        new GetObjectCommand({ Bucket: 'sdk', Key: key, ChecksumMode: 'ENABLED' }),
      );
      assert.equal(got[field], put[field]);
      assert.ok((await bodyBytes(got.Body)).equals(body));
    }
    const wrong = await s3
      .send(
        new PutObjectCommand({
          Bucket: 'sdk',
          Key: 'checksum-bad',
          Body: body,
          ChecksumCRC64NVME: 'AAAAAAAAAAA=',
        }),
      )
      .catch((e) => e);
    assert.equal(wrong.name, 'BadDigest');
    const head = await s3
      .send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'checksum-bad' }))
      .catch((e) => e);
    assert.equal(head.name, 'NotFound');
  });

  test('declared checksums of a body past a hashing segment: right is stored, wrong is BadDigest and nothing is', async () => {
    // Past the first MiB the declared checksum runs on the hashing thread with the payload's
    // SHA-256 (src/common/hash-offload.ts); the SDK signs the payload over HTTP.
    const body = patternBytes(3 * 1024 * 1024 + 7, 65);
    const wrongs = {
      ChecksumCRC32: 'AAAAAA==',
      ChecksumCRC32C: 'AAAAAA==',
      ChecksumSHA1: Buffer.alloc(20).toString('base64'),
      ContentMD5: Buffer.alloc(16).toString('base64'),
    };
    for (const [field, wrong] of Object.entries(wrongs)) {
      const key = `large-${field}`;
      const refused = await s3
        .send(new PutObjectCommand({ Bucket: 'sdk', Key: key, Body: body, [field]: wrong }))
        .catch((e) => e);
      assert.equal(refused.name, 'BadDigest', field);
      const head = await s3
        .send(new HeadObjectCommand({ Bucket: 'sdk', Key: key }))
        .catch((e) => e);
      assert.equal(head.name, 'NotFound', field);
    }
    for (const algorithm of ['CRC32', 'CRC32C', 'SHA1'] as const) {
      const key = `large-${algorithm}`;
      const put = await s3.send(
        new PutObjectCommand({ Bucket: 'sdk', Key: key, Body: body, ChecksumAlgorithm: algorithm }),
      );
      const field = `Checksum${algorithm}` as const;
      assert.ok(put[field], `${algorithm} echoed on PUT`);
      assert.equal(put.ETag, `"${createHash('md5').update(body).digest('hex')}"`);
      const got = await s3.send(
        new GetObjectCommand({ Bucket: 'sdk', Key: key, ChecksumMode: 'ENABLED' }),
      );
      assert.equal(got[field], put[field]);
      assert.ok((await bodyBytes(got.Body)).equals(body));
    }
  });

  test('conditional GETs answer 304 and 412 as AWS does', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'cond', Body: 'c' }));
    const etag = put.ETag as string;
    const statusOf = (input: Partial<ConstructorParameters<typeof GetObjectCommand>[0]>) =>
      s3
        .send(new GetObjectCommand({ Bucket: 'sdk', Key: 'cond', ...input }))
        .then((r) => r.$metadata.httpStatusCode)
        .catch((e) => e.$metadata?.httpStatusCode);
    const past = new Date(Date.now() - 86_400_000);
    const future = new Date(Date.now() + 86_400_000);
    assert.equal(await statusOf({ IfMatch: etag }), 200);
    assert.equal(await statusOf({ IfMatch: '"0123"' }), 412);
    assert.equal(await statusOf({ IfNoneMatch: etag }), 304);
    assert.equal(await statusOf({ IfNoneMatch: '"0123"' }), 200);
    assert.equal(await statusOf({ IfModifiedSince: future }), 304);
    assert.equal(await statusOf({ IfModifiedSince: past }), 200);
    assert.equal(await statusOf({ IfUnmodifiedSince: past }), 412);
    assert.equal(await statusOf({ IfUnmodifiedSince: future }), 200);
    // If-Match that holds overrides a failing If-Unmodified-Since (RFC 7232 section 6).
    assert.equal(await statusOf({ IfMatch: etag, IfUnmodifiedSince: past }), 200);
  });

  test('PutObject with If-None-Match: * creates only; If-Match replaces only a match', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: 'sdk', Key: 'once', Body: 'first', IfNoneMatch: '*' }),
    );
    const again = await s3
      .send(new PutObjectCommand({ Bucket: 'sdk', Key: 'once', Body: 'second', IfNoneMatch: '*' }))
      .catch((e) => e);
    assert.equal(again.$metadata?.httpStatusCode, 412);
    const stale = await s3
      .send(new PutObjectCommand({ Bucket: 'sdk', Key: 'once', Body: 'x', IfMatch: '"0123"' }))
      .catch((e) => e);
    assert.equal(stale.$metadata?.httpStatusCode, 412);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'once' }));
    assert.equal((await bodyBytes(got.Body)).toString(), 'first');
  });

  test('ListObjects V1 pages with markers; V2 honours start-after and fetch-owner', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'v1-list' }));
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'sub/a', 'sub/b'];
    for (const key of keys)
      await s3.send(new PutObjectCommand({ Bucket: 'v1-list', Key: key, Body: key }));
    const seen: string[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 10; page++) {
      const listed = await s3.send(
        new ListObjectsCommand({ Bucket: 'v1-list', MaxKeys: 2, Marker: marker }),
      );
      seen.push(...(listed.Contents ?? []).map((c) => c.Key as string));
      if (!listed.IsTruncated) break;
      marker = listed.NextMarker ?? listed.Contents?.at(-1)?.Key;
    }
    assert.deepEqual(seen, keys);
    const after = await s3.send(
      new ListObjectsV2Command({ Bucket: 'v1-list', StartAfter: 'k3', FetchOwner: true }),
    );
    assert.deepEqual(
      after.Contents?.map((c) => c.Key),
      ['k4', 'sub/a', 'sub/b'],
    );
    assert.equal(after.KeyCount, 3);
    assert.ok(after.Contents?.[0].Owner?.ID, 'fetch-owner names the owner');
    const grouped = await s3.send(new ListObjectsCommand({ Bucket: 'v1-list', Delimiter: '/' }));
    assert.deepEqual(
      grouped.CommonPrefixes?.map((p) => p.Prefix),
      ['sub/'],
    );
  });

  test('ListMultipartUploads folds keys by delimiter and pages with key and upload-id markers', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'mpu-list' }));
    const ids: Record<string, string> = {};
    for (const key of ['a/1', 'a/2', 'b', 'c/x/y', 'b']) {
      const { UploadId } = await s3.send(
        new CreateMultipartUploadCommand({ Bucket: 'mpu-list', Key: key }),
      );
      ids[`${key}#${Object.keys(ids).filter((k) => k.startsWith(`${key}#`)).length}`] =
        UploadId as string;
    }
    const folded = await s3.send(
      new ListMultipartUploadsCommand({ Bucket: 'mpu-list', Delimiter: '/' }),
    );
    assert.deepEqual(
      folded.CommonPrefixes?.map((p) => p.Prefix),
      ['a/', 'c/'],
    );
    assert.deepEqual(
      folded.Uploads?.map((u) => u.Key),
      ['b', 'b'],
    );
    const first = await s3.send(
      new ListMultipartUploadsCommand({ Bucket: 'mpu-list', MaxUploads: 3 }),
    );
    assert.equal(first.IsTruncated, true);
    assert.deepEqual(
      first.Uploads?.map((u) => u.Key),
      ['a/1', 'a/2', 'b'],
    );
    const rest = await s3.send(
      new ListMultipartUploadsCommand({
        Bucket: 'mpu-list',
        KeyMarker: first.NextKeyMarker,
        UploadIdMarker: first.NextUploadIdMarker,
      }),
    );
    assert.deepEqual(
      rest.Uploads?.map((u) => u.Key),
      ['b', 'c/x/y'],
    );
    assert.equal(rest.IsTruncated, false);
    const seen = new Set(
      [...(first.Uploads ?? []), ...(rest.Uploads ?? [])].map((u) => u.UploadId),
    );
    assert.deepEqual([...seen].sort(), Object.values(ids).sort(), 'every upload exactly once');
  });

  test('GetBucketLocation, ListMultipartUploads, a too-small part, Quiet DeleteObjects', async () => {
    const location = await s3.send(new GetBucketLocationCommand({ Bucket: 'sdk' }));
    assert.ok(!location.LocationConstraint, 'us-east-1 is reported as an empty constraint');
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'sdk', Key: 'small-parts' }),
    );
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'sdk' }));
    assert.ok(uploads.Uploads?.some((u) => u.UploadId === UploadId && u.Key === 'small-parts'));
    const parts = [];
    for (const PartNumber of [1, 2]) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: 'sdk',
          Key: 'small-parts',
          UploadId,
          PartNumber,
          Body: Buffer.alloc(1024, PartNumber),
        }),
      );
      parts.push({ PartNumber, ETag: part.ETag });
    }
    const small = await s3
      .send(
        new CompleteMultipartUploadCommand({
          Bucket: 'sdk',
          Key: 'small-parts',
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      )
      .catch((e) => e);
    assert.equal(small.name, 'EntityTooSmall');
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'sdk', Key: 'small-parts', UploadId }));
    for (const key of ['q/1', 'q/2'])
      await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: key, Body: 'q' }));
    const quiet = await s3.send(
      new DeleteObjectsCommand({
        Bucket: 'sdk',
        Delete: { Quiet: true, Objects: [{ Key: 'q/1' }, { Key: 'q/2' }] },
      }),
    );
    assert.equal(quiet.Deleted, undefined, 'Quiet reports only errors');
    const left = await s3.send(new ListObjectsV2Command({ Bucket: 'sdk', Prefix: 'q/' }));
    assert.equal(left.KeyCount, 0);
  });

  test('a wrong secret is SignatureDoesNotMatch', async () => {
    const wrong = s3Client(server, `${server.secretKey}x`);
    const error = await wrong.send(new ListBucketsCommand({})).catch((e) => e);
    wrong.destroy();
    assert.equal(error.name, 'SignatureDoesNotMatch');
  });

  test('virtual-host-style addressing reaches the same objects', async () => {
    const port = new URL(server.s3Endpoint).port;
    // The SDK names the bucket in the Host header (sdk.localhost); resolve every name to loopback.
    const lookup = (
      _host: string,
      options: { all?: boolean },
      callback: (...args: unknown[]) => void,
    ) =>
      options.all
        ? callback(null, [{ address: '127.0.0.1', family: 4 }])
        : callback(null, '127.0.0.1', 4);
    const virtual = new S3Client({
      endpoint: `http://localhost:${port}`,
      region: 'us-east-1',
      forcePathStyle: false,
      credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ lookup } as AgentOptions) }),
    });
    try {
      const got = await virtual.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'meta' }));
      assert.equal((await bodyBytes(got.Body)).toString(), 'm');
      const listed = await virtual.send(new ListObjectsV2Command({ Bucket: 'sdk', Prefix: 'me' }));
      assert.deepEqual(
        listed.Contents?.map((c) => c.Key),
        ['meta'],
      );
    } finally {
      virtual.destroy();
    }
  });
});
