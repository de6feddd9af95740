// `strata dev cluster` as a test fixture: started as the user would (free ports), its summary
// parsed for endpoints, keys and pids.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { S3Client } from '@aws-sdk/client-s3';
import { REPO_ROOT, STRATA_BIN } from './server.ts';
import { until } from './wait.ts';

export interface Dev {
  child: ChildProcess;
  dir: string;
  output: () => string;
  exited: Promise<number | null>;
}

// `inCwd`: started from that directory with the default --dir (./strata-dev) and `env` as the
// whole environment, as a user types it.
export function startDev(
  dir: string,
  args: string[],
  inCwd?: { cwd: string; env: NodeJS.ProcessEnv },
): Dev {
  const child = spawn(
    process.execPath,
    [STRATA_BIN, 'dev', 'cluster', '--base-port', '0', ...(inCwd ? [] : ['--dir', dir]), ...args],
    {
      cwd: inCwd?.cwd ?? REPO_ROOT,
      env: inCwd?.env ?? { ...process.env, STRATA_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, dir, output: () => output, exited };
}

// The summary, once it says "Ready.".
export async function untilReady(dev: Dev): Promise<string> {
  return until(
    'the dev cluster printed Ready.',
    async () => {
      if (dev.child.exitCode !== null) throw new Error(`exited early:\n${dev.output()}`);
      return /^Ready\.$/m.test(dev.output()) ? dev.output() : undefined;
    },
    { limitMs: 180_000, intervalMs: 200 },
  );
}

export function field(output: string, label: string): string {
  const match = new RegExp(`^${label} +(\\S+)`, 'm').exec(output);
  assert.ok(match, `the summary lacks "${label}":\n${output}`);
  return match[1];
}

export function pidsOf(output: string): number[] {
  return [...output.matchAll(/ pid (\d+) /g)].map((m) => Number(m[1]));
}

export function metadataAddrsOf(output: string): string {
  const match = /--metadata-addr (\S+)/.exec(output);
  assert.ok(match, `the summary lacks the metadata addresses:\n${output}`);
  return match[1];
}

export function consoleUrlsOf(output: string): string[] {
  return [...output.matchAll(/ console (http:\/\/\S+)/g)].map((m) => m[1]);
}

export function devS3(output: string): S3Client {
  return new S3Client({
    endpoint: field(output, 'S3 endpoint'),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: {
      accessKeyId: field(output, 'S3 access key'),
      secretAccessKey: field(output, 'S3 secret key'),
    },
    maxAttempts: 1,
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ESRCH');
    return false;
  }
}
