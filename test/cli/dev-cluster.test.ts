// `strata dev cluster`: a real multi-process cluster that serves S3, shows up whole in
// `cluster status`, and leaves no process behind when stopped by SIGINT or when its supervisor
// is killed.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { checkDevOptions, devPlan, devPortCount } from '../../src/cli/dev-cluster/plan.ts';
import { bodyBytes, patternBytes } from '../helpers/s3.ts';
import { REPO_ROOT, runStrata, STRATA_BIN, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

interface Dev {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startDev(dir: string, args: string[]): Dev {
  const child = spawn(
    process.execPath,
    [STRATA_BIN, 'dev', 'cluster', '--base-port', '0', '--dir', dir, ...args],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, STRATA_CONFIG: '' },
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
  return { child, output: () => output, exited };
}

async function untilReady(dev: Dev): Promise<string> {
  return until(
    'the dev cluster printed Ready.',
    async () => {
      if (dev.child.exitCode !== null) throw new Error(`exited early:\n${dev.output()}`);
      return /^Ready\.$/m.test(dev.output()) ? dev.output() : undefined;
    },
    { limitMs: 180_000, intervalMs: 200 },
  );
}

function field(output: string, label: string): string {
  const match = new RegExp(`^${label} +(\\S+)`, 'm').exec(output);
  assert.ok(match, `the summary lacks "${label}":\n${output}`);
  return match[1];
}

function pidsOf(output: string): number[] {
  return [...output.matchAll(/ pid (\d+) /g)].map((m) => Number(m[1]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ESRCH');
    return false;
  }
}

describe('strata dev cluster', () => {
  const dirs: string[] = [];
  const devs: Dev[] = [];
  after(() => {
    for (const dev of devs) if (dev.child.exitCode === null) dev.child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('the plan gives every process distinct ports and refuses even metadata counts', () => {
    const options = { metadata: 3, data: 6, gateways: 2, dir: '/d', basePort: 9000 };
    const plan = devPlan(options);
    const ports = plan.processes.flatMap((p) =>
      [p.metadataAddr, p.dataAddr, p.s3Addr, p.consoleAddr, p.metricsAddr].filter(Boolean),
    );
    assert.equal(ports.length, devPortCount(options));
    assert.equal(new Set(ports).size, ports.length, `ports repeat: ${ports}`);
    assert.equal(plan.metadataAddrs[0], '127.0.0.1:9000');
    assert.match(checkDevOptions({ ...options, metadata: 2 }) ?? '', /odd/);
    assert.match(checkDevOptions({ ...options, basePort: 65500 }) ?? '', /base-port/);
  });

  test('3 metadata + 6 data servers serve S3, show HEALTHY, and SIGINT stops them all', async () => {
    const dir = tempDir('strata-dev-');
    dirs.push(dir);
    const dev = startDev(dir, ['--metadata', '3', '--data', '6']);
    devs.push(dev);
    const output = await untilReady(dev);
    const pids = pidsOf(output);
    assert.equal(pids.length, 10, `3 members, 6 data servers, 1 gateway:\n${output}`);

    const s3 = new S3Client({
      endpoint: field(output, 'S3 endpoint'),
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: {
        accessKeyId: field(output, 'S3 access key'),
        secretAccessKey: field(output, 'S3 secret key'),
      },
      maxAttempts: 1,
    });
    const body = patternBytes(9 * 1024 * 1024 + 5, 3);
    await s3.send(new CreateBucketCommand({ Bucket: 'devbucket' }));
    await s3.send(new PutObjectCommand({ Bucket: 'devbucket', Key: 'a/b.bin', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'devbucket', Key: 'a/b.bin' }));
    assert.ok((await bodyBytes(got.Body)).equals(body), 'the object read back differs');
    s3.destroy();

    const addrs = /--metadata-addr (\S+)/.exec(output)?.[1] ?? '';
    const status = await runStrata(['cluster', 'status', '--json', '--metadata-addr', addrs]);
    assert.equal(status.code, 0, status.stderr);
    const json = JSON.parse(status.stdout.toString());
    assert.equal(json.health.status, 'HEALTHY', JSON.stringify(json.health));
    assert.equal(json.metadataMembers.length, 3);
    assert.equal(json.dataServers.filter((s: { state: string }) => s.state === 'up').length, 6);

    dev.child.kill('SIGINT');
    assert.equal(await dev.exited, 0, dev.output());
    assert.match(dev.output(), /^Stopped\.$/m);
    const left = pids.filter(alive);
    assert.deepEqual(left, [], `processes left running after SIGINT: ${left}`);
  });

  test('a supervisor killed by SIGKILL leaves no server running', async () => {
    const dir = tempDir('strata-dev-');
    dirs.push(dir);
    const dev = startDev(dir, ['--metadata', '1', '--data', '1']);
    devs.push(dev);
    const pids = pidsOf(await untilReady(dev));
    assert.equal(pids.length, 3);
    dev.child.kill('SIGKILL');
    await dev.exited;
    // Each server stops when its IPC channel to the supervisor closes.
    await until(
      `servers ${pids} gone after the supervisor's SIGKILL`,
      async () => (pids.some(alive) ? undefined : true),
      { limitMs: 30_000, intervalMs: 200 },
    );
  });
});
