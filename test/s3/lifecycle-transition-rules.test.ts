// Lifecycle transitions beyond the archive classes against a real server (16 disks, a lifecycle
// "day" of 1 s): a NoncurrentVersionTransition with NewerNoncurrentVersions moves only the older
// noncurrent versions to GLACIER (8+3 re-encoded) and keeps the newest one as it is, and a
// Transition to STANDARD_IA (AWS's 30 days at least) changes the current version's class only:
// no stripe is written for it and its bytes read as before.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { bodyBytes, md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';
import { awsCli, has } from '../helpers/tools.ts';
import { until } from '../helpers/wait.ts';

const DISKS = 16;
// A generous upper bound on runners that act within 30 one-second "days"; never measured.
const LIMIT_MS = 120_000;

describe('transition rules: NewerNoncurrentVersions, STANDARD_IA', {
  skip: !has('aws') && 'awscli is not installed',
}, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let work: string;
  const aws = (...args: string[]) => awsCli(server, 's3api', ...args);
  const json = (...args: string[]) => JSON.parse(aws(...args));

  before(async () => {
    work = tempDir('strata-transition-rules-');
    server = await startStrata({
      env: { STRATA_DATA_DISK_COUNT: String(DISKS), STRATA_LIFECYCLE_DEBUG_DAY_SECONDS: '1' },
    });
    s3 = s3Client(server);
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('the newest noncurrent version stays; the current one becomes STANDARD_IA in place', async () => {
    aws('create-bucket', '--bucket', 'tiers');
    aws(
      'put-bucket-versioning',
      '--bucket',
      'tiers',
      '--versioning-configuration',
      'Status=Enabled',
    );
    const bodies: Buffer[] = [];
    for (let i = 0; i < 4; i++) {
      bodies.push(patternBytes(300_000 + i, i + 1));
      await s3.send(new PutObjectCommand({ Bucket: 'tiers', Key: 'doc', Body: bodies[i] }));
    }
    const versions = () =>
      (
        json('list-object-versions', '--bucket', 'tiers') as {
          Versions: Array<{ VersionId: string; IsLatest: boolean; StorageClass: string }>;
        }
      ).Versions; // newest first
    const ids = versions().map((v) => v.VersionId);
    const known = new Set(shardsByStripe(server.dataDir, DISKS).keys());
    const path = join(work, 'rules.json');
    writeFileSync(
      path,
      JSON.stringify({
        Rules: [
          {
            ID: 'tiers',
            Status: 'Enabled',
            Filter: {},
            Transitions: [{ Days: 30, StorageClass: 'STANDARD_IA' }],
            NoncurrentVersionTransitions: [
              { NoncurrentDays: 1, StorageClass: 'GLACIER', NewerNoncurrentVersions: 1 },
            ],
          },
        ],
      }),
    );
    aws(
      'put-bucket-lifecycle-configuration',
      '--bucket',
      'tiers',
      '--lifecycle-configuration',
      `file://${path}`,
    );
    const classes = () => versions().map((v) => v.StorageClass);
    await until(
      'the two oldest versions are GLACIER',
      async () => (classes()[2] === 'GLACIER' && classes()[3] === 'GLACIER' ? true : undefined),
      { limitMs: LIMIT_MS },
    );
    assert.equal(classes()[1], 'STANDARD', 'the newest noncurrent version is kept as it is');
    await until(
      'the current version is STANDARD_IA',
      async () => (classes()[0] === 'STANDARD_IA' ? true : undefined),
      { limitMs: LIMIT_MS },
    );
    assert.deepEqual(classes(), ['STANDARD_IA', 'STANDARD', 'GLACIER', 'GLACIER']);
    assert.deepEqual(
      versions().map((v) => v.VersionId),
      ids,
      'no version made or lost',
    );
    // Only the two GLACIER versions were written again: every new stripe is 8+3.
    const added = [...shardsByStripe(server.dataDir, DISKS)].filter(([id]) => !known.has(id));
    assert.ok(added.length >= 2, 'the GLACIER versions have stripes of their own');
    for (const [id, files] of added)
      assert.equal(files.filter((f) => f !== undefined).length, 11, `${id} is 8+3`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'tiers', Key: 'doc' }));
    assert.equal(got.StorageClass, 'STANDARD_IA');
    assert.equal(md5Hex(await bodyBytes(got.Body)), md5Hex(bodies[3]), 'the same bytes');
  });
});
