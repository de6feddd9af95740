// A multipart object past 4 GiB through the SDK: sizes, offsets and part arithmetic must not wrap
// at 32 bits. Parts stream from a repeated block, so the test holds little memory; reads check
// ranges on both sides of the 4 GiB boundary, the last bytes, and one whole part.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const MiB = 1024 * 1024;
const BLOCK_BYTES = MiB;
const PART_BYTES = 512 * MiB;
const PARTS = 9; // 4.5 GiB
const TOTAL_BYTES = PART_BYTES * PARTS;

// Byte at `offset` of the object: part p is block(p) repeated, so any range can be predicted.
const blocks = Array.from({ length: PARTS }, (_, p) => patternBytes(BLOCK_BYTES, p + 100));
function expected(offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    const at = offset + i;
    const part = Math.floor(at / PART_BYTES);
    out[i] = blocks[part][(at % PART_BYTES) % BLOCK_BYTES];
  }
  return out;
}

function partBody(part: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= PART_BYTES) return this.push(null);
      sent += BLOCK_BYTES;
      this.push(blocks[part]);
    },
  });
}

describe('an object larger than 4 GiB', () => {
  let server: StrataProcess;
  let s3: S3Client;
  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'large' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('4.5 GiB in nine 512 MiB parts: size, ETag, ranges across 4 GiB, a whole part', async () => {
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'large', Key: 'big' }),
    );
    const parts: Array<{ PartNumber: number; ETag?: string }> = [];
    const queue = Array.from({ length: PARTS }, (_, i) => i);
    const worker = async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        const done = await s3.send(
          new UploadPartCommand({
            Bucket: 'large',
            Key: 'big',
            UploadId,
            PartNumber: p + 1,
            Body: partBody(p),
            ContentLength: PART_BYTES,
          }),
        );
        parts.push({ PartNumber: p + 1, ETag: done.ETag });
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'large',
        Key: 'big',
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    assert.match(completed.ETag ?? '', /-9"$/);

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'large', Key: 'big' }));
    assert.equal(head.ContentLength, TOTAL_BYTES);
    const fourGiB = 4 * 1024 * MiB;
    for (const [offset, length] of [
      [fourGiB - 100, 200],
      [fourGiB + 12345, 4096],
      [TOTAL_BYTES - 777, 777],
      [PART_BYTES * 8 - 3, 6],
    ]) {
      const got = await s3.send(
        new GetObjectCommand({
          Bucket: 'large',
          Key: 'big',
          Range: `bytes=${offset}-${offset + length - 1}`,
        }),
      );
      assert.equal(got.ContentRange, `bytes ${offset}-${offset + length - 1}/${TOTAL_BYTES}`);
      assert.ok((await bodyBytes(got.Body)).equals(expected(offset, length)), `range at ${offset}`);
    }
    const ninth = await s3.send(
      new GetObjectCommand({ Bucket: 'large', Key: 'big', PartNumber: 9 }),
    );
    assert.equal(ninth.ContentLength, PART_BYTES);
    let at = 0;
    for await (const chunk of ninth.Body as AsyncIterable<Uint8Array>) {
      const piece = Buffer.from(chunk);
      assert.ok(piece.equals(expected(PART_BYTES * 8 + at, piece.length)), `part 9 at ${at}`);
      at += piece.length;
    }
    assert.equal(at, PART_BYTES);
    const attributes = await s3.send(
      new GetObjectAttributesCommand({
        Bucket: 'large',
        Key: 'big',
        ObjectAttributes: ['ObjectParts', 'ObjectSize'],
      }),
    );
    assert.equal(attributes.ObjectSize, TOTAL_BYTES);
    assert.equal(attributes.ObjectParts?.TotalPartsCount, PARTS);
    await s3.send(new DeleteObjectCommand({ Bucket: 'large', Key: 'big' }));
  });
});
