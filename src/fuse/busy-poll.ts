// Adaptive busy polling of the mount's event loop, as Linux's busy_poll does for sockets.
// Each FUSE request of a synchronous caller (a create, a 4 KiB read) is a chain of thread
// wake-ups: the caller's request wakes the mount, a local read's completion wakes it again, the
// reply wakes the caller. Waking a thread whose CPU has gone idle costs tens of microseconds
// on a VM (an interrupt to a halted virtual CPU), as much as answering the request. So after a
// reply (and while a request is being answered) the event loop keeps polling, without sleeping,
// for a short window; the next request or completion is then found at once
// (docs/architecture/overview.md, "Busy polling", with the figures).
// It pays only when the next request comes within the window and the CPU is otherwise idle:
// - the policy polls while at least half of the last gaps between a reply and the next request
//   were shorter than the window, so a mount whose callers pause between requests never polls;
// - polling takes the CPU from any thread that wants it (a data server writing what the mount
//   sent, a caller on the same CPU), and on a machine with no idle CPU the wake-ups it saves are
//   cheap anyway: when some task on the machine waited for a CPU more than a tenth of the time in
//   two 20 ms spans of polling in a row (/proc/pressure/cpu; else the loop thread's own wait),
//   polling stops for a while.
import { performance } from 'node:perf_hooks';
import {
  type CpuWaitClock,
  openCpuPressureClock,
  openRunQueueClock,
} from '../observability/cpu-wait-clocks.ts';

// The machine's pressure stall information where the kernel has it, else the loop thread's
// run-queue wait; undefined with neither (polling is then never stopped for contention).
export function openCpuWaitClock(): CpuWaitClock | undefined {
  return openCpuPressureClock() ?? openRunQueueClock();
}

// The gaps remembered: the last 32 replies followed by a request.
const HISTORY = 32;
// Polling starts when at least this many of them fit in the window.
const HITS_TO_POLL = HISTORY / 2;
// Polling is judged for contention in spans of this long, and stops for BACKOFF_MS when tasks
// waited for a CPU more than CONTENDED_SHARE of CONTENDED_SPANS spans in a row. Measured on the
// 2-core VM (PSI): spans under a 1 GiB sequential write and read waited 10-55%; under random
// reads 2-5%, with single spans up to 16% (a backoff at each of those cost a fifth of the
// polling there).
export const CONTENTION_CHECK_MS = 20;
export const CONTENDED_SHARE = 0.1;
export const CONTENDED_SPANS = 2;
export const BACKOFF_MS = 500;

// Pure: fed the gaps between a reply and the request that followed it, and the waits for a CPU
// while polling.
export class BusyPollPolicy {
  readonly windowUs: number;
  // Bit i: whether the gap i gaps ago fitted in the window (bit 0 the latest).
  private history = 0;
  private hits = 0;
  private backoffUntilMs = Number.NEGATIVE_INFINITY;
  // Polling not judged yet, and the CPU waits during it.
  private polledMs = 0;
  private waitedMs = 0;
  // Spans in a row judged contended.
  private contendedSpans = 0;

  constructor(windowUs: number) {
    if (!(Number.isFinite(windowUs) && windowUs >= 0))
      throw new Error(`busy poll window: ${windowUs} is not a number of microseconds`);
    this.windowUs = windowUs;
  }

  noteGap(gapUs: number): void {
    const hit = gapUs <= this.windowUs ? 1 : 0;
    const oldest = (this.history >>> (HISTORY - 1)) & 1;
    this.history = ((this.history << 1) | hit) >>> 0;
    this.hits += hit - oldest;
    if (this.hits < 0 || this.hits > HISTORY) throw new Error(`busy poll: ${this.hits} hits`);
  }

  // Over `elapsedMs` of polling ending at `nowMs`, tasks waited `waitedMs` for a CPU. Stretches
  // add up until CONTENTION_CHECK_MS of polling, which is then judged as a whole (most stretches
  // are shorter). True when that starts a backoff: the second contended span in a row.
  notePolling(nowMs: number, elapsedMs: number, waitedMs: number): boolean {
    if (!(elapsedMs >= 0 && waitedMs >= 0)) return false;
    this.polledMs += elapsedMs;
    this.waitedMs += waitedMs;
    if (this.polledMs < CONTENTION_CHECK_MS) return false;
    const contended = this.waitedMs > CONTENDED_SHARE * this.polledMs;
    this.polledMs = 0;
    this.waitedMs = 0;
    this.contendedSpans = contended ? this.contendedSpans + 1 : 0;
    if (this.contendedSpans < CONTENDED_SPANS) return false;
    this.contendedSpans = 0;
    this.backoffUntilMs = nowMs + BACKOFF_MS;
    return true;
  }

  shouldPoll(nowMs: number): boolean {
    return this.windowUs > 0 && this.hits >= HITS_TO_POLL && nowMs >= this.backoffUntilMs;
  }
}

export interface BusyPollReport {
  polled(seconds: number): void; // a stretch of polling ended
  backedOff(): void; // polling stopped for BACKOFF_MS: a task waited for a CPU
}

// The event loop side: `received` when a request is read, `replied` when an answer is written.
// Polling is a chain of setImmediate callbacks: while one is pending, libuv polls its
// descriptors without blocking, and runs whatever became ready before the next.
export class BusyPoll {
  private readonly policy: BusyPollPolicy;
  private readonly windowMs: number;
  private readonly report: BusyPollReport;
  // Undefined without PSI or schedstat: polling is then never stopped for contention.
  private readonly cpuWait: CpuWaitClock | undefined;
  private lastReplyAt: number | undefined;
  private pollUntil = 0;
  private pollingSince: number | undefined;
  // Where the polling not yet handed to the policy started: its time and the CPU wait clock.
  private measuredFrom = { at: 0, waitedMs: 0 };

  constructor(windowUs: number, report: BusyPollReport, cpuWait: CpuWaitClock | undefined) {
    this.policy = new BusyPollPolicy(windowUs);
    this.windowMs = windowUs / 1000;
    this.report = report;
    this.cpuWait = cpuWait;
  }

  received(): void {
    const now = performance.now();
    if (this.lastReplyAt !== undefined) {
      this.policy.noteGap((now - this.lastReplyAt) * 1000);
      this.lastReplyAt = undefined;
    }
    this.extend(now);
  }

  replied(): void {
    const now = performance.now();
    this.lastReplyAt = now;
    this.extend(now);
  }

  private extend(now: number): void {
    if (!this.policy.shouldPoll(now)) return;
    this.pollUntil = now + this.windowMs;
    if (this.pollingSince !== undefined) return;
    this.pollingSince = now;
    this.measuredFrom = { at: now, waitedMs: this.cpuWait?.waitMs() ?? 0 };
    setImmediate(this.poll);
  }

  private readonly poll = (): void => {
    const now = performance.now();
    // A full span is handed to the policy as it passes; the stretch's last part when it ends.
    const due = now - this.measuredFrom.at >= CONTENTION_CHECK_MS;
    const stopped = due && this.backedOff(now);
    if (now < this.pollUntil && !stopped) {
      setImmediate(this.poll);
      return;
    }
    if (!due) this.backedOff(now);
    this.report.polled((now - (this.pollingSince ?? now)) / 1000);
    this.pollingSince = undefined;
  };

  // Hands the polling since the last measure to the policy: true when it stops polling.
  private backedOff(now: number): boolean {
    if (this.cpuWait === undefined) return false;
    const waitedMs = this.cpuWait.waitMs() ?? this.measuredFrom.waitedMs;
    const backoff = this.policy.notePolling(
      now,
      now - this.measuredFrom.at,
      waitedMs - this.measuredFrom.waitedMs,
    );
    this.measuredFrom = { at: now, waitedMs };
    if (backoff) {
      this.report.backedOff();
      this.pollUntil = now;
    }
    return backoff;
  }
}
