// Bucket replication of versions between two real Strata servers on one machine (issue 16): the
// destination is a Strata cluster (`strata = true` in [[replication.targets]]), so each version
// arrives with its source's id, in the order the key's versions were made, marked REPLICA, with
// its metadata, tags, retention and legal hold. A delete marker replicates only under a rule with
// DeleteMarkerReplication Enabled, a DELETE of a version by id never does (AWS's rules), and a
// destination that was down receives every version once it is back. The replication user is not
// an administrator: a bucket policy grants it s3:ReplicateObject and s3:ReplicateDelete, without
// which the header is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketPolicyCommand,
  PutBucketReplicationCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { freePort } from '../helpers/metadata-cluster.ts';
import { bodyBytes, s3Client, userClient } from '../helpers/s3.ts';
import { configWriter, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { sendSigned } from '../helpers/signed-http.ts';
import { until } from '../helpers/wait.ts';

const ADMIN = { key: 'dest-admin', secret: 'dest-admin-secret-0123456789abcdef' };
const REPLICATOR = { key: 'replicator', secret: 'replicator-secret-0123456789abcdef' };
const ARRIVAL_LIMIT_MS = 60_000;
const RETAIN_UNTIL = new Date('2100-01-01T00:00:00.000Z');

// What the destination must show of each version, in its listing order (newest first).
interface Expected {
  id: string;
  deleteMarker: boolean;
}

describe('bucket replication of versions to another Strata cluster', () => {
  const config = configWriter(tempDir('strata-replication-versions-'));
  const destDir = tempDir('strata-replication-versions-dest-');
  let destPort: number;
  let source: StrataProcess;
  let dest: StrataProcess;
  let src: S3Client;
  let dst: S3Client; // the destination's administrator, for the checks

  const startDest = async () => {
    dest = await startStrata({
      dataDir: destDir,
      args: ['--s3-addr', `127.0.0.1:${destPort}`],
      env: config('dest', [
        '[s3.auth]',
        'credentials = [',
        `  { access_key_id = "${ADMIN.key}", secret_key = "${ADMIN.secret}", admin = true },`,
        `  { access_key_id = "${REPLICATOR.key}", secret_key = "${REPLICATOR.secret}", user_id = "replicator" },`,
        ']',
      ]),
    });
    dst?.destroy();
    dst = userClient(dest, ADMIN);
  };

  const put = async (Key: string, extra: Partial<PutObjectCommandInput> = {}) => {
    const out = await src.send(
      new PutObjectCommand({ Bucket: 'orig', Key, Body: `${Key} ${Date.now()}`, ...extra }),
    );
    assert.ok(out.VersionId, `${Key}: a version id`);
    return out.VersionId;
  };
  const deleteMarker = async (Key: string) => {
    const out = await src.send(new DeleteObjectCommand({ Bucket: 'orig', Key }));
    assert.equal(out.DeleteMarker, true);
    return out.VersionId as string;
  };
  const sourceStatus = async (Key: string, VersionId: string) =>
    (await src.send(new HeadObjectCommand({ Bucket: 'orig', Key, VersionId }))).ReplicationStatus;
  const completed = (Key: string, VersionId: string) =>
    until(
      `${Key}@${VersionId} COMPLETED`,
      async () => ((await sourceStatus(Key, VersionId)) === 'COMPLETED' ? true : undefined),
      { limitMs: ARRIVAL_LIMIT_MS },
    );
  // The destination's versions of one key, in listing order, as "id" or "id!" (delete marker).
  const destVersions = async (Key: string) => {
    const out = await dst.send(new ListObjectVersionsCommand({ Bucket: 'copies', Prefix: Key }));
    const all = [
      ...(out.Versions ?? []).map((v) => ({ ...v, deleteMarker: false })),
      ...(out.DeleteMarkers ?? []).map((m) => ({ ...m, deleteMarker: true })),
    ].filter((v) => v.Key === Key);
    // Version ids sort newest first within a key (docs/api/s3.md, "Version ids").
    all.sort((a, b) => String(a.VersionId).localeCompare(String(b.VersionId)));
    assert.deepEqual(
      all.map((v) => v.IsLatest),
      all.map((_, i) => i === 0),
      `${Key}: the newest is the latest`,
    );
    return all.map((v) => `${v.VersionId}${v.deleteMarker ? '!' : ''}`);
  };
  const shown = (versions: Expected[]) =>
    versions.map((v) => `${v.id}${v.deleteMarker ? '!' : ''}`);
  const arrived = (Key: string, expected: Expected[]) =>
    until(
      `${Key}: ${expected.length} versions at the destination`,
      async () => {
        const got = await destVersions(Key);
        return got.length >= expected.length ? got : undefined;
      },
      { limitMs: ARRIVAL_LIMIT_MS },
    );

  // A version's tags, retention and legal hold at the destination, as one comparable value.
  const destMetadata = async (Key: string, VersionId: string) => {
    const at = { Bucket: 'copies', Key, VersionId };
    const tagging = await dst.send(new GetObjectTaggingCommand(at));
    const head = await dst.send(new HeadObjectCommand(at));
    return {
      tags: Object.fromEntries((tagging.TagSet ?? []).map((t) => [t.Key, t.Value])),
      retention: head.ObjectLockMode
        ? `${head.ObjectLockMode} ${head.ObjectLockRetainUntilDate?.toISOString()}`
        : 'none',
      legalHold: head.ObjectLockLegalHoldStatus ?? 'OFF',
    };
  };
  const metadataArrived = (Key: string, VersionId: string, expected: object) =>
    until(
      `${Key}@${VersionId}: ${JSON.stringify(expected)} at the destination`,
      async () => {
        const got = await destMetadata(Key, VersionId);
        return JSON.stringify(got) === JSON.stringify(expected) ? got : undefined;
      },
      { limitMs: ARRIVAL_LIMIT_MS },
    );
  const tagSet = (tags: Record<string, string>) =>
    Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

  before(async () => {
    destPort = await freePort();
    await startDest();
    source = await startStrata({
      env: config('source', [
        '[[replication.targets]]',
        'name = "second"',
        `endpoint = "http://127.0.0.1:${destPort}"`,
        'region = "us-east-1"',
        `access_key_id = "${REPLICATOR.key}"`,
        `secret_key = "${REPLICATOR.secret}"`,
        'buckets = ["copies"]',
        'strata = true',
      ]),
    });
    src = s3Client(source);
    // Object Lock on both sides (it turns versioning on): retention and legal hold replicate.
    await dst.send(new CreateBucketCommand({ Bucket: 'copies', ObjectLockEnabledForBucket: true }));
    const replicatorMay = [
      's3:PutObject',
      's3:PutObjectTagging',
      's3:PutObjectRetention',
      's3:PutObjectLegalHold',
      // Metadata changes of a version after it was sent name the replica's version id.
      's3:PutObjectVersionTagging',
      's3:DeleteObjectVersionTagging',
      's3:BypassGovernanceRetention',
      's3:DeleteObject',
      's3:ReplicateObject',
      's3:ReplicateDelete',
    ];
    const Policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: 'replicator' },
          Action: replicatorMay,
          Resource: 'arn:aws:s3:::copies/*',
        },
      ],
    });
    await dst.send(new PutBucketPolicyCommand({ Bucket: 'copies', Policy }));
    // Versions made at the destination itself: its own ids cannot match the source's by chance.
    for (let i = 0; i < 5; i++)
      await dst.send(new PutObjectCommand({ Bucket: 'copies', Key: 'local', Body: `${i}` }));
    await src.send(new CreateBucketCommand({ Bucket: 'orig', ObjectLockEnabledForBucket: true }));
    const rule = (ID: string, Priority: number, Prefix: string, markers: boolean) => ({
      ID,
      Priority,
      Status: 'Enabled' as const,
      Filter: { Prefix },
      DeleteMarkerReplication: { Status: markers ? ('Enabled' as const) : ('Disabled' as const) },
      Destination: { Bucket: 'arn:aws:s3:::copies' },
    });
    await src.send(
      new PutBucketReplicationCommand({
        Bucket: 'orig',
        ReplicationConfiguration: {
          Role: 'arn:aws:iam::000000000000:role/none',
          Rules: [rule('markers', 2, 'm/', true), rule('no-markers', 1, 'n/', false)],
        },
      }),
    );
  });

  after(async () => {
    src?.destroy();
    dst?.destroy();
    await source?.stop();
    await dest?.stop();
  });

  test('the replica header needs s3:ReplicateObject: a writer without it is refused', async () => {
    // A bucket where the replication user is granted s3:PutObject only.
    await dst.send(new CreateBucketCommand({ Bucket: 'plain' }));
    const Policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: 'replicator' },
          Action: ['s3:PutObject'],
          Resource: 'arn:aws:s3:::plain/*',
        },
      ],
    });
    await dst.send(new PutBucketPolicyCommand({ Bucket: 'plain', Policy }));
    const replicator = { ...dest, accessKey: REPLICATOR.key, secretKey: REPLICATOR.secret };
    const plainPut = await sendSigned(replicator, { method: 'PUT', target: '/plain/k', body: 'a' });
    assert.equal(plainPut.status, 200, 'an ordinary PUT is allowed');
    const replicaPut = await sendSigned(replicator, {
      method: 'PUT',
      target: '/plain/k',
      body: 'a',
      headers: { 'x-strata-replica-version-id': '1fffffffff0000' },
    });
    assert.equal(replicaPut.status, 403, 'a replica without s3:ReplicateObject');
    assert.equal(replicaPut.code, 'AccessDenied');
  });

  test('versions keep their ids and order, REPLICA, tags, retention, legal hold; markers per rule', async () => {
    const key = 'm/doc';
    const v1 = await put(key, {
      ContentType: 'text/x-first',
      Metadata: { colour: 'blue' },
      Tagging: 'team=storage&tier=gold',
    });
    const v2 = await put(key, {
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: RETAIN_UNTIL,
    });
    const v3 = await put(key, { ObjectLockLegalHoldStatus: 'ON' });
    const marker = await deleteMarker(key);
    const expected: Expected[] = [
      { id: marker, deleteMarker: true },
      { id: v3, deleteMarker: false },
      { id: v2, deleteMarker: false },
      { id: v1, deleteMarker: false },
    ];
    for (const id of [v1, v2, v3]) await completed(key, id);
    assert.deepEqual(await arrived(key, expected), shown(expected), 'same ids, same order');

    const head = (VersionId: string) =>
      dst.send(new HeadObjectCommand({ Bucket: 'copies', Key: key, VersionId }));
    const first = await head(v1);
    assert.equal(first.ReplicationStatus, 'REPLICA');
    assert.equal(first.VersionId, v1);
    assert.equal(first.ContentType, 'text/x-first');
    assert.deepEqual(first.Metadata, { colour: 'blue' });
    const tags = await dst.send(
      new GetObjectTaggingCommand({ Bucket: 'copies', Key: key, VersionId: v1 }),
    );
    assert.deepEqual(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value])), {
      team: 'storage',
      tier: 'gold',
    });
    const second = await head(v2);
    assert.equal(second.ReplicationStatus, 'REPLICA');
    assert.equal(second.ObjectLockMode, 'GOVERNANCE');
    assert.equal(second.ObjectLockRetainUntilDate?.toISOString(), RETAIN_UNTIL.toISOString());
    const third = await dst.send(
      new GetObjectCommand({ Bucket: 'copies', Key: key, VersionId: v3 }),
    );
    assert.equal(third.ReplicationStatus, 'REPLICA', 'on GET too');
    assert.equal(third.ObjectLockLegalHoldStatus, 'ON');
    const body = (await bodyBytes(third.Body)).toString();
    const original = await src.send(
      new GetObjectCommand({ Bucket: 'orig', Key: key, VersionId: v3 }),
    );
    assert.equal(body, (await bodyBytes(original.Body)).toString(), 'the same bytes');
    assert.equal(await sourceStatus(key, v1), 'COMPLETED');

    // A DELETE of a version by id is not replicated: a later version of the same key arrives
    // after it (one key's versions go in order), and v1 is still at the destination.
    await src.send(new DeleteObjectCommand({ Bucket: 'orig', Key: key, VersionId: v1 }));
    const v4 = await put(key);
    await completed(key, v4);
    const withV4 = [{ id: v4, deleteMarker: false }, ...expected];
    assert.deepEqual(await destVersions(key), shown(withV4), 'v1 stays at the destination');

    // Under a rule with DeleteMarkerReplication Disabled the marker stays at the source.
    const other = 'n/doc';
    const w1 = await put(other);
    const unsent = await deleteMarker(other);
    const w2 = await put(other);
    await completed(other, w2);
    const got = await destVersions(other);
    assert.deepEqual(got, [w2, w1], 'no delete marker at the destination');
    assert.ok(!got.includes(`${unsent}!`));
  });

  test('with the destination down, versions stay PENDING, then all arrive in order', async () => {
    await dest.stop();
    const key = 'm/down';
    const expected: Expected[] = [];
    for (let i = 0; i < 3; i++) expected.unshift({ id: await put(key), deleteMarker: false });
    expected.unshift({ id: await deleteMarker(key), deleteMarker: true });
    for (const v of expected.filter((e) => !e.deleteMarker))
      assert.equal(await sourceStatus(key, v.id), 'PENDING', v.id);
    await startDest();
    for (const v of expected.filter((e) => !e.deleteMarker)) await completed(key, v.id);
    assert.deepEqual(await arrived(key, expected), shown(expected));
    const latest = await dst.send(new ListObjectVersionsCommand({ Bucket: 'copies', Prefix: key }));
    assert.equal(latest.DeleteMarkers?.[0]?.IsLatest, true, 'the key reads as deleted there too');
  });

  test('later changes of tags, retention and legal hold reach the replica of the same version', async () => {
    const key = 'm/meta';
    const v1 = await put(key, { Tagging: 'a=1' });
    const v2 = await put(key);
    await completed(key, v1);
    await completed(key, v2);
    assert.deepEqual(await destMetadata(key, v1), {
      tags: { a: '1' },
      retention: 'none',
      legalHold: 'OFF',
    });

    // v1 is noncurrent: its replica is named by the id it kept.
    await src.send(
      new PutObjectTaggingCommand({
        Bucket: 'orig',
        Key: key,
        VersionId: v1,
        Tagging: { TagSet: tagSet({ a: '2', b: 'x' }) },
      }),
    );
    await src.send(
      new PutObjectLegalHoldCommand({
        Bucket: 'orig',
        Key: key,
        VersionId: v1,
        LegalHold: { Status: 'ON' },
      }),
    );
    await src.send(
      new PutObjectRetentionCommand({
        Bucket: 'orig',
        Key: key,
        VersionId: v2,
        Retention: { Mode: 'GOVERNANCE', RetainUntilDate: RETAIN_UNTIL },
      }),
    );
    const retained = `GOVERNANCE ${RETAIN_UNTIL.toISOString()}`;
    await metadataArrived(key, v1, {
      tags: { a: '2', b: 'x' },
      retention: 'none',
      legalHold: 'ON',
    });
    await metadataArrived(key, v2, { tags: {}, retention: retained, legalHold: 'OFF' });
    await completed(key, v1);

    // Removals: the tags (DeleteObjectTagging), the legal hold, and a GOVERNANCE retention lifted
    // with the bypass (the destination is asked to bypass too).
    await src.send(new DeleteObjectTaggingCommand({ Bucket: 'orig', Key: key, VersionId: v1 }));
    await src.send(
      new PutObjectLegalHoldCommand({
        Bucket: 'orig',
        Key: key,
        VersionId: v1,
        LegalHold: { Status: 'OFF' },
      }),
    );
    await src.send(
      new PutObjectRetentionCommand({
        Bucket: 'orig',
        Key: key,
        VersionId: v2,
        Retention: {},
        BypassGovernanceRetention: true,
      }),
    );
    await metadataArrived(key, v1, { tags: {}, retention: 'none', legalHold: 'OFF' });
    await metadataArrived(key, v2, { tags: {}, retention: 'none', legalHold: 'OFF' });
    await completed(key, v2);
    const retention = await dst
      .send(new GetObjectRetentionCommand({ Bucket: 'copies', Key: key, VersionId: v2 }))
      .catch((error: { name?: string }) => error.name);
    assert.equal(retention, 'NoSuchObjectLockConfiguration', 'the replica has no retention left');
    assert.deepEqual(await destVersions(key), [v2, v1], 'no version was added by the changes');
  });

  test('a metadata change made while the destination is down arrives once it is back', async () => {
    const key = 'm/meta-down';
    const v1 = await put(key);
    await completed(key, v1);
    await dest.stop();
    await src.send(
      new PutObjectTaggingCommand({
        Bucket: 'orig',
        Key: key,
        Tagging: { TagSet: tagSet({ state: 'changed-while-down' }) },
      }),
    );
    await src.send(
      new PutObjectLegalHoldCommand({ Bucket: 'orig', Key: key, LegalHold: { Status: 'ON' } }),
    );
    assert.equal(await sourceStatus(key, v1), 'PENDING', 'the change waits for the destination');
    await startDest();
    await completed(key, v1);
    assert.deepEqual(await destMetadata(key, v1), {
      tags: { state: 'changed-while-down' },
      retention: 'none',
      legalHold: 'ON',
    });
    const hold = await dst.send(
      new GetObjectLegalHoldCommand({ Bucket: 'copies', Key: key, VersionId: v1 }),
    );
    assert.equal(hold.LegalHold?.Status, 'ON');
  });
});
