// Lifecycle transitions of encrypted objects against a real server (16 disks, a lifecycle "day"
// of 2 s): an SSE-KMS and an SSE-S3 object are re-encoded to GLACIER under their own encryption
// (the state machine refuses re-encoded stripes sealed any other way, object-encryption.ts
// checkKeptEncryption) and read back after a restore with the same headers; an SSE-C object,
// which the cluster cannot read without the customer's key, stays STANDARD.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  RestoreObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import { configWriter, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

// A generous upper bound on runners that act within a few "days"; never a measured figure.
const LIMIT_MS = 90_000;

describe('lifecycle transitions of encrypted objects', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const dataDir = tempDir('strata-class-sse-');
  const customerKey = randomBytes(32);
  const keyed = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: customerKey.toString('base64') };

  before(async () => {
    writeFileSync(join(dataDir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, {
      mode: 0o600,
    });
    const env = {
      ...configWriter(dataDir)('strata', ['[s3]', 'sse_c_over_http = true']),
      STRATA_DATA_DISK_COUNT: '16',
      STRATA_LIFECYCLE_DEBUG_DAY_SECONDS: '2',
      STRATA_LIFECYCLE_RESTORE_DELAY_SECONDS_EXPEDITED: '1',
    };
    server = await startStrata({ dataDir, env });
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'cold' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('SSE-KMS and SSE-S3 objects move to GLACIER under their own encryption; SSE-C stays', async () => {
    const bodies = {
      kms: patternBytes(300_000, 3),
      s3: patternBytes(300_000, 4),
      c: patternBytes(300_000, 5),
    };
    const kmsPut = await s3.send(
      new PutObjectCommand({
        Bucket: 'cold',
        Key: 'kms',
        Body: bodies.kms,
        ServerSideEncryption: 'aws:kms',
      }),
    );
    assert.ok(kmsPut.SSEKMSKeyId?.startsWith('arn:aws:kms:'));
    await s3.send(
      new PutObjectCommand({
        Bucket: 'cold',
        Key: 's3',
        Body: bodies.s3,
        ServerSideEncryption: 'AES256',
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: 'cold', Key: 'c', Body: bodies.c, ...keyed }));
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'cold',
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'archive',
              Status: 'Enabled',
              Filter: { Prefix: '' },
              Transitions: [{ Days: 1, StorageClass: 'GLACIER' }],
            },
          ],
        },
      }),
    );
    const classOf = async (key: string, extra = {}) =>
      (await s3.send(new HeadObjectCommand({ Bucket: 'cold', Key: key, ...extra }))).StorageClass;
    await until(
      'the SSE-KMS and SSE-S3 objects are GLACIER',
      async () =>
        (await classOf('kms')) === 'GLACIER' && (await classOf('s3')) === 'GLACIER'
          ? true
          : undefined,
      { limitMs: LIMIT_MS },
    );
    // The runner has judged the SSE-C object in the same passes: it is left as it was.
    assert.equal(await classOf('c', keyed), undefined, 'the SSE-C object stays STANDARD');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'cold', Key: 'c', ...keyed }));
    assert.ok((await bodyBytes(got.Body)).equals(bodies.c));

    for (const key of ['kms', 's3'] as const) {
      await s3.send(
        new RestoreObjectCommand({
          Bucket: 'cold',
          Key: key,
          RestoreRequest: { Days: 1, GlacierJobParameters: { Tier: 'Expedited' } },
        }),
      );
    }
    for (const key of ['kms', 's3'] as const) {
      const read = await until(
        `the restore of ${key} completes`,
        async () => {
          try {
            return await s3.send(new GetObjectCommand({ Bucket: 'cold', Key: key }));
          } catch (error) {
            if ((error as Error).name === 'InvalidObjectState') return undefined;
            throw error;
          }
        },
        { limitMs: LIMIT_MS },
      );
      assert.equal(md5Hex(await bodyBytes(read.Body)), md5Hex(bodies[key]), `${key}: same bytes`);
      assert.equal(read.ServerSideEncryption, key === 'kms' ? 'aws:kms' : 'AES256');
      if (key === 'kms') assert.equal(read.SSEKMSKeyId, kmsPut.SSEKMSKeyId, 'under the same key');
    }
  });
});
