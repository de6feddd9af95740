// Mounting as root: open /dev/fuse, let mount(8) call mount(2) with the descriptor passed in
// (`-i`: without it mount(8) would run the mount.fuse helper), and only then start reading.
// A dead mount left at the same path (a crashed mount process: ENOTCONN) is cleared first.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, statSync } from 'node:fs';
import { StrataError } from '../common/errors.ts';

export function clearDeadMount(mountPoint: string): void {
  try {
    statSync(mountPoint);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTCONN') {
      spawnSync('umount', ['-l', mountPoint]);
    }
  }
}

export function mountFuse(
  mountPoint: string,
  options: { allowOther: boolean; readOnly: boolean },
): number {
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
  const run = (args: string[]) =>
    new Promise<number | null>((resolve) => {
      const child = spawn('umount', args, { stdio: 'ignore' });
      child.once('error', () => resolve(null));
      child.once('exit', (code) => resolve(code));
    });
  if ((await run([mountPoint])) !== 0) await run(['-l', mountPoint]);
}
