// Storage classes seen from the mount and the CLI: an object PUT as GLACIER shows its class in
// the read-only attribute user.strata.storage_class and in `strata fs ls`; opening it for reading
// fails with EACCES (logged by the mount) until a RestoreObject has completed, and then reads
// the bytes that were PUT (an open for writing is EACCES too). A STANDARD file reads as ever and
// says STANDARD.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  PutObjectCommand,
  RestoreObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { canMount, mounted, type StrataMount, startMount } from '../helpers/mount.ts';
import { md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import { runStrata, type StrataProcess, startStrata } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const errnoOf = (action: () => void): string => {
  try {
    action();
  } catch (error) {
    return String((error as NodeJS.ErrnoException).code);
  }
  return 'ok';
};

// Python's os.getxattr: the attribute's value, or the errno's name.
function xattr(path: string, name: string): string {
  const script =
    'import os, sys, errno\n' +
    'try: print(os.getxattr(sys.argv[1], sys.argv[2]).decode())\n' +
    'except OSError as e: print(errno.errorcode[e.errno])';
  const run = spawnSync('python3', ['-c', script, path, name], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

describe('storage classes through the mount', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let mount: StrataMount;
  let dir: string;
  const body = patternBytes(200_000, 5);

  before(async () => {
    server = await startStrata({
      env: {
        STRATA_DATA_DISK_COUNT: '12',
        STRATA_LIFECYCLE_DEBUG_DAY_SECONDS: '2',
        STRATA_LIFECYCLE_RESTORE_DELAY_SECONDS_EXPEDITED: '1',
      },
    });
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'archive' }));
    await s3.send(
      new PutObjectCommand({
        Bucket: 'archive',
        Key: 'cold.bin',
        Body: body,
        StorageClass: 'GLACIER',
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: 'archive', Key: 'warm.txt', Body: 'warm' }));
    mount = await startMount(server.metadataAddr);
    dir = join(mount.mountPoint, 'archive');
  });
  after(async () => {
    if (mount && mounted(mount.mountPoint)) spawnSync('umount', ['-l', mount.mountPoint]);
    await mount?.kill();
    s3?.destroy();
    await server?.stop();
  });

  test('the class is an attribute and a column; an archived file is EACCES until restored', async () => {
    const cold = join(dir, 'cold.bin');
    assert.equal(statSync(cold).size, body.length, 'stat works on an archived file');
    assert.equal(xattr(cold, 'user.strata.storage_class'), 'GLACIER');
    assert.equal(xattr(join(dir, 'warm.txt'), 'user.strata.storage_class'), 'STANDARD');
    assert.equal(xattr(cold, 'user.strata.restore'), 'ENODATA', 'no restore yet');
    assert.equal(
      errnoOf(() => readFileSync(cold)),
      'EACCES',
    );
    assert.equal(
      errnoOf(() => closeSync(openSync(cold, 'r+'))),
      'EACCES',
      'nor written in place',
    );
    await until(
      'the mount logs the refusal',
      async () => (/open of an archived file refused/.test(mount.output()) ? true : undefined),
      { limitMs: 10_000 },
    );
    assert.equal(readFileSync(join(dir, 'warm.txt'), 'utf8'), 'warm');
    const ls = await runStrata(['fs', 'ls', '/archive', '--metadata-addr', server.metadataAddr]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout.toString(), /^-0644 .* GLACIER +cold\.bin$/m);
    assert.match(ls.stdout.toString(), /^-0644 .* STANDARD +warm\.txt$/m);
    const get = await runStrata([
      'fs',
      'get',
      '/archive/cold.bin',
      '/dev/null',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.notEqual(get.code, 0, 'strata fs get read an archived file');

    await s3.send(
      new RestoreObjectCommand({
        Bucket: 'archive',
        Key: 'cold.bin',
        RestoreRequest: { Days: 30, GlacierJobParameters: { Tier: 'Expedited' } },
      }),
    );
    const bytes = await until('the restore completes', async () => readFileSync(cold), {
      limitMs: 60_000,
    });
    assert.equal(md5Hex(bytes), md5Hex(body), 'the restored file reads its bytes');
    assert.match(xattr(cold, 'user.strata.restore'), /^ongoing-request="false", expiry-date=/);
  });
});
