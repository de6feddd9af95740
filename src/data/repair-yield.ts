// How much repair work a data server admits at once, adapted to its clients (pure: the data
// service feeds it one window of measurements at a time). Repair shares each data server's event
// loop and CPU with client reads, and on a loaded machine a client's read waits for the CPU that
// rebuilds take: in benches/repair the foreground GET p99 rose 4 to 8 times during repair at 16
// tasks. So repair yields: AIMD on a level from 1 to `levelMax` (as TCP's congestion window):
// - a window in which clients read here and the event loop lagged more than its target halves the
//   level (multiplicative decrease: back off fast when clients feel it);
// - any other window raises it by one (additive increase: take back idle capacity slowly);
// - the target is twice the lag seen in windows with no repair work in flight here (an EWMA: the
//   machine's own noise, from other processes and the clients themselves), and at least
//   LAG_TARGET_MS_MIN, so a busy machine does not stop repair for lag it did not cause.
// The level never goes below 1: repair always progresses, at one rebuild and a few reads per
// server while clients are being hurt. Event-loop lag is the signal rather than read latency
// because it is what a client's request waits for before any handler runs, whatever its size.
import assert from 'node:assert/strict';

export const LAG_TARGET_MS_MIN = 10;
// The quiet baseline moves by this fraction of each quiet window: ~10 windows to follow a change.
const BASELINE_WEIGHT = 0.1;
const BASELINE_LAG_MS_START = 5;

export interface YieldWindow {
  // Event-loop delay in the window (a high percentile), ms; undefined: not measured (the loop
  // measures one quiet window in several: repair-yield-loop.ts), which neither hurts nor moves
  // the baseline.
  lagMs: number | undefined;
  clientReads: number; // client (not repair) reads served in the window
  repairBusy: boolean; // repair work was in flight here during the window
}

export class RepairYield {
  readonly levelMax: number;
  #level: number;
  #baselineLagMs = BASELINE_LAG_MS_START;

  constructor(levelMax: number) {
    assert(Number.isInteger(levelMax) && levelMax >= 1, `levelMax must be >= 1, got ${levelMax}`);
    this.levelMax = levelMax;
    this.#level = levelMax; // a quiet server repairs at full speed from the start
  }

  get level(): number {
    return this.#level;
  }

  get targetLagMs(): number {
    return Math.max(LAG_TARGET_MS_MIN, 2 * this.#baselineLagMs);
  }

  // The level after one window.
  observe(window: YieldWindow): number {
    const { lagMs } = window;
    assert(lagMs === undefined || (Number.isFinite(lagMs) && lagMs >= 0), 'lag is a duration');
    assert(Number.isInteger(window.clientReads) && window.clientReads >= 0, 'reads are counted');
    const hurting = lagMs !== undefined && window.clientReads > 0 && lagMs > this.targetLagMs;
    if (!window.repairBusy && lagMs !== undefined)
      this.#baselineLagMs += BASELINE_WEIGHT * (lagMs - this.#baselineLagMs);
    if (hurting) this.#level = Math.max(1, Math.floor(this.#level / 2));
    else this.#level = Math.min(this.levelMax, this.#level + 1);
    assert(this.#level >= 1 && this.#level <= this.levelMax, 'the level stays in its range');
    return this.#level;
  }
}
