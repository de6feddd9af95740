// The metadata scale benchmark (issue 11): grow a namespace of `entries` files on a 3-member
// cluster of combined nodes while a steady mixed load runs, one row of figures per window; then
// follower catch-up after kill -9 past a snapshot, `find` over a mount, full-cluster restart, a
// ListObjectsV2 full scan, and every member's own state checked for every acknowledged entry.
// run.ts is the command line; test/e2e/scale-short.test.ts runs a short form and asserts the
// invariants (never the timings).
import assert from 'node:assert/strict';
import { S3Client } from '@aws-sdk/client-s3';
import { StrataClient } from '../../src/client/strata-client.ts';
import { ROOT_INO } from '../../src/metadata/types.ts';
import { BENCH_ACCESS_KEY, BENCH_SECRET_KEY, BENCH_USER, ScaleCluster } from './cluster.ts';
import { type CatchUpResult, catchUpAfterKill, type FindResult, findOverMount } from './finale.ts';
import { BUCKET, BulkLoader, FILES_PER_DIR, MixedLoad, type Window } from './load.ts';
import { type Flatness, flatness, formatRow, TABLE_HEADER, type WindowRow } from './report.ts';
import { type ClusterSnapshot, Sampler } from './sampler.ts';
import { listScan, missingOnMember, type ScanResult } from './verify.ts';

export interface ScaleOptions {
  entries: number;
  windowSeconds: number;
  clients: number; // bulk creates in flight
  mixedLoops: number; // loops of the steady load
  // The steady load's pace, operations per second over all its loops (undefined: closed loops,
  // as fast as they go: their ops/s is then the capacity the rest leaves, see load.ts).
  mixedOpsPerSecond?: number;
  baselineWindows: number; // the baseline ("empty") spans this many windows
  snapshotLogBytes?: number; // metadata.raft_snapshot_log_bytes for the run
  nodeOptions?: string; // NODE_OPTIONS for the nodes (and their data children)
  nodeArgs?: string[]; // Node.js options on the nodes' command lines
  // Paces the bulk load (entries acknowledged or not, per second) so that it does not take all
  // the CPU: growth windows then compare with the empty one. Undefined: as fast as it goes.
  loadEntriesPerSecondMax?: number;
  skipMount: boolean;
  findEntries: number; // size of the tree `find` walks
  catchUpLoadTimeoutMs: number; // how long to load while waiting for the leader to compact
  keep: boolean; // leave the data directories behind
  print: (line: string) => void;
}

export interface ScaleResult {
  options: Omit<ScaleOptions, 'print'>;
  windows: WindowRow[];
  flatness: Flatness; // the growth windows against the baseline, and the lag goal
  load: { acked: number; errors: number; lastError: string; seconds: number; perSecond: number };
  // Raft state over the growth (the baseline window excluded, its first election included).
  growth: {
    termBefore: number;
    termAfter: number;
    leaderChanges: number;
    mixedErrors: number;
    leaderId: number; // at the end of the growth (0: none answered as leader)
    snapshotsTaken: Array<{ id: number; taken: number; installed: number }>;
    // The members' "event loop stalled" log lines (own stalls over 50 ms, with the garbage
    // collections that ran in them: src/observability/loop-stall.ts), read after the growth.
    stallsLogged: Array<{ id: number; line: string }>;
  };
  catchUp: CatchUpResult;
  find: FindResult | undefined;
  restart: { stopMs: number; firstWriteMs: number };
  listScan: ScanResult & { keysPerSecond: number };
  membersMissing: Array<{ id: number; missing: number }>;
}

const BULK_CLIENTS = 4; // StrataClient instances (each its own connections) shared by the loops

export async function runScaleBench(options: ScaleOptions): Promise<ScaleResult> {
  assert.ok(options.windowSeconds > 0, `window seconds > 0, got ${options.windowSeconds}`);
  const cluster = await ScaleCluster.start({
    size: 3,
    snapshotLogBytes: options.snapshotLogBytes,
    nodeOptions: options.nodeOptions,
    nodeArgs: options.nodeArgs,
  });
  const clients = Array.from(
    { length: BULK_CLIENTS },
    () => new StrataClient({ metadataAddrs: cluster.addrs }),
  );
  try {
    const grown = await grow(cluster, clients, options);
    const growth = { ...grown.growth, stallsLogged: loggedStalls(cluster) };
    const catchUp = await catchUpAfterKill(cluster, clients, options);
    const ackedInDirs = (dirs: number) => countAcked(grown.loader, dirs * FILES_PER_DIR);
    const find = options.skipMount ? undefined : await findOverMount(cluster, options, ackedInDirs);
    const restart = await restartCluster(cluster, options);
    const scan = await listScan(s3Clients(cluster)[0], 'bulk/', grown.loader);
    options.print(
      `ListObjectsV2 full scan: ${scan.keys} keys in ${(scan.elapsedMs / 1000).toFixed(2)} s, ` +
        `${scan.missing} acknowledged missing`,
    );
    await cluster.stop();
    const membersMissing = [];
    for (const node of cluster.nodes) {
      const loads = [
        { dirPath: `/${BUCKET}/bulk`, loader: grown.loader },
        { dirPath: `/${BUCKET}/catchup`, loader: catchUp.loader },
      ];
      membersMissing.push({ id: node.id, missing: await missingOnMember(node.dataDir, loads) });
    }
    const { print: _, ...printable } = options;
    return {
      options: printable,
      windows: grown.windows,
      flatness: flatness(grown.windows, grown.latenciesMs, options.entries),
      load: grown.load,
      growth,
      catchUp: catchUp.result,
      find,
      restart,
      listScan: { ...scan, keysPerSecond: scan.keys / (scan.elapsedMs / 1000) },
      membersMissing,
    };
  } finally {
    for (const client of clients) await client.close();
    await cluster.stop();
    if (!options.keep) cluster.remove();
    else options.print(`data directories kept under ${cluster.root}`);
  }
}

export function s3Clients(cluster: ScaleCluster): S3Client[] {
  return cluster.live().map(
    (node) =>
      new S3Client({
        endpoint: node.process?.s3Endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: BENCH_ACCESS_KEY, secretAccessKey: BENCH_SECRET_KEY },
        maxAttempts: 3,
      }),
  );
}

interface Grown {
  loader: BulkLoader;
  windows: WindowRow[];
  latenciesMs: number[][]; // the mixed load's, one array per growth window
  load: ScaleResult['load'];
  growth: Omit<ScaleResult['growth'], 'stallsLogged'>;
}

// Entries the baseline's bulk load may create at most (and no more than the run's own): two
// windows at the pace (the warm-up and the baseline) are well below it.
const BASELINE_ENTRIES_MAX = 100_000;

// The bucket and its directories; a warm-up window and a baseline window ("empty") of the same
// two loads on the empty namespace (the bulk load into a directory of its own, at the same pace,
// stopped after the baseline: at most a few thousand entries); then the growth, one row per window.
async function grow(
  cluster: ScaleCluster,
  clients: StrataClient[],
  options: ScaleOptions,
): Promise<Grown> {
  const strata = clients[0];
  await strata.createBucket(BUCKET, BENCH_USER);
  const bucketIno = (await strata.lookup(ROOT_INO, BUCKET)).ino;
  const mkdir = async (name: string) =>
    (await strata.mkdirAt(bucketIno, name, 0o755, { uid: 0, gid: 0 })).inode.ino;
  const bulkIno = await mkdir('bulk');
  const baselineIno = await mkdir('baseline');
  const fsDirIno = await mkdir('mixed-fs');
  const s3 = s3Clients(cluster);
  const mixed = new MixedLoad({
    s3,
    strata: clients[1],
    fsDirIno,
    loops: options.mixedLoops,
    opsPerSecond: options.mixedOpsPerSecond,
  });
  const pace = { entriesPerSecondMax: options.loadEntriesPerSecondMax };
  const loader = new BulkLoader(options.entries, pace);
  const sampler = new Sampler(cluster);
  const windowMs = options.windowSeconds * 1000;
  const windows: WindowRow[] = [];
  const latenciesMs: number[][] = [];
  let previous = await sampler.endWindow();
  const row = async (label: string, endSeconds: number, bulk: BulkLoader, before: number) => {
    const snapshot = await sampler.endWindow();
    const baseline = windows[0]; // undefined while the baseline itself is measured
    const window = mixed.takeWindow();
    if (baseline !== undefined) latenciesMs.push(window.latenciesMs);
    windows.push(windowRow(label, endSeconds, window, bulk, before, snapshot, previous, baseline));
    previous = snapshot;
    options.print(formatRow(windows[windows.length - 1]));
  };
  options.print(TABLE_HEADER.join('\n'));
  sampler.start();
  mixed.start();
  try {
    const baselineEntries = Math.min(BASELINE_ENTRIES_MAX, options.entries);
    const baselineLoader = new BulkLoader(baselineEntries, pace);
    const baselineLoading = baselineLoader.run(clients, baselineIno, options.clients);
    await sleep(windowMs);
    mixed.takeWindow(); // the first seconds warm connections and JIT: not a baseline
    const baselineBefore = baselineLoader.ackedCount;
    await sleep(windowMs * options.baselineWindows);
    await row('empty', 0, baselineLoader, baselineBefore);
    baselineLoader.stop();
    await baselineLoading;
    assert.equal(baselineLoader.errors, 0, `baseline creates failed: ${baselineLoader.lastError}`);
    const before = previous;
    const startedMs = performance.now();
    let loaded = false;
    const loading = loader.run(clients, bulkIno, options.clients).finally(() => {
      loaded = true;
    });
    let mixedErrors = 0;
    for (let n = 1; !loaded; n++) {
      const entriesBefore = loader.ackedCount;
      const windowEnd = startedMs + n * windowMs;
      await Promise.race([loading, sleep(windowEnd - performance.now())]);
      cluster.assertAlive();
      mixedErrors += mixed.window.errors;
      await row(String(n), (performance.now() - startedMs) / 1000, loader, entriesBefore);
    }
    await loading;
    const seconds = (performance.now() - startedMs) / 1000;
    return {
      loader,
      windows,
      latenciesMs,
      load: {
        acked: loader.ackedCount,
        errors: loader.errors,
        lastError: loader.lastError,
        seconds,
        perSecond: loader.ackedCount / seconds,
      },
      growth: {
        termBefore: before.term,
        termAfter: previous.term,
        leaderChanges: previous.leaderChangesTotal - before.leaderChangesTotal,
        mixedErrors,
        leaderId: previous.leaderId,
        snapshotsTaken: snapshotsBetween(before, previous),
      },
    };
  } finally {
    await mixed.stop();
    await sampler.stop();
    for (const client of s3) client.destroy();
  }
}

function loggedStalls(cluster: ScaleCluster): Array<{ id: number; line: string }> {
  return cluster.nodes.flatMap((node) =>
    (node.process?.output() ?? '')
      .split('\n')
      .filter((line) => line.includes('event loop stalled'))
      .map((line) => ({ id: node.id, line })),
  );
}

function windowRow(
  label: string,
  endSeconds: number,
  window: Window,
  loader: BulkLoader,
  entriesBefore: number,
  snapshot: ClusterSnapshot,
  previous: ClusterSnapshot,
  baseline: WindowRow | undefined,
): WindowRow {
  const elapsedSeconds = window.elapsedMs() / 1000;
  const opsPerSecond = window.latenciesMs.length / elapsedSeconds;
  const p99Ms = window.percentileMs(0.99);
  return {
    label,
    endSeconds,
    elapsedSeconds,
    entries: loader.ackedCount,
    loadPerSecond: (loader.ackedCount - entriesBefore) / elapsedSeconds,
    opsPerSecond,
    opsRatio: baseline ? opsPerSecond / baseline.opsPerSecond : 1,
    p50Ms: window.percentileMs(0.5),
    p99Ms,
    p99Ratio: baseline ? p99Ms / baseline.p99Ms : 1,
    maxMs: window.maxMs(),
    errors: window.errors + loader.takeErrors(),
    term: snapshot.term,
    leaderChanges: snapshot.leaderChangesTotal - previous.leaderChangesTotal,
    snapshotIndex: snapshot.snapshotIndex,
    nodes: snapshot.nodes,
    cpuBenchCores: snapshot.cpuBenchCores,
    cpuHostCores: snapshot.cpuHostCores,
    cpuStealCores: snapshot.cpuStealCores,
    canaryMicros: snapshot.canaryMicros,
    canaryRatio: baseline ? snapshot.canaryMicros / baseline.canaryMicros : 1,
  };
}

// Every member stopped (SIGTERM) together, then started together: the time until a write
// commits again, the replay of each member's log included.
async function restartCluster(
  cluster: ScaleCluster,
  options: ScaleOptions,
): Promise<ScaleResult['restart']> {
  const stopping = performance.now();
  await cluster.stop();
  const stopMs = performance.now() - stopping;
  const starting = performance.now();
  await Promise.all(cluster.nodes.map((n) => cluster.startNode(n.id)));
  const client = new StrataClient({ metadataAddrs: cluster.addrs });
  try {
    const bucket = await client.lookup(ROOT_INO, BUCKET);
    await client.mkdirAt(bucket.ino, 'restarted', 0o755, { uid: 0, gid: 0 });
  } finally {
    await client.close();
  }
  const firstWriteMs = performance.now() - starting;
  options.print(
    `full-cluster restart: stopped in ${(stopMs / 1000).toFixed(2)} s, ` +
      `first write ${(firstWriteMs / 1000).toFixed(2)} s after starting`,
  );
  return { stopMs, firstWriteMs };
}

// Snapshots each member took and installed between two samples (no member restarts between them,
// so its counters only grow).
function snapshotsBetween(
  before: ClusterSnapshot,
  after: ClusterSnapshot,
): ScaleResult['growth']['snapshotsTaken'] {
  return after.nodes.map((node) => {
    const start = before.nodes.find((n) => n.id === node.id);
    assert.ok(start, `node ${node.id} sampled at the start of the growth`);
    return {
      id: node.id,
      taken: node.snapshotsTakenTotal - start.snapshotsTakenTotal,
      installed: node.snapshotsInstalledTotal - start.snapshotsInstalledTotal,
    };
  });
}

function countAcked(loader: BulkLoader, below: number): number {
  let count = 0;
  for (let i = 0; i < Math.min(below, loader.entries); i++) count += loader.acked[i];
  return count;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
