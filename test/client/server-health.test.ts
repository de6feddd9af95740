// The client's health view of data servers, driven through time directly (it reads no clock).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SERVER_HEALTH, ServerHealth } from '../../src/client/server-health.ts';
import { SeededPrng } from '../../src/raft/prng.ts';

const { failuresToAvoid, avoidMsInitial, avoidMsMax } = DEFAULT_SERVER_HEALTH;

test('a server is avoided only after failuresToAvoid failures in a row', () => {
  const health = new ServerHealth();
  for (let i = 1; i < failuresToAvoid; i++) {
    assert.equal(health.recordFailure('a', 0), undefined);
    assert.equal(health.shouldAvoid('a', 0), false, `after ${i} failures`);
  }
  health.recordSuccess('a', 1); // a success breaks the run
  for (let i = 1; i < failuresToAvoid; i++) health.recordFailure('a', 0);
  assert.equal(health.shouldAvoid('a', 0), false);
  assert.equal(health.recordFailure('a', 0), 'avoided');
  assert.equal(health.shouldAvoid('a', 1), true);
  assert.deepEqual(health.avoidedServers(), ['a']);
  assert.equal(health.shouldAvoid('b', 1), false, 'other servers are not affected');
});

test('after the backoff exactly one request probes; a failed probe doubles the backoff up to the cap', () => {
  const health = new ServerHealth();
  for (let i = 0; i < failuresToAvoid; i++) health.recordFailure('a', 0);
  let now = avoidMsInitial - 1;
  assert.equal(health.shouldAvoid('a', now), true, 'still within the backoff');
  now = avoidMsInitial;
  assert.equal(health.isAvoiding('a', now), false, 'the backoff is over');
  assert.equal(health.isAvoiding('a', now), false, 'asking spends no probe');
  assert.equal(health.shouldAvoid('a', now), false, 'the probe goes through');
  assert.equal(health.isAvoiding('a', now), true, 'the probe re-armed the backoff');
  assert.equal(health.shouldAvoid('a', now), true, 'only one probe per period');
  let backoff = avoidMsInitial;
  for (let round = 0; round < 10; round++) {
    assert.equal(health.recordFailure('a', now), undefined, 'a failed probe is no new transition');
    backoff = Math.min(avoidMsMax, backoff * 2);
    assert.equal(health.shouldAvoid('a', now + backoff - 1), true, `round ${round}`);
    now += backoff;
    assert.equal(health.shouldAvoid('a', now), false, `probe of round ${round}`);
  }
  assert.equal(backoff, avoidMsMax, 'the backoff reached its cap');
});

test('a success ends the avoidance and resets the backoff', () => {
  const health = new ServerHealth();
  for (let i = 0; i < failuresToAvoid + 3; i++) health.recordFailure('a', 0);
  assert.equal(health.recordSuccess('a'), 'recovered');
  assert.deepEqual(health.avoidedServers(), []);
  assert.equal(health.shouldAvoid('a', 0), false);
  for (let i = 0; i < failuresToAvoid; i++) health.recordFailure('a', 100);
  assert.equal(health.shouldAvoid('a', 100 + avoidMsInitial - 1), true, 'initial backoff again');
  assert.equal(health.shouldAvoid('a', 100 + avoidMsInitial), false);
});

test('the hedge delay is the default before data, then twice the p95, clamped', () => {
  const options = { hedgeDelayMsMin: 10, hedgeDelayMsMax: 500, hedgeDelayMsDefault: 100 };
  const health = new ServerHealth(options);
  assert.equal(health.hedgeDelayMs(), 100);
  for (let i = 0; i < 100; i++) health.recordSuccess(`s${i % 4}`, i < 95 ? 20 : 90);
  assert.equal(health.hedgeDelayMs(), 180, 'p95 of 95×20 ms and 5×90 ms is 90 ms');
  for (let i = 0; i < 300; i++) health.recordSuccess('s0', 1);
  assert.equal(health.hedgeDelayMs(), 10, 'clamped to the minimum');
  for (let i = 0; i < 300; i++) health.recordSuccess('s0', 5_000);
  assert.equal(health.hedgeDelayMs(), 500, 'clamped to the maximum');
  assert.equal(health.serverP95Ms('s0'), 5_000);
});

test('writes report success without a latency: they do not move the hedge delay', () => {
  const health = new ServerHealth({ hedgeDelayMsDefault: 100 });
  for (let i = 0; i < 100; i++) health.recordSuccess('a');
  assert.equal(health.hedgeDelayMs(), 100);
  assert.equal(health.serverP95Ms('a'), undefined);
});

// The p95 kept incrementally (a sorted copy of the window) against the rule it replaced: sort the
// window's newest samples and take the same index. Duplicates and ties included; a failing seed
// replays with SERVER_HEALTH_SEED=<seed>.
test('the p95 of the sliding windows equals a sort of their newest samples', () => {
  const only = process.env.SERVER_HEALTH_SEED;
  const seeds = only === undefined ? Array.from({ length: 40 }, (_, i) => i + 1) : [Number(only)];
  const p95Of = (window: number[]) => {
    if (window.length < 16) return undefined;
    const sorted = window.toSorted((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];
  };
  const wide = { hedgeDelayMsMin: 1e-9, hedgeDelayMsMax: 1e9, latencyFactor: 1 };
  for (const seed of seeds) {
    const random = new SeededPrng(seed);
    const health = new ServerHealth({ ...wide, hedgeDelayMsDefault: 1 });
    const seen: number[] = [];
    for (let i = 0; i < 700; i++) {
      // Small integers (many ties) and fractions alike.
      const latency = random.chance(0.5) ? random.nextInt(20) : random.next() * 100;
      seen.push(latency);
      health.recordSuccess('a', latency);
      const context = `seed ${seed}, sample ${i}`;
      assert.equal(health.serverP95Ms('a'), p95Of(seen.slice(-64)), `server window, ${context}`);
      assert.equal(health.hedgeDelayMs(), p95Of(seen.slice(-256)) ?? 1, `overall, ${context}`);
    }
  }
});
