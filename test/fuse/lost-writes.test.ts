// A write the cluster cannot store must not vanish: with the only data server killed, fsync(2)
// and close(2) on the mount fail with EIO, the mount logs it at error level and counts it
// (strata_fuse_write_errors_total), and the mount process exits non-zero when it stops, also
// when no process was left to tell (a file still open at SIGTERM).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canMount, type StrataMount, startMount } from '../helpers/mount.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

// Writes 1 MiB to a new file (held by the mount: less than a stripe), then fsyncs and closes it,
// printing what each call returned.
const WRITE_FSYNC_CLOSE = `
import errno, os, sys
def attempt(label, fn):
    try:
        fn()
        print(label, "ok", flush=True)
    except OSError as e:
        print(label, errno.errorcode[e.errno], flush=True)
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
attempt("write", lambda: os.write(fd, b"x" * (1 << 20)))
if sys.argv[2] == "fsync":
    attempt("fsync", lambda: os.fsync(fd))
attempt("close", lambda: os.close(fd))
`;

// Writes 1 MiB to a new file and keeps it open until killed.
const WRITE_AND_HOLD = `
import os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"y" * (1 << 20))
print("written", flush=True)
time.sleep(600)
`;

function python(script: string, ...args: string[]): string {
  const run = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, `python3 failed:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

async function exitCodeAfterSigterm(mount: StrataMount): Promise<number | null> {
  const child = mount.process;
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  child.kill('SIGTERM');
  // A mount that does not stop must fail the test, not hang the run.
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, 30_000);
  const code = await exited;
  clearTimeout(timer);
  await mount.stop(); // clears the mount point if the process left it mounted
  assert.ok(!hung, `the mount did not exit within 30 s of SIGTERM:\n${mount.output()}`);
  return code;
}

function errorLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.level === 'error');
}

describe('writes that cannot be stored', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let metadata: StrataProcess;
  let data: StrataProcess;

  before(async () => {
    metadata = await startStrata({ args: ['--role', 'metadata'], ready: ['metadata'] });
    data = await startStrata({
      args: ['--role', 'data', '--metadata-addr', metadata.metadataAddr],
      ready: [],
    });
    // A file stored while the data server is up: the cluster works before it is killed.
    const mount = await startMount(metadata.metadataAddr);
    try {
      spawnSync('mkdir', [join(mount.mountPoint, 'lost')]);
      assert.equal(
        python(WRITE_FSYNC_CLOSE, join(mount.mountPoint, 'lost', 'ok'), 'fsync'),
        'write ok\nfsync ok\nclose ok\n',
      );
    } finally {
      assert.equal(await exitCodeAfterSigterm(mount), 0, mount.output());
    }
    await data.kill();
  });
  after(async () => {
    await data?.stop();
    await metadata?.stop();
  });

  test('fsync and close return EIO, the error is logged and counted, the mount exits non-zero', async () => {
    const mount = await startMount(metadata.metadataAddr);
    try {
      const dir = join(mount.mountPoint, 'lost');
      assert.equal(
        python(WRITE_FSYNC_CLOSE, join(dir, 'a'), 'fsync'),
        'write ok\nfsync EIO\nclose ok\n',
      );
      assert.equal(python(WRITE_FSYNC_CLOSE, join(dir, 'b'), 'close'), 'write ok\nclose EIO\n');
      const metricsUrl = /^metrics at (\S+)/m.exec(mount.output())?.[1];
      assert.ok(metricsUrl, mount.output());
      const metrics = await (await fetch(metricsUrl)).text();
      const count = /^strata_fuse_write_errors_total (\d+)/m.exec(metrics)?.[1];
      assert.equal(count, '2', `two batches lost:\n${metrics}`);
    } finally {
      const code = await exitCodeAfterSigterm(mount);
      assert.notEqual(code, 0, `the mount exited 0 after losing writes:\n${mount.output()}`);
    }
    const errors = errorLines(mount.output());
    assert.ok(
      errors.some((e) => /could not be stored/.test(String(e.msg))),
      `no error line for the lost writes:\n${mount.output()}`,
    );
  });

  test('writes of a file still open when the mount stops: logged, and a non-zero exit', async () => {
    const mount = await startMount(metadata.metadataAddr);
    let holder: ChildProcess | undefined;
    let code: number | null;
    try {
      holder = spawn('python3', ['-c', WRITE_AND_HOLD, join(mount.mountPoint, 'lost', 'held')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        holder?.stdout?.once('data', () => resolve());
        holder?.once('exit', (c) => reject(new Error(`the writer exited (${c})`)));
      });
    } finally {
      code = await exitCodeAfterSigterm(mount);
      holder?.kill('SIGKILL');
    }
    assert.notEqual(code, 0, `the mount exited 0 after losing writes:\n${mount.output()}`);
    const errors = errorLines(mount.output());
    assert.ok(
      errors.some((e) => /could not be stored/.test(String(e.msg))),
      `no error line for the lost writes:\n${mount.output()}`,
    );
  });
});
