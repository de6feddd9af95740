// The stall monitor tells the delays a process causes (on the CPU, or blocked in a synchronous
// call) from the time its loop thread waited for a CPU that the host gave to other processes.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import {
  STALL_COUNT_THRESHOLD_MS,
  STALL_TICK_MS,
  StallFold,
  type StallReport,
  startStallMonitor,
} from '../../src/observability/loop-stall.ts';

test('the fold: own stall is the delay minus the run-queue wait, CPU time is kept beside it', () => {
  const fold = new StallFold();
  // Descheduled: a long gap, almost all of it waiting for a CPU.
  fold.observe({ gapMs: 200, cpuMs: 3, runQueueWaitMs: 188 });
  assert.deepEqual(fold.take(), { ownMaxMs: 2, busyMaxMs: 3 });
  // Blocked in a synchronous call: little CPU, no wait, all of it the process's doing.
  fold.observe({ gapMs: 90, cpuMs: 1, runQueueWaitMs: 0 });
  // On the CPU: the clocks' granularity never counts more CPU than the gap.
  fold.observe({ gapMs: 70, cpuMs: 72, runQueueWaitMs: 5 });
  assert.deepEqual(fold.take(), { ownMaxMs: 80, busyMaxMs: 70 });
  assert.equal(fold.stallsTotal, 2, 'own stalls over the threshold: 80 and 55 ms');
  assert.deepEqual(fold.take(), { ownMaxMs: 0, busyMaxMs: 0 }, 'a take starts new maxima');
  // Without the run-queue clock the own stall is the CPU figure.
  fold.observe({ gapMs: 200, cpuMs: 30, runQueueWaitMs: undefined });
  assert.deepEqual(fold.take(), { ownMaxMs: 30, busyMaxMs: 30 });
  assert.equal(fold.stallsTotal, 2, 'the counter is never reset');
});

function threadCpuMs(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) / 1000;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 3 * STALL_TICK_MS));
const schedstat = existsSync('/proc/thread-self/schedstat');

test('a blocking call and a busy loop are own stalls; only the busy loop is CPU', async () => {
  const monitor = startStallMonitor();
  try {
    await tick();
    monitor.fold.take();
    const blockedMs = 4 * STALL_COUNT_THRESHOLD_MS;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, blockedMs); // no CPU used
    await tick();
    const blocked = monitor.fold.take();
    assert.ok(blocked.busyMaxMs < STALL_COUNT_THRESHOLD_MS, `blocked: ${blocked.busyMaxMs} ms CPU`);
    if (schedstat) {
      // The wait counts only while the thread was ready to run, which a blocked one is not.
      assert.ok(blocked.ownMaxMs > STALL_COUNT_THRESHOLD_MS, `blocked: own ${blocked.ownMaxMs}`);
    }

    const busyCpuMs = 2 * STALL_COUNT_THRESHOLD_MS;
    const until = threadCpuMs() + busyCpuMs;
    while (threadCpuMs() < until); // that much of this thread's CPU, however long it takes
    await tick();
    const busy = monitor.fold.take();
    assert.ok(busy.busyMaxMs >= busyCpuMs, `busy: ${busy.busyMaxMs} ms CPU of ${busyCpuMs}`);
    // The tick before the loop may have come up to one interval earlier.
    assert.ok(busy.ownMaxMs >= busyCpuMs - STALL_TICK_MS, `busy: own ${busy.ownMaxMs}`);
  } finally {
    monitor.stop();
  }
});

test('a counted stall is reported, with the garbage collections that ran in it', async () => {
  const reports: StallReport[] = [];
  const monitor = startStallMonitor({ onStall: (report) => reports.push(report) });
  try {
    await tick();
    // A loop turn that allocates and drops enough to run collections, then spins past the
    // threshold on the CPU.
    const until = threadCpuMs() + 2 * STALL_COUNT_THRESHOLD_MS;
    let kept: number[][] = [];
    while (threadCpuMs() < until) {
      kept.push(Array.from({ length: 1000 }, (_, i) => i));
      if (kept.length > 1000) kept = [];
    }
    await tick();
    await tick();
    assert.equal(reports.length, 1, `one stall reported: ${JSON.stringify(reports)}`);
    const [report] = reports;
    assert.ok(report.ownMs > STALL_COUNT_THRESHOLD_MS, `own ${report.ownMs} ms`);
    assert.ok(report.cpuMs >= 2 * STALL_COUNT_THRESHOLD_MS - 1, `cpu ${report.cpuMs} ms`);
    assert.ok(report.gcPauses.length > 0, 'the collections of the turn are named');
    for (const pause of report.gcPauses) {
      assert.ok(
        ['minor', 'major', 'incremental', 'weak-callbacks'].includes(pause.kind),
        pause.kind,
      );
      assert.ok(pause.ms >= 0 && pause.ms <= report.gapMs, `pause ${pause.ms} ms`);
    }
    // Short turns are not reported.
    await tick();
    assert.equal(reports.length, 1);
  } finally {
    monitor.stop();
  }
});
