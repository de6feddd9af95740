// Liveness as replicated cluster state, with real processes: data servers send heartbeats, the
// metadata leader's failure detector records up / suspect / down through Raft, and
// `strata cluster status --json` and the metrics show it. A new leader does not mark healthy
// servers down (grace), and still notices a dead one.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';
import { runStrata, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { until as untilPolled } from '../helpers/wait.ts';

// A short repair delay, so "down" comes right after "suspect" (about 4.6 s of silence).
const configDir = tempDir('strata-liveness-');
const configPath = join(configDir, 'strata.toml');
writeFileSync(
  configPath,
  [
    '[metadata]',
    'server_down_after_seconds = 2',
    '[data]',
    'zone = "z1"',
    'rack = "r1"',
    'host = "h1"',
    '[placement]',
    'strategy = "least-loaded"',
  ].join('\n'),
);
const env = { STRATA_CONFIG: configPath };
const POLL_LIMIT_MS = 60_000; // generous: only an upper bound, never a measured figure

interface Status {
  health: { status: string; reasons: string[] };
  dataServers: Array<{ serverId: string; state: string; domain: Record<string, string> }>;
}

async function status(addrs: string[]): Promise<Status> {
  const result = await runStrata(
    ['cluster', 'status', '--json', '--metadata-addr', addrs.join(',')],
    { env },
  );
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.toString()) as Status;
}

function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return untilPolled(what, probe, { limitMs: POLL_LIMIT_MS });
}

const stateOf = (s: Status, serverId: string) =>
  s.dataServers.find((d) => d.serverId === serverId)?.state;

async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(url)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

function startData(metadataAddrs: string[], nodeId: number, dataDir?: string) {
  return startStrata({
    dataDir,
    env,
    ready: [],
    args: [
      ...['--role', 'data', '--node-id', String(nodeId)],
      ...['--metadata-addr', metadataAddrs[0], '--raft-peers', metadataAddrs.slice(1).join(',')],
    ],
  });
}

after(() => rmSync(configDir, { recursive: true, force: true }));

test('a killed data server is marked down (DEGRADED, one fewer online), and up again after a restart', async () => {
  const started: StrataProcess[] = [];
  try {
    const metadata = await startStrata({ args: ['--role', 'metadata'], ready: ['metadata'], env });
    started.push(metadata);
    const addrs = [metadata.metadataAddr];
    const dataDirs = [tempDir(), tempDir(), tempDir()];
    const data = await Promise.all(dataDirs.map((dir, i) => startData(addrs, i + 2, dir)));
    started.push(...data);
    const all = await until('three data servers up, HEALTHY', async () => {
      const s = await status(addrs);
      const up = s.dataServers.filter((d) => d.state === 'up').length;
      return up === 3 && s.health.status === 'HEALTHY' ? s : undefined;
    });
    assert.deepEqual(all.dataServers[0].domain, { zone: 'z1', rack: 'r1', host: 'h1' });
    // The gauges are set from the replicated records once a second: they follow the status.
    await until('nodes_total and nodes_online 3', async () => {
      const total = await metric(metadata.metricsUrl, 'strata_cluster_nodes_total');
      const online = await metric(metadata.metricsUrl, 'strata_cluster_nodes_online');
      return total === 3 && online === 3 ? true : undefined;
    });

    await data[1].kill(); // data-3
    const degraded = await until('data-3 down', async () => {
      const s = await status(addrs);
      return stateOf(s, 'data-3') === 'down' ? s : undefined;
    });
    assert.equal(degraded.health.status, 'DEGRADED');
    assert.match(degraded.health.reasons.join('\n'), /down: data-3/);
    assert.equal(stateOf(degraded, 'data-2'), 'up');
    assert.equal(stateOf(degraded, 'data-4'), 'up');
    await until('nodes_online 2', async () =>
      (await metric(metadata.metricsUrl, 'strata_cluster_nodes_online')) === 2 ? true : undefined,
    );
    assert.equal(await metric(metadata.metricsUrl, 'strata_cluster_nodes_total'), 3);
    const text = await (await fetch(metadata.metricsUrl)).text();
    assert.match(text, /strata_cluster_server_state\{server="data-3",state="down"\} 1/);

    const restarted = await startData(addrs, 3, dataDirs[1]);
    started.push(restarted);
    const healthy = await until('data-3 up again, HEALTHY', async () => {
      const s = await status(addrs);
      return stateOf(s, 'data-3') === 'up' && s.health.status === 'HEALTHY' ? s : undefined;
    });
    assert.equal(healthy.dataServers.length, 3);
    await until('nodes_online 3', async () =>
      (await metric(metadata.metricsUrl, 'strata_cluster_nodes_online')) === 3 ? true : undefined,
    );
    const human = await runStrata(['cluster', 'status', '--metadata-addr', addrs[0]], { env });
    assert.match(human.stdout.toString(), /^health: HEALTHY$/m);
    assert.match(human.stdout.toString(), /data-3 +\S+ +up +zone=z1 rack=r1 host=h1/);
  } finally {
    for (const p of started.reverse()) await p.stop();
  }
});

test('a new metadata leader does not mark healthy data servers down, and notices a dead one', async () => {
  const cluster = await MetadataCluster.start(3, ['--config', configPath]);
  const data: StrataProcess[] = [];
  try {
    const addrs = cluster.addrs;
    data.push(...(await Promise.all([2, 3, 4].map((id) => startData(addrs, 10 + id)))));
    await until('three data servers up', async () => {
      const s = await status(addrs);
      return s.dataServers.filter((d) => d.state === 'up').length === 3 ? s : undefined;
    });
    const old = await cluster.leader();
    await cluster.nodes.get(old.id)?.process.kill();
    await data[2].kill(); // data-14 dies with the leader
    await cluster.leader(old.id);
    const live = cluster.addrs.filter((a) => a !== cluster.nodes.get(old.id)?.addr);
    // Until the dead one is marked down (which takes the new leader's whole detection time),
    // the live servers must never have been anything but up.
    const seen = new Set<string>();
    await until('data-14 down under the new leader', async () => {
      const s = await status(live);
      for (const id of ['data-12', 'data-13']) seen.add(`${id}:${stateOf(s, id)}`);
      return stateOf(s, 'data-14') === 'down' ? s : undefined;
    });
    // And for a while after: past the detection time of a server never heard from.
    for (let i = 0; i < 8; i++) {
      const s = await status(live);
      for (const id of ['data-12', 'data-13']) seen.add(`${id}:${stateOf(s, id)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual([...seen].sort(), ['data-12:up', 'data-13:up']);
  } finally {
    for (const p of data) await p.stop();
    await cluster.stop();
  }
});
