// The phi accrual detector and liveness, fed heartbeat schedules in simulated milliseconds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  defaultPhiAccrualOptions,
  livenessAt,
  livenessOf,
  PhiAccrualDetector,
  phiOf,
} from '../../../src/metadata/health/index.ts';
import { SeededPrng } from '../../../src/raft/prng.ts';

const intervalMs = 1000;
const { threshold, acceptableHeartbeatPauseMs, minStdDeviationMs } = defaultPhiAccrualOptions;

function steady(detector: PhiAccrualDetector, count: number, startMs = 0): number {
  let nowMs = startMs;
  for (let i = 0; i < count; i++, nowMs += intervalMs) detector.heartbeat(nowMs);
  return nowMs - intervalMs; // the last heartbeat
}

// The first moment (to 10 ms) at which phi reaches the threshold after `fromMs`.
function suspectedAt(detector: PhiAccrualDetector, fromMs: number, untilMs: number) {
  for (let t = fromMs; t <= untilMs; t += 10) if (!detector.isAvailable(t)) return t;
  return undefined;
}

test('phi follows the normal tail: -log10(1 - F) at the mean and 1, 2, 3 deviations above', () => {
  // Upper tail probabilities of the standard normal distribution: Q(0..3).
  const tails = [0.5, 0.158655, 0.0227501, 0.0013499];
  tails.forEach((tail, y) => {
    const phi = phiOf(1000 + 100 * y, 1000, 100);
    assert.ok(Math.abs(phi + Math.log10(tail)) < 0.06, `y=${y}: phi ${phi}`);
  });
  assert.ok(phiOf(5000, 1000, 100) > phiOf(4000, 1000, 100), 'phi grows with silence');
  assert.ok(phiOf(1e6, 1000, 100) > phiOf(1e5, 1000, 100), 'phi keeps growing far in the tail');
  assert.ok(Number.isFinite(phiOf(1e9, 1000, 100)), 'far tail stays finite');
});

test('a server never heard from is not suspected; one heartbeat and silence is', () => {
  const detector = new PhiAccrualDetector();
  assert.equal(detector.phi(1_000_000), 0);
  detector.heartbeat(0);
  const at = suspectedAt(detector, 0, 20_000);
  assert.ok(at !== undefined, 'one heartbeat then silence is never suspected');
  assert.ok(at > intervalMs + acceptableHeartbeatPauseMs, `suspected too early: ${at} ms`);
});

test('steady heartbeats every second are never suspected', () => {
  const detector = new PhiAccrualDetector();
  for (let nowMs = 0; nowMs < 600_000; nowMs += intervalMs) {
    assert.ok(detector.phi(nowMs) < 1, `phi ${detector.phi(nowMs)} at ${nowMs}`);
    detector.heartbeat(nowMs);
  }
});

test('jittered heartbeats (1 s +- 40%) are never suspected', () => {
  const prng = new SeededPrng(7);
  const detector = new PhiAccrualDetector();
  let nowMs = 0;
  for (let i = 0; i < 2000; i++) {
    nowMs += 600 + prng.nextInt(801);
    assert.ok(
      detector.isAvailable(nowMs),
      `suspected at heartbeat ${i}: phi ${detector.phi(nowMs)}`,
    );
    detector.heartbeat(nowMs);
  }
});

test('a pause shorter than the acceptable pause is not suspected', () => {
  const detector = new PhiAccrualDetector();
  const lastMs = steady(detector, 100);
  const pauseMs = intervalMs + acceptableHeartbeatPauseMs - 500; // a GC pause, 500 ms to spare
  for (let t = lastMs; t <= lastMs + pauseMs; t += 10) {
    assert.ok(detector.isAvailable(t), `suspected ${t - lastMs} ms into the pause`);
  }
});

test('a pause longer than the acceptable pause is suspected, then cleared by the next heartbeat', () => {
  const detector = new PhiAccrualDetector();
  const lastMs = steady(detector, 100);
  const at = suspectedAt(detector, lastMs, lastMs + 10_000);
  // Suspicion comes after interval + acceptable pause, and within 10 minimum deviations of it.
  const earliestMs = lastMs + intervalMs + acceptableHeartbeatPauseMs;
  assert.ok(at !== undefined && at > earliestMs, `suspected at ${at}`);
  assert.ok(at < earliestMs + 10 * minStdDeviationMs, `suspected late: ${at - lastMs} ms`);
  detector.heartbeat(lastMs + 6000);
  assert.ok(detector.isAvailable(lastMs + 6000 + intervalMs), 'back after its heartbeat');
});

test('a dead server goes up -> suspect -> down after the repair delay, and stays down', () => {
  const detector = new PhiAccrualDetector();
  const lastMs = steady(detector, 60);
  const options = { downAfterMs: 30_000 };
  const states: string[] = [];
  for (let t = lastMs; t <= lastMs + 120_000; t += 100) {
    const state = livenessAt(detector, t, options);
    if (states.at(-1) !== state) states.push(state);
    if (t - lastMs < options.downAfterMs) assert.notEqual(state, 'down', `down at ${t - lastMs}`);
  }
  assert.deepEqual(states, ['up', 'suspect', 'down']);
});

test('a server that comes back after being down is up, and its outage does not skew the window', () => {
  const detector = new PhiAccrualDetector();
  const lastMs = steady(detector, 60);
  const phiBefore = detector.phi(lastMs + intervalMs);
  const backMs = lastMs + 300_000;
  assert.equal(livenessAt(detector, backMs - 1), 'down');
  detector.heartbeat(backMs);
  assert.equal(livenessAt(detector, backMs), 'up');
  // Had the 300 s gap become a sample, the mean would jump and a 1 s interval would read as ~0.
  assert.ok(Math.abs(detector.phi(backMs + intervalMs) - phiBefore) < 1e-9, 'gap was sampled');
  steady(detector, 10, backMs + intervalMs);
});

test('liveness is a pure function of phi, the threshold and the silence', () => {
  const options = { downAfterMs: 60_000 };
  assert.equal(livenessOf({ phi: 7.9, threshold, silentForMs: 120_000 }, options), 'up');
  assert.equal(livenessOf({ phi: 8, threshold, silentForMs: 59_999 }, options), 'suspect');
  assert.equal(livenessOf({ phi: 8, threshold, silentForMs: 60_000 }, options), 'down');
});

test('old samples age out of the window: a server whose rhythm slows adapts', () => {
  const detector = new PhiAccrualDetector({ maxSampleSize: 50 });
  let lastMs = steady(detector, 100);
  const gapMs = 4500; // half a second past the acceptable pause of a 1 s rhythm
  const fastPhi = detector.phi(lastMs + gapMs);
  for (let i = 0; i < 50; i++) {
    lastMs += 2000;
    detector.heartbeat(lastMs);
  }
  assert.ok(fastPhi > 1, `a 4.5 s gap in a 1 s rhythm is suspicious (phi ${fastPhi})`);
  assert.ok(detector.phi(lastMs + gapMs) < fastPhi / 10, 'a 4.5 s gap in a 2 s rhythm is not');
});
