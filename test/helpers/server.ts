// Starts a real single-node Strata server process for tests, on free ports, in a temp directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import './cluster-token.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const STRATA_BIN = join(REPO_ROOT, 'bin', 'strata.ts');

// Every server process this helper started and that has not exited. A test that fails before it
// records the processes it started (a Promise.all of starts where one times out) would leave the
// others running, and their pipes keep the test file's process alive until the runner's timeout
// (disk-replaced.test.ts once hung for 15 minutes that way on a loaded machine). So the test
// file's last hook kills whatever is left, and so does the process's exit (benches import this
// helper outside the test runner, where no hook is registered).
const running = new Set<ChildProcess>();
function killLeft(): void {
  for (const child of running) child.kill('SIGKILL');
}
if (process.env.NODE_TEST_CONTEXT !== undefined) {
  after(async () => {
    const left = [...running];
    if (left.length > 0) {
      process.stderr.write(`killing ${left.length} server process(es) the tests left running\n`);
    }
    killLeft();
    await Promise.all(
      left.map((child) =>
        child.exitCode === null && child.signalCode === null
          ? new Promise((resolve) => child.once('exit', resolve))
          : undefined,
      ),
    );
  });
}
process.once('exit', killLeft);

export interface StrataProcess {
  s3Endpoint: string;
  metadataAddr: string;
  metricsUrl: string;
  accessKey: string;
  secretKey: string;
  dataDir: string;
  process: ChildProcess;
  output(): string; // everything printed so far (stdout and stderr), for failure messages
  stop(): Promise<void>; // SIGTERM and wait
  kill(): Promise<void>; // SIGKILL and wait: a crash
  // The test is about to make the server stop by itself (a fail-stop): its exit is no crash to
  // report.
  expectExit(): void;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  // Node.js options before the script (V8 flags that NODE_OPTIONS refuses, such as
  // --single-threaded-gc).
  nodeArgs?: string[];
  startTimeoutMs?: number;
  // Which services this process must report (default both; a --role data process reports none).
  ready?: Array<'metadata' | 's3'>;
  // false: only `server` and `args`, for a process configured by its file as written (the
  // default adds --data-dir, free ports on 127.0.0.1 and --log-level warn before `args`).
  defaultFlags?: boolean;
}

// Temp directories are removed when the process exits after a success, and kept after a failure
// for the post-mortem. They were never removed before: a day of test and bench runs left 67 GB in
// /tmp (a benchmark's data directory alone is 2 GB).
const tempDirs: string[] = [];
export function tempDir(prefix = 'strata-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
process.once('exit', (code) => {
  if (code !== 0 || process.env.STRATA_KEEP_TEMP === '1') return;
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      // A mount left behind (ENOTCONN, EBUSY) or a child still writing: say so, keep going.
      process.stderr.write(`could not remove temp directory ${dir}: ${(err as Error).message}\n`);
    }
  }
});

// Writes TOML configuration files (one per process) under `dir`; each call gives the environment
// that points a process at its file.
export function configWriter(
  dir: string,
): (name: string, lines: string[]) => { STRATA_CONFIG: string } {
  return (name, lines) => {
    const path = join(dir, `${name}.toml`);
    writeFileSync(path, lines.join('\n'));
    return { STRATA_CONFIG: path };
  };
}

// Signals that mean the process crashed rather than was stopped.
const CRASH_SIGNALS = new Set(['SIGABRT', 'SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE']);
const CRASH_OUTPUT_CHARS = 6000;

export async function startStrata(options: StartOptions = {}): Promise<StrataProcess> {
  const dataDir = options.dataDir ?? tempDir();
  const defaults = [
    '--data-dir',
    dataDir,
    '--metadata-addr',
    '127.0.0.1:0',
    '--data-addr',
    '127.0.0.1:0',
    '--s3-addr',
    '127.0.0.1:0',
    '--metrics-addr',
    '127.0.0.1:0',
    '--log-level',
    'warn',
  ];
  const args = [
    ...(options.nodeArgs ?? []),
    STRATA_BIN,
    'server',
    ...(options.defaultFlags === false ? [] : defaults),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, STRATA_CONFIG: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(
    () => /^Ready\.$/m.test(output),
    child,
    () => output,
    options.startTimeoutMs ?? 30_000,
  );
  // A server that dies on its own after it was ready (an error code, or a crash signal) takes
  // its output with it: the test sees only refused connections. Its last lines go to the test
  // run's stderr. Exits asked for (stop, or a signal a test sends on purpose) stay quiet.
  let stopping = false;
  child.once('close', (code, signal) => {
    const crashed = (code !== null && code !== 0) || CRASH_SIGNALS.has(signal ?? '');
    if (stopping || !crashed) return;
    process.stderr.write(
      `strata server pid ${child.pid} exited by itself (${code ?? signal}); its last output:\n` +
        `${output.slice(-CRASH_OUTPUT_CHARS)}\n`,
    );
  });
  const ready = options.ready ?? ['metadata', 's3'];
  const field = (pattern: RegExp, required: boolean) => {
    const match = pattern.exec(output);
    if (!match && required) throw new Error(`server output lacks ${pattern}:\n${output}`);
    return match?.[1] ?? '';
  };
  const s3 = ready.includes('s3');
  return {
    s3Endpoint: field(/^ {2}s3 +(\S+)/m, s3),
    metadataAddr: field(/^ {2}metadata +(\S+)/m, ready.includes('metadata')),
    metricsUrl: field(/^ {2}metrics +(\S+)/m, true),
    accessKey: field(/^ {2}S3 access key +(\S+)/m, s3),
    // Printed at the first start only; later the generated pair is read where it is kept.
    secretKey: field(/^ {2}S3 secret key +(\S+)/m, false) || storedSecretKey(dataDir),
    dataDir,
    process: child,
    output: () => output,
    // A clean stop also removes the data directory the helper made (not one it was given).
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // A server that does not finish shutting down must not hang the test run: it is killed,
      // and said so, since a clean stop is expected.
      const timer = setTimeout(() => {
        process.stderr.write(`server pid ${child.pid} did not stop within 20 s of SIGTERM\n`);
        child.kill('SIGKILL');
      }, 20_000);
      await exited;
      clearTimeout(timer);
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    expectExit() {
      stopping = true;
    },
  };
}

function storedSecretKey(dataDir: string): string {
  try {
    return (
      JSON.parse(readFileSync(join(dataDir, 'credentials.json'), 'utf8')) as {
        secret_key: string;
      }
    ).secret_key;
  } catch {
    return ''; // keys from a configuration file: the test has them
  }
}

async function waitFor(
  ready: () => boolean,
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `strata server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output()}`,
      );
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`strata server not ready after ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Runs the strata CLI to completion and returns its exit code and output.
export function runStrata(
  args: string[],
  options: { env?: Record<string, string>; input?: Buffer } = {},
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [STRATA_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, STRATA_CONFIG: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
    child.stdin.end(options.input);
  });
}

export interface SplitRoles {
  metadata: StrataProcess;
  data: StrataProcess;
  gateway: StrataProcess;
  stop(): Promise<void>; // each process that is still running, gateway first
}

// The three services as separate processes (--role metadata, data, s3) over the RPC layer.
export async function startSplitRoles(): Promise<SplitRoles> {
  const started: StrataProcess[] = [];
  const stop = async () => {
    for (const p of started.reverse()) await p.stop();
  };
  try {
    const metadata = await startStrata({ args: ['--role', 'metadata'], ready: ['metadata'] });
    started.push(metadata);
    const roleArgs = (role: string) => ['--role', role, '--metadata-addr', metadata.metadataAddr];
    const data = await startStrata({ args: roleArgs('data'), ready: [] });
    started.push(data);
    const gateway = await startStrata({ args: roleArgs('s3'), ready: ['s3'] });
    started.push(gateway);
    return { metadata, data, gateway, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
