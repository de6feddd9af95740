// The scrubber's decisions, pure: how long to wait to keep to a byte rate, which disk to walk
// next, and the book of corrupt shards each disk keeps between passes. Time comes in as
// milliseconds; nothing here reads a clock or touches a disk (src/data/shard-scrubber.ts does).
import assert from 'node:assert';
import type { ScrubReason } from './types.ts';

// Bounded, so a reason can label a metric.
export const SCRUB_REASONS: readonly ScrubReason[] = [
  'header',
  'identity',
  'checksum',
  'size',
  'io',
];

export interface ScrubFinding {
  disk: number;
  stripeId: string;
  shardIndex: number;
  reason: ScrubReason;
  detail: string; // the verification error's message
  foundAtMs: number; // when a pass first found it corrupt
  seenInPass: number; // the last pass that found it corrupt
}

// What one disk remembers between passes and across restarts (persisted as JSON on the disk).
export interface DiskScrubState {
  passNumber: number; // passes started on this disk
  passStartedAtMs: number | null; // the running pass; null when none runs
  after: string | null; // the running pass's cursor: the last shard name it verified
  lastPassStartedAtMs: number | null;
  lastPassCompletedAtMs: number | null;
  findings: ScrubFinding[];
  findingsDropped: number; // corrupt shards the running or last pass found beyond the bound
}

// A disk with more corrupt shards than this has failed as a whole; listing every one would only
// make the findings reply huge (the bound keeps it under ~200 KiB per disk).
export const FINDINGS_PER_DISK_MAX = 1024;

export function newDiskState(): DiskScrubState {
  return {
    passNumber: 0,
    passStartedAtMs: null,
    after: null,
    lastPassStartedAtMs: null,
    lastPassCompletedAtMs: null,
    findings: [],
    findingsDropped: 0,
  };
}

// Keeps reads to `bytesPerSecond`: over any span of time, at most the rate times the span plus
// `burstBytes` plus the last read. Each read is charged after it is made and the caller waits
// the returned milliseconds before the next (GCRA, the virtual-clock form of a token bucket).
// A read that was itself slow has used up its time, so it is not made to wait again; idle time
// earns a credit of at most `burstBytes`, so a pass resumed after a pause does not burst.
export class ScrubPacer {
  readonly bytesPerSecond: number;
  private readonly burstMs: number;
  private readyAtMs = Number.NEGATIVE_INFINITY;

  constructor(bytesPerSecond: number, burstBytes: number) {
    assert(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0, 'a positive byte rate');
    assert(Number.isSafeInteger(burstBytes) && burstBytes >= 0);
    this.bytesPerSecond = bytesPerSecond;
    this.burstMs = (burstBytes * 1000) / bytesPerSecond;
  }

  charge(nowMs: number, bytes: number): number {
    assert(Number.isFinite(nowMs) && Number.isSafeInteger(bytes) && bytes >= 0);
    const startMs = Math.max(this.readyAtMs, nowMs - this.burstMs);
    this.readyAtMs = startMs + (bytes * 1000) / this.bytesPerSecond;
    const waitMs = Math.max(0, this.readyAtMs - nowMs);
    assert(this.readyAtMs >= nowMs - this.burstMs, 'the credit never exceeds the burst');
    return waitMs;
  }
}

export type ScrubWork = { kind: 'walk'; disk: number } | { kind: 'wait'; waitMs: number };

// A running pass continues first (lowest disk first); otherwise the disk whose next pass is due
// soonest starts one, a pass being due `passIntervalMs` after the start of the last.
export function chooseWork(
  states: readonly DiskScrubState[],
  nowMs: number,
  passIntervalMs: number,
): ScrubWork {
  assert(states.length > 0 && passIntervalMs > 0);
  const running = states.findIndex((s) => s.passStartedAtMs !== null);
  if (running >= 0) return { kind: 'walk', disk: running };
  let soonest = 0;
  let soonestDueMs = Number.POSITIVE_INFINITY;
  for (const [disk, state] of states.entries()) {
    const dueMs =
      state.lastPassStartedAtMs === null
        ? Number.NEGATIVE_INFINITY
        : state.lastPassStartedAtMs + passIntervalMs;
    if (dueMs < soonestDueMs) {
      soonest = disk;
      soonestDueMs = dueMs;
    }
  }
  if (soonestDueMs <= nowMs) return { kind: 'walk', disk: soonest };
  return { kind: 'wait', waitMs: soonestDueMs - nowMs };
}

export function startPass(state: DiskScrubState, nowMs: number): void {
  assert(state.passStartedAtMs === null, 'no pass is running on the disk');
  state.passNumber++;
  state.passStartedAtMs = nowMs;
  state.after = null;
  state.findingsDropped = 0;
}

// Records that the running pass verified `name` (whatever the outcome): a restart resumes after it.
export function advanceCursor(state: DiskScrubState, name: string): void {
  assert(state.passStartedAtMs !== null, 'a pass is running');
  assert(state.after === null || name > state.after, 'the walk goes in name order');
  state.after = name;
}

// A shard found corrupt: `new` the first time (log it, count it), `again` when an earlier pass
// found it too, `dropped` when the disk's list is full.
export function recordCorrupt(
  state: DiskScrubState,
  finding: Omit<ScrubFinding, 'seenInPass' | 'foundAtMs'>,
  nowMs: number,
): 'new' | 'again' | 'dropped' {
  const known = state.findings.find(
    (f) => f.stripeId === finding.stripeId && f.shardIndex === finding.shardIndex,
  );
  if (known) {
    Object.assign(known, { reason: finding.reason, detail: finding.detail });
    known.seenInPass = state.passNumber;
    return 'again';
  }
  if (state.findings.length >= FINDINGS_PER_DISK_MAX) {
    state.findingsDropped++;
    return 'dropped';
  }
  state.findings.push({ ...finding, foundAtMs: nowMs, seenInPass: state.passNumber });
  assert(state.findings.length <= FINDINGS_PER_DISK_MAX);
  return 'new';
}

// The shard verified, or is gone (deleted by a repair or the orphan scrubber): no finding stays.
// Runs for every healthy shard, so it allocates nothing unless there is a finding to drop.
export function forgetShard(state: DiskScrubState, stripeId: string, shardIndex: number): boolean {
  const at = state.findings.findIndex(
    (f) => f.stripeId === stripeId && f.shardIndex === shardIndex,
  );
  if (at < 0) return false;
  state.findings.splice(at, 1);
  return true;
}

// At the end of a pass, a finding the pass did not see again names a file that is gone.
export function completePass(state: DiskScrubState, nowMs: number): void {
  assert(state.passStartedAtMs !== null, 'a pass is running');
  state.findings = state.findings.filter((f) => f.seenInPass === state.passNumber);
  state.lastPassStartedAtMs = state.passStartedAtMs;
  state.lastPassCompletedAtMs = nowMs;
  state.passStartedAtMs = null;
  state.after = null;
}

// A state read back from disk: anything malformed starts afresh (the next pass rebuilds it).
export function parseDiskState(text: string): DiskScrubState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const s = value as Partial<DiskScrubState> | null;
  const numberOrNull = (v: unknown) => v === null || Number.isFinite(v);
  const ok =
    s !== null &&
    typeof s === 'object' &&
    Number.isSafeInteger(s.passNumber) &&
    numberOrNull(s.passStartedAtMs) &&
    (s.after === null || typeof s.after === 'string') &&
    numberOrNull(s.lastPassStartedAtMs) &&
    numberOrNull(s.lastPassCompletedAtMs) &&
    Number.isSafeInteger(s.findingsDropped) &&
    Array.isArray(s.findings) &&
    s.findings.length <= FINDINGS_PER_DISK_MAX &&
    s.findings.every(isFinding);
  return ok ? (s as DiskScrubState) : undefined;
}

function isFinding(f: unknown): boolean {
  const x = f as Partial<ScrubFinding> | null;
  return (
    x !== null &&
    typeof x === 'object' &&
    Number.isSafeInteger(x.disk) &&
    typeof x.stripeId === 'string' &&
    /^[0-9a-f]{32}$/.test(x.stripeId) &&
    Number.isSafeInteger(x.shardIndex) &&
    SCRUB_REASONS.includes(x.reason as ScrubReason) &&
    typeof x.detail === 'string' &&
    Number.isFinite(x.foundAtMs) &&
    Number.isSafeInteger(x.seenInPass)
  );
}
