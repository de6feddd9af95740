// What the scale benchmark reads of each server process from outside: resident memory from
// /proc, the disk used by its data directories, and a few gauges of its /metrics page.
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { currentStateName } from '../../src/metadata/replication/snapshot-files.ts';

// Resident memory of a live process, in bytes, from /proc (undefined once it has exited): VmRSS
// by default, or one of its parts. RssAnon is the process's own memory (JS heap, buffers);
// RssFile is mapped files, which for a metadata member is mostly LMDB's map, i.e. page cache
// that the kernel may reclaim, and grows with the namespace by design.
export function rssBytes(
  pid: number,
  field: 'VmRSS' | 'RssAnon' | 'RssFile' = 'VmRSS',
): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// The direct children of a process (a combined node forks its data service).
export function childPids(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

// CPU time a process has used (user + system, its exited children not included), in seconds,
// from /proc/PID/stat (undefined once it has exited). The kernel counts in clock ticks, 100 a
// second on Linux, so a figure is good to 10 ms.
const CLOCK_TICKS_PER_SECOND = 100;
// With `thread`, only that thread of it (the main thread's id is the pid: a member's event loop).
export function cpuSeconds(pid: number, thread?: number): number | undefined {
  try {
    const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
    const stat = readFileSync(path, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime and stime, fields 14 and 15
    return ticks / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

// Seconds the process's main thread (a member's event loop) has waited on the run queue, ready
// to run but with no CPU of this machine free (/proc/<pid>/schedstat's second field, in ns).
// Time the hypervisor took away is not in it: the guest thought the thread was running.
export function runQueueSeconds(pid: number): number | undefined {
  try {
    const [, waitNs] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ');
    return Number(waitNs) / 1e9;
  } catch {
    return undefined;
  }
}

// The whole host's busy CPU time (every CPU, everything but idle and iowait), in seconds, from
// /proc/stat: with the benchmark's own processes subtracted, what the rest of the machine took.
// `steal` apart: the time a virtual machine's hypervisor ran something else on its CPUs (other
// guests), which no process here can cause or avoid.
export function hostBusyCpuSeconds(): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return {
    busy: (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND,
    steal: steal / CLOCK_TICKS_PER_SECOND,
  };
}

// The CPU canary: how long a fixed piece of work (a multiplicative hash over a buffer that fits
// in L2) takes, in microseconds, the quickest of a few runs in a row, so that a run the
// scheduler preempted does not count (thread CPU time would not do: Linux accounts it in ticks).
// The same work takes longer when the machine's cores run slower for everyone (a busy
// hyperthread sibling or host, cache and memory-bandwidth contention, frequency): what neither
// the members' CPU seconds nor the steal count shows.
const CANARY_BUFFER = Buffer.alloc(64 * 1024, 0x5a);
const CANARY_RUNS = 5;
export function cpuCanaryMicros(): number {
  let quickest = Number.POSITIVE_INFINITY;
  let hash = 0x811c9dc5;
  for (let run = 0; run < CANARY_RUNS; run++) {
    const startedMs = performance.now();
    for (let i = 0; i < CANARY_BUFFER.length; i++)
      hash = Math.imul(hash ^ CANARY_BUFFER[i], 16777619);
    quickest = Math.min(quickest, performance.now() - startedMs);
  }
  // The hash is used, so the loop is not optimised away.
  return quickest * 1000 + (hash === 0.5 ? 1 : 0);
}

// Bytes allocated on disk under a path (du's figure, not the apparent size: LMDB files are sparse).
export function diskUsageBytes(path: string): number {
  let total = 0;
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch {
    return 0; // removed while walking (a snapshot file replaced), or not made yet
  }
  total += stat.blocks * 512;
  if (!stat.isDirectory()) return total;
  let names: string[];
  try {
    names = readdirSync(path);
  } catch {
    return total; // removed between the two calls (a snapshot's temporary directory)
  }
  for (const name of names) total += diskUsageBytes(join(path, name));
  return total;
}

// A metadata member's directories (docs/architecture/raft.md, "Snapshots"): the live state
// machine's LMDB (metadata/ or metadata-<index>/, as metadata.current names it), and the Raft
// side: the log (raft/) and the snapshot files (snapshots/: the latest one taken, one being
// received). A replaced state directory still being removed is in neither; data shards live
// under disks/ and are not counted, since the namespace is all the benchmark grows.
export function metadataSizes(dataDir: string): { lmdbBytes: number; raftBytes: number } {
  let stateName: string;
  try {
    stateName = currentStateName(dataDir);
  } catch {
    return { lmdbBytes: Number.NaN, raftBytes: Number.NaN }; // metadata.current mid-rename
  }
  return {
    lmdbBytes: diskUsageBytes(join(dataDir, stateName)),
    raftBytes:
      diskUsageBytes(join(dataDir, 'raft-log')) + diskUsageBytes(join(dataDir, 'snapshots')),
  };
}

export interface MetricsSample {
  // prom-client's monitorEventLoopDelay maximum since the previous scrape (it resets the
  // histogram on every collection): a combined node reports the larger of its main process and
  // its data child.
  eventLoopLagMaxSeconds: number;
  // The part of that delay the process caused (src/observability/loop-stall.ts: the delay minus
  // the time its loop thread waited for a CPU), and the most CPU time that thread spent between
  // two 10 ms ticks; the larger of main and data child, like the lag.
  eventLoopStallOwnMaxSeconds: number;
  eventLoopStallCpuMaxSeconds: number;
  leaderChangesTotal: number;
  raftTerm: number;
  // Since the process started (strata_metadata_snapshots_total by origin).
  snapshotsTakenTotal: number;
  snapshotsInstalledTotal: number;
}

const LAG_MAX = 'strata_process_nodejs_eventloop_lag_max_seconds';
const STALL_MAX = 'strata_process_eventloop_stall_max_seconds';
const LEADER_CHANGES = 'strata_raft_leader_changes_total';
const TERM = 'strata_raft_term';
const SNAPSHOTS = 'strata_metadata_snapshots_total';

// Sum of every series of a metric on a Prometheus text page, or of those whose labels include
// `label` (such as `origin="taken"`); NaN when there is none.
export function metricValue(page: string, name: string, label?: string): number {
  let total = Number.NaN;
  for (const line of page.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (label !== undefined && !rest.slice(0, rest.indexOf('}') + 1).includes(label)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    total = Number.isNaN(total) ? value : total + value;
  }
  return total;
}

export async function scrapeMetrics(url: string): Promise<MetricsSample | undefined> {
  assert.ok(url.startsWith('http://'), `a metrics URL, got ${url}`);
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) return undefined;
    const page = await response.text();
    return {
      eventLoopLagMaxSeconds: metricValue(page, LAG_MAX),
      eventLoopStallOwnMaxSeconds: metricValue(page, STALL_MAX, 'by="own"'),
      eventLoopStallCpuMaxSeconds: metricValue(page, STALL_MAX, 'by="cpu"'),
      leaderChangesTotal: metricValue(page, LEADER_CHANGES) || 0,
      raftTerm: metricValue(page, TERM),
      // A labelled counter has no series before its first increment.
      snapshotsTakenTotal: metricValue(page, SNAPSHOTS, 'origin="taken"') || 0,
      snapshotsInstalledTotal: metricValue(page, SNAPSHOTS, 'origin="installed"') || 0,
    };
  } catch {
    return undefined; // a stopped or stalled node: the caller shows the gap
  }
}
