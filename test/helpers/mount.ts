// Starts strata-mount against a running server (as root through /dev/fuse) for tests.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tempDir } from './server.ts';

export const MOUNT_BIN = join(REPO_ROOT, 'bin', 'strata-mount.ts');
export const canMount =
  process.getuid?.() === 0 && spawnSync('test', ['-c', '/dev/fuse']).status === 0;

export function mounted(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === path);
}

export function sh(
  script: string,
  options: { cwd?: string; timeoutMs?: number } = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('sh', ['-c', script], {
    encoding: 'utf8',
    cwd: options.cwd,
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 << 20,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface StrataMount {
  mountPoint: string;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>; // SIGINT: flush and unmount
  kill(): Promise<void>; // SIGKILL: a crash; the dead mount is left behind
}

export async function startMount(
  metadataAddr: string,
  options: { mountPoint?: string; args?: string[] } = {},
): Promise<StrataMount> {
  const mountPoint = options.mountPoint ?? join(tempDir('strata-mnt-'), 'mnt');
  try {
    mkdirSync(mountPoint, { recursive: true });
  } catch (error) {
    // A dead mount left there (ENOTCONN) is strata-mount's to clear.
    if ((error as NodeJS.ErrnoException).code !== 'ENOTCONN') throw error;
  }
  let output = '';
  const child = spawn(
    process.execPath,
    [MOUNT_BIN, mountPoint, '--metadata-addr', metadataAddr, ...(options.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  while (!/^mounted /m.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no mount:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    mountPoint,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
      if (mounted(mountPoint)) spawnSync('umount', ['-l', mountPoint]);
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

// A sample of a mount's metrics page, `name` with its labels as printed (0 when absent).
export async function mountMetric(mount: StrataMount, name: string): Promise<number> {
  const url = /^metrics at (\S+)$/m.exec(mount.output())?.[1];
  if (url === undefined) throw new Error(`the mount printed no metrics address: ${mount.output()}`);
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.slice(name.length + 1) ?? 0);
}
