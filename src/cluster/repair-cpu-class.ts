// The CPU scheduling class of a data server's repair thread (pure: the thread feeds it one
// window of its own scheduler statistics at a time, from /proc/thread-self/schedstat).
//
// At `idle` the thread runs under SCHED_IDLE: the kernel gives it a CPU only when no other thread
// wants one, and a client-serving thread that wakes takes the CPU from it at once. At nice 10
// (the class `nice`) it kept about a tenth of a nice-0 thread's share and, on a 2-core machine,
// delayed the wake-ups client requests are made of: in benches/repair the foreground GET p50
// during repair was 17-22 ms at nice 10 against 15-17 ms at SCHED_IDLE, the p99 57-78 against
// 41-64 ms, at a repair rate 2-3% lower (148-167 MiB/s against 143-162); seven runs each,
// alternated.
//
// But SCHED_IDLE gives way to any load: under client work that keeps every CPU busy the thread
// got 0.9% of a core (a scratch run beside two busy loops), and repair would stall while the
// cluster runs short of redundancy. So the class is guarded: a window in which the thread wanted
// the CPU for most of the time (run + wait on the run queue) and ran for only a sliver of that
// is starved; STARVED_WINDOWS of them in a row put the thread at nice for a hold, after which it
// tries idle again. The hold doubles each time idle starves again soon after (NICE_HOLD_WINDOWS
// up to NICE_HOLD_WINDOWS_MAX; a try at idle that lasts NICE_HOLD_WINDOWS starts over): under
// sustained load each try costs a few starved seconds, in which a peer's repair read from this
// thread may time out (a scratch run beside three busy loops: 1 failed rebuild in 565). Repair
// then always progresses at about nice 10's share, the guarantee the class `nice` gives
// throughout. During benches/repair the idle threads ran for about 23% of the time they wanted
// the CPU, far above STARVED_SHARE.
import assert from 'node:assert/strict';

import type { RepairCpuClass } from '../data/data-service.ts';

export type { RepairCpuClass };

export const WINDOW_MS = 1_000;
// A window counts only when the thread wanted the CPU (ran or waited to) this much of it: a
// thread that wakes briefly a few times is not judged by its short waits.
export const WANTED_FRACTION_MIN = 0.5;
// Ran less than this share of the time it wanted the CPU: starved.
export const STARVED_SHARE = 0.05;
export const STARVED_WINDOWS = 3;
export const NICE_HOLD_WINDOWS = 30;
export const NICE_HOLD_WINDOWS_MAX = 960;

export interface SchedWindow {
  windowMs: number;
  runMs: number; // on a CPU
  waitMs: number; // runnable, waiting on the run queue
}

export type ClassChange = { to: RepairCpuClass; reason: 'starved' | 'recovered' } | undefined;

export class RepairCpuGuard {
  #class: RepairCpuClass = 'idle';
  #starvedInRow = 0;
  #niceWindowsLeft = 0;
  #holdWindows = NICE_HOLD_WINDOWS; // the next hold at nice
  #idleWindows = 0; // since the last switch to idle

  get cpuClass(): RepairCpuClass {
    return this.#class;
  }

  // Windows at nice left before the next try at idle (0 at idle).
  get niceWindowsLeft(): number {
    return this.#class === 'nice' ? this.#niceWindowsLeft : 0;
  }

  // Whether the window starved the thread (exported for the tests' arithmetic).
  static starved(window: SchedWindow): boolean {
    assert(window.windowMs > 0, 'a window has a length');
    assert(window.runMs >= 0 && window.waitMs >= 0, 'times are durations');
    const wantedMs = window.runMs + window.waitMs;
    if (wantedMs < WANTED_FRACTION_MIN * window.windowMs) return false;
    return window.runMs < STARVED_SHARE * wantedMs;
  }

  // The change one more window asks for, if any (the caller applies it).
  observe(window: SchedWindow): ClassChange {
    if (this.#class === 'nice') {
      this.#niceWindowsLeft--;
      if (this.#niceWindowsLeft > 0) return undefined;
      this.#class = 'idle';
      this.#starvedInRow = 0;
      this.#idleWindows = 0;
      return { to: 'idle', reason: 'recovered' };
    }
    this.#idleWindows++;
    if (this.#idleWindows >= NICE_HOLD_WINDOWS) this.#holdWindows = NICE_HOLD_WINDOWS;
    this.#starvedInRow = RepairCpuGuard.starved(window) ? this.#starvedInRow + 1 : 0;
    if (this.#starvedInRow < STARVED_WINDOWS) return undefined;
    this.#class = 'nice';
    this.#niceWindowsLeft = this.#holdWindows;
    this.#holdWindows = Math.min(NICE_HOLD_WINDOWS_MAX, 2 * this.#holdWindows);
    this.#starvedInRow = 0;
    return { to: 'nice', reason: 'starved' };
  }
}

// Fields 1 and 2 of /proc/<pid>/task/<tid>/schedstat: time on a CPU and time waiting on a run
// queue, in nanoseconds (the kernel's sched_info; absent without CONFIG_SCHED_INFO).
export function parseSchedstat(text: string): { runNs: number; waitNs: number } {
  const [run, wait] = text.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(run) || !Number.isFinite(wait))
    throw new Error(`schedstat: expected two counters, got ${JSON.stringify(text)}`);
  return { runNs: run, waitNs: wait };
}
