// The mount's adaptive busy polling (src/fuse/busy-poll.ts): the policy polls exactly while at
// least half of the last 32 gaps between a reply and the next request fitted in the window
// (checked against a plain list over seeded random gaps) and no contention backoff runs; the
// event-loop side polls for the window after a reply, not at all once the gaps grow past it,
// and stops when tasks wait for a CPU (its thread shares one with a busy process by taskset).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import {
  BACKOFF_MS,
  BusyPoll,
  BusyPollPolicy,
  CONTENDED_SHARE,
  CONTENDED_SPANS,
  CONTENTION_CHECK_MS,
  openCpuWaitClock,
} from '../../src/fuse/busy-poll.ts';
import { SeededPrng } from '../../src/raft/prng.ts';

const WINDOW_US = 300;

describe('busy poll policy', () => {
  test('polls exactly while 16 of the last 32 gaps fitted the window (seeded)', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const prng = new SeededPrng(seed);
      const random = () => prng.next();
      const policy = new BusyPollPolicy(WINDOW_US);
      const hits: boolean[] = [];
      // Runs of short and long gaps, as a caller that works in bursts and pauses.
      let shortShare = random();
      for (let i = 0; i < 2000; i++) {
        if (random() < 0.02) shortShare = random();
        const gapUs = random() < shortShare ? random() * WINDOW_US : WINDOW_US + 1 + random() * 1e5;
        policy.noteGap(gapUs);
        hits.push(gapUs <= WINDOW_US);
        const recent = hits.slice(-32).filter(Boolean).length;
        assert.equal(policy.shouldPoll(0), recent >= 16, `seed ${seed}, gap ${i}`);
      }
    }
  });

  test('a window of 0 never polls, and a gap equal to the window fits it', () => {
    const off = new BusyPollPolicy(0);
    const edge = new BusyPollPolicy(WINDOW_US);
    for (let i = 0; i < 40; i++) {
      off.noteGap(0);
      edge.noteGap(WINDOW_US);
    }
    assert.equal(off.shouldPoll(0), false);
    assert.equal(edge.shouldPoll(0), true);
    assert.throws(() => new BusyPollPolicy(-1), /not a number of microseconds/);
    assert.throws(() => new BusyPollPolicy(Number.NaN), /not a number of microseconds/);
  });

  test('waiting for a CPU over a tenth of two spans in a row stops polling for the backoff', () => {
    const policy = new BusyPollPolicy(WINDOW_US);
    for (let i = 0; i < 32; i++) policy.noteGap(10);
    const at = 1000;
    const span = CONTENTION_CHECK_MS;
    const over = CONTENDED_SHARE * 1.1;
    assert.equal(CONTENDED_SPANS, 2);
    // At the share is not contended; one contended span alone, between calm ones, is forgiven.
    assert.equal(policy.notePolling(at, span, span * CONTENDED_SHARE), false, 'at the share');
    assert.equal(policy.notePolling(at, span, span * over), false, 'one contended span');
    assert.equal(policy.notePolling(at, span, 0), false, 'a calm span resets the count');
    assert.equal(policy.notePolling(at, span, span * over), false, 'one again');
    assert.equal(policy.shouldPoll(at), true);
    // Short stretches add up to a span: a quarter span each, a little over the share.
    const quarter = span / 4;
    assert.deepEqual(
      [1, 2, 3, 4].map(() => policy.notePolling(at, quarter, quarter * over)),
      [false, false, false, true],
      'the second contended span in a row',
    );
    assert.equal(policy.shouldPoll(at + BACKOFF_MS - 1), false, 'in the backoff');
    assert.equal(policy.shouldPoll(at + BACKOFF_MS), true, 'after it');
    assert.equal(policy.notePolling(at, span, span * over), false, 'the count starts again');
    assert.equal(policy.notePolling(at, span, -1), false, 'a clock that went back is ignored');
  });
});

describe('busy poll on the event loop', () => {
  // Replies and requests `gapMs` apart, 40 times.
  function exchange(poll: BusyPoll, gapMs: number): void {
    for (let i = 0; i < 40; i++) {
      poll.replied();
      const until = performance.now() + gapMs;
      while (performance.now() < until);
      poll.received();
    }
  }
  const settle = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));
  // Until `polls` holds `count` stretches: each is reported when the loop next runs after its
  // window, which a loaded machine may delay past any fixed wait.
  async function stretches(polls: number[], count: number): Promise<void> {
    const deadline = performance.now() + 10_000;
    while (polls.length < count) {
      assert.ok(performance.now() < deadline, `${polls.length} of ${count} stretches reported`);
      await settle(2);
    }
  }
  function recorder() {
    const polls: number[] = [];
    let backoffs = 0;
    return {
      polls,
      backoffs: () => backoffs,
      report: { polled: (seconds: number) => polls.push(seconds), backedOff: () => backoffs++ },
    };
  }

  test('after a reply the loop polls for the window when requests come that fast', async () => {
    const seen = recorder();
    const poll = new BusyPoll(5_000, seen.report, undefined);
    exchange(poll, 0);
    const start = performance.now();
    poll.replied();
    await stretches(seen.polls, 1);
    assert.ok(performance.now() - start >= 5, 'the loop polled through the window');
    await settle();
    assert.equal(seen.polls.length, 1, 'one stretch of polling');
    assert.ok(seen.polls[0] >= 0.005, `polled ${seen.polls[0]} s`);
  });

  test('requests farther apart than the window stop the polling', async () => {
    const seen = recorder();
    const poll = new BusyPoll(200, seen.report, undefined);
    exchange(poll, 0);
    await stretches(seen.polls, 1);
    // The first slow gaps still find polling on: one more stretch.
    exchange(poll, 2);
    await stretches(seen.polls, 2);
    const during = seen.polls.length;
    // Once 17 of the last 32 gaps were long, nothing more polls.
    poll.replied();
    poll.received();
    poll.replied();
    await settle();
    assert.equal(seen.polls.length, during, 'no polling after slow requests');
    const off = new BusyPoll(0, seen.report, undefined);
    exchange(off, 0);
    off.replied();
    await settle();
    assert.equal(seen.polls.length, during, 'a window of 0 never polls');
  });

  test('a thread that waits for a CPU while polling stops polling', async (t) => {
    const clock = openCpuWaitClock();
    if (clock === undefined) return t.skip('neither /proc/pressure/cpu nor schedstat');
    // This thread and a busy process on one CPU: the scheduler shares it, so one of them waits
    // for it about half the time the thread polls (the machine's pressure stall information
    // counts either; the thread's own run-queue wait, the fallback, counts the thread's).
    const affinity = spawnSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' });
    const mask = /:\s*([0-9a-f]+)\s*$/.exec(affinity.stdout)?.[1];
    if (affinity.status !== 0 || mask === undefined) return t.skip('no taskset');
    assert.equal(spawnSync('taskset', ['-p', '1', String(process.pid)]).status, 0);
    const hog = spawn('taskset', ['1', process.execPath, '-e', 'for (;;);'], { stdio: 'ignore' });
    try {
      await settle(100);
      const seen = recorder();
      const poll = new BusyPoll(1_000_000, seen.report, clock);
      exchange(poll, 0);
      poll.replied();
      await settle(CONTENTION_CHECK_MS * 10);
      assert.equal(seen.backoffs(), 1, 'backed off');
      assert.equal(seen.polls.length, 1, 'the stretch of polling ended before its 1 s window');
      exchange(poll, 0);
      poll.replied();
      await settle();
      assert.equal(seen.polls.length, 1, 'no polling in the backoff');
    } finally {
      hog.kill('SIGKILL');
      spawnSync('taskset', ['-p', mask, String(process.pid)]);
      clock.close();
    }
  });
});
