// Metadata reads per S3 GET and HEAD (issues 12 and 13): each waits for the leader's read
// barrier, so a GET or HEAD asks for what it needs in one read (objectRead: the bucket, the
// version, its first extents), counted by strata_metadata_reads_total on the leader. And the
// bytes read through that read's extents are the object's, whatever the range.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
// The reader functions a GET or HEAD used before objectRead; none of the server's own
// background passes reads these for a bucket without lifecycle or replication rules.
const OBJECT_FNS = ['objectRead', 'getBucket', 'objectVersion', 'resolvePath', 'extents'];

function readsByFn(page: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const fn of OBJECT_FNS) {
    const series = `strata_metadata_reads_total{fn="${fn}"} `;
    const line = page.split('\n').find((l) => l.startsWith(series));
    counts[fn] = line === undefined ? 0 : Number(line.slice(series.length));
  }
  return counts;
}

describe('metadata reads of S3 GET and HEAD', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const small = patternBytes(4 * KiB, 3); // inline: its bytes come with the read
  const striped = patternBytes(3 * MiB + 17, 5); // above the inline threshold: shards

  // The object reads `step` makes, by reader function (only those that changed).
  const readsOf = async (step: () => Promise<unknown>) => {
    const scrape = async () => readsByFn(await (await fetch(server.metricsUrl)).text());
    const before = await scrape();
    await step();
    const after = await scrape();
    return Object.fromEntries(
      OBJECT_FNS.filter((fn) => after[fn] !== before[fn]).map((fn) => [fn, after[fn] - before[fn]]),
    );
  };
  const get = async (Key: string, extra: { Range?: string; VersionId?: string } = {}) =>
    bodyBytes((await s3.send(new GetObjectCommand({ Bucket: 'reads', Key, ...extra }))).Body);

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'reads' }));
    await s3.send(new PutObjectCommand({ Bucket: 'reads', Key: 'small', Body: small }));
    await s3.send(new PutObjectCommand({ Bucket: 'reads', Key: 'striped', Body: striped }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('a GET of a small object is one metadata read, and so is a HEAD', async () => {
    let body: Buffer | undefined;
    assert.deepEqual(await readsOf(async () => (body = await get('small'))), { objectRead: 1 });
    assert.deepEqual(body, small);
    const head = () => s3.send(new HeadObjectCommand({ Bucket: 'reads', Key: 'small' }));
    assert.deepEqual(await readsOf(head), { objectRead: 1 });
  });

  test('a striped GET reads its extents with the object, ranges included', async () => {
    let body: Buffer | undefined;
    assert.deepEqual(await readsOf(async () => (body = await get('striped'))), { objectRead: 1 });
    assert.deepEqual(body, striped);
    const from = 2 * MiB + 5;
    const ranged = async () => (body = await get('striped', { Range: `bytes=${from}-` }));
    assert.deepEqual(await readsOf(ranged), { objectRead: 1 });
    assert.deepEqual(body, striped.subarray(from));
    // A suffix range starts where only the size tells: still right, from the read's window.
    assert.deepEqual(await get('striped', { Range: 'bytes=-1000' }), striped.subarray(-1000));
    assert.deepEqual(
      await get('striped', { Range: 'bytes=100-1048675' }),
      striped.subarray(100, 1048676),
    );
  });

  test('a GET of a named version is one read too, and reads that version', async () => {
    await s3.send(
      new PutBucketVersioningCommand({
        Bucket: 'reads',
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    const first = await s3.send(
      new PutObjectCommand({ Bucket: 'reads', Key: 'v', Body: patternBytes(5 * KiB, 1) }),
    );
    await s3.send(
      new PutObjectCommand({ Bucket: 'reads', Key: 'v', Body: patternBytes(6 * KiB, 2) }),
    );
    let body: Buffer | undefined;
    const named = async () => (body = await get('v', { VersionId: first.VersionId }));
    assert.deepEqual(await readsOf(named), { objectRead: 1 });
    assert.deepEqual(body, patternBytes(5 * KiB, 1));
    assert.deepEqual(await get('v'), patternBytes(6 * KiB, 2));
  });
});
