// Committed metadata operations per second and latency on a 3-node Strata metadata cluster, beside
// a 3-member etcd cluster (Debian's etcd-server through ../shared/peers/etcd3.sh) in one run, at
// 1 and 64 concurrent clients; then leader failover time (kill -9 to the first successful write).
// Strata's operation is a file create (one Raft command, ~200 bytes); etcd's a 256-byte put.
//   npm run bench:metadata [-- --seconds 10 --skip-etcd]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { MetadataCluster } from '../../test/helpers/metadata-cluster.ts';
import { REPO_ROOT, tempDir } from '../../test/helpers/server.ts';

const PEERS = join(REPO_ROOT, '..', 'shared', 'peers');
const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'skip-etcd': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(opts.seconds);
const CONCURRENCIES = [1, 64];

interface Figures {
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  // Strata only: each member's CPU (all its threads, /proc/PID/stat) per operation, leader first.
  cpuUsPerOp?: Record<string, number>;
}

const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S; // utime + stime
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

// Runs `op` from `concurrency` loops for SECONDS; latencies of successful operations.
async function load(concurrency: number, op: (worker: number, n: number) => Promise<void>) {
  const latencies: number[] = [];
  let errors = 0;
  const endAt = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let n = 0; performance.now() < endAt; n++) {
        const started = performance.now();
        try {
          await op(worker, n);
          latencies.push(performance.now() - started);
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    opsPerSecond: latencies.length / SECONDS,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
  } satisfies Figures;
}

async function untilSuccess(op: () => Promise<void>): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      await op();
      return performance.now() - started;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function benchStrata(): Promise<{ load: Map<number, Figures>; failoverMs: number }> {
  const cluster = await MetadataCluster.start(3);
  const clients = Array.from({ length: 8 }, () => new MetadataClient(cluster.addrs));
  const results = new Map<number, Figures>();
  try {
    const dir = await clients[0].apply({
      op: 'createBucket',
      nowMs: Date.now(),
      name: 'bench',
      owner: 'bench',
      caller: { uid: 0, gid: 0 },
    });
    const parent = dir.inode?.ino as number;
    const create = (client: MetadataClient, name: string) =>
      client
        .apply({
          op: 'create',
          nowMs: Date.now(),
          parent,
          name,
          mode: 0o644,
          caller: { uid: 0, gid: 0 },
          exclusive: true,
        })
        .then(() => undefined);
    const { id: leaderId } = await cluster.leader();
    const members = [...cluster.nodes.entries()]
      .sort(([a], [b]) => (a === leaderId ? -1 : b === leaderId ? 1 : a - b))
      .map(([id, node]) => ({
        name: id === leaderId ? `leader(${id})` : `follower(${id})`,
        pid: node.process.process.pid as number,
      }));
    for (const concurrency of CONCURRENCIES) {
      const cpuBefore = members.map((m) => cpuSeconds(m.pid));
      const figures: Figures = await load(concurrency, (w, n) =>
        create(clients[w % clients.length], `c${concurrency}-w${w}-${n}`),
      );
      const ops = figures.opsPerSecond * SECONDS;
      figures.cpuUsPerOp = Object.fromEntries(
        members.map((m, i) => [
          m.name,
          Math.round(((cpuSeconds(m.pid) - cpuBefore[i]) * 1e6) / ops),
        ]),
      );
      results.set(concurrency, figures);
      console.log(`strata  c=${concurrency}: ${JSON.stringify(figures)}`);
    }
    const { id } = await cluster.leader();
    const failover = clients[1];
    await cluster.nodes.get(id)?.process.kill();
    let n = 0;
    const failoverMs = await untilSuccess(() => create(failover, `failover-${n++}`));
    console.log(`strata  failover: ${failoverMs.toFixed(0)} ms`);
    return { load: results, failoverMs };
  } finally {
    for (const client of clients) await client.close();
    await cluster.stop();
  }
}

async function benchEtcd(): Promise<{ load: Map<number, Figures>; failoverMs: number }> {
  const work = tempDir('strata-etcd-');
  const script = join(PEERS, 'etcd3.sh');
  const started = spawnSync('bash', [script, 'start', work], { stdio: 'inherit' });
  if (started.status !== 0) throw new Error('etcd3.sh start failed');
  const endpoints = [12379, 12389, 12399].map((p) => `http://127.0.0.1:${p}`);
  const value = Buffer.alloc(256, 'v').toString('base64');
  const put = async (endpoint: string, key: string) => {
    const response = await fetch(`${endpoint}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from(key).toString('base64'), value }),
      signal: AbortSignal.timeout(3_000),
    });
    if (!response.ok) throw new Error(`etcd ${response.status}`);
    await response.arrayBuffer();
  };
  const results = new Map<number, Figures>();
  try {
    for (const concurrency of CONCURRENCIES) {
      const figures = await load(concurrency, (w, n) =>
        put(endpoints[w % endpoints.length], `c${concurrency}-w${w}-${n}`),
      );
      results.set(concurrency, figures);
      console.log(`etcd    c=${concurrency}: ${JSON.stringify(figures)}`);
    }
    const leader = spawnSync('bash', [script, 'leader', work], { encoding: 'utf8' });
    const pid = Number(leader.stdout.trim());
    const leaderIndex = [0, 1, 2].find(
      (i) =>
        spawnSync('cat', [join(work, 'run', `m${i}.pid`)], { encoding: 'utf8' }).stdout.trim() ===
        String(pid),
    );
    process.kill(pid, 'SIGKILL');
    const survivors = endpoints.filter((_, i) => i !== leaderIndex);
    let n = 0;
    const failoverMs = await untilSuccess(() =>
      put(survivors[n % survivors.length], `failover-${n++}`),
    );
    console.log(`etcd    failover: ${failoverMs.toFixed(0)} ms`);
    return { load: results, failoverMs };
  } finally {
    spawnSync('bash', [script, 'stop', work], { stdio: 'inherit' });
  }
}

const strata = await benchStrata();
const etcd = opts['skip-etcd'] ? undefined : await benchEtcd();
const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(2) : '-');
console.log(`\n${SECONDS} s per load; 3 members each, on this one machine\n`);
console.log('| workload | Strata | etcd | Strata / etcd |');
console.log('|---|---|---|---|');
for (const c of CONCURRENCIES) {
  const s = strata.load.get(c) as Figures;
  const e = etcd?.load.get(c);
  console.log(
    `| c=${c} ops/s | ${s.opsPerSecond.toFixed(0)} | ${e?.opsPerSecond.toFixed(0) ?? '-'} | ${ratio(s.opsPerSecond, e?.opsPerSecond)} |`,
  );
  console.log(
    `| c=${c} p50 ms | ${s.p50Ms.toFixed(2)} | ${e?.p50Ms.toFixed(2) ?? '-'} | ${ratio(s.p50Ms, e?.p50Ms)} |`,
  );
  console.log(
    `| c=${c} p99 ms | ${s.p99Ms.toFixed(2)} | ${e?.p99Ms.toFixed(2) ?? '-'} | ${ratio(s.p99Ms, e?.p99Ms)} |`,
  );
}
console.log(
  `| failover ms (kill -9 to first write) | ${strata.failoverMs.toFixed(0)} | ${etcd?.failoverMs.toFixed(0) ?? '-'} | ${ratio(strata.failoverMs, etcd?.failoverMs)} |`,
);
