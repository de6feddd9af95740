// Repair with real processes (issue 12): a metadata process, an S3 gateway and eight `--role data`
// processes (k+m+2 with 4+2, each its own host). Two data servers are killed -9; the metadata
// leader's repair driver rebuilds every lost shard onto live servers by itself, until every
// stripe has k+m shards on k+m distinct live servers again; then two more are killed, and every
// object still reads back with its MD5.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import type { RepairProgress } from '../../src/metadata/repair/types.ts';
import type { DataServerInfo, Stripe } from '../../src/metadata/types.ts';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';
import { bodyBytes, md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import { runStrata, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { recordedDown, serversUp } from '../helpers/server-records.ts';
import { allStripes, hasShardFile, logLinesNaming, shardsNotOnDisk } from '../helpers/stripes.ts';
import { until as untilPolled } from '../helpers/wait.ts';

const DATA_SERVERS = 8;
const DISKS = 2;
const POLL_LIMIT_MS = 180_000; // generous: only an upper bound, never a measured figure

const configDir = tempDir('strata-repair-');
after(() => rmSync(configDir, { recursive: true, force: true }));

// A short repair delay (down about 7 s after the last heartbeat), each data server its own host.
function configFile(
  name: string,
  more: { metadata?: string[]; data?: string[]; repair?: string[] },
) {
  const path = join(configDir, `${name}.toml`);
  const lines = [
    ...['[metadata]', 'server_down_after_seconds = 2', ...(more.metadata ?? [])],
    ...['[data]', `disk_count = ${DISKS}`, ...(more.data ?? [])],
    ...['[repair]', ...(more.repair ?? [])],
  ];
  writeFileSync(path, lines.join('\n'));
  return { STRATA_CONFIG: path };
}

const md5 = md5Hex;

// What keeps a stripe from full redundancy: shards on servers not up (or killed, before the
// cluster has noticed), or two on one server.
function shortfalls(stripes: Stripe[], servers: DataServerInfo[], killed: string[] = []): string[] {
  const up = new Set(
    servers.filter((s) => s.state === 'up' && !killed.includes(s.serverId)).map((s) => s.serverId),
  );
  const problems: string[] = [];
  for (const stripe of stripes) {
    const holders = stripe.shards.map((s) => s.serverId);
    const off = holders.filter((id) => !up.has(id));
    if (off.length > 0) problems.push(`${stripe.id}: shards on ${off.join(', ')}`);
    else if (new Set(holders).size !== stripe.k + stripe.m)
      problems.push(`${stripe.id}: two shards on one server (${holders.join(', ')})`);
  }
  return problems;
}

function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return untilPolled(what, probe, { limitMs: POLL_LIMIT_MS, intervalMs: 500 });
}

async function metricValue(url: string, series: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

test('after two data servers are killed, repair restores k+m shards on live servers by itself, and two more can then fail', async (t) => {
  const started: StrataProcess[] = [];
  // The orphan scrubber every second, collecting shards older than 5 s (far longer than a
  // rebuilt shard waits for its commit here).
  const metadataEnv = configFile('metadata', {
    repair: ['max_concurrent = 8'],
    metadata: ['scrub_interval_seconds = 1', 'orphan_grace_seconds = 5'],
  });
  const metadataProcess = await startStrata({
    args: ['--role', 'metadata'],
    ready: ['metadata'],
    env: metadataEnv,
  });
  started.push(metadataProcess);
  const addr = metadataProcess.metadataAddr;
  const metadata = new MetadataClient([addr]);
  try {
    const data = await Promise.all(
      Array.from({ length: DATA_SERVERS }, (_, i) =>
        startStrata({
          args: ['--role', 'data', '--node-id', `${i + 2}`, '--metadata-addr', addr],
          ready: [],
          env: configFile(`data-${i + 2}`, { data: [`host = "h${i + 2}"`] }),
        }),
      ),
    );
    started.push(...data);
    const gateway = await startStrata({
      args: ['--role', 's3', '--metadata-addr', addr],
      ready: ['s3'],
      env: metadataEnv,
    });
    started.push(gateway);
    const processOf = new Map(data.map((p, i) => [`data-${i + 2}`, p]));
    await until(
      'eight data servers up with their disks reported',
      serversUp(metadata, DATA_SERVERS),
    );

    const s3 = s3Client(gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'repair' }));
    const written = new Map<string, string>();
    const sizes = [1, 1000, 300 * 1024, 1024 * 1024 + 5, 9 * 1024 * 1024 + 3];
    for (const [i, size] of sizes.entries()) {
      const body = patternBytes(size, i + 1);
      await s3.send(new PutObjectCommand({ Bucket: 'repair', Key: `o${i}`, Body: body }));
      written.set(`o${i}`, md5(body));
    }
    const before = await allStripes(metadata);
    assert.deepEqual(shortfalls(before, await metadata.read('dataServers')), []);

    // The two servers holding the most shards.
    const load = (id: string) => before.flatMap((s) => s.shards).filter((l) => l.serverId === id);
    const byLoad = [...processOf.keys()].sort((a, b) => load(b).length - load(a).length);
    const [firstLost, secondLost] = byLoad;
    for (const id of [firstLost, secondLost]) await processOf.get(id)?.kill();
    const killedAtMs = Date.now();
    const lostShards = load(firstLost).length + load(secondLost).length;
    t.diagnostic(`killed ${firstLost} and ${secondLost}, holding ${lostShards} shards`);

    const repairedStripes = await until(
      'every stripe with k+m shards on live servers',
      async () => {
        const stripes = await allStripes(metadata);
        const servers = await metadata.read('dataServers');
        const problems = shortfalls(stripes, servers, [firstLost, secondLost]);
        return problems.length === 0 ? stripes : undefined;
      },
    );
    // Reported, not asserted: the repair delay (about 7 s here) is most of it.
    t.diagnostic(`full redundancy ${Date.now() - killedAtMs} ms after the kill`);
    assert.equal(repairedStripes.length, before.length, 'the same stripes');
    // Each rebuilt shard is a file where the record says it is (looked for again if it moved).
    const dataDirOf = new Map([...processOf].map(([id, p]) => [id, p.dataDir]));
    const missing = await shardsNotOnDisk(metadata, dataDirOf);
    assert.deepEqual(
      missing,
      [],
      `recorded shards on disk; logs:\n${logLinesNaming(started, missing)}`,
    );
    const status = await runStrata(['cluster', 'status', '--json', '--metadata-addr', addr]);
    assert.equal(status.code, 0, status.stderr.toString());
    const { repair } = JSON.parse(status.stdout.toString()) as { repair: RepairProgress };
    assert.equal(repair.tasks.done, lostShards);
    assert.equal(repair.rebuiltBytes > 0, true);
    // The pace and the time left: moves (the spread, fair share) may still follow the rebuilds.
    assert.equal(typeof repair.bytesPerSecond, 'number', 'the pace is reported');
    if (repair.queueLength === 0 && repair.running === 0) assert.equal(repair.etaSeconds, 0);
    else assert.ok(repair.etaSeconds === undefined || repair.etaSeconds > 0, 'time left');
    const human = await runStrata(['cluster', 'status', '--metadata-addr', addr]);
    assert.match(human.stdout.toString(), new RegExp(`^repair: .* rebuilt ${lostShards} `, 'm'));
    const metricsUrl = metadataProcess.metricsUrl;
    assert.equal(
      await metricValue(metricsUrl, 'strata_repair_tasks_total{outcome="done"}'),
      lostShards,
    );
    assert.ok((await metricValue(metricsUrl, 'strata_repair_bytes_total')) > 0);
    // Every data server here is on one machine: the rebuilds read their peers' disks themselves.
    let peerDiskReads = 0;
    for (const p of data.filter((_, i) => ![firstLost, secondLost].includes(`data-${i + 2}`)))
      peerDiskReads += await metricValue(
        p.metricsUrl,
        'strata_data_repair_peer_disk_reads_total{result="ok"}',
      );
    assert.ok(peerDiskReads > 0, 'source shards read from peer disks on this machine');

    // The first server killed comes back with its old shard files: they are stale (rebuilt
    // elsewhere) and collected, while no shard the records name is touched.
    const firstDir = (processOf.get(firstLost) as StrataProcess).dataDir;
    const staleFiles = () =>
      before.flatMap((stripe) =>
        stripe.shards.flatMap((location, index) =>
          location.serverId === firstLost && hasShardFile(firstDir, location.disk, stripe.id, index)
            ? [`${stripe.id}.${index}`]
            : [],
        ),
      );
    assert.equal(staleFiles().length, load(firstLost).length, 'its shard files are still there');
    const returned = await startStrata({
      dataDir: firstDir,
      args: [
        '--role',
        'data',
        '--node-id',
        firstLost.slice('data-'.length),
        '--metadata-addr',
        addr,
      ],
      ready: [],
      env: configFile(`${firstLost}-again`, {
        data: [`host = "h${firstLost.slice('data-'.length)}"`],
      }),
    });
    started.push(returned);
    await until(`the stale shards of ${firstLost} collected`, async () =>
      staleFiles().length === 0 ? true : undefined,
    );
    assert.ok((await metricValue(metricsUrl, 'strata_metadata_stale_shards_deleted_total')) > 0);
    assert.deepEqual(
      shortfalls(await allStripes(metadata), await metadata.read('dataServers')),
      [],
    );

    // Two more servers fail: with full redundancy restored, every object still reads.
    const survivors = byLoad.slice(2);
    for (const id of survivors.slice(0, 2)) await processOf.get(id)?.kill();
    for (const [key, sum] of written) {
      const reply = await s3.send(new GetObjectCommand({ Bucket: 'repair', Key: key }));
      assert.equal(md5(await bodyBytes(reply.Body)), sum, `the bytes of ${key}`);
    }
    s3.destroy();
  } finally {
    await metadata.close();
    for (const p of started.reverse()) await p.stop();
  }
});

// Every shard file of the live data servers, by "<stripe>.<index>", with how many copies.
function shardFileCounts(dirs: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const dir of dirs) {
    for (let d = 0; d < DISKS; d++) {
      const root = join(dir, 'disks', `d${d}`, 'shards');
      if (!existsSync(root)) continue;
      for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
        if (e.isFile() && /^[0-9a-f]+\.\d+$/.test(e.name))
          counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
      }
    }
  }
  return counts;
}

test('repair resumes under a new metadata leader, leaving no duplicate or orphan shard', async (t) => {
  // Slow repair (1 MiB/s, one task at a time: about 5 s per 1 MiB shard), so the leader dies
  // with most of it still to do.
  const env = configFile('cluster', {
    repair: ['max_concurrent = 1', 'bandwidth_bytes_per_second = 1048576'],
    metadata: ['scrub_interval_seconds = 1', 'orphan_grace_seconds = 5'],
  });
  const cluster = await MetadataCluster.start(3, ['--config', env.STRATA_CONFIG]);
  const addrs = cluster.addrs;
  const peers = ['--metadata-addr', addrs[0], '--raft-peers', addrs.slice(1).join(',')];
  const started: StrataProcess[] = [];
  const metadata = new MetadataClient(addrs);
  try {
    const data = await Promise.all(
      Array.from({ length: DATA_SERVERS }, (_, i) =>
        startStrata({
          args: ['--role', 'data', '--node-id', `${i + 10}`, ...peers],
          ready: [],
          env: configFile(`c-data-${i + 10}`, { data: [`host = "h${i + 10}"`] }),
        }),
      ),
    );
    started.push(...data);
    const gateway = await startStrata({ args: ['--role', 's3', ...peers], ready: ['s3'], env });
    started.push(gateway);
    const processOf = new Map(data.map((p, i) => [`data-${i + 10}`, p]));
    await until(
      'eight data servers up with their disks reported',
      serversUp(metadata, DATA_SERVERS),
    );
    const s3 = s3Client(gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'resume' }));
    const body = patternBytes(8 * 1024 * 1024, 7); // two full stripes of 1 MiB shards
    await s3.send(new PutObjectCommand({ Bucket: 'resume', Key: 'big', Body: body }));
    const before = await allStripes(metadata);
    const lost = [...processOf.keys()].filter((id) =>
      before.some((s) => s.shards.some((l) => l.serverId === id)),
    );
    const killed = lost.slice(0, 2);
    for (const id of killed) await processOf.get(id)?.kill();
    const lostShards = before.flatMap((s) => s.shards).filter((l) => killed.includes(l.serverId));
    assert.ok(lostShards.length >= 2, 'the killed servers held shards');

    const old = await cluster.leader();
    const oldMetrics = (cluster.nodes.get(old.id) as { process: StrataProcess }).process.metricsUrl;
    await until('the first shard rebuilt by the first leader', async () =>
      (await metricValue(oldMetrics, 'strata_repair_tasks_total{outcome="done"}')) >= 1
        ? true
        : undefined,
    );
    const doneByOld = await metricValue(oldMetrics, 'strata_repair_tasks_total{outcome="done"}');
    await cluster.nodes.get(old.id)?.process.kill();
    t.diagnostic(`leader ${old.id} killed after ${doneByOld} of ${lostShards.length} shards`);
    assert.ok(doneByOld < lostShards.length, 'the leader died with repair still to do');
    const next = await cluster.leader(old.id);
    const live = new MetadataClient(addrs.filter((a) => a !== cluster.nodes.get(old.id)?.addr));
    try {
      await until('every stripe with k+m shards on live servers', async () => {
        const servers = await live.read('dataServers');
        const problems = shortfalls(await allStripes(live), servers, killed);
        return problems.length === 0 ? true : undefined;
      });
      const nextMetrics = (cluster.nodes.get(next.id) as { process: StrataProcess }).process
        .metricsUrl;
      assert.ok((await metricValue(nextMetrics, 'strata_repair_tasks_total{outcome="done"}')) >= 1);
      // Exactly one file per shard on the live servers: a shard the dead leader wrote but never
      // committed was either written again at the same place or collected as stale.
      const liveDirs = [...processOf]
        .filter(([id]) => !killed.includes(id))
        .map(([, p]) => p.dataDir);
      const expected = (await allStripes(live))
        .flatMap((s) => s.shards.map((_, i) => `${s.id}.${i}`))
        .sort();
      await until('one file per shard, none left over', async () => {
        const counts = shardFileCounts(liveDirs);
        const files = [...counts.keys()].sort();
        const once = [...counts.values()].every((n) => n === 1);
        return once && JSON.stringify(files) === JSON.stringify(expected) ? true : undefined;
      });
      const reply = await s3.send(new GetObjectCommand({ Bucket: 'resume', Key: 'big' }));
      assert.equal(md5(await bodyBytes(reply.Body)), md5(body));
    } finally {
      await live.close();
      s3.destroy();
    }
  } finally {
    await metadata.close();
    for (const p of started.reverse()) await p.stop();
    await cluster.stop();
  }
});

test('a repair of more stripes than a replan looks at rebuilds them all, its queue counting the rest', async (t) => {
  // 40 stripes lose a shard each; one task at a time, so after the page's first plan the driver
  // replans a window of 32 stripes (plan-window.ts) and defers the others. Slow (1 MiB/s, the
  // least; a task of 64 KiB shards counts its k sources and its target, about three a second),
  // so that the queue is read while most shards are still lost.
  const env = configFile('window', {
    repair: ['max_concurrent = 1', 'bandwidth_bytes_per_second = 1048576'],
  });
  const metadataProcess = await startStrata({
    args: ['--role', 'metadata'],
    ready: ['metadata'],
    env,
  });
  const started: StrataProcess[] = [metadataProcess];
  const addr = metadataProcess.metadataAddr;
  const metadata = new MetadataClient([addr]);
  try {
    const servers = 6; // with 4+2, every stripe has a shard on each
    const data = await Promise.all(
      Array.from({ length: servers }, (_, i) =>
        startStrata({
          args: ['--role', 'data', '--node-id', `${i + 20}`, '--metadata-addr', addr],
          ready: [],
          env: configFile(`w-data-${i + 20}`, { data: [`host = "h${i + 20}"`] }),
        }),
      ),
    );
    started.push(...data);
    const gateway = await startStrata({
      args: ['--role', 's3', '--metadata-addr', addr],
      ready: ['s3'],
      env,
    });
    started.push(gateway);
    await until('six data servers up with their disks reported', serversUp(metadata, servers));
    const s3 = s3Client(gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'window' }));
    const written = new Map<string, string>();
    const objects = 40;
    for (let i = 0; i < objects; i++) {
      const body = patternBytes(256 * 1024, i + 1); // past the inline limit: one stripe each
      await s3.send(new PutObjectCommand({ Bucket: 'window', Key: `w${i}`, Body: body }));
      written.set(`w${i}`, md5(body));
    }
    assert.equal((await allStripes(metadata)).length, objects);
    const victim = 'data-20';
    await data[0].kill();
    const onVictim = async () =>
      (await metadata.read('shardCounts'))
        .filter((c) => c.serverId === victim)
        .reduce((sum, c) => sum + c.shards, 0);
    await until(`${victim} recorded down`, recordedDown(metadata, victim));
    // The queue the leader reports, read before the shards left on the victim: every plan
    // counts them all (running, waiting in the window, deferred beyond it), so it is never below
    // what is left a moment later. Only samples after the first rebuild landed count (the
    // page's first plan sees every stripe; the later ones see the window).
    const samples: Array<{ queue: number; left: number }> = [];
    for (let left = objects; left > 0; ) {
      const queue = await metricValue(metadataProcess.metricsUrl, 'strata_repair_queue_length');
      left = await onVictim();
      if (left < objects) samples.push({ queue, left });
      await new Promise((r) => setTimeout(r, 50));
    }
    const early = samples.filter((s) => s.left > 34);
    t.diagnostic(`${samples.length} samples, ${early.length} with more than 34 shards left`);
    assert.ok(early.length > 0, 'read while more shards were left than a replan looks at');
    for (const s of samples)
      assert.ok(s.queue >= s.left, `queue ${s.queue} below the ${s.left} shards still lost`);
    // Five servers left: a stripe may hold two shards on one (the domain rule's cap, m), never
    // more, and none on the victim.
    for (const stripe of await allStripes(metadata)) {
      const holders = stripe.shards.map((l) => l.serverId);
      assert.equal(holders.length, stripe.k + stripe.m);
      assert.ok(!holders.includes(victim), `${stripe.id} on ${victim}`);
      for (const id of new Set(holders))
        assert.ok(holders.filter((h) => h === id).length <= stripe.m, `${stripe.id} on ${id}`);
    }
    for (const [key, sum] of written) {
      const reply = await s3.send(new GetObjectCommand({ Bucket: 'window', Key: key }));
      assert.equal(md5(await bodyBytes(reply.Body)), sum, key);
    }
    s3.destroy();
  } finally {
    await metadata.close();
    for (const p of started.reverse()) await p.stop();
  }
});
