// Conditional writes (If-None-Match / If-Match on PutObject, CompleteMultipartUpload and
// directory markers), decided by the metadata state machine atomically with the write, and a
// CompleteMultipartUpload retried after a success whose answer was lost.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const MiB = 1024 * 1024;
const PARALLEL_WRITERS = 8;

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as Error).name;
  }
}

describe('conditional writes and retried completions', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const Bucket = 'cond';

  const put = (
    Key: string,
    Body: string,
    conditions: { IfMatch?: string; IfNoneMatch?: string } = {},
  ) => s3.send(new PutObjectCommand({ Bucket, Key, Body, ...conditions }));
  const read = async (Key: string) =>
    (await bodyBytes((await s3.send(new GetObjectCommand({ Bucket, Key }))).Body)).toString();

  // An upload with parts of 5 MiB, 5 MiB and 1 byte, not yet completed.
  async function uploadThreeParts(Key: string) {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const sizes = [5 * MiB, 5 * MiB, 1];
    const Parts = [];
    for (const [i, size] of sizes.entries()) {
      const PartNumber = i + 1;
      const { ETag } = await s3.send(
        new UploadPartCommand({
          Bucket,
          Key,
          UploadId,
          PartNumber,
          Body: patternBytes(size, PartNumber),
        }),
      );
      Parts.push({ PartNumber, ETag });
    }
    return { UploadId: UploadId as string, Parts };
  }

  const complete = (
    Key: string,
    UploadId: string,
    Parts: Array<{ PartNumber: number; ETag?: string }>,
    conditions: { IfMatch?: string; IfNoneMatch?: string } = {},
  ) =>
    s3.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId,
        MultipartUpload: { Parts },
        ...conditions,
      }),
    );

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('PutObject If-None-Match: * creates only; If-Match: <etag> replaces only that version', async () => {
    const first = await put('p', 'one', { IfNoneMatch: '*' });
    assert.equal(await outcome(put('p', 'two', { IfNoneMatch: '*' })), 'PreconditionFailed');
    assert.equal(await read('p'), 'one');
    assert.equal(await outcome(put('p', 'two', { IfMatch: '"0123"' })), 'PreconditionFailed');
    const second = await put('p', 'two', { IfMatch: first.ETag });
    assert.equal(await read('p'), 'two');
    assert.equal(await outcome(put('p', 'three', { IfMatch: first.ETag })), 'PreconditionFailed');
    assert.equal(await outcome(put('p', 'three', { IfMatch: `W/${second.ETag}` })), 'ok');
    assert.equal(await outcome(put('missing', 'x', { IfMatch: first.ETag })), 'NoSuchKey');
  });

  test('If-None-Match with ETags compares them; only "*" means the key must not exist', async () => {
    const { ETag } = await put('n', 'one');
    assert.equal(await outcome(put('n', 'two', { IfNoneMatch: '"0123"' })), 'ok');
    assert.equal(await read('n'), 'two');
    const current = (await s3.send(new GetObjectCommand({ Bucket, Key: 'n' }))).ETag as string;
    assert.notEqual(current, ETag);
    assert.equal(
      await outcome(put('n', 'three', { IfNoneMatch: `"0123", ${current}` })),
      'PreconditionFailed',
    );
    const upload = await uploadThreeParts('n');
    assert.equal(
      await outcome(complete('n', upload.UploadId, upload.Parts, { IfNoneMatch: '"0123"' })),
      'ok',
      'Complete with If-None-Match of another ETag replaces the object',
    );
  });

  test('of parallel PUTs with If-None-Match: *, exactly one wins', async () => {
    const results = await Promise.all(
      Array.from({ length: PARALLEL_WRITERS }, (_, i) =>
        outcome(put('race', `writer ${i}`, { IfNoneMatch: '*' })),
      ),
    );
    const winners = results.flatMap((r, i) => (r === 'ok' ? [i] : []));
    assert.equal(winners.length, 1, `outcomes: ${results.join(', ')}`);
    assert.ok(
      results.every((r) => r === 'ok' || r === 'PreconditionFailed'),
      results.join(', '),
    );
    assert.equal(await read('race'), `writer ${winners[0]}`);
  });

  test('of parallel PUTs with If-Match of one ETag, exactly one wins (compare and swap)', async () => {
    const { ETag } = await put('cas', 'start');
    const results = await Promise.all(
      Array.from({ length: PARALLEL_WRITERS }, (_, i) =>
        outcome(put('cas', `writer ${i}`, { IfMatch: ETag })),
      ),
    );
    assert.equal(results.filter((r) => r === 'ok').length, 1, `outcomes: ${results.join(', ')}`);
  });

  test('Complete honours If-None-Match: * and If-Match', async () => {
    await put('mp-exists', 'already here');
    const upload = await uploadThreeParts('mp-exists');
    assert.equal(
      await outcome(complete('mp-exists', upload.UploadId, upload.Parts, { IfNoneMatch: '*' })),
      'PreconditionFailed',
    );
    assert.equal(
      await outcome(complete('mp-exists', upload.UploadId, upload.Parts, { IfMatch: '"0123"' })),
      'PreconditionFailed',
    );
    assert.equal(await read('mp-exists'), 'already here');
  });

  test('a directory marker PUT honours If-None-Match: *', async () => {
    await put('marker/', '', { IfNoneMatch: '*' });
    assert.equal(await outcome(put('marker/', '', { IfNoneMatch: '*' })), 'PreconditionFailed');
  });

  test('a retried Complete (same upload and parts) gets the same success', async () => {
    const upload = await uploadThreeParts('retried');
    const first = await complete('retried', upload.UploadId, upload.Parts, { IfNoneMatch: '*' });
    const before = await read('retried');
    const again = await complete('retried', upload.UploadId, upload.Parts, { IfNoneMatch: '*' });
    assert.equal(again.ETag, first.ETag);
    assert.equal(again.Key, 'retried');
    assert.equal(await read('retried'), before, 'the retry wrote nothing');
    assert.equal(
      await outcome(complete('retried', upload.UploadId, upload.Parts.slice(0, 2))),
      'NoSuchUpload',
      'other parts are not the same request',
    );
    assert.equal(
      await outcome(complete('elsewhere', upload.UploadId, upload.Parts)),
      'NoSuchUpload',
      'another key is not the same request',
    );
  });

  test('a Complete retried after the object was replaced is NoSuchUpload and resurrects nothing', async () => {
    const upload = await uploadThreeParts('replaced');
    await complete('replaced', upload.UploadId, upload.Parts);
    await put('replaced', 'newer');
    assert.equal(
      await outcome(complete('replaced', upload.UploadId, upload.Parts)),
      'NoSuchUpload',
    );
    assert.equal(await read('replaced'), 'newer');
  });

  test('GetObjectAttributes pages parts by the x-amz-max-parts and part-number-marker headers', async () => {
    const upload = await uploadThreeParts('attrs');
    await complete('attrs', upload.UploadId, upload.Parts);
    const page = await s3.send(
      new GetObjectAttributesCommand({
        Bucket,
        Key: 'attrs',
        ObjectAttributes: ['ObjectParts'],
        MaxParts: 1,
        PartNumberMarker: '1',
      }),
    );
    const parts = page.ObjectParts;
    assert.equal(parts?.TotalPartsCount, 3);
    assert.equal(parts?.MaxParts, 1);
    assert.equal(parts?.IsTruncated, true);
    assert.equal(String(parts?.NextPartNumberMarker), '2');
    assert.deepEqual(
      parts?.Parts?.map((p) => [p.PartNumber, p.Size]),
      [[2, 5 * MiB]],
    );
  });
});
