// Metadata peers named by host: a name that does not resolve, and a peer that is not up yet, are
// retried with a log line at every attempt (with the reason) until they answer; then the
// cluster forms.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { freePort } from '../helpers/metadata-cluster.ts';
import { REPO_ROOT, STRATA_BIN, startStrata, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

// A metadata member started by hand: startStrata would wait for "Ready.", which a new member
// prints only once its peers answer.
function member(
  id: number,
  port: number,
  peers: string,
): { child: ChildProcess; output(): string } {
  const dir = tempDir('strata-peers-');
  const child = spawn(
    process.execPath,
    [STRATA_BIN, 'server', '--role', 'metadata', '--node-id', String(id)],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        STRATA_CONFIG: '',
        STRATA_STORAGE_DATA_DIR: dir,
        STRATA_METADATA_BIND_ADDR: `127.0.0.1:${port}`,
        STRATA_METADATA_RAFT_PEERS: peers,
        STRATA_OBSERVABILITY_METRICS_ADDR: '',
      },
    },
  );
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return { child, output: () => output };
}

function retries(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((l) => l.includes('metadata peer not answering'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

test('a peer name that does not resolve is retried and logged with the reason', async () => {
  const node = member(1, await freePort(), 'no-such-host.invalid:9000');
  try {
    const lines = await until(
      'two logged retries',
      async () => (retries(node.output()).length >= 2 ? retries(node.output()) : undefined),
      { limitMs: 30_000 },
    );
    assert.equal(lines[0].peer, 'no-such-host.invalid:9000');
    assert.deepEqual(
      lines.slice(0, 2).map((l) => l.attempt),
      [1, 2],
    );
    assert.match(JSON.stringify(lines[0].error), /ENOTFOUND|EAI_AGAIN/);
    assert.ok(!/^Ready\.$/m.test(node.output()), 'not ready without its peer');
  } finally {
    await stop(node.child);
  }
});

test('a peer that comes up later is found by name, and the cluster forms', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const first = member(1, portA, `localhost:${portB}`);
  try {
    await until(
      'a logged retry',
      async () => (retries(first.output()).length >= 1 ? true : undefined),
      { limitMs: 30_000 },
    );
    const second = await startStrata({
      args: ['--role', 'metadata', '--node-id', '2', '--metadata-addr', `127.0.0.1:${portB}`],
      env: { STRATA_METADATA_RAFT_PEERS: `localhost:${portA}` },
      ready: ['metadata'],
    });
    try {
      await until(
        'the first member ready',
        async () => (/^Ready\.$/m.test(first.output()) ? true : undefined),
        { limitMs: 30_000 },
      );
      assert.match(first.output(), /metadata peer answered/);
    } finally {
      await second.stop();
    }
  } finally {
    await stop(first.child);
  }
});
