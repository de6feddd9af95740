// strata-mount on its data servers' machine reads their shards from their disks by default
// (src/data/local-shard-reads.ts), and through the servers with --no-local-reads; both read the
// same bytes. Objects are put through S3, so that no page of them is in the kernel's cache and
// every read reaches the mount.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { canMount, mounted, mountMetric, type StrataMount, startMount } from '../helpers/mount.ts';
import { patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const OK = 'strata_local_shard_reads_total{result="ok"}';
const FALLBACK = 'strata_local_shard_reads_total{result="fallback"}';
const OBJECTS = 12;

describe('local reads through the mount', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let server: StrataProcess;
  let s3: S3Client;
  const mounts: StrataMount[] = [];
  const body = patternBytes(5 * 1024 * 1024 + 7, 51); // two stripes of 4+2

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'near' }));
    for (let i = 0; i < 2 * OBJECTS; i++)
      await s3.send(new PutObjectCommand({ Bucket: 'near', Key: `o${i}`, Body: body }));
  });
  after(async () => {
    for (const mount of mounts) {
      if (mounted(mount.mountPoint)) spawnSync('umount', ['-l', mount.mountPoint]);
      await mount.kill();
    }
    s3?.destroy();
    await server?.stop();
  });

  test('by default the shards are read from the disks; --no-local-reads asks the servers', async () => {
    const local = await startMount(server.metadataAddr);
    mounts.push(local);
    // The disks are found in the background after the mount's first look at the servers: the
    // first objects may still be read through them.
    let read = 0;
    while (read < OBJECTS && (await mountMetric(local, OK)) === 0) {
      const bytes = readFileSync(join(local.mountPoint, 'near', `o${read++}`));
      assert.ok(bytes.equals(body), `o${read - 1} through the default mount`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok((await mountMetric(local, OK)) > 0, 'shards read from the disks');
    assert.equal(await mountMetric(local, FALLBACK), 0, 'none given up');

    const remote = await startMount(server.metadataAddr, { args: ['--no-local-reads'] });
    mounts.push(remote);
    for (let i = OBJECTS; i < 2 * OBJECTS; i++) {
      const bytes = readFileSync(join(remote.mountPoint, 'near', `o${i}`));
      assert.ok(bytes.equals(body), `o${i} through the --no-local-reads mount`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await mountMetric(remote, OK), 0, 'every shard asked of its server');
  });
});
