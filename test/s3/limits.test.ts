// Limits from the configuration reach S3 clients as S3 errors, and lose nothing.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../helpers/s3.ts';
import { startStrata, tempDir } from '../helpers/server.ts';

test('an object over s3.max_object_size_bytes is EntityTooLarge, declared or streamed', async () => {
  const config = join(tempDir('strata-limits-'), 'strata.toml');
  writeFileSync(config, '[s3]\nmax_object_size_bytes = 100000\n');
  const server = await startStrata({ args: ['--config', config] });
  const s3 = s3Client(server);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'limits' }));
    await s3.send(
      new PutObjectCommand({ Bucket: 'limits', Key: 'fits', Body: Buffer.alloc(100_000) }),
    );
    const declared = await s3
      .send(new PutObjectCommand({ Bucket: 'limits', Key: 'big', Body: Buffer.alloc(100_001) }))
      .catch((e) => e);
    assert.equal(declared.name, 'EntityTooLarge');
    // A stream of unknown length (aws-chunked without a decoded length) is cut off as it grows.
    const streamed = await s3
      .send(
        new PutObjectCommand({
          Bucket: 'limits',
          Key: 'big2',
          Body: Readable.from([Buffer.alloc(60_000), Buffer.alloc(60_000)]),
        }),
      )
      .catch((e) => e);
    assert.ok(streamed instanceof Error, 'the oversize stream is refused');
    for (const key of ['big', 'big2']) {
      const head = await s3
        .send(new HeadObjectCommand({ Bucket: 'limits', Key: key }))
        .catch((e) => e);
      assert.equal(head.name, 'NotFound', `${key} left nothing behind`);
    }
    await s3.send(new HeadObjectCommand({ Bucket: 'limits', Key: 'fits' }));
  } finally {
    s3.destroy();
    await server.stop();
  }
});
