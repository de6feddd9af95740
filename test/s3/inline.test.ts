// Small objects inline (docs/architecture/overview.md, "Small files inline"), through the AWS SDK
// against a real server with the default threshold (64 KiB): objects up to it create no shard
// file, larger ones do, and every S3 behaviour reads the same either way (bytes, ETag, checksums,
// ranges, copies, versions, multipart, listings).
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { bodyBytes, md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const THRESHOLD = 64 * KiB; // erasure_coding.inline_max_bytes's default

// Every shard file on the server's disks, by path.
function shardFiles(dataDir: string): Set<string> {
  const disks = join(dataDir, 'disks');
  const files = new Set<string>();
  for (const name of readdirSync(disks, { recursive: true, encoding: 'utf8' })) {
    // A file the collector deletes between the listing and the stat is simply not counted.
    const stat = statSync(join(disks, name), { throwIfNoEntry: false });
    if (name.includes('shards') && stat?.isFile()) files.add(name);
  }
  return files;
}

function metricValue(page: string, series: string): number {
  const line = page.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('S3 objects inline in the metadata', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const put = (Key: string, Body: Buffer | string, Bucket = 'inl') =>
    s3.send(new PutObjectCommand({ Bucket, Key, Body }));
  const get = async (Key: string, extra: { Range?: string; VersionId?: string } = {}) =>
    bodyBytes((await s3.send(new GetObjectCommand({ Bucket: 'inl', Key, ...extra }))).Body);
  // How many shard files a step creates (by name: the collector deleting the shards of earlier
  // overwrites meanwhile does not count).
  const shardsAddedBy = async (step: () => Promise<unknown>) => {
    const before = shardFiles(server.dataDir);
    await step();
    return [...shardFiles(server.dataDir)].filter((name) => !before.has(name)).length;
  };

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'inl' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('a 4 KiB PUT creates no shard file and reads back with its ETag, size and listing', async () => {
    const body = patternBytes(4 * KiB, 7);
    let etag: string | undefined;
    const added = await shardsAddedBy(async () => {
      etag = (await put('small', body)).ETag;
    });
    assert.equal(added, 0, 'no shard file for an object within the threshold');
    assert.equal(etag, `"${md5Hex(body)}"`);
    assert.ok((await get('small')).equals(body));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'inl', Key: 'small' }));
    assert.equal(head.ContentLength, body.length);
    assert.equal(head.ETag, etag);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: 'inl', Prefix: 'small' }));
    assert.deepEqual(
      list.Contents?.map((o) => [o.Key, o.Size, o.ETag]),
      [['small', body.length, etag]],
    );
  });

  test('objects around the threshold: inline up to it, shards above it, all bytes intact', async () => {
    for (const size of [THRESHOLD - 1, THRESHOLD, THRESHOLD + 1]) {
      const body = patternBytes(size, size);
      const added = await shardsAddedBy(() => put(`edge-${size}`, body));
      if (size <= THRESHOLD) assert.equal(added, 0, `${size} bytes: inline`);
      else assert.ok(added > 0, `${size} bytes: striped (${added} shard files)`);
      assert.ok((await get(`edge-${size}`)).equals(body), `${size} bytes read back`);
    }
  });

  test('Range GETs of an inline object: first bytes, middle, suffix, past the end', async () => {
    const body = patternBytes(10_000, 3);
    await put('ranged', body);
    assert.ok((await get('ranged', { Range: 'bytes=0-0' })).equals(body.subarray(0, 1)));
    assert.ok((await get('ranged', { Range: 'bytes=100-4195' })).equals(body.subarray(100, 4196)));
    assert.ok((await get('ranged', { Range: 'bytes=-17' })).equals(body.subarray(-17)));
    assert.ok((await get('ranged', { Range: 'bytes=9990-20000' })).equals(body.subarray(9990)));
  });

  test('x-amz-checksum-* of an inline object is stored and returned', async () => {
    const body = patternBytes(3000, 11);
    const reply = await s3.send(
      new PutObjectCommand({
        Bucket: 'inl',
        Key: 'summed',
        Body: body,
        ChecksumAlgorithm: ChecksumAlgorithm.SHA256,
      }),
    );
    assert.ok(reply.ChecksumSHA256);
    const got = await s3.send(
      new GetObjectCommand({ Bucket: 'inl', Key: 'summed', ChecksumMode: 'ENABLED' }),
    );
    assert.equal(got.ChecksumSHA256, reply.ChecksumSHA256);
    assert.ok((await bodyBytes(got.Body)).equals(body));
  });

  test('overwrites move between inline and striped and back', async () => {
    const small = patternBytes(100, 1);
    const large = patternBytes(THRESHOLD * 3, 2);
    await put('flip', small);
    assert.ok((await shardsAddedBy(() => put('flip', large))) > 0);
    assert.ok((await get('flip')).equals(large));
    await put('flip', small);
    assert.ok((await get('flip')).equals(small));
    await s3.send(new DeleteObjectCommand({ Bucket: 'inl', Key: 'flip' }));
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'inl', Key: 'flip' })));
  });

  test('CopyObject of an inline object copies bytes, ETag and checksums without shards', async () => {
    const body = patternBytes(5000, 5);
    const source = await s3.send(
      new PutObjectCommand({
        Bucket: 'inl',
        Key: 'src',
        Body: body,
        ChecksumAlgorithm: ChecksumAlgorithm.CRC32,
      }),
    );
    const added = await shardsAddedBy(() =>
      s3.send(new CopyObjectCommand({ Bucket: 'inl', Key: 'dst', CopySource: 'inl/src' })),
    );
    assert.equal(added, 0);
    await s3.send(new DeleteObjectCommand({ Bucket: 'inl', Key: 'src' }));
    const got = await s3.send(
      new GetObjectCommand({ Bucket: 'inl', Key: 'dst', ChecksumMode: 'ENABLED' }),
    );
    assert.equal(got.ETag, source.ETag);
    assert.equal(got.ChecksumCRC32, source.ChecksumCRC32);
    assert.ok((await bodyBytes(got.Body)).equals(body), 'the copy outlives its source');
  });

  test('multipart uploads are striped, small parts or not, and read back whole', async () => {
    const cases: Array<[string, Buffer[]]> = [
      ['one-small-part', [patternBytes(1000, 21)]],
      ['big-then-small', [patternBytes(5 * MiB, 22), patternBytes(10, 23)]],
    ];
    for (const [Key, parts] of cases) {
      const added = await shardsAddedBy(async () => {
        const { UploadId } = await s3.send(
          new CreateMultipartUploadCommand({ Bucket: 'inl', Key }),
        );
        const Parts = [];
        for (const [i, Body] of parts.entries()) {
          const PartNumber = i + 1;
          const { ETag } = await s3.send(
            new UploadPartCommand({ Bucket: 'inl', Key, UploadId, PartNumber, Body }),
          );
          Parts.push({ ETag, PartNumber });
        }
        await s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: 'inl',
            Key,
            UploadId,
            MultipartUpload: { Parts },
          }),
        );
      });
      assert.ok(added > 0, `${Key}: parts are stripes`);
      assert.ok((await get(Key)).equals(Buffer.concat(parts)), `${Key} reads back`);
    }
  });

  test('a versioned overwrite keeps each version its own inline bytes', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'inl-v' }));
    await s3.send(
      new PutBucketVersioningCommand({
        Bucket: 'inl-v',
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    const getV = async (VersionId?: string) =>
      (
        await bodyBytes(
          (
            await s3.send(new GetObjectCommand({ Bucket: 'inl-v', Key: 'k', VersionId }))
          ).Body,
        )
      ).toString();
    const added = await shardsAddedBy(async () => {
      const v1 = (await put('k', 'first version', 'inl-v')).VersionId;
      const v2 = (await put('k', 'second', 'inl-v')).VersionId;
      assert.ok(v1 && v2 && v1 !== v2);
      assert.equal(await getV(v1), 'first version');
      assert.equal(await getV(v2), 'second');
      assert.equal(await getV(), 'second');
      await s3.send(new DeleteObjectCommand({ Bucket: 'inl-v', Key: 'k', VersionId: v2 }));
      assert.equal(await getV(), 'first version', 'the older version is current again');
    });
    assert.equal(added, 0);
  });

  test('inline writes and reads are counted', async () => {
    const page = await (await fetch(server.metricsUrl)).text();
    assert.ok(metricValue(page, 'strata_inline_writes_total{view="s3"}') > 0, page);
    assert.ok(metricValue(page, 'strata_inline_reads_total') > 0);
  });
});
