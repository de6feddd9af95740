// The client's health view of data servers, driven through time directly (it reads no clock).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SERVER_HEALTH, ServerHealth } from '../../src/client/server-health.ts';

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
