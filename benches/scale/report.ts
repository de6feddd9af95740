// The scale benchmark's figures: one row per window, printed as a Markdown table as the run goes,
// and the closing summary. Pure formatting; the measuring is elsewhere.

export interface NodeFigures {
  id: number;
  lagMaxMs: number; // event-loop lag, max over the window (NaN: the node did not answer)
  rssMainBytesMax: number; // the node's own process, peak over the window
  rssMainAnonBytesMax: number; // its anonymous part (heap; the rest is mostly LMDB's map)
  rssDataBytesMax: number; // its data-service child
  lmdbBytes: number; // at the end of the window
  raftBytes: number;
  // Snapshots since the node's process started (counters, not per window).
  snapshotsTakenTotal: number;
  snapshotsInstalledTotal: number;
}

export interface WindowRow {
  label: string; // "empty" for the baseline, else the window's number
  endSeconds: number; // since the bulk load started (0 for the baseline)
  entries: number; // acknowledged bulk entries at the end of the window
  loadPerSecond: number; // bulk entries acknowledged per second in the window
  opsPerSecond: number; // mixed-load operations per second
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number; // mixed and bulk errors in the window
  term: number; // highest Raft term among the members at the end of the window
  leaderChanges: number; // in the window, summed over the members
  snapshotIndex: number; // the leader's log starts after this index (its last compaction)
  nodes: NodeFigures[];
}

const MB = 1024 * 1024;
const fixed = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const perNode = (nodes: NodeFigures[], f: (n: NodeFigures) => string) => nodes.map(f).join('/');

export const TABLE_HEADER = [
  '| window | t s | entries | load/s | ops/s | p50 ms | p99 ms | max ms | errors | ' +
    'lag max ms | RSS MB main | anon MB main | RSS MB data | LMDB MB | Raft MB | term | leader changes | ' +
    'snapshot at | snapshots taken |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
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
    fixed(row.p50Ms, 1),
    fixed(row.p99Ms, 1),
    fixed(row.maxMs, 1),
    String(row.errors),
    perNode(nodes, (n) => fixed(n.lagMaxMs)),
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

export function formatSeconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '-';
}
