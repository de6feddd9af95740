// strata-mount without root: as uid 1000 it mounts through fusermount3 and
// native/build/fuse-fd-helper (which receives the /dev/fuse descriptor over SCM_RIGHTS and re-runs
// strata-mount with it as fd 3); that user makes a bucket, writes, reads and lists files, and
// unmounts with `fusermount3 -u`. When fusermount3 refuses, the helper says so and strata-mount
// fails with the helper's exit code.
import assert from 'node:assert/strict';
import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  mkdirSync,
  readFileSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { FUSE_HELPER_PATH } from '../../src/fuse/mount.ts';
import { ROOT_INO } from '../../src/metadata/types.ts';
import { CLUSTER_TOKEN_FILE } from '../helpers/cluster-token.ts';
import { MOUNT_BIN, mounted } from '../helpers/mount.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const USER_UID = 1000;
const USER_GID = 1000;

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (to run strata-mount as uid 1000)';
  if (spawnSync('test', ['-c', '/dev/fuse']).status !== 0) return 'no /dev/fuse';
  if (spawnSync('fusermount3', ['-V']).error) return 'no fusermount3 (apt-get install fuse3)';
  try {
    accessSync(FUSE_HELPER_PATH, constants.X_OK);
  } catch {
    return `${FUSE_HELPER_PATH} not built (npm run build:fuse-helper)`;
  }
  return false;
}

// Runs a shell script as the unprivileged user.
function asUser(script: string, home: string): SpawnSyncReturns<string> {
  return spawnSync('sh', ['-c', script], {
    uid: USER_UID,
    gid: USER_GID,
    env: { ...process.env, HOME: home },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('strata-mount without root', { skip: skipReason() }, () => {
  let server: StrataProcess;
  let home: string;
  let devFuseMode: number | undefined;

  before(async () => {
    // Distributions make /dev/fuse 0666 (udev); container runtimes often leave it 0600.
    const mode = statSync('/dev/fuse').mode & 0o777;
    if ((mode & 0o006) !== 0o006) {
      devFuseMode = mode;
      chmodSync('/dev/fuse', 0o666);
    }
    server = await startStrata();
    // The namespace root is root's (0755); as an administrator would, hand it to the user so
    // that a mkdir there (a new bucket) is allowed under default_permissions.
    const admin = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    await admin.setattr(ROOT_INO, { uid: USER_UID, gid: USER_GID });
    await admin.close();
    // The user's mount presents the cluster token: shared with the user's group, as an
    // administrator would (docs/guides/security.md, "Two modes, never none").
    chownSync(dirname(CLUSTER_TOKEN_FILE), 0, USER_GID);
    chmodSync(dirname(CLUSTER_TOKEN_FILE), 0o750);
    chownSync(CLUSTER_TOKEN_FILE, 0, USER_GID);
    chmodSync(CLUSTER_TOKEN_FILE, 0o640);
    home = tempDir('strata-nonroot-');
    chmodSync(home, 0o755);
    chownSync(home, USER_UID, USER_GID);
  });
  after(async () => {
    await server?.stop();
    if (devFuseMode !== undefined) chmodSync('/dev/fuse', devFuseMode);
  });

  interface UserMount {
    child: ChildProcess;
    output: () => string;
    exited: Promise<number | null>;
  }

  async function startUserMount(mountPoint: string): Promise<UserMount> {
    const child = spawn(
      process.execPath,
      [MOUNT_BIN, mountPoint, '--metadata-addr', server.metadataAddr],
      {
        uid: USER_UID,
        gid: USER_GID,
        env: { ...process.env, HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group, as in a terminal
      },
    );
    const output = collect(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitFor(
      () => /^mounted /m.test(output()) || child.exitCode !== null,
      20_000,
      () => `no mount:\n${output()}`,
    );
    assert.ok(mounted(mountPoint), `no mount:\n${output()}`);
    return { child, output, exited };
  }

  function userMountPoint(name: string): string {
    const mountPoint = join(home, name);
    mkdirSync(mountPoint);
    chownSync(mountPoint, USER_UID, USER_GID);
    return mountPoint;
  }

  function cleanUp(mountPoint: string, ...mounts: Array<UserMount | undefined>): void {
    for (const mount of mounts) if (mount?.child.exitCode === null) mount.child.kill('SIGKILL');
    if (mounted(mountPoint)) spawnSync('fusermount3', ['-uz', mountPoint]);
  }

  test('uid 1000 mounts, makes a bucket, writes, reads, lists and unmounts', async () => {
    const mountPoint = userMountPoint('mnt');
    let mount: UserMount | undefined;
    try {
      mount = await startUserMount(mountPoint);
      const line = mountLine(mountPoint);
      assert.match(line, / fuse\.strata /);
      assert.match(line, /user_id=1000,group_id=1000/);

      const work = asUser(
        `set -e; cd '${mountPoint}'; mkdir docs; printf 'hello from uid 1000\\n' > docs/a.txt
         cat docs/a.txt; ls docs; stat -c '%u:%g %s' docs/a.txt`,
        home,
      );
      assert.equal(work.status, 0, `${work.stderr}\n${mount.output()}`);
      assert.equal(work.stdout, 'hello from uid 1000\na.txt\n1000:1000 20\n');

      const client = new StrataClient({ metadataAddrs: [server.metadataAddr] });
      const inode = await client.stat('/docs/a.txt');
      await client.close();
      assert.equal(inode.uid, USER_UID);
      assert.equal(inode.size, 20);

      const unmount = asUser(`fusermount3 -u '${mountPoint}'`, home);
      assert.equal(unmount.status, 0, unmount.stderr);
      assert.equal(await withTimeout(mount.exited, 20_000), 0, mount.output());
      assert.equal(mounted(mountPoint), false);
    } finally {
      cleanUp(mountPoint, mount);
    }
  });

  test('Ctrl-C unmounts; a mount left dead by kill -9 is cleared by the next strata-mount', async () => {
    const mountPoint = userMountPoint('mnt2');
    let first: UserMount | undefined;
    let second: UserMount | undefined;
    let third: UserMount | undefined;
    try {
      // Ctrl-C: SIGINT to the process group reaches both the outer strata-mount and the one
      // serving the mount, which gets it a second time from the outer one and unmounts once.
      first = await startUserMount(mountPoint);
      process.kill(-(first.child.pid as number), 'SIGINT');
      assert.equal(await withTimeout(first.exited, 20_000), 0, first.output());
      assert.equal(mounted(mountPoint), false);

      // kill -9 of the process serving the mount (the helper became it) leaves it dead.
      second = await startUserMount(mountPoint);
      const serving = readFileSync(
        `/proc/${second.child.pid}/task/${second.child.pid}/children`,
        'utf8',
      ).trim();
      assert.match(serving, /^\d+$/);
      process.kill(Number(serving), 'SIGKILL');
      assert.equal(await withTimeout(second.exited, 20_000), 137, second.output());
      assert.ok(mounted(mountPoint));
      assert.match(asUser(`ls '${mountPoint}'`, home).stderr, /not connected/);

      third = await startUserMount(mountPoint);
      assert.equal(asUser(`ls '${mountPoint}'`, home).status, 0);
      third.child.kill('SIGTERM');
      assert.equal(await withTimeout(third.exited, 20_000), 0, third.output());
      assert.equal(mounted(mountPoint), false);
    } finally {
      cleanUp(mountPoint, first, second, third);
    }
  });

  test('when fusermount3 refuses, the helper says why and strata-mount fails', () => {
    const result = spawnSync(
      process.execPath,
      [MOUNT_BIN, join(home, 'missing'), '--metadata-addr', server.metadataAddr],
      {
        uid: USER_UID,
        gid: USER_GID,
        env: { ...process.env, HOME: home },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.equal(result.status, 4, result.stderr);
    assert.match(result.stderr, /^fusermount3: .*missing/m); // its own reason, e.g. ENOENT
    assert.match(result.stderr, /fuse-fd-helper: fusermount3 could not mount .*missing/);
    assert.doesNotMatch(result.stdout, /^mounted /m);
  });

  test('the helper rejects a malformed command line', () => {
    const result = spawnSync(FUSE_HELPER_PATH, ['/mnt', 'ro'], { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /usage: fuse-fd-helper MOUNTPOINT OPTIONS -- PROGRAM/);
  });
});

function collect(child: ChildProcess): () => string {
  let text = '';
  child.stdout?.on('data', (d) => {
    text += d;
  });
  child.stderr?.on('data', (d) => {
    text += d;
  });
  return () => text;
}

function mountLine(path: string): string {
  const line = spawnSync('cat', ['/proc/mounts'], { encoding: 'utf8' })
    .stdout.split('\n')
    .find((l) => l.split(' ')[1] === path);
  assert.ok(line, `${path} is not mounted`);
  return line;
}

async function waitFor(done: () => boolean, timeoutMs: number, why: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
