// Bucket replication across a metadata leader's crash: a 3-member metadata cluster (`strata dev
// cluster`) replicating to a second Strata server. With the destination down, versions are
// queued; the leader is killed with SIGKILL; a new leader's runner sends every one of them once
// the destination is back (the queue is replicated state, not the old leader's memory).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketReplicationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { type Dev, devS3, startDev, untilReady } from '../helpers/dev-cluster.ts';
import { freePort, raftStatusOf } from '../helpers/metadata-cluster.ts';
import { bodyBytes, s3Client } from '../helpers/s3.ts';
import { configWriter, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const DEST_KEY = { id: 'replica-writer', secret: 'replica-writer-secret-0123456789' };
const ARRIVAL_LIMIT_MS = 90_000;

describe('bucket replication with a 3-member metadata cluster', () => {
  const destDir = tempDir('strata-replication-dest-');
  const config = configWriter(tempDir('strata-replication-'));
  let destPort: number;
  let dest: StrataProcess | undefined;
  let dev: Dev;
  let src: S3Client;
  let members: Array<{ addr: string; pid: number }>;

  const startDest = async () => {
    dest = await startStrata({
      dataDir: destDir,
      args: ['--s3-addr', `127.0.0.1:${destPort}`],
      env: config('dest', [
        '[s3.auth]',
        `credentials = [{ access_key_id = "${DEST_KEY.id}", secret_key = "${DEST_KEY.secret}", admin = true }]`,
      ]),
    });
  };

  before(async () => {
    destPort = await freePort();
    await startDest();
    // Every process of the dev cluster inherits the target, as every node of a cluster has it.
    process.env.STRATA_REPLICATION_TARGETS =
      `[{ name = "second", endpoint = "http://127.0.0.1:${destPort}", region = "us-east-1", ` +
      `access_key_id = "${DEST_KEY.id}", secret_key = "${DEST_KEY.secret}", buckets = ["copies"] }]`;
    dev = startDev(tempDir('strata-dev-'), ['--metadata', '3', '--data', '6']);
    delete process.env.STRATA_REPLICATION_TARGETS;
    const output = await untilReady(dev);
    members = [...output.matchAll(/^ +\S+ +metadata +(\S+) +pid (\d+)/gm)].map((m) => ({
      addr: m[1],
      pid: Number(m[2]),
    }));
    assert.equal(members.length, 3, output);
    src = devS3(output);
  });

  after(async () => {
    if (dev?.child.exitCode === null) {
      dev.child.kill('SIGINT');
      await dev.exited;
    }
    await dest?.stop();
  });

  test('a backlog queued before the leader is killed all arrives through the new leader', async () => {
    const dst = s3Client(dest as StrataProcess, DEST_KEY.secret);
    await dst.send(new CreateBucketCommand({ Bucket: 'copies' }));
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
              ID: 'all',
              Priority: 1,
              Status: 'Enabled',
              Filter: { Prefix: '' },
              DeleteMarkerReplication: { Status: 'Disabled' },
              Destination: { Bucket: 'arn:aws:s3:::copies' },
            },
          ],
        },
      }),
    );
    await dest?.stop();
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    for (const Key of keys)
      await src.send(new PutObjectCommand({ Bucket: 'orig', Key, Body: `kept ${Key}` }));
    const status = async (Key: string) =>
      (await src.send(new HeadObjectCommand({ Bucket: 'orig', Key }))).ReplicationStatus;
    for (const Key of keys) assert.equal(await status(Key), 'PENDING', Key);

    const leader = await until(
      'a metadata leader',
      async () => {
        for (const member of members)
          if ((await raftStatusOf(member.addr))?.role === 'leader') return member;
        return undefined;
      },
      { limitMs: 20_000 },
    );
    process.kill(leader.pid, 'SIGKILL');
    await until(
      'another metadata leader',
      async () => {
        for (const member of members.filter((m) => m !== leader))
          if ((await raftStatusOf(member.addr))?.role === 'leader') return true;
        return undefined;
      },
      { limitMs: 30_000 },
    );
    await startDest();
    const replica = s3Client(dest as StrataProcess, DEST_KEY.secret);
    for (const Key of keys) {
      await until(
        `${Key} COMPLETED`,
        async () => ((await status(Key)) === 'COMPLETED' ? true : undefined),
        { limitMs: ARRIVAL_LIMIT_MS },
      );
      const got = await replica.send(new GetObjectCommand({ Bucket: 'copies', Key }));
      assert.equal((await bodyBytes(got.Body)).toString(), `kept ${Key}`);
    }
  });
});
