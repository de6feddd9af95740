// Bucket replication between two real Strata servers on one machine: the second is the first's
// replication target ([[replication.targets]]). Configuration as AWS validates it, versions
// arriving with their metadata and tags, x-amz-replication-status on the source, a destination
// that is down (PENDING, then everything arrives and turns COMPLETED), and a source killed with
// a backlog (kill -9, restart: nothing lost).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketReplicationCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetBucketReplicationCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketReplicationCommand,
  type PutBucketReplicationCommandInput,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { freePort } from '../helpers/metadata-cluster.ts';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import {
  configWriter,
  runStrata,
  type StrataProcess,
  startStrata,
  tempDir,
} from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const DEST_KEY = { id: 'replica-writer', secret: 'replica-writer-secret-0123456789' };
const ARRIVAL_LIMIT_MS = 60_000;

async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof S3ServiceException, String(error));
    return { name: error.name, status: error.$metadata.httpStatusCode };
  }
  assert.fail('the call succeeded');
}

describe('bucket replication between two servers', () => {
  const dir = tempDir('strata-replication-');
  const config = configWriter(dir);
  const sourceDir = tempDir('strata-replication-source-');
  const destDir = tempDir('strata-replication-dest-');
  let destPort: number;
  let source: StrataProcess;
  let dest: StrataProcess;
  let src: S3Client;
  let dst: S3Client;

  const startDest = async () => {
    dest = await startStrata({
      dataDir: destDir,
      args: ['--s3-addr', `127.0.0.1:${destPort}`],
      env: config('dest', [
        '[s3.auth]',
        `credentials = [{ access_key_id = "${DEST_KEY.id}", secret_key = "${DEST_KEY.secret}", admin = true }]`,
      ]),
    });
    dst = s3Client(dest, DEST_KEY.secret);
  };
  const startSource = async () => {
    source = await startStrata({
      dataDir: sourceDir,
      env: config('source', [
        '[[replication.targets]]',
        'name = "second"',
        `endpoint = "http://127.0.0.1:${destPort}"`,
        'region = "us-east-1"',
        `access_key_id = "${DEST_KEY.id}"`,
        `secret_key = "${DEST_KEY.secret}"`,
        'buckets = ["copies"]',
      ]),
    });
    src = s3Client(source);
  };
  const status = async (Key: string, VersionId?: string) =>
    (await src.send(new HeadObjectCommand({ Bucket: 'orig', Key, VersionId }))).ReplicationStatus;
  const completed = (Key: string, VersionId?: string) =>
    until(
      `${Key} COMPLETED`,
      async () => ((await status(Key, VersionId)) === 'COMPLETED' ? true : undefined),
      { limitMs: ARRIVAL_LIMIT_MS },
    );
  const destText = async (Key: string) =>
    (
      await bodyBytes((await dst.send(new GetObjectCommand({ Bucket: 'copies', Key }))).Body)
    ).toString();

  const replication = (
    rules: NonNullable<PutBucketReplicationCommandInput['ReplicationConfiguration']>['Rules'],
  ) =>
    src.send(
      new PutBucketReplicationCommand({
        Bucket: 'orig',
        ReplicationConfiguration: { Role: 'arn:aws:iam::000000000000:role/none', Rules: rules },
      }),
    );
  const everything = {
    ID: 'all',
    Priority: 1,
    Status: 'Enabled' as const,
    Filter: { Prefix: 'r/' },
    DeleteMarkerReplication: { Status: 'Enabled' as const },
    Destination: { Bucket: 'arn:aws:s3:::copies' },
  };

  before(async () => {
    // Master keys with encryption at rest off: SSE-S3 seals the objects that ask for it.
    for (const dataDir of [sourceDir, destDir])
      writeFileSync(join(dataDir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, {
        mode: 0o600,
      });
    destPort = await freePort();
    await startDest();
    await startSource();
    await dst.send(new CreateBucketCommand({ Bucket: 'copies' }));
    await src.send(new CreateBucketCommand({ Bucket: 'orig' }));
  });

  after(async () => {
    await source?.stop();
    await dest?.stop();
  });

  test('the configuration is validated as AWS does and round-trips', async () => {
    assert.deepEqual(await failure(src.send(new GetBucketReplicationCommand({ Bucket: 'orig' }))), {
      name: 'ReplicationConfigurationNotFoundError',
      status: 404,
    });
    // AWS: versioning must be Enabled on the source first.
    assert.deepEqual(await failure(replication([everything])), {
      name: 'InvalidRequest',
      status: 400,
    });
    await src.send(
      new PutBucketVersioningCommand({
        Bucket: 'orig',
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    const elsewhere = { ...everything, Destination: { Bucket: 'arn:aws:s3:::not-a-target' } };
    assert.equal((await failure(replication([elsewhere]))).name, 'InvalidArgument');
    const { DeleteMarkerReplication: _, ...noMarkers } = everything;
    assert.equal((await failure(replication([noMarkers]))).name, 'InvalidRequest');
    const twin = { ...everything, ID: 'twin' };
    assert.equal((await failure(replication([everything, twin]))).name, 'InvalidArgument');
    const tagged = { ...everything, Filter: { Tag: { Key: 'a', Value: 'b' } } };
    assert.equal((await failure(replication([tagged]))).name, 'InvalidRequest');
    const timed = {
      ...everything,
      Destination: {
        ...everything.Destination,
        ReplicationTime: { Status: 'Enabled' as const, Time: { Minutes: 15 } },
      },
    };
    assert.deepEqual(await failure(replication([timed])), { name: 'NotImplemented', status: 501 });

    await replication([everything]);
    const got = await src.send(new GetBucketReplicationCommand({ Bucket: 'orig' }));
    assert.equal(got.ReplicationConfiguration?.Rules?.length, 1);
    const rule = got.ReplicationConfiguration?.Rules?.[0];
    assert.equal(rule?.ID, 'all');
    assert.equal(rule?.Priority, 1);
    assert.equal(rule?.Filter?.Prefix, 'r/');
    assert.equal(rule?.DeleteMarkerReplication?.Status, 'Enabled');
    assert.equal(rule?.Destination?.Bucket, 'arn:aws:s3:::copies');
    // A bucket with replication keeps versioning Enabled (AWS).
    const suspend = src.send(
      new PutBucketVersioningCommand({
        Bucket: 'orig',
        VersioningConfiguration: { Status: 'Suspended' },
      }),
    );
    assert.deepEqual(await failure(suspend), { name: 'InvalidBucketState', status: 409 });
  });

  test('a put, a copy and a multipart upload arrive with metadata and tags', async () => {
    const put = await src.send(
      new PutObjectCommand({
        Bucket: 'orig',
        Key: 'r/one',
        Body: 'first object',
        ContentType: 'text/x-replicated',
        Metadata: { colour: 'blue' },
        Tagging: 'team=storage&tier=gold',
      }),
    );
    await src.send(new PutObjectCommand({ Bucket: 'orig', Key: 'other/no', Body: 'stays' }));
    await completed('r/one', put.VersionId);
    const head = await dst.send(new HeadObjectCommand({ Bucket: 'copies', Key: 'r/one' }));
    assert.equal(head.ContentType, 'text/x-replicated');
    assert.deepEqual(head.Metadata, { colour: 'blue' });
    const tags = await dst.send(new GetObjectTaggingCommand({ Bucket: 'copies', Key: 'r/one' }));
    assert.deepEqual(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value])), {
      team: 'storage',
      tier: 'gold',
    });
    assert.equal(await destText('r/one'), 'first object');
    // Outside the rule's prefix: no status, never sent.
    assert.equal(await status('other/no'), undefined);
    assert.equal(
      (await failure(dst.send(new HeadObjectCommand({ Bucket: 'copies', Key: 'other/no' }))))
        .status,
      404,
    );

    await src.send(
      new CopyObjectCommand({ Bucket: 'orig', Key: 'r/copied', CopySource: 'orig/r/one' }),
    );
    const body = patternBytes(6 * 1024 * 1024, 7);
    const upload = await src.send(
      new CreateMultipartUploadCommand({ Bucket: 'orig', Key: 'r/big' }),
    );
    const parts = [];
    for (const [i, chunk] of [
      body.subarray(0, 5 * 1024 * 1024),
      body.subarray(5 * 1024 * 1024),
    ].entries()) {
      const part = await src.send(
        new UploadPartCommand({
          Bucket: 'orig',
          Key: 'r/big',
          UploadId: upload.UploadId,
          PartNumber: i + 1,
          Body: chunk,
        }),
      );
      parts.push({ PartNumber: i + 1, ETag: part.ETag });
    }
    await src.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'orig',
        Key: 'r/big',
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    await completed('r/copied');
    await completed('r/big');
    assert.equal(await destText('r/copied'), 'first object');
    const big = await bodyBytes(
      (await dst.send(new GetObjectCommand({ Bucket: 'copies', Key: 'r/big' }))).Body,
    );
    assert.ok(big.equals(body), 'the multipart object arrives byte for byte');
  });

  test('an SSE-S3 object stays encrypted at the destination', async () => {
    const put = await src.send(
      new PutObjectCommand({
        Bucket: 'orig',
        Key: 'r/sealed',
        Body: 'secret replicated',
        ServerSideEncryption: 'AES256',
      }),
    );
    await completed('r/sealed', put.VersionId);
    const head = await dst.send(new HeadObjectCommand({ Bucket: 'copies', Key: 'r/sealed' }));
    assert.equal(head.ServerSideEncryption, 'AES256', 'the replica is sealed, not plaintext');
    assert.equal(await destText('r/sealed'), 'secret replicated');
  });

  test('a delete marker is replicated when DeleteMarkerReplication is Enabled', async () => {
    await src.send(new PutObjectCommand({ Bucket: 'orig', Key: 'r/doomed', Body: 'x' }));
    await completed('r/doomed');
    await src.send(new DeleteObjectCommand({ Bucket: 'orig', Key: 'r/doomed' }));
    await until(
      'the delete reaches the destination',
      async () => {
        const gone = await failure(
          dst.send(new HeadObjectCommand({ Bucket: 'copies', Key: 'r/doomed' })),
        );
        return gone.status === 404 ? true : undefined;
      },
      { limitMs: ARRIVAL_LIMIT_MS },
    );
  });

  // This destination is not marked strata: its version ids are its own, so a metadata change
  // reaches it only through its current version (docs/guides/replication.md).
  test('a tag change goes to the current version; a noncurrent one is refused, FAILED', async () => {
    const Key = 'r/retagged';
    const first = await src.send(new PutObjectCommand({ Bucket: 'orig', Key, Body: 'one' }));
    await src.send(new PutObjectCommand({ Bucket: 'orig', Key, Body: 'two', Tagging: 'a=1' }));
    await completed(Key);
    await completed(Key, first.VersionId);
    const destTags = async () =>
      Object.fromEntries(
        ((await dst.send(new GetObjectTaggingCommand({ Bucket: 'copies', Key }))).TagSet ?? []).map(
          (t) => [t.Key, t.Value],
        ),
      );
    assert.deepEqual(await destTags(), { a: '1' });
    const retag = (tags: Record<string, string>, VersionId?: string) =>
      src.send(
        new PutObjectTaggingCommand({
          Bucket: 'orig',
          Key,
          VersionId,
          Tagging: { TagSet: Object.entries(tags).map(([K, V]) => ({ Key: K, Value: V })) },
        }),
      );
    await retag({ a: '2', b: 'new' });
    await until(
      'the current version has the new tags at the destination',
      async () => ((await destTags()).b === 'new' ? true : undefined),
      { limitMs: ARRIVAL_LIMIT_MS },
    );
    assert.deepEqual(await destTags(), { a: '2', b: 'new' });
    await completed(Key);
    await src.send(new DeleteObjectTaggingCommand({ Bucket: 'orig', Key }));
    await until(
      'the tags are removed at the destination',
      async () => (Object.keys(await destTags()).length === 0 ? true : undefined),
      { limitMs: ARRIVAL_LIMIT_MS },
    );
    // The first version is noncurrent: its replica cannot be named there.
    await retag({ old: 'x' }, first.VersionId);
    await until(
      'the noncurrent change is refused: FAILED',
      async () => ((await status(Key, first.VersionId)) === 'FAILED' ? true : undefined),
      { limitMs: ARRIVAL_LIMIT_MS },
    );
    assert.deepEqual(await destTags(), {}, 'the current replica is untouched');
    await completed(Key);
  });

  test('with the destination down, 20 writes stay PENDING, then all arrive and complete', async () => {
    await dest.stop();
    const keys = Array.from({ length: 20 }, (_, i) => `r/down/${i}`);
    for (const Key of keys)
      await src.send(new PutObjectCommand({ Bucket: 'orig', Key, Body: `body of ${Key}` }));
    for (const Key of keys) assert.equal(await status(Key), 'PENDING', Key);
    const cli = await runStrata(['cluster', 'status', '--metadata-addr', source.metadataAddr]);
    assert.match(cli.stdout.toString(), /^replication: 20 version\(s\) queued/m);
    await startDest();
    for (const Key of keys) await completed(Key);
    for (const Key of keys) assert.equal(await destText(Key), `body of ${Key}`);
    const after = await runStrata(['cluster', 'status', '--metadata-addr', source.metadataAddr]);
    assert.match(after.stdout.toString(), /^replication: nothing queued$/m);
    // The leader's metrics: failures while it was down, bytes sent, and the backlog drained.
    const metric = (text: string, name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    const text = await until(
      'strata_replication_pending 0 and lag 0',
      async () => {
        const page = await (await fetch(source.metricsUrl)).text();
        const drained =
          metric(page, 'strata_replication_pending') === 0 &&
          metric(page, 'strata_replication_lag_seconds') === 0;
        return drained ? page : undefined;
      },
      { limitMs: ARRIVAL_LIMIT_MS },
    );
    assert.ok(metric(text, 'strata_replication_failures_total') >= keys.length, text);
    assert.ok(metric(text, 'strata_replication_bytes_total') > 0, text);
  });

  test('a source killed with a backlog loses nothing after its restart', async () => {
    await dest.stop();
    const keys = Array.from({ length: 10 }, (_, i) => `r/crash/${i}`);
    for (const Key of keys)
      await src.send(new PutObjectCommand({ Bucket: 'orig', Key, Body: `survivor ${Key}` }));
    for (const Key of keys) assert.equal(await status(Key), 'PENDING', Key);
    await source.kill();
    await startSource();
    await startDest();
    for (const Key of keys) await completed(Key);
    for (const Key of keys) assert.equal(await destText(Key), `survivor ${Key}`);
  });

  test('DeleteBucketReplication removes the configuration; later writes are not sent', async () => {
    await src.send(new DeleteBucketReplicationCommand({ Bucket: 'orig' }));
    assert.equal(
      (await failure(src.send(new GetBucketReplicationCommand({ Bucket: 'orig' })))).status,
      404,
    );
    await src.send(new PutObjectCommand({ Bucket: 'orig', Key: 'r/after', Body: 'local' }));
    assert.equal(await status('r/after'), undefined);
  });
});
