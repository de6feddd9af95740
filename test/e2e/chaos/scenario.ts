// The chaos scenario of issue 12's acceptance, with real processes: 3 metadata members, 8 data
// servers (k+m+2 with 4+2, so that after a repair two more can fail) and an S3 gateway. Each
// round, with a seeded schedule: kill -9 two data servers (reads and writes go on), wait for
// repair to restore full redundancy, kill two others (reads go on), restart one of those while
// its shards are being rebuilt, bring every server back, SIGSTOP one (GETs gain less than a
// second), in the first round add a server (it receives shards) and drain and remove another,
// and check that the shard files on the disks are exactly what the metadata names.
// The short form is test/e2e/chaos.test.ts, the long one `npm run chaos` (run.ts).
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Stripe } from '../../../src/metadata/types.ts';
import {
  DataCluster,
  type DataServer,
  redundancyShortfalls,
  type ShardFile,
} from '../../helpers/data-cluster.ts';
import { bodyBytes, md5Hex, patternBytes } from '../../helpers/s3.ts';
import { runStrata } from '../../helpers/server.ts';
import { until } from '../../helpers/wait.ts';

const BUCKET = 'chaos';
const K = 4;
const M = 2;
const DATA_SERVERS = K + M + 2;
const DISKS_PER_SERVER = 2;
// Upper bounds for polling, never measured figures.
const REPAIR_LIMIT_MS = 240_000;
const FILES_LIMIT_MS = 180_000;

export interface ChaosOptions {
  objects: number; // written before the first round
  seed: number;
  log?: (line: string) => void;
}

export interface RoundReport {
  round: number;
  killedFirst: string[];
  putAtKillMs: number; // a PUT started right after the first kill, until acknowledged
  // Whether `cluster status` reported no degraded stripe and an empty queue right after the
  // kill: it counts shards on servers recorded down, so until the detector and the repair delay
  // have run it reports a cluster with two dead servers as fully redundant.
  statusCleanAtKill: boolean;
  fullRedundancyMs: number; // from the first kill until every stripe has k+m healthy shards
  killedSecond: string[];
  restartedDuringRepair: string;
  fullRedundancyAfterRestartMs: number; // from the second kill, with one of them back
  stopped: string; // the server SIGSTOPped
  hedgedReads: number; // the gateway's hedged shard reads during the pass with it stopped
  getBaselineMsMax: number; // slowest GET of the pass before the SIGSTOP
  getAddedMsMedian: number; // per object: GET while stopped minus GET before
  getAddedMsMax: number;
  shardFiles: number; // files on the disks at the end, each one a shard the metadata names
  stripes: number;
  // Stripes with 2 shards on one server at the end (0: rebalancing spreads those rebuilt
  // while fewer than k+m servers ran, which two more failures could otherwise take 3 of).
  stripesNotSpread: number;
  // Rebalancing moves in the round (the leader's counts): failed ones are retried at a later
  // walk (a stale copy of the shard at the target, not yet collected, refuses the write).
  movesDone: number;
  movesFailed: number;
  // The first round: the server added, the one drained (its shards and how long), then removed.
  drain?: { added: string; drained: string; drainedShards: number; drainMs: number };
}

// A small seeded generator (mulberry32): the same seed gives the same schedule.
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(items: readonly T[], count: number, random: () => number): T[] {
  assert.ok(items.length >= count, `${count} of ${items.length}`);
  const pool = [...items];
  const chosen: T[] = [];
  while (chosen.length < count) chosen.push(...pool.splice(Math.floor(random() * pool.length), 1));
  return chosen;
}

const md5 = md5Hex;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export class ChaosScenario {
  readonly cluster: DataCluster;
  readonly objects = new Map<string, string>(); // key -> MD5 of every acknowledged PUT
  private readonly random: () => number;
  private readonly log: (line: string) => void;
  private written = 0;

  private constructor(cluster: DataCluster, options: ChaosOptions) {
    this.cluster = cluster;
    this.random = seededRandom(options.seed);
    this.log = options.log ?? (() => {});
  }

  // Down about 7 s after the last heartbeat (a short repair delay), the orphan scrubber every
  // second with a 5 s grace (far longer than a rebuilt shard waits for its commit), 64 KiB
  // shards so that little data makes many stripes, and repair throttled to 2 MiB/s so that a
  // server can be restarted while its shards are still being rebuilt.
  static async start(options: ChaosOptions): Promise<ChaosScenario> {
    const cluster = await DataCluster.start({
      dataServers: DATA_SERVERS,
      disksPerServer: DISKS_PER_SERVER,
      metadata: [
        'server_down_after_seconds = 2',
        'scrub_interval_seconds = 1',
        'orphan_grace_seconds = 5',
      ],
      erasure: [`data_shards = ${K}`, `parity_shards = ${M}`, 'shard_size_bytes = 65536'],
      repair: ['max_concurrent = 4', 'bandwidth_bytes_per_second = 2097152'],
    });
    const scenario = new ChaosScenario(cluster, options);
    try {
      await cluster.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      await scenario.writeObjects(options.objects);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return scenario;
  }

  async stop(): Promise<void> {
    await this.cluster.stop();
  }

  // Objects of 1 byte to about 1.3 MiB (up to 6 stripes), contents from the seed.
  async writeObjects(count: number): Promise<string[]> {
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
      const n = this.written++;
      const size = n % 5 === 0 ? 1 + n : 100_000 + Math.floor(this.random() * 1_300_000);
      const key = `o${n}`;
      await this.put(key, patternBytes(size, n + 1));
      keys.push(key);
    }
    return keys;
  }

  private async put(key: string, body: Buffer): Promise<void> {
    const { s3, gateway } = this.cluster;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body })).catch((e) => {
      throw new Error(`PUT ${key}: ${e}\ngateway:\n${gateway.output().slice(-3000)}`);
    });
    this.objects.set(key, md5(body));
  }

  // GETs the object, checks its MD5; returns how long it took.
  async get(key: string, when: string): Promise<number> {
    const { s3, gateway } = this.cluster;
    const startedMs = performance.now();
    // A stripe found unreadable after the headers went out ends the body early (a reset).
    const bytes = await s3
      .send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
      .then((reply) => bodyBytes(reply.Body))
      .catch((e) => {
        throw new Error(`GET ${key} ${when}: ${e}\ngateway:\n${gateway.output().slice(-3000)}`);
      });
    const elapsedMs = performance.now() - startedMs;
    assert.equal(md5(bytes), this.objects.get(key), `the bytes of ${key} ${when}`);
    return elapsedMs;
  }

  // `count` running servers drawn from the seed, none of `except`.
  pickRunning(count: number, except: string[] = []): DataServer[] {
    const from = this.cluster.running().filter((s) => !except.includes(s.id));
    return pick(from, count, this.random);
  }

  async readAll(when: string): Promise<void> {
    for (const key of this.objects.keys()) await this.get(key, when);
  }

  async round(round: number): Promise<RoundReport> {
    const c = this.cluster;
    const movesBefore = (await c.metadata.repairProgress()).moves;
    // 1. Two servers killed; reads and a write start at once.
    const killedFirst = pick(c.running(), 2, this.random);
    const firstKillMs = performance.now();
    await Promise.all(killedFirst.map((s) => c.kill(s)));
    const names = (servers: DataServer[]) => servers.map((s) => s.id);
    this.log(`round ${round}: killed ${names(killedFirst)}`);
    const putAtKill = (async () => {
      await this.writeObjects(2);
      return performance.now() - firstKillMs;
    })();
    // What `cluster status` reports as repair now (its `repair` field), before detection.
    const atKill = await c.metadata.repairProgress();
    const statusCleanAtKill =
      Object.keys(atKill.degradedStripes).length === 0 && atKill.queueLength === 0;
    await this.readAll(`with ${names(killedFirst)} killed`);
    const putAtKillMs = await putAtKill;
    // 2. Repair restores full redundancy by itself.
    // One shard per server with k+m servers left: so that two more may fail.
    await this.untilFullRedundancy(`after killing ${names(killedFirst)}`, 1);
    const fullRedundancyMs = performance.now() - firstKillMs;
    this.log(`round ${round}: full redundancy ${Math.round(fullRedundancyMs)} ms after the kill`);
    await this.checkStatusReport();
    // 3. Two others killed: every object still reads.
    const killedSecond = pick(c.running(), 2, this.random);
    const secondKillMs = performance.now();
    await Promise.all(killedSecond.map((s) => c.kill(s)));
    this.log(`round ${round}: killed ${names(killedSecond)}`);
    await this.readAll(`with ${names(killedSecond)} killed too`);
    // 4. One of them restarted while its shards are being rebuilt.
    const restarted = await this.restartDuringRepair(killedSecond[0]);
    await this.untilFullRedundancy(`with ${restarted.id} back during repair`, M);
    const fullRedundancyAfterRestartMs = performance.now() - secondKillMs;
    // 5. Everyone back; one server SIGSTOPped while every object is read.
    for (const s of [...killedFirst, ...killedSecond.slice(1)]) await c.startServer(s);
    await c.untilAllUp();
    const stop = await this.sigstopGets();
    // 6. First round: a new server receives shards; another is drained, removed: HEALTHY.
    const drain = round === 1 ? await newServerDrainRemove(this) : undefined;
    // 7. Nothing lost, nothing duplicated, nothing left over.
    // Spread one per server again (rebalancing), so that the next round's two kills are safe.
    const final = await this.untilFullRedundancy('with every server back', 1);
    const stripesNotSpread = final.filter(
      (s) => new Set(s.shards.map((l) => l.serverId)).size < s.shards.length,
    ).length;
    const shardFiles = await this.untilShardFilesMatch();
    await this.readAll(`at the end of round ${round}`);
    const moves = (await c.metadata.repairProgress()).moves;
    return {
      round,
      killedFirst: names(killedFirst),
      putAtKillMs,
      statusCleanAtKill,
      fullRedundancyMs,
      killedSecond: names(killedSecond),
      restartedDuringRepair: restarted.id,
      fullRedundancyAfterRestartMs,
      ...stop,
      shardFiles,
      stripes: final.length,
      stripesNotSpread,
      ...(drain ? { drain } : {}),
      movesDone: moves.done - movesBefore.done,
      movesFailed: moves.failed + moves.refused - movesBefore.failed - movesBefore.refused,
    };
  }

  private async gatewayCounter(series: string): Promise<number> {
    const text = await (await fetch(this.cluster.gateway.metricsUrl)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  }

  // Every stripe with k+m shards on servers recorded up and running, at most `perServerMax` on
  // one (1: any two more servers can fail; m: the domain rule, any one can), judged by a walk
  // of every stripe: what `cluster status` reports is checked against it separately.
  async untilFullRedundancy(when: string, perServerMax: number): Promise<Stripe[]> {
    const c = this.cluster;
    let last: string[] = [];
    try {
      return await until(
        `full redundancy ${when}`,
        async () => {
          const running = new Set(c.running().map((s) => s.id));
          const stripes = await c.stripes();
          last = redundancyShortfalls(stripes, await c.records(), running, perServerMax);
          return last.length === 0 ? stripes : undefined;
        },
        { limitMs: REPAIR_LIMIT_MS, intervalMs: 500 },
      );
    } catch (error) {
      const repairLog = [...c.metadataCluster.nodes.values()]
        .flatMap((n) => n.process.output().split('\n'))
        .filter((l) => /repair|rebuild|move/i.test(l))
        .slice(-20);
      throw new Error(
        `${error}\n${last.length} stripes short, first: ${last.slice(0, 5)}\n` +
          `repair log (metadata members, last lines):\n${repairLog.join('\n')}`,
      );
    }
  }

  // What `strata cluster status --json` says once the walk found full redundancy: no degraded
  // stripes at the leader's last pass and nothing queued. (Right after a kill it says the same
  // until the server is recorded down: it counts shards lost, not shards unreachable.)
  private async checkStatusReport(): Promise<void> {
    const addr = this.cluster.metadataCluster.addrs.join(',');
    await until(
      'cluster status: no degraded stripe, nothing queued',
      async () => {
        const status = await runStrata(['cluster', 'status', '--json', '--metadata-addr', addr]);
        assert.equal(status.code, 0, status.stderr);
        const { repair } = JSON.parse(status.stdout.toString()) as {
          repair: { degradedStripes: Record<string, number>; queueLength: number };
        };
        const clean = Object.keys(repair.degradedStripes).length === 0;
        return clean && repair.queueLength === 0 ? true : undefined;
      },
      { limitMs: 30_000, intervalMs: 1_000 },
    );
  }

  // Waits until the cluster records the server down and the repair has rebuilt some of its
  // shards but not all, then starts it again on its old disks.
  private async restartDuringRepair(server: DataServer): Promise<DataServer> {
    const c = this.cluster;
    const doneBefore = (await c.metadata.repairProgress()).tasks.done;
    const holding = (stripes: Stripe[]) =>
      stripes.filter((s) => s.shards.some((l) => l.serverId === server.id)).length;
    const heldAtKill = holding(await c.stripes());
    assert.ok(heldAtKill > 0, `${server.id} held shards`);
    const left = await until(
      `repair of ${server.id}'s shards under way`,
      async () => {
        const progress = await c.metadata.repairProgress();
        if (progress.tasks.done <= doneBefore) return undefined;
        const stillThere = holding(await c.stripes());
        return stillThere < heldAtKill ? stillThere : undefined;
      },
      { limitMs: REPAIR_LIMIT_MS, intervalMs: 100 },
    );
    assert.ok(left > 0, `the repair of ${server.id} ended before it could be restarted`);
    await c.startServer(server);
    this.log(`restarted ${server.id} during the repair of its shards`);
    return server;
  }

  // GETs every object before and while one server (drawn from the seed) is SIGSTOPped: the
  // added time per object.
  private async sigstopGets(): Promise<
    Pick<
      RoundReport,
      'stopped' | 'hedgedReads' | 'getBaselineMsMax' | 'getAddedMsMedian' | 'getAddedMsMax'
    >
  > {
    const c = this.cluster;
    const keys = [...this.objects.keys()];
    const baseline = new Map<string, number>();
    for (const key of keys) baseline.set(key, await this.get(key, 'before the SIGSTOP'));
    const stopped = pick(c.running(), 1, this.random)[0];
    const hedgedBefore = await this.gatewayCounter('strata_client_hedged_reads_total');
    c.sigstop(stopped);
    const added: number[] = [];
    try {
      for (const key of keys) {
        const ms = await this.get(key, `with ${stopped.id} stopped`);
        added.push(ms - (baseline.get(key) as number));
      }
    } finally {
      c.sigcont(stopped);
    }
    const report = {
      stopped: stopped.id,
      // Shard reads sent elsewhere because one was slow: the stopped server was in the way.
      hedgedReads: (await this.gatewayCounter('strata_client_hedged_reads_total')) - hedgedBefore,
      getBaselineMsMax: Math.max(...baseline.values()),
      getAddedMsMedian: median(added),
      getAddedMsMax: Math.max(...added),
    };
    this.log(`SIGSTOP ${stopped.id}: GET added ${JSON.stringify(report)}`);
    return report;
  }

  // Once repair and the orphan scrubber are done: every shard file on the disks is one the
  // metadata names, where it names it, exactly once; every named shard has its file.
  async untilShardFilesMatch(): Promise<number> {
    const c = this.cluster;
    let diff = '';
    try {
      return await until(
        'shard files exactly as the metadata names them',
        async () => {
          const expected = expectedFiles(await c.stripes());
          const found = c.shardFiles();
          diff = compareFiles(expected, found);
          return diff === '' ? found.length : undefined;
        },
        { limitMs: FILES_LIMIT_MS, intervalMs: 1_000 },
      );
    } catch (error) {
      throw new Error(`${error}\n${diff}`);
    }
  }
}

const fileKey = (f: ShardFile) => `${f.name}@${f.serverId}/${f.disk}`;

function expectedFiles(stripes: Stripe[]): ShardFile[] {
  return stripes.flatMap((s) =>
    s.shards.map((l, i) => ({ name: `${s.id}.${i}`, serverId: l.serverId, disk: l.disk })),
  );
}

// '' when the files are exactly the expected ones; otherwise what differs (a few of each).
function compareFiles(expected: ShardFile[], found: ShardFile[]): string {
  const want = new Set(expected.map(fileKey));
  const have = new Map<string, number>();
  for (const f of found) have.set(fileKey(f), (have.get(fileKey(f)) ?? 0) + 1);
  const missing = [...want].filter((k) => !have.has(k));
  const extra = [...have.keys()].filter((k) => !want.has(k));
  const twice = [...have].filter(([, n]) => n > 1).map(([k]) => k);
  if (missing.length + extra.length + twice.length === 0) return '';
  const few = (xs: string[]) => `${xs.length} ${xs.slice(0, 5).join(' ')}`;
  return `missing ${few(missing)}; not named (orphan or stale) ${few(extra)}; twice ${few(twice)}`;
}

// A new server joins and receives shards (new writes land on it); then one server drawn from
// the seed is drained with the CLI (no object lost, no shard left on it, its files deleted),
// removed, and stopped; the cluster is then HEALTHY.
export async function newServerDrainRemove(
  scenario: ChaosScenario,
): Promise<{ added: string; drained: string; drainedShards: number; drainMs: number }> {
  const c = scenario.cluster;
  const added = await c.addServer();
  await c.untilAllUp();
  const before = new Set((await c.stripes()).map((s) => s.id));
  await scenario.writeObjects(4);
  const fresh = (await c.stripes()).filter((s) => !before.has(s.id));
  const onAdded = fresh.filter((s) => s.shards.some((l) => l.serverId === added.id));
  assert.ok(onAdded.length > 0, `new stripes on the new ${added.id}: 0 of ${fresh.length}`);
  const files = new Set(c.shardFiles([added]).map((f) => f.name));
  for (const stripe of onAdded)
    stripe.shards.forEach((l, i) => {
      if (l.serverId === added.id)
        assert.ok(files.has(`${stripe.id}.${i}`), `shard ${i} of ${stripe.id} on ${added.id}`);
    });

  // The victim is drawn among the servers holding shards: one killed earlier comes back empty
  // (its shards were rebuilt elsewhere) and fair share may not have refilled it yet.
  const holding: DataServer[] = [];
  for (const server of c.running().filter((s) => s.id !== added.id))
    if ((await shardsOn(c, server.id)) > 0) holding.push(server);
  assert.ok(holding.length > 0, 'a running server holds shards');
  const victim = scenario.pickRunning(1, [
    added.id,
    ...c
      .running()
      .filter((s) => !holding.includes(s))
      .map((s) => s.id),
  ])[0];
  const cli = ['--metadata-addr', c.metadataCluster.addrs.join(',')];
  const held = await shardsOn(c, victim.id);
  assert.ok(held > 0, `${victim.id} holds shards before its drain`);
  const startedMs = performance.now();
  const drain = await runStrata(['cluster', 'drain', victim.id, ...cli]);
  assert.equal(drain.code, 0, `drain ${victim.id}: ${drain.stderr}`);
  const drainMs = performance.now() - startedMs;
  assert.equal(await shardsOn(c, victim.id), 0, `shards recorded on the drained ${victim.id}`);
  await scenario.readAll(`after draining ${victim.id}`);
  await until(
    `the shard files of the drained ${victim.id} deleted`,
    async () => (c.shardFiles([victim]).length === 0 ? true : undefined),
    { limitMs: FILES_LIMIT_MS, intervalMs: 500 },
  );
  const removed = await runStrata(['cluster', 'remove-server', victim.id, ...cli]);
  assert.equal(removed.code, 0, `remove-server ${victim.id}: ${removed.stderr}`);
  await c.kill(victim);
  await scenario.readAll(`with the drained ${victim.id} removed and stopped`);
  await until(
    'cluster status HEALTHY',
    async () => {
      const status = await runStrata(['cluster', 'status', '--json', ...cli]);
      const { health } = JSON.parse(status.stdout.toString()) as { health: { status: string } };
      return health.status === 'HEALTHY' ? true : undefined;
    },
    { limitMs: 60_000, intervalMs: 1_000 },
  );
  return { added: added.id, drained: victim.id, drainedShards: held, drainMs };
}

async function shardsOn(c: DataCluster, serverId: string): Promise<number> {
  const counts = await c.metadata.read('shardCounts', serverId);
  return counts.reduce((sum, count) => sum + count.shards, 0);
}
