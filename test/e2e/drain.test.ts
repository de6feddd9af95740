// Elasticity with real processes (issue 12): three metadata processes (one Raft cluster), an S3
// gateway and six `--role data` processes (4+2, each its own host). A seventh server joins and receives its fair share by
// rebalancing; one server is drained with the CLI (remove-server refused before) and removed (it
// is told, through its refused heartbeats); stopped, every object still reads back with its MD5,
// and the cluster is HEALTHY.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import type { ClusterHealth } from '../../src/metadata/health/cluster-health.ts';
import { liveDiskLoads, placementView, withinTolerance } from '../../src/metadata/repair/index.ts';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';
import { bodyBytes, md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import {
  configWriter,
  runStrata,
  type StrataProcess,
  startStrata,
  tempDir,
} from '../helpers/server.ts';
import { serversUp as serversUpProbe } from '../helpers/server-records.ts';
import { until as untilPolled } from '../helpers/wait.ts';

const DATA_SERVERS = 6;
const POLL_LIMIT_MS = 180_000; // generous: only an upper bound, never a measured figure

const configDir = tempDir('strata-drain-');
after(() => rmSync(configDir, { recursive: true, force: true }));

// Small shards (64 KiB), so a few MiB of objects make dozens of stripes to move.
const configFile = configWriter(configDir);

const md5 = md5Hex;

function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return untilPolled(what, probe, { limitMs: POLL_LIMIT_MS, intervalMs: 500 });
}

function shardFiles(dataDir: string): number {
  const root = join(dataDir, 'disks', 'd0', 'shards');
  if (!existsSync(root)) return 0;
  return readdirSync(root, { recursive: true, withFileTypes: true }).filter(
    (e) => e.isFile() && /^[0-9a-f]+\.\d+$/.test(e.name),
  ).length;
}

async function shardsOn(metadata: MetadataClient, serverId: string): Promise<number> {
  const counts = await metadata.read('shardCounts', serverId);
  return counts.reduce((sum, c) => sum + c.shards, 0);
}

// The drain command waits for its end: the test's timeout turns a drain that never ends into a
// failure instead of a hang.
test('a new server receives its fair share; a drained server holds nothing, loses nothing, and is removed', {
  timeout: 600_000,
}, async (t) => {
  const started: StrataProcess[] = [];
  const metadataEnv = configFile('metadata', [
    '[erasure_coding]',
    'shard_size_bytes = 65536',
    // Throttled to a few moves a second (k+1 shards of 64 KiB each), so reads overlap the drain.
    '[repair]',
    'max_concurrent = 4',
    'bandwidth_bytes_per_second = 1048576',
  ]);
  const cluster = await MetadataCluster.start(3, ['--config', metadataEnv.STRATA_CONFIG]);
  const addrs = cluster.addrs;
  const peers = ['--metadata-addr', addrs[0], '--raft-peers', addrs.slice(1).join(',')];
  const cli = ['--metadata-addr', addrs.join(',')]; // any member answers (followers forward)
  const metadata = new MetadataClient(addrs);
  const startData = async (nodeId: number) => {
    const process = await startStrata({
      args: ['--role', 'data', '--node-id', `${nodeId}`, ...peers],
      ready: [],
      env: configFile(`data-${nodeId}`, ['[data]', 'disk_count = 1', `host = "h${nodeId}"`]),
    });
    started.push(process);
    return process;
  };
  const serversUp = (count: number) =>
    until(`${count} data servers up with their disks reported`, serversUpProbe(metadata, count));
  try {
    const data = new Map<string, StrataProcess>();
    for (const [i, p] of (
      await Promise.all(Array.from({ length: DATA_SERVERS }, (_, i) => startData(i + 11)))
    ).entries())
      data.set(`data-${i + 11}`, p);
    const gateway = await startStrata({
      args: ['--role', 's3', ...peers],
      ready: ['s3'],
      env: metadataEnv,
    });
    started.push(gateway);
    await serversUp(DATA_SERVERS);

    const s3 = s3Client(gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'elastic' }));
    const written = new Map<string, string>();
    for (let i = 0; i < 16; i++) {
      const body = patternBytes(20_000 + i * 61_000, i + 1); // 1 to 4 stripes of 256 KiB
      await s3.send(new PutObjectCommand({ Bucket: 'elastic', Key: `o${i}`, Body: body }));
      written.set(`o${i}`, md5(body));
    }
    const total = (await metadata.read('shardCounts')).reduce((sum, c) => sum + c.shards, 0);
    t.diagnostic(`${total} shards over ${DATA_SERVERS} servers`);

    // A seventh server joins: rebalancing gives it its share (within the stated tolerance).
    await startData(DATA_SERVERS + 11);
    const newcomer = `data-${DATA_SERVERS + 11}`;
    await serversUp(DATA_SERVERS + 1);
    await until(`${newcomer} holds its fair share of shards`, async () => {
      const loads = liveDiskLoads(
        placementView(await metadata.read('dataServers')),
        await metadata.read('shardCounts'),
      );
      const mine = loads.filter((l) => l.serverId === newcomer);
      return mine.length > 0 && mine.every((l) => l.shards > 0 && withinTolerance(l))
        ? true
        : undefined;
    });
    t.diagnostic(`${newcomer} holds ${await shardsOn(metadata, newcomer)} shards`);

    // Removal is refused before a drain; then the drain moves every shard off.
    const victim = 'data-12';
    const held = await shardsOn(metadata, victim);
    assert.ok(held > 0, `${victim} holds shards before its drain`);
    const victimDir = (data.get(victim) as StrataProcess).dataDir;
    assert.ok(shardFiles(victimDir) > 0, `${victim} has shard files before its drain`);
    const early = await runStrata(['cluster', 'remove-server', victim, ...cli]);
    assert.equal(early.code, 1, early.stderr);
    assert.match(early.stderr, /drain it first/);
    const noWait = await runStrata(['cluster', 'drain', victim, '--no-wait', ...cli]);
    assert.equal(noWait.code, 0, noWait.stderr);
    assert.match(
      noWait.stdout.toString(),
      new RegExp(`${victim} is draining: \\d+ shards to move`),
    );
    // Its data stays readable while it drains (its shards are the moves' sources too).
    for (const [key, sum] of written) {
      const reply = await s3.send(new GetObjectCommand({ Bucket: 'elastic', Key: key }));
      assert.equal(md5(await bodyBytes(reply.Body)), sum, `the bytes of ${key} while draining`);
    }
    t.diagnostic(`${await shardsOn(metadata, victim)} of ${held} shards left after reading all`);
    // The command again follows the drain to its end.
    const drain = await runStrata(['cluster', 'drain', victim, ...cli]);
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(drain.stdout.toString(), new RegExp(`^draining ${victim}: \\d+ shards left`, 'm'));
    assert.match(drain.stdout.toString(), new RegExp(`${victim} drained`));
    assert.equal(await shardsOn(metadata, victim), 0);
    t.diagnostic(`drained ${held} shards off ${victim}`);
    // Each moved shard's file is deleted once its move is committed.
    await until(`the shard files of ${victim} deleted`, async () =>
      shardFiles(victimDir) === 0 ? true : undefined,
    );

    // Removed while still running: its heartbeats are refused from then on, and it is told.
    const removed = await runStrata(['cluster', 'remove-server', victim, ...cli]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await metadata.read('dataServer', victim))?.state, 'removed');
    const victimProcess = data.get(victim) as StrataProcess;
    await until(`${victim} told it was removed`, async () =>
      victimProcess.output().includes('removed from the cluster') ? true : undefined,
    );
    assert.equal((await metadata.read('dataServer', victim))?.state, 'removed');

    // Nothing depends on it any more: stopped, every object still reads back.
    await victimProcess.kill();
    for (const [key, sum] of written) {
      const reply = await s3.send(new GetObjectCommand({ Bucket: 'elastic', Key: key }));
      assert.equal(md5(await bodyBytes(reply.Body)), sum, `the bytes of ${key}`);
    }
    const status = await runStrata(['cluster', 'status', '--json', ...cli]);
    assert.equal(status.code, 0, status.stderr);
    const { health } = JSON.parse(status.stdout.toString()) as { health: ClusterHealth };
    assert.deepEqual(health, { status: 'HEALTHY', reasons: [] });
    s3.destroy();
  } finally {
    await metadata.close();
    for (const p of started.reverse()) await p.stop();
    await cluster.stop();
  }
});
