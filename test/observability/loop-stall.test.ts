// The stall monitor tells a turn the loop thread spent on the CPU from one it spent off it: the
// busy maximum counts CPU time only, which a blocked (descheduled-like) thread does not use.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  STALL_COUNT_THRESHOLD_MS,
  StallFold,
  startStallMonitor,
} from '../../src/observability/loop-stall.ts';

test('the fold keeps the longest busy turn until taken, and counts those over the threshold', () => {
  const fold = new StallFold();
  fold.observe({ gapMs: 200, cpuMs: 3 }); // off the CPU: a long gap, little CPU
  fold.observe({ gapMs: 70, cpuMs: 65 });
  fold.observe({ gapMs: 40, cpuMs: 41 }); // clock granularity: never more than the gap
  assert.equal(fold.takeBusyMaxMs(), 65);
  assert.equal(fold.stallsTotal, 1);
  assert.equal(fold.takeBusyMaxMs(), 0, 'a take starts a new maximum');
  fold.observe({ gapMs: 30, cpuMs: 31 });
  assert.equal(fold.takeBusyMaxMs(), 30);
  assert.equal(fold.stallsTotal, 1, 'the counter is never reset');
});

function threadCpuMs(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) / 1000;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 30));

test('a busy turn counts, a blocked one does not', async () => {
  const monitor = startStallMonitor();
  try {
    await tick();
    monitor.fold.takeBusyMaxMs();
    // Blocked without CPU for 200 ms, as a descheduled process would be.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    await tick();
    const blockedMs = monitor.fold.takeBusyMaxMs();
    assert.ok(blockedMs < STALL_COUNT_THRESHOLD_MS, `blocked turn counted ${blockedMs} ms`);

    const stallsBefore = monitor.fold.stallsTotal;
    const busyCpuMs = 2 * STALL_COUNT_THRESHOLD_MS;
    const until = threadCpuMs() + busyCpuMs;
    while (threadCpuMs() < until); // busy for that much of this thread's CPU, however long it takes
    await tick();
    const busyMs = monitor.fold.takeBusyMaxMs();
    assert.ok(busyMs >= busyCpuMs, `busy turn counted ${busyMs} ms of ${busyCpuMs}`);
    assert.equal(monitor.fold.stallsTotal, stallsBefore + 1);
  } finally {
    monitor.stop();
  }
});
