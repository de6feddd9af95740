// Multipart uploads with x-amz-checksum-algorithm, through the SDK: COMPOSITE checksums (checksum
// of the part checksums, "-N"), FULL_OBJECT CRCs combined from the parts, per-part checksums in
// ListParts, GetObjectAttributes and ?partNumber GETs, and mismatches refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { checksumBase64 } from '../../src/auth/checksums.ts';
import { combineCrc } from '../../src/auth/crc-combine.ts';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const MiB = 1024 * 1024;

describe('multipart checksums', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const parts = [patternBytes(5 * MiB, 1), patternBytes(5 * MiB + 7, 2), patternBytes(1234, 3)];
  const whole = Buffer.concat(parts);

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'sums' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  async function upload(
    key: string,
    algorithm: 'CRC32' | 'CRC32C' | 'SHA256' | 'CRC64NVME',
    type?: 'COMPOSITE' | 'FULL_OBJECT',
  ) {
    const created = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: 'sums',
        Key: key,
        ChecksumAlgorithm: algorithm,
        ChecksumType: type,
      }),
    );
    const uploadId = created.UploadId as string;
    const done = [];
    for (const [i, body] of parts.entries()) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: 'sums',
          Key: key,
          UploadId: uploadId,
          PartNumber: i + 1,
          Body: body,
          ChecksumAlgorithm: algorithm,
        }),
      );
      const field = `Checksum${algorithm}` as const;
      assert.equal(part[field], checksumBase64(algorithm, body), `part ${i + 1} checksum echoed`);
      done.push({ PartNumber: i + 1, ETag: part.ETag, [field]: part[field] });
    }
    return { uploadId, done, created };
  }

  test('COMPOSITE CRC32: the checksum of the part checksums, -N, everywhere it is reported', async () => {
    const { uploadId, done, created } = await upload('composite', 'CRC32');
    assert.equal(created.ChecksumAlgorithm, 'CRC32');
    assert.equal(created.ChecksumType, 'COMPOSITE');
    const listed = await s3.send(
      new ListPartsCommand({ Bucket: 'sums', Key: 'composite', UploadId: uploadId }),
    );
    assert.deepEqual(
      listed.Parts?.map((p) => p.ChecksumCRC32),
      parts.map((b) => checksumBase64('CRC32', b)),
    );
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sums',
        Key: 'composite',
        UploadId: uploadId,
        MultipartUpload: { Parts: done },
      }),
    );
    const digests = Buffer.concat(
      parts.map((b) => Buffer.from(checksumBase64('CRC32', b), 'base64')),
    );
    const expected = `${checksumBase64('CRC32', digests)}-3`;
    assert.equal(completed.ChecksumCRC32, expected);
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: 'sums', Key: 'composite', ChecksumMode: 'ENABLED' }),
    );
    assert.equal(head.ChecksumCRC32, expected);
    assert.equal(head.ChecksumType, 'COMPOSITE');
    const second = await s3.send(
      new GetObjectCommand({
        Bucket: 'sums',
        Key: 'composite',
        PartNumber: 2,
        ChecksumMode: 'ENABLED',
      }),
    );
    assert.ok((await bodyBytes(second.Body)).equals(parts[1]));
    assert.equal(second.ChecksumCRC32, checksumBase64('CRC32', parts[1]));
    const attributes = await s3.send(
      new GetObjectAttributesCommand({
        Bucket: 'sums',
        Key: 'composite',
        ObjectAttributes: ['Checksum', 'ObjectParts'],
      }),
    );
    assert.equal(attributes.Checksum?.ChecksumCRC32, expected);
    assert.deepEqual(
      attributes.ObjectParts?.Parts?.map((p) => p.ChecksumCRC32),
      parts.map((b) => checksumBase64('CRC32', b)),
    );
  });

  test('COMPOSITE SHA256 hashes the concatenated part digests', async () => {
    const { uploadId, done } = await upload('sha', 'SHA256');
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sums',
        Key: 'sha',
        UploadId: uploadId,
        MultipartUpload: { Parts: done },
      }),
    );
    const digests = Buffer.concat(parts.map((b) => createHash('sha256').update(b).digest()));
    assert.equal(
      completed.ChecksumSHA256,
      `${createHash('sha256').update(digests).digest('base64')}-3`,
    );
  });

  for (const algorithm of ['CRC64NVME', 'CRC32C'] as const) {
    test(`FULL_OBJECT ${algorithm}: the CRC of the whole object, without re-reading it`, async () => {
      const key = `full-${algorithm}`;
      const { uploadId, done } = await upload(key, algorithm, 'FULL_OBJECT');
      const completed = await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'sums',
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: done },
        }),
      );
      const field = `Checksum${algorithm}` as const;
      assert.equal(completed[field], checksumBase64(algorithm, whole));
      assert.equal(completed.ChecksumType, 'FULL_OBJECT');
      const got = await s3.send(
        new GetObjectCommand({ Bucket: 'sums', Key: key, ChecksumMode: 'ENABLED' }),
      );
      assert.equal(got[field], checksumBase64(algorithm, whole));
      assert.ok((await bodyBytes(got.Body)).equals(whole));
    });
  }

  test('a part checksum that does not match is InvalidPart, and the upload can still complete', async () => {
    const { uploadId, done } = await upload('mismatch', 'CRC32');
    const tampered = done.map((p, i) =>
      i === 1 ? { ...p, ChecksumCRC32: checksumBase64('CRC32', Buffer.from('x')) } : p,
    );
    await assert.rejects(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'sums',
          Key: 'mismatch',
          UploadId: uploadId,
          MultipartUpload: { Parts: tampered },
        }),
      ),
      (e: { name?: string }) => e.name === 'InvalidPart',
    );
    const ok = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sums',
        Key: 'mismatch',
        UploadId: uploadId,
        MultipartUpload: { Parts: done },
      }),
    );
    assert.ok(ok.ChecksumCRC32?.endsWith('-3'));
  });

  test('checksum types an algorithm does not support are InvalidRequest', async () => {
    for (const [algorithm, type] of [
      ['SHA256', 'FULL_OBJECT'],
      ['CRC64NVME', 'COMPOSITE'],
    ] as const) {
      await assert.rejects(
        s3.send(
          new CreateMultipartUploadCommand({
            Bucket: 'sums',
            Key: 'x',
            ChecksumAlgorithm: algorithm,
            ChecksumType: type,
          }),
        ),
        (e: { name?: string }) => e.name === 'InvalidRequest',
        `${algorithm} ${type}`,
      );
    }
  });

  test('the CRC combination equals the CRC of the concatenation (seeded sizes)', () => {
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let round = 0; round < 40; round++) {
      const a = patternBytes(next() % 5000, next());
      const b = patternBytes(next() % 5000, next());
      for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
        const combined = combineCrc(
          algorithm,
          Buffer.from(checksumBase64(algorithm, a), 'base64'),
          Buffer.from(checksumBase64(algorithm, b), 'base64'),
          b.length,
        );
        assert.equal(
          combined.toString('base64'),
          checksumBase64(algorithm, Buffer.concat([a, b])),
          `${algorithm} ${a.length}+${b.length}`,
        );
      }
    }
  });
});
