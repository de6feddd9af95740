// What the scale benchmark reads of each server process from outside: resident memory from
// /proc, the disk used by its data directories, and a few gauges of its /metrics page.
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// VmRSS of a live process, in bytes; undefined once it has exited.
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
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
  if (stat.isDirectory()) {
    for (const name of readdirSync(path)) total += diskUsageBytes(join(path, name));
  }
  return total;
}

// A metadata member's directories: the state machine's LMDB and the Raft log (with whatever
// snapshot files the Raft layer keeps beside it); data shards live under disks/ and are not
// counted, since the namespace is all the benchmark grows.
export function metadataSizes(dataDir: string): { lmdbBytes: number; raftBytes: number } {
  const lmdbBytes = diskUsageBytes(join(dataDir, 'metadata'));
  let raftBytes = 0;
  for (const name of readdirSync(dataDir)) {
    if (name === 'metadata' || name === 'disks') continue;
    if (!lstatSync(join(dataDir, name)).isDirectory()) continue;
    raftBytes += diskUsageBytes(join(dataDir, name));
  }
  return { lmdbBytes, raftBytes };
}

export interface MetricsSample {
  // prom-client's monitorEventLoopDelay maximum since the previous scrape (it resets the
  // histogram on every collection): a combined node reports the larger of its main process and
  // its data child.
  eventLoopLagMaxSeconds: number;
  leaderChangesTotal: number;
  raftTerm: number;
}

const LAG_MAX = 'strata_process_nodejs_eventloop_lag_max_seconds';
const LEADER_CHANGES = 'strata_raft_leader_changes_total';
const TERM = 'strata_raft_term';

// Sum of every series of a metric on a Prometheus text page (NaN when it is missing).
export function metricValue(page: string, name: string): number {
  let total = Number.NaN;
  for (const line of page.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
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
      leaderChangesTotal: metricValue(page, LEADER_CHANGES) || 0,
      raftTerm: metricValue(page, TERM),
    };
  } catch {
    return undefined; // a stopped or stalled node: the caller shows the gap
  }
}
