// The same POSIX operations (fixtures/posix_ops.py: real syscalls, about 90 steps: files, holes,
// a file over 4 GiB, fallocate and punch hole, SEEK_DATA/SEEK_HOLE, copy_file_range, directories,
// hard and symbolic links, mknod, rename with RENAME_NOREPLACE and RENAME_EXCHANGE, chmod, chown,
// utimens, xattrs, permissions as other users, sticky and setgid directories, fcntl and flock
// locks, an unlinked open file) on a local ext4 directory and on a Strata mount: the transcripts
// must be identical, errno for errno.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canMount, type StrataMount, startMount } from '../helpers/mount.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const SCRIPT = fileURLToPath(new URL('./fixtures/posix_ops.py', import.meta.url));

function transcript(dir: string): string[] {
  const run = spawnSync('python3', [SCRIPT, dir], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(run.status, 0, `posix_ops.py in ${dir} failed:\n${run.stdout}\n${run.stderr}`);
  return run.stdout.trim().split('\n');
}

describe('POSIX operations: a Strata mount answers as ext4 does', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let server: StrataProcess;
  let mount: StrataMount;

  before(async () => {
    server = await startStrata();
    // allow_other: the script acts as other users too.
    mount = await startMount(server.metadataAddr, { args: ['-o', 'allow_other'] });
  });
  after(async () => {
    await mount?.stop();
    await server?.stop();
  });

  test('the transcripts on ext4 and on the mount are identical', () => {
    const local = join(tempDir('strata-posix-'), 'local');
    mkdirSync(local);
    const onMount = join(mount.mountPoint, 'posix');
    mkdirSync(onMount); // a bucket
    // Other users must reach both directories (mkdtemp makes their parents 0700).
    for (const dir of [local, onMount, dirname(local), dirname(mount.mountPoint)])
      chmodSync(dir, 0o755);
    const expected = transcript(local);
    const actual = transcript(onMount);
    assert.ok(expected.length > 80, `the script ran to the end on ext4 (${expected.length} lines)`);
    assert.ok(
      expected.includes(
        'owner of created: type=0o100000 mode=0o644 size=4 nlink=1 uid=1000 gid=1000',
      ),
      'the other-user steps really ran as another user',
    );
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      assert.equal(actual[i], expected[i], `step ${i + 1} differs from ext4`);
    }
  });
});
