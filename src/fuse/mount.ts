// Mounting as root: open /dev/fuse, let mount(8) call mount(2) with the descriptor passed in
// (`-i`: without it mount(8) would run the mount.fuse helper), and only then start reading.
// Mounting as anyone else: the setuid fusermount3 mounts and hands the /dev/fuse descriptor back
// over a Unix socket (SCM_RIGHTS), which Node cannot receive; native/fuse-fd-helper.c receives
// it and re-runs strata-mount with it as fd 3 (`--fuse-fd 3`). Unmounting: umount(8) as root,
// `fusermount3 -u` otherwise. A dead mount left at the same path (a crashed mount process:
// ENOTCONN) is cleared first.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../common/errors.ts';

export const FUSE_HELPER_PATH = fileURLToPath(
  new URL('../../native/build/fuse-fd-helper', import.meta.url),
);
const MOUNT_BIN_PATH = fileURLToPath(new URL('../../bin/strata-mount.ts', import.meta.url));

export interface MountOptions {
  allowOther: boolean;
  readOnly: boolean;
}

// The -o options strata-mount takes; any other is refused rather than ignored.
const OPTION_NAMES = ['ro', 'rw', 'allow_other', 'noallow_other', 'default_permissions'];

// -o options to MountOptions. As root, allow_other is the default (as JuiceFS does): a mount
// made by root serves every user's processes, and the kernel checks their permissions
// (default_permissions). `noallow_other` keeps it to root. Without root, fusermount3 allows
// allow_other only with user_allow_other in /etc/fuse.conf, so it stays opt-in.
export function parseMountOptions(options: string[], asRoot: boolean): MountOptions {
  const names = options.flatMap((o) => o.split(',')).filter((o) => o.length > 0);
  const unknown = names.filter((o) => !OPTION_NAMES.includes(o));
  if (unknown.length > 0)
    throw new StrataError('EINVAL', `-o: unsupported option ${unknown.join(', ')}`);
  if (names.includes('allow_other') && names.includes('noallow_other'))
    throw new StrataError('EINVAL', '-o: allow_other and noallow_other contradict');
  if (names.includes('ro') && names.includes('rw'))
    throw new StrataError('EINVAL', '-o: ro and rw contradict');
  return {
    allowOther: names.includes('allow_other') || (asRoot && !names.includes('noallow_other')),
    readOnly: names.includes('ro'),
  };
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

// The command lines that unmount, strictly then lazily (for a mount still busy or dead).
function unmountCommands(mountPoint: string): [string, string[]][] {
  return isRoot()
    ? [
        ['umount', [mountPoint]],
        ['umount', ['-l', mountPoint]],
      ]
    : [
        ['fusermount3', ['-u', '--', mountPoint]],
        ['fusermount3', ['-uz', '--', mountPoint]],
      ];
}

export function clearDeadMount(mountPoint: string): void {
  try {
    statSync(mountPoint);
    // The kernel may answer for the root from its attribute cache even when the process behind
    // the mount is gone; a name it has never seen needs that process.
    statSync(join(mountPoint, `.strata-probe-${process.pid}-${Date.now()}`));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTCONN') {
      const [command, args] = unmountCommands(mountPoint)[1];
      spawnSync(command, args, { stdio: 'ignore' });
    }
  }
}

// fusermount3 adds user_id, group_id, rootmode and fd itself (and nosuid,nodev for users).
export function fusermountOptions(options: MountOptions): string {
  return [
    'default_permissions',
    'fsname=strata',
    'subtype=strata',
    ...(options.allowOther ? ['allow_other'] : []),
    ...(options.readOnly ? ['ro'] : []),
  ].join(',');
}

// Runs `fuse-fd-helper MOUNTPOINT OPTIONS -- node strata-mount.ts ARGS --fuse-fd 3` and waits
// for it; resolves to its exit code. SIGINT and SIGTERM are passed on (the mount unmounts).
export async function mountThroughHelper(
  mountPoint: string,
  options: MountOptions,
  args: string[],
): Promise<number> {
  try {
    accessSync(FUSE_HELPER_PATH, constants.X_OK);
  } catch {
    throw new StrataError(
      'ENOENT',
      `mounting without root needs ${FUSE_HELPER_PATH}: build it with ` +
        '`npm run build:fuse-helper` (needs a C compiler) and install fuse3 (fusermount3); ' +
        'or run strata-mount as root',
    );
  }
  clearDeadMount(mountPoint);
  const argv = [
    mountPoint,
    fusermountOptions(options),
    '--',
    process.execPath,
    ...process.execArgv,
    MOUNT_BIN_PATH,
    ...args,
    '--fuse-fd',
    '3',
  ];
  const child = spawn(FUSE_HELPER_PATH, argv, { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    });
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? osConstants.signals[signal] : 1;
}

export function mountFuse(mountPoint: string, options: MountOptions): number {
  if (process.getuid?.() !== 0) {
    throw new StrataError(
      'EPERM',
      'strata-mount must run as root (mount(2) with a /dev/fuse descriptor)',
    );
  }
  clearDeadMount(mountPoint);
  const fd = openSync('/dev/fuse', 'r+');
  const mountOptions = [
    'fd=3',
    'rootmode=40000',
    'user_id=0',
    'group_id=0',
    'default_permissions',
    ...(options.allowOther ? ['allow_other'] : []),
    ...(options.readOnly ? ['ro'] : []),
  ].join(',');
  const result = spawnSync(
    'mount',
    ['-i', '-t', 'fuse.strata', '-o', mountOptions, 'strata', mountPoint],
    {
      stdio: ['ignore', 'pipe', 'pipe', fd],
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) {
    throw new StrataError('EIO', `mount failed: ${result.stderr || result.error?.message}`);
  }
  return fd;
}

// Asynchronous: while umount runs, the kernel may still send requests that this process must
// answer, so the event loop has to keep turning.
export async function unmountFuse(mountPoint: string): Promise<void> {
  const run = ([command, args]: [string, string[]]) =>
    new Promise<number | null>((resolve) => {
      const child = spawn(command, args, { stdio: 'ignore' });
      child.once('error', () => resolve(null));
      child.once('exit', (code) => resolve(code));
    });
  const [strict, lazy] = unmountCommands(mountPoint);
  if ((await run(strict)) !== 0) await run(lazy);
}

// The number of the mount's FUSE connection (its directory in /sys/fs/fuse/connections): the
// device number of its superblock, an anonymous device (major 0). Asynchronous: stat of the
// mount point is answered by this very process.
export async function fuseConnectionOf(mountPoint: string): Promise<number | undefined> {
  try {
    const { dev } = await stat(mountPoint, { bigint: true });
    return Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  } catch {
    return undefined;
  }
}

// Ends a FUSE connection that a lazy unmount left alive (files still open on it): their
// processes get ENOTCONN instead of waiting for a mount that is gone. Through the
// fusectl file system, mounted first if it is not (systemd does at boot; containers often
// don't). Only for a connection known to be alive and ours: numbers are reused.
export function abortFuseConnection(connection: number): boolean {
  const root = '/sys/fs/fuse/connections';
  const mountedHere = () =>
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((line) => line.split(' ')[1] === root);
  try {
    if (!mountedHere() && isRoot())
      spawnSync('mount', ['-t', 'fusectl', 'fusectl', root], { stdio: 'ignore' });
    writeFileSync(join(root, String(connection), 'abort'), '1\n');
    return true;
  } catch {
    return false;
  }
}

// The kernel reads ahead 128 KiB on a FUSE mount whatever max_readahead says (its default caps
// it); a sequential reader of an erasure-coded file is much faster with a stripe's worth in
// flight. Set through the mount's backing device in sysfs, which only root may write: without it
// the default stays. Asynchronous: stat of the mount point is answered by this very process.
export async function setReadAhead(mountPoint: string, kib: number): Promise<boolean> {
  try {
    const { dev } = await stat(mountPoint, { bigint: true });
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
    const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
    await writeFile(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, `${kib}\n`);
    return true;
  } catch {
    return false;
  }
}
