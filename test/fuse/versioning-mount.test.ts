// Versioning seen from the mount: a file saved through the mount (open, writes in several
// committed batches, close) is exactly one new version, unlink is a delete marker, and a version
// restored through S3 (a copy onto its own key) is what the mount reads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { canMount, mounted, type StrataMount, startMount } from '../helpers/mount.ts';
import { bodyBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

// A save of `chunks`: each is written and fsynced (a committed batch of its own), then closed.
function save(path: string, chunks: string[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const chunk of chunks) {
      writeSync(fd, chunk);
      fsyncSync(fd);
    }
  } finally {
    closeSync(fd);
  }
}

describe('versioning through the mount', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let mount: StrataMount;
  const versions = async (Prefix: string) =>
    s3.send(new ListObjectVersionsCommand({ Bucket: 'vmnt', Prefix }));

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'vmnt' }));
    await s3.send(
      new PutBucketVersioningCommand({
        Bucket: 'vmnt',
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    mount = await startMount(server.metadataAddr);
  });
  after(async () => {
    if (mount && mounted(mount.mountPoint)) spawnSync('umount', ['-l', mount.mountPoint]);
    await mount?.kill();
    s3?.destroy();
    await server?.stop();
  });

  test('a file saved 3 times has 3 versions; S3 restoring the first is what the mount reads', async () => {
    const path = join(mount.mountPoint, 'vmnt/notes.txt');
    const saves = [
      ['first: ', 'in ', 'three batches\n'],
      ['second\n'],
      ['third, ', 'two batches\n'],
    ];
    for (const chunks of saves) save(path, chunks);
    assert.equal(readFileSync(path, 'utf8'), 'third, two batches\n');
    const listed = await versions('notes.txt');
    assert.equal(listed.Versions?.length, 3, JSON.stringify(listed.Versions));
    const first = listed.Versions?.[2];
    assert.equal(first?.Size, 'first: in three batches\n'.length);
    const body = await s3.send(
      new GetObjectCommand({ Bucket: 'vmnt', Key: 'notes.txt', VersionId: first?.VersionId }),
    );
    assert.equal((await bodyBytes(body.Body)).toString(), 'first: in three batches\n');

    await s3.send(
      new CopyObjectCommand({
        Bucket: 'vmnt',
        Key: 'notes.txt',
        CopySource: `vmnt/notes.txt?versionId=${first?.VersionId}`,
      }),
    );
    // Close-to-open: a fresh open reads the restored version.
    assert.equal(readFileSync(path, 'utf8'), 'first: in three batches\n');
    assert.equal((await versions('notes.txt')).Versions?.length, 4);
  });

  test('unlink makes a delete marker and keeps the data as a version', async () => {
    const path = join(mount.mountPoint, 'vmnt/gone.txt');
    save(path, ['kept\n']);
    unlinkSync(path);
    assert.equal(existsSync(path), false);
    const listed = await versions('gone.txt');
    assert.equal(listed.DeleteMarkers?.length, 1);
    assert.equal(listed.DeleteMarkers?.[0].IsLatest, true);
    assert.equal(listed.Versions?.length, 1);
    const old = await s3.send(
      new GetObjectCommand({
        Bucket: 'vmnt',
        Key: 'gone.txt',
        VersionId: listed.Versions?.[0].VersionId,
      }),
    );
    assert.equal((await bodyBytes(old.Body)).toString(), 'kept\n');
  });
});
