// The scale benchmark's figures: one row per window, printed as a Markdown table as the run goes,
// and the closing summary. Pure formatting; the measuring is elsewhere.
import assert from 'node:assert/strict';

export interface NodeFigures {
  id: number;
  lagMaxMs: number; // event-loop lag, max over the window (NaN: the node did not answer)
  // The part of the lag the node caused (the lag minus the time its loop thread waited for a
  // CPU), and the most CPU time that thread spent between two 10 ms ticks; max over the window
  // (NaN: the node did not answer).
  stallOwnMaxMs: number;
  stallCpuMaxMs: number;
  rssMainBytesMax: number; // the node's own process, peak over the window
  rssMainAnonBytesMax: number; // its anonymous part (heap; the rest is mostly LMDB's map)
  rssDataBytesMax: number; // its data-service child
  lmdbBytes: number; // at the end of the window
  raftBytes: number;
  // Snapshots since the node's process started (counters, not per window).
  snapshotsTakenTotal: number;
  snapshotsInstalledTotal: number;
  // CPU over the window in cores (CPU seconds a wall second): the main process (metadata and
  // gateway) and its data child (NaN: the node was down at the end of the window).
  cpuMainCores: number;
  cpuDataCores: number;
  // Of cpuMainCores, the event-loop thread's; the rest is the process's other threads (libuv's
  // pool: log writes and fsyncs, snapshot copies; V8's garbage-collector helpers).
  cpuLoopCores: number;
  // Milliseconds a wall second the main process's event-loop thread waited on this machine's
  // run queue (probes.ts, runQueueSeconds): CPU contention inside the machine, not steal.
  runQueueMsPerSecond: number;
}

export interface WindowRow {
  label: string; // "empty" for the baseline, else the window's number
  endSeconds: number; // since the bulk load started (0 for the baseline)
  elapsedSeconds: number; // the window's length (the baseline's spans --baseline-windows)
  entries: number; // acknowledged bulk entries at the end of the window
  loadPerSecond: number; // bulk entries acknowledged per second in the window
  opsPerSecond: number; // mixed-load operations per second
  opsRatio: number; // opsPerSecond over the baseline's (1 for the baseline itself)
  p50Ms: number;
  p99Ms: number;
  p99Ratio: number; // p99Ms over the baseline's
  maxMs: number;
  errors: number; // mixed and bulk errors in the window
  term: number; // highest Raft term among the members at the end of the window
  leaderChanges: number; // in the window, summed over the members
  snapshotIndex: number; // the leader's log starts after this index (its last compaction)
  nodes: NodeFigures[];
  // CPU over the window in cores: the benchmark's own process (the clients of both loads) and
  // the whole host; what the host used beyond the members and the benchmark is someone else's.
  cpuBenchCores: number;
  cpuHostCores: number;
  // Of the host's: the hypervisor's steal (probes.ts), part of what CPU other counts.
  cpuStealCores: number;
  // The CPU canary's median time (probes.ts, cpuCanaryMicros), and over the baseline's: above
  // 1, the same work cost the cores more in this window than in the baseline.
  canaryMicros: number;
  canaryRatio: number;
}

const MB = 1024 * 1024;
const fixed = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const perNode = (nodes: NodeFigures[], f: (n: NodeFigures) => string) => nodes.map(f).join('/');

export const TABLE_HEADER = [
  '| window | t s | entries | load/s | ops/s | ÷ empty | p50 ms | p99 ms | ÷ empty | max ms | ' +
    'flat | errors | lag max ms | own stall ms | CPU stall ms | CPU main | CPU loop | CPU data | run queue ms/s | CPU bench | CPU host | CPU other | CPU steal | canary ÷ empty | RSS MB main | anon MB main | RSS MB data | LMDB MB | Raft MB | term | leader changes | ' +
    'snapshot at | snapshots taken |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
];

export function formatRow(row: WindowRow): string {
  const { nodes } = row;
  return [
    '',
    row.label,
    fixed(row.endSeconds),
    String(row.entries),
    fixed(row.loadPerSecond),
    fixed(row.opsPerSecond),
    fixed(row.opsRatio, 2),
    fixed(row.p50Ms, 1),
    fixed(row.p99Ms, 1),
    fixed(row.p99Ratio, 2),
    fixed(row.maxMs, 1),
    isFlat(row) ? 'yes' : 'NO',
    String(row.errors),
    perNode(nodes, (n) => fixed(n.lagMaxMs)),
    perNode(nodes, (n) => fixed(n.stallOwnMaxMs)),
    perNode(nodes, (n) => fixed(n.stallCpuMaxMs)),
    perNode(nodes, (n) => fixed(n.cpuMainCores, 2)),
    perNode(nodes, (n) => fixed(n.cpuLoopCores, 2)),
    perNode(nodes, (n) => fixed(n.cpuDataCores, 2)),
    perNode(nodes, (n) => fixed(n.runQueueMsPerSecond)),
    fixed(row.cpuBenchCores, 2),
    fixed(row.cpuHostCores, 2),
    fixed(otherCores(row), 2),
    fixed(row.cpuStealCores, 2),
    fixed(row.canaryRatio, 2),
    perNode(nodes, (n) => fixed(n.rssMainBytesMax / MB)),
    perNode(nodes, (n) => fixed(n.rssMainAnonBytesMax / MB)),
    perNode(nodes, (n) => fixed(n.rssDataBytesMax / MB)),
    perNode(nodes, (n) => fixed(n.lmdbBytes / MB, 1)),
    perNode(nodes, (n) => fixed(n.raftBytes / MB, 1)),
    String(row.term),
    String(row.leaderChanges),
    String(row.snapshotIndex),
    perNode(nodes, (n) => String(n.snapshotsTakenTotal)),
    '',
  ]
    .join(' | ')
    .trim();
}

const meanOf = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
const rangeOf = (values: number[]) => ({ min: Math.min(...values), max: Math.max(...values) });

// The members' CPU in a window: main processes and data children, summed.
export function membersCores(row: WindowRow): number {
  let cores = 0;
  for (const n of row.nodes) cores += (n.cpuMainCores || 0) + (n.cpuDataCores || 0);
  return cores;
}

// The host's CPU beyond the members' processes and the benchmark's: other work on the machine.
export function otherCores(row: WindowRow): number {
  return row.cpuHostCores - row.cpuBenchCores - membersCores(row);
}

// Pearson's correlation of two equally long samples (NaN when either does not vary).
export function correlation(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length, 'paired samples');
  const meanA = meanOf([...a]);
  const meanB = meanOf([...b]);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - meanA) * (b[i] - meanB);
    aa += (a[i] - meanA) ** 2;
    bb += (b[i] - meanB) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

// Issue 11's acceptance: ops/s and p99 within ±20% of the empty namespace's, and no event-loop
// stall over 50 ms on any member.
export const FLAT_TOLERANCE = 0.2;
export const LAG_MAX_MS_GOAL = 50;

// A window whose mixed load ran no slower than 20% below the baseline's ops/s and whose p99 was
// no more than 20% above the baseline's. Faster or quicker than the baseline is flat too.
export function isFlat(row: WindowRow): boolean {
  return row.opsRatio >= 1 - FLAT_TOLERANCE && row.p99Ratio <= 1 + FLAT_TOLERANCE;
}

// A window in which the rest of the machine (CPU other) used more than this many cores measured
// the host more than the namespace: on 2 cores, 1.2-1.6 cores of other work cut the mixed load
// from ~260 to ~17 ops/s and made the members' own stalls exceed 50 ms (scaling.md, "Event-loop
// stalls and the host's CPU").
export const HOST_BUSY_OTHER_CORES = 0.3;

export interface Flatness {
  growthWindows: number;
  notFlat: string[]; // labels of the growth windows outside ±20%
  // Windows (baseline included) in which the rest of the machine used over HOST_BUSY_OTHER_CORES:
  // their ops/s, p99 and stalls measure the host; a busy baseline makes every ratio meaningless.
  hostBusy: string[];
  // The hypervisor's steal in those windows, mean cores (NaN without any).
  hostBusyStealCores: number;
  // The CPU canary over the baseline's, mean of the growth windows outside ±20% and of the rest.
  canaryRatioNotFlat: number;
  canaryRatioFlat: number;
  // Over the growth windows: how the benchmark's own CPU (the same paced work in every window, a
  // control) moved with the members' (Pearson's r), and the range of each.
  benchMembersCpuCorrelation: number;
  benchCpuCores: { min: number; max: number };
  membersCpuCores: { min: number; max: number };
  lagOverGoal: string[]; // labels of the windows (baseline included) with a member's lag > 50 ms
  lagMaxMs: number; // the largest over every window and member
  // The same with the stalls the node caused (NodeFigures.stallOwnMaxMs).
  stallOverGoal: string[];
  stallOwnMaxMs: number;
  // The distribution of the per-member, per-window maxima (every window, baseline included):
  // with a few stalls over the goal in a run, the count alone is too coarse to compare runs.
  stallOwn: StallDistribution;
  stallCpu: StallDistribution;
  // The growth by tenths of the namespace: each tenth's mixed operations together against the
  // baseline's. A 10-second window holds a few thousand operations, whose p99 is a few dozen of
  // them and moves by more than 20% from one window to the next on the empty namespace already
  // (a GC pause or a slow fsync is enough); a tenth holds minutes of them and says how the
  // figures move with the namespace's size.
  tenths: TenthFigures[];
}

export interface TenthFigures {
  tenth: number; // 1..10
  entriesFrom: number; // acknowledged entries at the end of its first window
  entriesTo: number; // and of its last
  windows: number;
  opsPerSecond: number;
  opsRatio: number;
  p99Ms: number;
  p99Ratio: number;
  flat: boolean;
  // Mean CPU of the tenth's windows over the baseline's: the members' (main processes and data
  // children, summed) and the benchmark's own process. The benchmark does the same paced work
  // in every window, so its CPU is a control: when it moves with the members', the machine's
  // speed changed, not the cost of the namespace.
  membersCpuRatio: number;
  benchCpuRatio: number;
}

export interface StallDistribution {
  memberWindows: number; // member-windows with a figure
  overGoal: number; // of which over LAG_MAX_MS_GOAL
  medianMs: number;
  p90Ms: number;
  maxMs: number;
}

export function stallDistribution(valuesMs: number[]): StallDistribution {
  const sorted = valuesMs.filter(Number.isFinite).toSorted((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0
      ? Number.NaN
      : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
  return {
    memberWindows: sorted.length,
    overGoal: sorted.filter((v) => v > LAG_MAX_MS_GOAL).length,
    medianMs: at(0.5),
    p90Ms: at(0.9),
    maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
  };
}

// Percentile p of a sample (NaN if empty), the same rule as a window's.
export function percentileOf(valuesMs: readonly number[], p: number): number {
  const sorted = valuesMs.toSorted((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

// The growth windows by tenth of `entries`, a window in the tenth its last entry falls in; each
// tenth's ops/s and p99 over all its operations, against the baseline window's.
// latenciesMs[i]: the mixed-load latencies of windows[i + 1] (windows[0] is the baseline).
export function tenths(
  windows: WindowRow[],
  latenciesMs: readonly (readonly number[])[],
  entries: number,
): TenthFigures[] {
  const [baseline, ...growth] = windows;
  assert.equal(latenciesMs.length, growth.length, 'one latency sample per growth window');
  const result: TenthFigures[] = [];
  for (let tenth = 1; tenth <= 10; tenth++) {
    const members = growth
      .map((row, i) => ({ row, latencies: latenciesMs[i] }))
      .filter(
        ({ row }) => Math.min(10, Math.max(1, Math.ceil((row.entries * 10) / entries))) === tenth,
      );
    if (members.length === 0) continue;
    const seconds = members.reduce((sum, m) => sum + m.row.elapsedSeconds, 0);
    const all = members.flatMap((m) => m.latencies);
    const opsPerSecond = all.length / seconds;
    const p99Ms = percentileOf(all, 0.99);
    const opsRatio = opsPerSecond / baseline.opsPerSecond;
    const p99Ratio = p99Ms / baseline.p99Ms;
    const rows = members.map((m) => m.row);
    result.push({
      tenth,
      entriesFrom: members[0].row.entries,
      entriesTo: members[members.length - 1].row.entries,
      windows: members.length,
      opsPerSecond,
      opsRatio,
      p99Ms,
      p99Ratio,
      flat: opsRatio >= 1 - FLAT_TOLERANCE && p99Ratio <= 1 + FLAT_TOLERANCE,
      membersCpuRatio: meanOf(rows.map(membersCores)) / membersCores(baseline),
      benchCpuRatio: meanOf(rows.map((row) => row.cpuBenchCores)) / baseline.cpuBenchCores,
    });
  }
  return result;
}

export function flatness(
  windows: WindowRow[],
  latenciesMs: readonly (readonly number[])[],
  entries: number,
): Flatness {
  const growth = windows.slice(1);
  const worstOf = (row: WindowRow, f: (n: NodeFigures) => number) =>
    Math.max(...row.nodes.map((n) => (Number.isFinite(f(n)) ? f(n) : 0)));
  let lagMaxMs = 0;
  let stallOwnMaxMs = 0;
  const lagOverGoal: string[] = [];
  const stallOverGoal: string[] = [];
  for (const row of windows) {
    const worstLag = worstOf(row, (n) => n.lagMaxMs);
    lagMaxMs = Math.max(lagMaxMs, worstLag);
    if (worstLag > LAG_MAX_MS_GOAL) lagOverGoal.push(row.label);
    const worstStall = worstOf(row, (n) => n.stallOwnMaxMs);
    stallOwnMaxMs = Math.max(stallOwnMaxMs, worstStall);
    if (worstStall > LAG_MAX_MS_GOAL) stallOverGoal.push(row.label);
  }
  return {
    growthWindows: growth.length,
    notFlat: growth.filter((row) => !isFlat(row)).map((row) => row.label),
    hostBusy: windows.filter((row) => otherCores(row) > HOST_BUSY_OTHER_CORES).map((r) => r.label),
    hostBusyStealCores: meanOf(
      windows.filter((row) => otherCores(row) > HOST_BUSY_OTHER_CORES).map((r) => r.cpuStealCores),
    ),
    canaryRatioNotFlat: meanOf(growth.filter((row) => !isFlat(row)).map((r) => r.canaryRatio)),
    canaryRatioFlat: meanOf(growth.filter(isFlat).map((r) => r.canaryRatio)),
    benchMembersCpuCorrelation: correlation(
      growth.map((r) => r.cpuBenchCores),
      growth.map(membersCores),
    ),
    benchCpuCores: rangeOf(growth.map((r) => r.cpuBenchCores)),
    membersCpuCores: rangeOf(growth.map(membersCores)),
    lagOverGoal,
    lagMaxMs,
    stallOverGoal,
    stallOwnMaxMs,
    stallOwn: stallDistribution(windows.flatMap((row) => row.nodes.map((n) => n.stallOwnMaxMs))),
    stallCpu: stallDistribution(windows.flatMap((row) => row.nodes.map((n) => n.stallCpuMaxMs))),
    tenths: tenths(windows, latenciesMs, entries),
  };
}

export function formatFlatness(f: Flatness): string {
  const list = (labels: string[]) => (labels.length === 0 ? '' : ` (${labels.join(', ')})`);
  return (
    `flat (ops/s and p99 within ±${FLAT_TOLERANCE * 100}% of empty): ` +
    `${f.growthWindows - f.notFlat.length} of ${f.growthWindows} growth windows` +
    `${list(f.notFlat)}; the rest of the machine used over ${HOST_BUSY_OTHER_CORES} cores in ` +
    `${f.hostBusy.length} of ${f.growthWindows + 1} windows${list(f.hostBusy)}` +
    `${f.hostBusy.length > 0 ? `, of it the hypervisor's steal ${f.hostBusyStealCores.toFixed(2)} cores on average` : ''}` +
    `${f.hostBusy.includes('empty') ? ' (the baseline among them: the ratios are not comparable)' : ''}` +
    `; event-loop lag over ${LAG_MAX_MS_GOAL} ms in ${f.lagOverGoal.length} ` +
    `windows${list(f.lagOverGoal)}, max ${f.lagMaxMs.toFixed(0)} ms; the part the members ` +
    `caused (own stall) over ${LAG_MAX_MS_GOAL} ms in ${f.stallOverGoal.length} ` +
    `windows${list(f.stallOverGoal)}, max ${f.stallOwnMaxMs.toFixed(0)} ms\n` +
    `CPU canary ÷ empty (the same work's CPU time): ${fixed(f.canaryRatioNotFlat, 2)} on ` +
    `average in the windows outside ±${FLAT_TOLERANCE * 100}%, ${fixed(f.canaryRatioFlat, 2)} in the others\n` +
    `the benchmark's own CPU (the same paced work every window, a control) against the members': ` +
    `r = ${fixed(f.benchMembersCpuCorrelation, 2)} over the growth windows (benchmark ` +
    `${fixed(f.benchCpuCores.min, 2)}-${fixed(f.benchCpuCores.max, 2)} cores, members ` +
    `${fixed(f.membersCpuCores.min, 2)}-${fixed(f.membersCpuCores.max, 2)}): near 1, the members' ` +
    `CPU swings are the machine's speed, not the namespace's cost\n` +
    `per member-window: own stall ${formatDistribution(f.stallOwn)}; ` +
    `CPU stall ${formatDistribution(f.stallCpu)}\n` +
    `by tenth of the namespace (all of a tenth's operations against the baseline's): ` +
    `${f.tenths.filter((t) => t.flat).length} of ${f.tenths.length} within ±${FLAT_TOLERANCE * 100}%\n` +
    [
      '| tenth | entries | windows | ops/s | ÷ empty | p99 ms | ÷ empty | flat | members CPU ÷ empty | bench CPU ÷ empty |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...f.tenths.map(
        (t) =>
          `| ${t.tenth} | ${t.entriesFrom}–${t.entriesTo} | ${t.windows} | ${fixed(t.opsPerSecond)} | ` +
          `${fixed(t.opsRatio, 2)} | ${fixed(t.p99Ms, 1)} | ${fixed(t.p99Ratio, 2)} | ${t.flat ? 'yes' : 'NO'} | ` +
          `${fixed(t.membersCpuRatio, 2)} | ${fixed(t.benchCpuRatio, 2)} |`,
      ),
    ].join('\n')
  );
}

function formatDistribution(d: StallDistribution): string {
  return (
    `median/p90/max ${fixed(d.medianMs)}/${fixed(d.p90Ms)}/${fixed(d.maxMs)} ms, ` +
    `over ${LAG_MAX_MS_GOAL} ms in ${d.overGoal} of ${d.memberWindows}`
  );
}

export function formatSeconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '-';
}
