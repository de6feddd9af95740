// S3 Object Lock through @aws-sdk/client-s3 against a real server with an administrator and two
// ordinary users: a bucket made with Object Lock, or given it later once versioned; COMPLIANCE
// retention that nobody (the administrator included) shortens or deletes early; GOVERNANCE lifted
// only with the bypass header AND s3:BypassGovernanceRetention; legal hold; default retention.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { bodyBytes, rejectsWith, userClient } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const USERS = {
  root: { key: 'root-key', secret: 'root-secret-1', admin: true },
  alice: { key: 'alice-key', secret: 'alice-secret-1', admin: false },
  bob: { key: 'bob-key', secret: 'bob-secret-12', admin: false },
};
const DAY_MS = 86_400_000;

const clientFor = (server: StrataProcess, user: keyof typeof USERS) =>
  userClient(server, USERS[user]);

describe('S3 Object Lock (SDK)', () => {
  let server: StrataProcess;
  let alice: S3Client;
  let bob: S3Client;
  let root: S3Client;
  const inADay = () => new Date(Date.now() + DAY_MS);

  before(async () => {
    const dir = tempDir('strata-lock-');
    const config = join(dir, 'strata.toml');
    const lines = Object.entries(USERS).map(
      ([user, u]) =>
        `  { access_key_id = "${u.key}", secret_key = "${u.secret}", user_id = "${user}", admin = ${u.admin} },`,
    );
    writeFileSync(config, `[s3.auth]\ncredentials = [\n${lines.join('\n')}\n]\n`);
    server = await startStrata({ args: ['--config', config] });
    alice = clientFor(server, 'alice');
    bob = clientFor(server, 'bob');
    root = clientFor(server, 'root');
    await alice.send(new CreateBucketCommand({ Bucket: 'worm', ObjectLockEnabledForBucket: true }));
  });
  after(async () => {
    for (const client of [alice, bob, root]) client?.destroy();
    await server?.stop();
  });

  const putLocked = async (Key: string, mode?: 'GOVERNANCE' | 'COMPLIANCE') => {
    const lock =
      mode === undefined ? {} : { ObjectLockMode: mode, ObjectLockRetainUntilDate: inADay() };
    const put = await alice.send(new PutObjectCommand({ Bucket: 'worm', Key, Body: Key, ...lock }));
    assert.ok(put.VersionId, 'a versioned put');
    return put.VersionId as string;
  };

  test('a bucket made with Object Lock has versioning Enabled, for good', async () => {
    const versioning = await alice.send(new GetBucketVersioningCommand({ Bucket: 'worm' }));
    assert.equal(versioning.Status, 'Enabled');
    const config = await alice.send(new GetObjectLockConfigurationCommand({ Bucket: 'worm' }));
    assert.equal(config.ObjectLockConfiguration?.ObjectLockEnabled, 'Enabled');
    await rejectsWith(
      alice.send(
        new PutBucketVersioningCommand({
          Bucket: 'worm',
          VersioningConfiguration: { Status: 'Suspended' },
        }),
      ),
      'InvalidBucketState',
      'versioning suspended under Object Lock',
    );
  });

  test('COMPLIANCE: the administrator can neither delete the version nor shorten it', async () => {
    const versionId = await putLocked('compliance.txt', 'COMPLIANCE');
    const target = { Bucket: 'worm', Key: 'compliance.txt', VersionId: versionId };
    await rejectsWith(
      root.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true })),
      'AccessDenied',
      'the admin deleted a COMPLIANCE-locked version',
    );
    const batch = await root.send(
      new DeleteObjectsCommand({
        Bucket: 'worm',
        BypassGovernanceRetention: true,
        Delete: { Objects: [{ Key: 'compliance.txt', VersionId: versionId }] },
      }),
    );
    assert.equal(batch.Errors?.[0]?.Code, 'AccessDenied');
    await rejectsWith(
      root.send(
        new PutObjectRetentionCommand({
          ...target,
          BypassGovernanceRetention: true,
          Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 60_000) },
        }),
      ),
      'AccessDenied',
      'a COMPLIANCE retention was shortened',
    );
    // A delete without a versionId is a delete marker: allowed, and the version stays.
    const marker = await root.send(
      new DeleteObjectCommand({ Bucket: 'worm', Key: 'compliance.txt' }),
    );
    assert.equal(marker.DeleteMarker, true);
    const kept = await root.send(new GetObjectCommand(target));
    assert.equal((await bodyBytes(kept.Body)).toString(), 'compliance.txt');
    assert.equal(kept.ObjectLockMode, 'COMPLIANCE');
    const retention = await root.send(new GetObjectRetentionCommand(target));
    assert.equal(retention.Retention?.Mode, 'COMPLIANCE');
  });

  test('GOVERNANCE: bypassed only with the header and s3:BypassGovernanceRetention', async () => {
    const versionId = await putLocked('governance.txt', 'GOVERNANCE');
    const target = { Bucket: 'worm', Key: 'governance.txt', VersionId: versionId };
    const policy = (actions: string[]) =>
      alice.send(
        new PutBucketPolicyCommand({
          Bucket: 'worm',
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { AWS: 'bob' },
                Action: actions,
                Resource: 'arn:aws:s3:::worm/*',
              },
            ],
          }),
        }),
      );
    await policy(['s3:DeleteObjectVersion']);
    await rejectsWith(
      bob.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true })),
      'AccessDenied',
      'the header alone bypassed GOVERNANCE',
    );
    await policy(['s3:DeleteObjectVersion', 's3:BypassGovernanceRetention']);
    await rejectsWith(
      bob.send(new DeleteObjectCommand(target)),
      'AccessDenied',
      'the permission alone bypassed GOVERNANCE',
    );
    await bob.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true }));
    await rejectsWith(alice.send(new HeadObjectCommand(target)), 'NotFound', 'still there');
  });

  test('a legal hold blocks deletion, bypass or not, until it is removed', async () => {
    const versionId = await putLocked('held.txt');
    const target = { Bucket: 'worm', Key: 'held.txt', VersionId: versionId };
    await alice.send(new PutObjectLegalHoldCommand({ ...target, LegalHold: { Status: 'ON' } }));
    const hold = await alice.send(new GetObjectLegalHoldCommand(target));
    assert.equal(hold.LegalHold?.Status, 'ON');
    await rejectsWith(
      root.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true })),
      'AccessDenied',
      'a held version was deleted',
    );
    await alice.send(new PutObjectLegalHoldCommand({ ...target, LegalHold: { Status: 'OFF' } }));
    await root.send(new DeleteObjectCommand(target));
    await rejectsWith(alice.send(new HeadObjectCommand(target)), 'NotFound', 'still there');
  });

  test('default retention applies to new versions, multipart ones included', async () => {
    await alice.send(
      new PutObjectLockConfigurationCommand({
        Bucket: 'worm',
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 2 } },
        },
      }),
    );
    const config = await alice.send(new GetObjectLockConfigurationCommand({ Bucket: 'worm' }));
    assert.deepEqual(config.ObjectLockConfiguration?.Rule?.DefaultRetention, {
      Mode: 'GOVERNANCE',
      Days: 2,
    });
    const before = Date.now();
    await putLocked('defaulted.txt');
    const head = await alice.send(new HeadObjectCommand({ Bucket: 'worm', Key: 'defaulted.txt' }));
    assert.equal(head.ObjectLockMode, 'GOVERNANCE');
    const until = head.ObjectLockRetainUntilDate?.getTime() ?? 0;
    assert.ok(until >= before + 2 * DAY_MS - 1000, `retained until ${until}, two days on`);
    const upload = await alice.send(
      new CreateMultipartUploadCommand({ Bucket: 'worm', Key: 'multipart.bin' }),
    );
    const part = await alice.send(
      new UploadPartCommand({
        Bucket: 'worm',
        Key: 'multipart.bin',
        UploadId: upload.UploadId,
        PartNumber: 1,
        Body: 'one part',
      }),
    );
    const done = await alice.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'worm',
        Key: 'multipart.bin',
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    await rejectsWith(
      alice.send(
        new DeleteObjectCommand({
          Bucket: 'worm',
          Key: 'multipart.bin',
          VersionId: done.VersionId,
        }),
      ),
      'AccessDenied',
      'the multipart version has no default retention',
    );
    await alice.send(
      new PutObjectLockConfigurationCommand({
        Bucket: 'worm',
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' },
      }),
    );
  });

  test("retention is judged on the leader's clock, not on a proposer's clock ahead of it", async () => {
    const versionId = await putLocked('clock.txt', 'COMPLIANCE');
    const metadata = new MetadataClient([server.metadataAddr]);
    try {
      const command = { op: 'deleteObject' as const, bucket: 'worm', key: 'clock.txt', versionId };
      await assert.rejects(
        metadata.apply({ ...command, nowMs: Date.now() + 30 * DAY_MS }),
        (e) => isStrataError(e, 'OBJECT_LOCKED'),
        'a command stamped a month ahead deleted a version retained for a day',
      );
    } finally {
      await metadata.close();
    }
    await alice.send(
      new HeadObjectCommand({ Bucket: 'worm', Key: 'clock.txt', VersionId: versionId }),
    );
  });

  test('Object Lock later: only on a bucket with versioning Enabled', async () => {
    await alice.send(new CreateBucketCommand({ Bucket: 'later' }));
    await rejectsWith(
      alice.send(new GetObjectLockConfigurationCommand({ Bucket: 'later' })),
      'ObjectLockConfigurationNotFoundError',
      'a bucket without Object Lock',
    );
    const enable = new PutObjectLockConfigurationCommand({
      Bucket: 'later',
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' },
    });
    await rejectsWith(alice.send(enable), 'InvalidBucketState', 'without versioning');
    await rejectsWith(
      alice.send(
        new PutObjectCommand({
          Bucket: 'later',
          Key: 'k',
          Body: 'k',
          ObjectLockLegalHoldStatus: 'ON',
        }),
      ),
      'InvalidRequest',
      'a legal hold in a bucket without Object Lock',
    );
    await alice.send(
      new PutBucketVersioningCommand({
        Bucket: 'later',
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    await alice.send(enable);
    const versionId = (
      await alice.send(
        new PutObjectCommand({
          Bucket: 'later',
          Key: 'k',
          Body: 'k',
          ObjectLockLegalHoldStatus: 'ON',
        }),
      )
    ).VersionId;
    await rejectsWith(
      alice.send(new DeleteObjectCommand({ Bucket: 'later', Key: 'k', VersionId: versionId })),
      'AccessDenied',
      'a held version in a bucket locked later',
    );
  });
});
