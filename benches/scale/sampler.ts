// Polls every member once a second while a load runs (event-loop lag, resident memory, Raft
// term and leader changes) and folds the samples into per-window figures.
import type { ScaleCluster } from './cluster.ts';
import {
  childPids,
  cpuCanaryMicros,
  cpuSeconds,
  hostBusyCpuSeconds,
  metadataSizes,
  rssBytes,
  runQueueSeconds,
  scrapeMetrics,
} from './probes.ts';
import type { NodeFigures } from './report.ts';

const SAMPLE_INTERVAL_MS = 1_000;

interface NodeAccumulator {
  lagMaxSeconds: number;
  stallOwnMaxSeconds: number;
  stallCpuMaxSeconds: number;
  rssMainBytesMax: number;
  rssMainAnonBytesMax: number;
  rssDataBytesMax: number;
  leaderChangesTotal: number; // last scraped value of the counter
  snapshotsTakenTotal: number; // last scraped values of the snapshot counters
  snapshotsInstalledTotal: number;
}

export interface ClusterSnapshot {
  term: number;
  leaderId: number; // 0: no member said it leads
  leaderChangesTotal: number;
  snapshotIndex: number;
  nodes: NodeFigures[];
  // CPU used over the window, in cores (CPU seconds a wall second): the benchmark's own process
  // (both loads' clients, the sampler) and the whole host (every process, ours included).
  cpuBenchCores: number;
  cpuHostCores: number;
  cpuStealCores: number;
  // The median of the window's CPU canary runs, one a second (probes.ts, cpuCanaryMicros).
  canaryMicros: number;
}

// Cumulative CPU seconds at the start of a window, and when that was.
interface CpuMark {
  atMs: number;
  bench: number;
  host: { busy: number; steal: number };
  nodes: Map<number, CpuMarkOfNode>;
}

interface CpuMarkOfNode {
  pid: number;
  main: number;
  loop: number; // the main process's event-loop thread alone
  data: number;
  runQueue: number;
}

export class Sampler {
  private readonly cluster: ScaleCluster;
  private readonly acc = new Map<number, NodeAccumulator>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private cpuMark: CpuMark = cpuMark(undefined);
  private canaryMicros: number[] = [];

  constructor(cluster: ScaleCluster) {
    this.cluster = cluster;
    for (const node of cluster.nodes) this.acc.set(node.id, freshAccumulator());
    this.cpuMark = cpuMark(cluster);
  }

  start(): void {
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample());
    }, SAMPLE_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sampling;
  }

  private async sample(): Promise<void> {
    this.canaryMicros.push(cpuCanaryMicros());
    await Promise.all(
      this.cluster.live().map(async (node) => {
        const acc = this.acc.get(node.id) as NodeAccumulator;
        const pid = node.process?.process.pid;
        if (pid === undefined) return;
        const metrics = await scrapeMetrics(node.process?.metricsUrl ?? '');
        if (metrics) {
          acc.lagMaxSeconds = Math.max(acc.lagMaxSeconds, metrics.eventLoopLagMaxSeconds);
          acc.stallOwnMaxSeconds = Math.max(
            acc.stallOwnMaxSeconds,
            metrics.eventLoopStallOwnMaxSeconds,
          );
          acc.stallCpuMaxSeconds = Math.max(
            acc.stallCpuMaxSeconds,
            metrics.eventLoopStallCpuMaxSeconds,
          );
          acc.leaderChangesTotal = metrics.leaderChangesTotal;
          acc.snapshotsTakenTotal = metrics.snapshotsTakenTotal;
          acc.snapshotsInstalledTotal = metrics.snapshotsInstalledTotal;
        }
        acc.rssMainBytesMax = Math.max(acc.rssMainBytesMax, rssBytes(pid) ?? 0);
        const anon = rssBytes(pid, 'RssAnon') ?? 0;
        acc.rssMainAnonBytesMax = Math.max(acc.rssMainAnonBytesMax, anon);
        const data = childPids(pid).reduce((sum, child) => sum + (rssBytes(child) ?? 0), 0);
        acc.rssDataBytesMax = Math.max(acc.rssDataBytesMax, data);
      }),
    );
  }

  // Ends the window: the figures gathered since the previous call, with the sizes and Raft state
  // read now. Accumulators start again (the leader-change counter carries over as a base).
  async endWindow(): Promise<ClusterSnapshot> {
    await this.sampling;
    await this.sample();
    const nodes: NodeFigures[] = [];
    let term = 0;
    let leaderId = 0;
    let leaderChangesTotal = 0;
    let snapshotIndex = 0;
    const mark = cpuMark(this.cluster);
    const previousMark = this.cpuMark;
    this.cpuMark = mark;
    const windowSeconds = (mark.atMs - previousMark.atMs) / 1000;
    // A member restarted within the window (a new pid) counts from zero.
    const cores = (id: number, part: 'main' | 'loop' | 'data' | 'runQueue') => {
      const now = mark.nodes.get(id);
      const before = previousMark.nodes.get(id);
      if (now === undefined) return Number.NaN;
      const start = before?.pid === now.pid ? before[part] : 0;
      return (now[part] - start) / windowSeconds;
    };
    for (const node of this.cluster.nodes) {
      const acc = this.acc.get(node.id) as NodeAccumulator;
      const status = node.process ? await this.cluster.status(node.id) : undefined;
      if (status) {
        term = Math.max(term, status.term);
        if (status.role === 'leader') {
          leaderId = node.id;
          snapshotIndex = status.firstIndex - 1;
        }
      }
      leaderChangesTotal += acc.leaderChangesTotal;
      const sizes = metadataSizes(node.dataDir);
      nodes.push({
        id: node.id,
        lagMaxMs: node.process ? acc.lagMaxSeconds * 1000 : Number.NaN,
        stallOwnMaxMs: node.process ? acc.stallOwnMaxSeconds * 1000 : Number.NaN,
        stallCpuMaxMs: node.process ? acc.stallCpuMaxSeconds * 1000 : Number.NaN,
        rssMainBytesMax: node.process ? acc.rssMainBytesMax : Number.NaN,
        rssMainAnonBytesMax: node.process ? acc.rssMainAnonBytesMax : Number.NaN,
        rssDataBytesMax: node.process ? acc.rssDataBytesMax : Number.NaN,
        snapshotsTakenTotal: acc.snapshotsTakenTotal,
        snapshotsInstalledTotal: acc.snapshotsInstalledTotal,
        cpuMainCores: cores(node.id, 'main'),
        cpuLoopCores: cores(node.id, 'loop'),
        cpuDataCores: cores(node.id, 'data'),
        runQueueMsPerSecond: cores(node.id, 'runQueue') * 1000,
        ...sizes,
      });
      this.acc.set(node.id, freshAccumulator(acc));
    }
    return {
      term,
      leaderId,
      leaderChangesTotal,
      snapshotIndex,
      nodes,
      cpuBenchCores: (mark.bench - previousMark.bench) / windowSeconds,
      cpuHostCores: (mark.host.busy - previousMark.host.busy) / windowSeconds,
      cpuStealCores: (mark.host.steal - previousMark.host.steal) / windowSeconds,
      canaryMicros: median(this.canaryMicros.splice(0)),
    };
  }
}

// The CPU seconds used so far by the benchmark, the host and each live member (its main process
// and its data child, by their current pids; a pid that changed since the previous mark is a
// restart, which the window then counts from zero).
function cpuMark(cluster: ScaleCluster | undefined): CpuMark {
  const bench = process.cpuUsage();
  const nodes = new Map<number, CpuMarkOfNode>();
  for (const node of cluster?.live() ?? []) {
    const pid = node.process?.process.pid;
    if (pid === undefined) continue;
    const main = cpuSeconds(pid);
    if (main === undefined) continue;
    const data = childPids(pid).reduce((sum, child) => sum + (cpuSeconds(child) ?? 0), 0);
    nodes.set(node.id, {
      pid,
      main,
      loop: cpuSeconds(pid, pid) ?? Number.NaN,
      data,
      runQueue: runQueueSeconds(pid) ?? Number.NaN,
    });
  }
  return {
    atMs: performance.now(),
    bench: (bench.user + bench.system) / 1e6,
    host: hostBusyCpuSeconds(),
    nodes,
  };
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// A new window's accumulator: the peaks start again, the counters' last values carry over.
function freshAccumulator(previous?: NodeAccumulator): NodeAccumulator {
  return {
    lagMaxSeconds: 0,
    stallOwnMaxSeconds: 0,
    stallCpuMaxSeconds: 0,
    rssMainBytesMax: 0,
    rssMainAnonBytesMax: 0,
    rssDataBytesMax: 0,
    leaderChangesTotal: previous?.leaderChangesTotal ?? 0,
    snapshotsTakenTotal: previous?.snapshotsTakenTotal ?? 0,
    snapshotsInstalledTotal: previous?.snapshotsInstalledTotal ?? 0,
  };
}
