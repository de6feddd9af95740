// `strata dev cluster`: a real multi-process cluster that serves S3, shows up whole in
// `cluster status`, and leaves no process behind when stopped by SIGINT or when its supervisor
// is killed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { checkDevOptions, devPlan, devPortCount } from '../../src/cli/dev-cluster/plan.ts';
import {
  alive,
  type Dev,
  devS3,
  metadataAddrsOf,
  pidsOf,
  startDev,
  untilReady,
} from '../helpers/dev-cluster.ts';
import { bodyBytes, patternBytes } from '../helpers/s3.ts';
import { runStrata, STRATA_BIN, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

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
    // --base-port 0 takes its ports below the ephemeral range, which listen(0) and outgoing
    // connections draw from: nothing else on the machine is handed them between pick and listen.
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    const { ports } = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as {
      ports: number[];
    };
    assert.equal(
      ports.length,
      devPortCount({ metadata: 3, data: 6, gateways: 1, dir, basePort: 0 }),
    );
    const inRange = ports.filter((p) => p < 1024 || p >= ephemeralLow);
    assert.deepEqual(inRange, [], `ports outside 1024..${ephemeralLow - 1}: ${ports}`);

    const s3 = devS3(output);
    const body = patternBytes(9 * 1024 * 1024 + 5, 3);
    await s3.send(new CreateBucketCommand({ Bucket: 'devbucket' }));
    await s3.send(new PutObjectCommand({ Bucket: 'devbucket', Key: 'a/b.bin', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'devbucket', Key: 'a/b.bin' }));
    assert.ok((await bodyBytes(got.Body)).equals(body), 'the object read back differs');
    s3.destroy();

    const addrs = metadataAddrsOf(output);
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

  test('started where a single server ran, the CLI finds its token; a supervisor killed by SIGKILL leaves no server running', async () => {
    // The README's order: `strata server` first (its ./strata-data/cluster.token stays), then
    // `strata dev cluster` in the same directory, then `strata cluster status` with no flag for
    // the token. No inherited STRATA_TLS_TOKEN_FILE: the tokens are the ones the commands make.
    const cwd = tempDir('strata-dev-cwd-');
    dirs.push(cwd);
    mkdirSync(join(cwd, 'strata-data'));
    writeFileSync(join(cwd, 'strata-data', 'cluster.token'), randomBytes(32).toString('hex'), {
      mode: 0o600,
    });
    const env: NodeJS.ProcessEnv = { ...process.env, STRATA_CONFIG: '' };
    delete env.STRATA_TLS_TOKEN_FILE;
    const dev = startDev(join(cwd, 'strata-dev'), ['--metadata', '1', '--data', '1'], { cwd, env });
    devs.push(dev);
    const output = await untilReady(dev);
    const pids = pidsOf(output);
    assert.equal(pids.length, 3);
    const status = spawnSync(
      process.execPath,
      [STRATA_BIN, 'cluster', 'status', '--json', '--metadata-addr', metadataAddrsOf(output)],
      { cwd, env, encoding: 'utf8' },
    );
    assert.equal(status.status, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).metadataMembers.length, 1);
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
