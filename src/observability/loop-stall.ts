// Event-loop stalls this process causes, told apart from the ones the machine causes.
//
// perf_hooks' event-loop delay (strata_process_nodejs_eventloop_lag_max_seconds) is wall time: on
// a loaded host a process that is merely descheduled for 80 ms shows 80 ms of "lag" although it
// ran nothing. So a timer ticks every TICK_MS and, at each tick, reads the CPU time this thread
// (the event loop's) used since the previous tick. A late tick whose gap was spent on the CPU is a
// stall the process caused (a long synchronous handler, a GC pause); one whose gap was not is the
// scheduler's. The gauge reports, per scrape, the largest CPU time spent between two ticks.
import { performance } from 'node:perf_hooks';

export const STALL_TICK_MS = 10;
// A turn that long is counted (issue 11: "no event-loop stall over 50 ms").
export const STALL_COUNT_THRESHOLD_MS = 50;

export interface StallSample {
  gapMs: number; // wall time between the two ticks
  cpuMs: number; // this thread's CPU time over the same interval
}

// The pure part: folds ticks into the figures a scrape reads.
export class StallFold {
  private busyMaxMs = 0;
  // Busy turns over STALL_COUNT_THRESHOLD_MS since the process started (a counter: never reset).
  stallsTotal = 0;

  // The CPU time can exceed the gap by the clocks' granularity; never count more than the gap.
  observe(sample: StallSample): void {
    const busyMs = Math.min(sample.cpuMs, sample.gapMs);
    this.busyMaxMs = Math.max(this.busyMaxMs, busyMs);
    if (busyMs > STALL_COUNT_THRESHOLD_MS) this.stallsTotal++;
  }

  // The longest busy turn since the previous take, and a new maximum from now.
  takeBusyMaxMs(): number {
    const busyMaxMs = this.busyMaxMs;
    this.busyMaxMs = 0;
    return busyMaxMs;
  }
}

function threadCpuMs(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) / 1000;
}

// The I/O edge: a ticking timer (unref'd: it keeps no process alive) feeding a StallFold.
export function startStallMonitor(): { fold: StallFold; stop(): void } {
  const fold = new StallFold();
  let lastWallMs = performance.now();
  let lastCpuMs = threadCpuMs();
  const timer = setInterval(() => {
    const wallMs = performance.now();
    const cpuMs = threadCpuMs();
    const sample = { gapMs: wallMs - lastWallMs, cpuMs: cpuMs - lastCpuMs };
    lastWallMs = wallMs;
    lastCpuMs = cpuMs;
    fold.observe(sample);
  }, STALL_TICK_MS);
  timer.unref();
  return { fold, stop: () => clearInterval(timer) };
}
