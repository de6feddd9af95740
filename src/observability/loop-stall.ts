// Event-loop stalls this process causes, told apart from the ones the machine causes.
//
// perf_hooks' event-loop delay (strata_process_nodejs_eventloop_lag_max_seconds) is wall time: on
// a loaded host a process that is merely descheduled for 80 ms shows 80 ms of "lag" although it
// ran nothing. So a timer ticks every STALL_TICK_MS and, at each tick, reads two clocks of this
// thread (the event loop's) since the previous tick:
// - its CPU time (process.threadCpuUsage): a long synchronous handler, a GC pause;
// - on Linux, its run-queue wait (/proc/thread-self/schedstat, second field): the time it was
//   ready to run but the host gave the CPU to another process.
// A tick late by more than that wait was held up by the process itself, on the CPU or blocked in
// a synchronous call (an fsync, a sync read): that is the "own" stall. Without schedstat the own
// stall falls back to the CPU figure, which misses the blocking calls.
import { constants, PerformanceObserver, performance } from 'node:perf_hooks';
import { openRunQueueClock } from './cpu-wait-clocks.ts';

// The resolution of prom-client's lag histogram. The cost, measured on an idle process: ~13 ms of
// CPU a second (the timer's wake-ups ~8, the clock reads the rest), 1.3% of a core per process.
export const STALL_TICK_MS = 10;
// An own stall that long is counted (issue 11: "no event-loop stall over 50 ms").
export const STALL_COUNT_THRESHOLD_MS = 50;

export interface StallSample {
  gapMs: number; // wall time between the two ticks (STALL_TICK_MS when on time)
  cpuMs: number; // this thread's CPU time over the same interval
  runQueueWaitMs: number | undefined; // time it waited for a CPU (undefined: not known here)
}

// The pure part: folds ticks into the figures a scrape reads.
export class StallFold {
  private ownMaxMs = 0;
  private busyMaxMs = 0;
  // Own stalls over STALL_COUNT_THRESHOLD_MS since the process started (a counter: never reset).
  stallsTotal = 0;

  // Returns the sample's own stall (ms).
  observe(sample: StallSample): number {
    // The CPU time can exceed the gap by the clocks' granularity; never count more than the gap.
    const busyMs = Math.min(sample.cpuMs, sample.gapMs);
    const ownMs =
      sample.runQueueWaitMs === undefined
        ? busyMs
        : Math.max(0, sample.gapMs - STALL_TICK_MS - sample.runQueueWaitMs);
    this.busyMaxMs = Math.max(this.busyMaxMs, busyMs);
    this.ownMaxMs = Math.max(this.ownMaxMs, ownMs);
    if (ownMs > STALL_COUNT_THRESHOLD_MS) this.stallsTotal++;
    return ownMs;
  }

  // The longest own stall and the longest CPU time between two ticks since the previous take;
  // both maxima start again.
  take(): { ownMaxMs: number; busyMaxMs: number } {
    const figures = { ownMaxMs: this.ownMaxMs, busyMaxMs: this.busyMaxMs };
    this.ownMaxMs = 0;
    this.busyMaxMs = 0;
    return figures;
  }
}

function threadCpuMs(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) / 1000;
}

// What a counted stall is reported with (to the log): which garbage collections ran in it,
// since a GC pause is the one cause of a long loop turn that no handler's code shows.
export interface StallReport extends StallSample {
  ownMs: number;
  gcPauses: Array<{ kind: string; ms: number }>; // collections that started within the gap
}

const GC_KINDS: ReadonlyMap<number, string> = new Map([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weak-callbacks'],
]);
// Collections remembered for a report: more than fit in one stall's gap at any real rate.
const GC_ENTRIES_KEPT = 64;

// The last GC_ENTRIES_KEPT collections' start and duration (perf_hooks' gc entries).
class RecentCollections {
  private readonly entries: Array<{ startMs: number; ms: number; kind: string }> = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as { detail?: { kind?: number } };
      const kind = detail?.kind ?? 0;
      this.entries.push({
        startMs: entry.startTime,
        ms: entry.duration,
        kind: GC_KINDS.get(kind) ?? String(kind),
      });
    }
    if (this.entries.length > GC_ENTRIES_KEPT)
      this.entries.splice(0, this.entries.length - GC_ENTRIES_KEPT);
  });

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  within(fromMs: number, toMs: number): Array<{ kind: string; ms: number }> {
    return this.entries
      .filter((e) => e.startMs >= fromMs && e.startMs <= toMs)
      .map((e) => ({ kind: e.kind, ms: Math.round(e.ms * 10) / 10 }));
  }

  stop(): void {
    this.observer.disconnect();
  }
}

// The I/O edge: a ticking timer (unref'd: it keeps no process alive) feeding a StallFold.
// `onStall` hears of every own stall over STALL_COUNT_THRESHOLD_MS. A collection's gc entry is
// delivered after the turn it paused, so the report waits one tick for it.
export function startStallMonitor(options: { onStall?: (report: StallReport) => void } = {}): {
  fold: StallFold;
  stop(): void;
} {
  const fold = new StallFold();
  const runQueue = openRunQueueClock();
  const collections = options.onStall ? new RecentCollections() : undefined;
  let lastWallMs = performance.now();
  let lastCpuMs = threadCpuMs();
  let lastWaitMs = runQueue?.waitMs();
  const timer = setInterval(() => {
    const wallMs = performance.now();
    const cpuMs = threadCpuMs();
    const waitMs = runQueue?.waitMs();
    const sample = {
      gapMs: wallMs - lastWallMs,
      cpuMs: cpuMs - lastCpuMs,
      runQueueWaitMs:
        waitMs === undefined || lastWaitMs === undefined ? undefined : waitMs - lastWaitMs,
    };
    const ownMs = fold.observe(sample);
    if (ownMs > STALL_COUNT_THRESHOLD_MS && options.onStall && collections) {
      const [fromMs, toMs, onStall] = [lastWallMs, wallMs, options.onStall];
      setTimeout(
        () => onStall({ ...sample, ownMs, gcPauses: collections.within(fromMs, toMs) }),
        STALL_TICK_MS,
      ).unref();
    }
    lastWallMs = wallMs;
    lastCpuMs = cpuMs;
    lastWaitMs = waitMs;
  }, STALL_TICK_MS);
  timer.unref();
  return {
    fold,
    stop: () => {
      clearInterval(timer);
      runQueue?.close();
      collections?.stop();
    },
  };
}
