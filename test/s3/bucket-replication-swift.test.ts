// Bucket replication to an S3 endpoint that is not Strata: OpenStack Swift with its s3api
// middleware (/work/shared/peers/swift-s3.sh start DIR; it installs Debian packages, so it is
// not started here). Set STRATA_TEST_SWIFT_S3 to its endpoint (http://127.0.0.1:18080) to run;
// the keys are the script's test:tester / testing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketReplicationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { configWriter, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const SWIFT = process.env.STRATA_TEST_SWIFT_S3;
const SWIFT_KEY = { id: 'test:tester', secret: 'testing' };

describe('bucket replication to Swift with s3api', {
  skip: SWIFT ? false : 'STRATA_TEST_SWIFT_S3 is not set',
}, () => {
  const bucket = `strata-copies-${randomBytes(4).toString('hex')}`;
  let source: StrataProcess;
  let src: S3Client;
  let swift: S3Client;

  before(async () => {
    const config = configWriter(tempDir('strata-replication-'));
    source = await startStrata({
      env: config('source', [
        '[[replication.targets]]',
        'name = "swift"',
        `endpoint = "${SWIFT}"`,
        'region = "us-east-1"',
        `access_key_id = "${SWIFT_KEY.id}"`,
        `secret_key = "${SWIFT_KEY.secret}"`,
        `buckets = ["${bucket}"]`,
      ]),
    });
    src = s3Client(source);
    swift = new S3Client({
      endpoint: SWIFT,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: SWIFT_KEY.id, secretAccessKey: SWIFT_KEY.secret },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
    await swift.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  after(async () => {
    await source?.stop();
  });

  test('versions arrive at Swift with their content type and metadata', async () => {
    await src.send(new CreateBucketCommand({ Bucket: 'orig' }));
    await src.send(
      new PutBucketVersioningCommand({
        Bucket: 'orig',
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    await src.send(
      new PutBucketReplicationCommand({
        Bucket: 'orig',
        ReplicationConfiguration: {
          Role: 'arn:aws:iam::000000000000:role/none',
          Rules: [
            {
              Status: 'Enabled',
              Prefix: '',
              Destination: { Bucket: `arn:aws:s3:::${bucket}` },
            },
          ],
        },
      }),
    );
    const body = patternBytes(3 * 1024 * 1024 + 11, 5);
    await src.send(
      new PutObjectCommand({
        Bucket: 'orig',
        Key: 'dir/photo.bin',
        Body: body,
        ContentType: 'image/x-test',
        Metadata: { camera: 'pinhole' },
      }),
    );
    await until(
      'the version is COMPLETED',
      async () => {
        const head = await src.send(
          new HeadObjectCommand({ Bucket: 'orig', Key: 'dir/photo.bin' }),
        );
        return head.ReplicationStatus === 'COMPLETED' ? true : undefined;
      },
      { limitMs: 60_000 },
    );
    const got = await swift.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/photo.bin' }));
    assert.equal(got.ContentType, 'image/x-test');
    assert.deepEqual(got.Metadata, { camera: 'pinhole' });
    assert.ok((await bodyBytes(got.Body)).equals(body), 'the bytes at Swift differ');
  });
});
