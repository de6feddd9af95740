// A metadata disk that fails writes while it has room (a real I/O error, not a full disk) stops
// the node: fail-stop with a clear message and a non-zero exit, never a retry of a failed fsync.
// The disk is an ext4 image on a loop device whose backing file lives on a small tmpfs: once
// that tmpfs is full, the block device fails every write with EIO while ext4 still reports
// hundreds of MiB free (root only).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { fillDisk } from '../helpers/disk.ts';
import { mounted } from '../helpers/mount.ts';
import { s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const isRoot = process.getuid?.() === 0;
const WAIT_MS = 30_000;

let root = '';
let backing = '';
let disk = '';
let server: StrataProcess | undefined;
let s3: S3Client | undefined;

before(async () => {
  if (!isRoot) return;
  root = tempDir('strata-diskerror-');
  backing = join(root, 'backing');
  disk = join(root, 'disk');
  mkdirSync(backing);
  mkdirSync(disk);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', backing]);
  const image = join(backing, 'ext4.img');
  writeFileSync(image, '');
  truncateSync(image, 256 * 1024 * 1024); // sparse: far more than the tmpfs can hold
  execFileSync('mkfs.ext4', ['-q', '-F', image]);
  // errors=continue: the file system reports EIO rather than remounting itself read-only.
  execFileSync('mount', ['-o', 'loop,errors=continue', image, disk]);
  const disks = Array.from({ length: 6 }, (_, i) => join(root, 'disks', `d${i}`));
  server = await startStrata({ dataDir: join(disk, 'data'), args: ['--disks', disks.join(',')] });
  s3 = s3Client(server);
  await s3.send(new CreateBucketCommand({ Bucket: 'eio' }));
});

after(async () => {
  if (!isRoot) return;
  s3?.destroy();
  await server?.kill();
  // Whatever of the set-up was done is undone (umount of the image detaches its loop device).
  for (const path of [disk, backing]) if (mounted(path)) await unmount(path);
  rmSync(root, { recursive: true, force: true });
});

// The kernel may hold the file system a moment after the killed node's exit (its last writes to
// a failing loop device still in flight): "target is busy" once in a fresh-clone CI run. Retried,
// then detached lazily, so the clean-up never fails the file.
async function unmount(path: string): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      execFileSync('umount', [path], { stdio: 'pipe' });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  execFileSync('umount', ['-l', path]);
}

test('an I/O error on the metadata disk while it has room stops the node (fail-stop)', {
  skip: isRoot ? false : 'needs root for a loop device and a tmpfs',
}, async () => {
  const running = server as StrataProcess;
  running.expectExit();
  fillDisk(join(backing, 'filler'));
  const deadline = Date.now() + WAIT_MS;
  for (let i = 0; running.process.exitCode === null; i++) {
    assert.ok(Date.now() < deadline, `the node stops within ${WAIT_MS} ms:\n${running.output()}`);
    await s3
      ?.send(new PutObjectCommand({ Bucket: 'eio', Key: `k${i}`, Body: 'x' }))
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.notEqual(running.process.exitCode, 0, 'a non-zero exit');
  // The loop device may first pass the backing file's ENOSPC up (a full disk: the alarm, and a
  // retry), but the EIO that follows, with ext4 still showing room, must stop the node.
  assert.match(running.output(), /metadata disk error \((EIO|EROFS)\): stopping this node/);
});
