// Object Lock seen from the mount: under default retention a file saved through the mount (open,
// several committed batches, close) is one retained version; from then on the file is WORM
// (open for writing, unlink and rename: EPERM), while a file whose version has no lock stays
// writable. A legal hold set through S3 locks a file the mount wrote.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { canMount, mounted, type StrataMount, startMount } from '../helpers/mount.ts';
import { s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const errnoOf = (action: () => void): string => {
  try {
    action();
  } catch (error) {
    return String((error as NodeJS.ErrnoException).code);
  }
  return 'ok';
};

describe('Object Lock through the mount', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let mount: StrataMount;
  let dir: string;

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'worm', ObjectLockEnabledForBucket: true }));
    await s3.send(new CreateBucketCommand({ Bucket: 'free', ObjectLockEnabledForBucket: true }));
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: 'worm',
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 1 } },
        },
      }),
    );
    mount = await startMount(server.metadataAddr);
    dir = join(mount.mountPoint, 'worm');
  });
  after(async () => {
    if (mount && mounted(mount.mountPoint)) spawnSync('umount', ['-l', mount.mountPoint]);
    await mount?.kill();
    s3?.destroy();
    await server?.stop();
  });

  test('a save under default retention is one retained version; then the file is WORM', async () => {
    const path = join(dir, 'report.txt');
    const fd = openSync(path, 'w');
    for (const chunk of ['part one\n', 'part two\n', 'part three\n']) {
      writeSync(fd, chunk);
      fsyncSync(fd); // a committed batch of its own, after the version got its retention
    }
    closeSync(fd);
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'worm' }));
    assert.equal(listed.Versions?.length, 1, 'one save, one version');
    const retention = await s3.send(
      new GetObjectRetentionCommand({ Bucket: 'worm', Key: 'report.txt' }),
    );
    assert.equal(retention.Retention?.Mode, 'COMPLIANCE');

    assert.equal(
      errnoOf(() => writeFileSync(path, 'rewritten')),
      'EPERM',
    );
    assert.equal(
      errnoOf(() => closeSync(openSync(path, 'a'))),
      'EPERM',
    );
    assert.equal(
      errnoOf(() => unlinkSync(path)),
      'EPERM',
    );
    assert.equal(
      errnoOf(() => renameSync(path, join(dir, 'moved.txt'))),
      'EPERM',
    );
    writeFileSync(join(dir, 'other.txt'), 'other');
    assert.equal(
      errnoOf(() => renameSync(join(dir, 'other.txt'), path)),
      'EPERM',
    );
    assert.equal(readFileSync(path, 'utf8'), 'part one\npart two\npart three\n');
  });

  test('without a lock a file stays writable; a legal hold through S3 makes it WORM', async () => {
    const path = join(mount.mountPoint, 'free', 'notes.txt');
    writeFileSync(path, 'first');
    writeFileSync(path, 'second'); // no retention: a new version, as in any versioned bucket
    await s3.send(
      new PutObjectLegalHoldCommand({
        Bucket: 'free',
        Key: 'notes.txt',
        LegalHold: { Status: 'ON' },
      }),
    );
    assert.equal(
      errnoOf(() => writeFileSync(path, 'third')),
      'EPERM',
    );
    assert.equal(
      errnoOf(() => unlinkSync(path)),
      'EPERM',
    );
    await s3.send(
      new PutObjectLegalHoldCommand({
        Bucket: 'free',
        Key: 'notes.txt',
        LegalHold: { Status: 'OFF' },
      }),
    );
    writeFileSync(path, 'third');
    assert.equal(readFileSync(path, 'utf8'), 'third');
    unlinkSync(path);
  });
});
