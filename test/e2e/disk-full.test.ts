// A full metadata disk puts the node into the NOSPACE alarm instead of crashing it: S3 writes get
// 507 InsufficientStorage, reads go on, the metric and `strata cluster status` show the alarm, and
// it clears by itself once space is free. The metadata lives on a small tmpfs (root only) that a
// filler file fills up; the data disks live elsewhere, so only the metadata disk is full.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { fillDisk } from '../helpers/disk.ts';
import { canMount, type StrataMount, sh, startMount } from '../helpers/mount.ts';
import { bodyBytes, s3Client } from '../helpers/s3.ts';
import { runStrata, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const isRoot = process.getuid?.() === 0;
// Above the default reserve (metadata.min_free_bytes, 64 MiB), so that the alarm clears once the
// filler is gone. The tmpfs takes memory only as the filler writes it.
const TMPFS_SIZE = '80m';
const WAIT_MS = 15_000;

let root = '';
let metadataDisk = '';
let filler = '';
let server: StrataProcess | undefined;
let s3: S3Client;
let mount: StrataMount | undefined;

async function alarmMetric(): Promise<number> {
  const running = server as StrataProcess;
  // A refused or reset connection is most likely the node gone: say so, with what it printed.
  const text = await fetch(running.metricsUrl)
    .then((response) => response.text())
    .catch(async (error: Error) => {
      await new Promise((r) => setTimeout(r, 500));
      throw new Error(
        `metrics fetch failed (${error.cause ?? error.message}); server exit code ` +
          `${running.process.exitCode}, signal ${running.process.signalCode}:\n${running.output()}`,
        { cause: error },
      );
    });
  const match = /^strata_metadata_nospace_alarm (\d+)$/m.exec(text);
  return match ? Number(match[1]) : Number.NaN; // NaN: no such metric
}

function assertAlive(): void {
  const running = server as StrataProcess;
  assert.equal(running.process.exitCode, null, `the server is alive:\n${running.output()}`);
}

async function waitUntil(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    assertAlive();
    if (await condition()) return;
    assert.ok(Date.now() < deadline, `${what} within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const put = (key: string) =>
  s3.send(new PutObjectCommand({ Bucket: 'full', Key: key, Body: `body of ${key}` }));

before(async () => {
  if (!isRoot) return;
  root = tempDir('strata-diskfull-');
  metadataDisk = join(root, 'meta');
  mkdirSync(metadataDisk);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', metadataDisk]);
  filler = join(metadataDisk, 'filler');
  const disks = Array.from({ length: 6 }, (_, i) => join(root, 'disks', `d${i}`));
  server = await startStrata({
    dataDir: metadataDisk,
    args: ['--disks', disks.join(',')],
  });
  s3 = s3Client(server);
  await s3.send(new CreateBucketCommand({ Bucket: 'full' }));
  await put('before');
  if (canMount) mount = await startMount(server.metadataAddr);
});

after(async () => {
  if (!isRoot) return;
  s3?.destroy();
  await mount?.stop();
  await server?.stop();
  execFileSync('umount', [metadataDisk]);
  rmSync(root, { recursive: true, force: true });
});

test('a full metadata disk raises the NOSPACE alarm: writes 507, reads served, node alive', {
  skip: isRoot ? false : 'needs root to mount a small tmpfs as the metadata disk',
}, async () => {
  const running = server as StrataProcess;
  fillDisk(filler);
  await waitUntil('the alarm is raised', async () => (await alarmMetric()) === 1);

  await assert.rejects(
    put('during'),
    (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(error.name, 'InsufficientStorage', `S3 error code (${error.message})`);
      assert.equal(error.$metadata?.httpStatusCode, 507);
      return true;
    },
  );
  const reply = await s3.send(new GetObjectCommand({ Bucket: 'full', Key: 'before' }));
  assert.equal((await bodyBytes(reply.Body)).toString(), 'body of before', 'reads go on');
  if (mount) {
    const dir = join(mount.mountPoint, 'full');
    const mkdir = sh(`mkdir ${dir}/newdir`);
    assert.notEqual(mkdir.status, 0, 'mkdir on the mount fails');
    assert.match(mkdir.stderr, /No space left on device/, 'with ENOSPC');
    assert.equal(sh(`cat ${dir}/before`).stdout, 'body of before', 'the mount reads');
  }
  const status = await runStrata(['cluster', 'status', '--metadata-addr', running.metadataAddr]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout.toString(), /leader .*ALARM NOSPACE/, 'cluster status shows it');
  assert.equal(running.process.exitCode, null, `the server is alive:\n${running.output()}`);

  rmSync(filler);
  await waitUntil('the alarm clears', async () => (await alarmMetric()) === 0);
  await put('after');
  const again = await s3.send(new GetObjectCommand({ Bucket: 'full', Key: 'after' }));
  assert.equal((await bodyBytes(again.Body)).toString(), 'body of after');
  const clear = await runStrata(['cluster', 'status', '--metadata-addr', running.metadataAddr]);
  assert.doesNotMatch(clear.stdout.toString(), /ALARM/, 'cluster status shows no alarm');
});

// A write already under way when the disk fills (before the periodic check sees it) fails inside
// LMDB: the node stops that Raft step where it is, raises the alarm, and finishes it once space is
// back, instead of crashing.
test('a write that hits the full disk stops and resumes; the node never crashes', {
  skip: isRoot ? false : 'needs root to mount a small tmpfs as the metadata disk',
}, async () => {
  const running = server as StrataProcess;
  fillDisk(filler);
  // Writes right away, before the check: some hit the full disk in LMDB, the rest get 507. One
  // caught in LMDB waits, with its Raft step, until space is back.
  const writes = Promise.allSettled(Array.from({ length: 8 }, (_, i) => put(`race-${i}`)));
  await waitUntil('the alarm is raised', async () => (await alarmMetric()) === 1);
  assert.equal(running.process.exitCode, null, `the server is alive:\n${running.output()}`);
  rmSync(filler);
  await waitUntil('the alarm clears', async () => (await alarmMetric()) === 0);
  for (const outcome of await writes) {
    if (outcome.status === 'rejected')
      assert.equal((outcome.reason as Error).name, 'InsufficientStorage', String(outcome.reason));
  }
  const reply = await s3.send(new GetObjectCommand({ Bucket: 'full', Key: 'before' }));
  assert.equal((await bodyBytes(reply.Body)).toString(), 'body of before');
  await put('after-race');
  assert.equal(running.process.exitCode, null, `the server is alive:\n${running.output()}`);
});
