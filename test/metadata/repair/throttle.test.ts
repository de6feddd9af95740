// The repair's byte-rate throttle over given times: reservations drain at the rate, back to back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteRateThrottle } from '../../../src/metadata/repair/index.ts';

const MiB = 1024 * 1024;

test('reservations are spaced so that bytes move at the rate, whatever their sizes', () => {
  const throttle = new ByteRateThrottle(10 * MiB);
  assert.equal(throttle.reserve(1_000, 5 * MiB), 0, 'the first goes at once');
  assert.equal(throttle.reserve(1_000, 5 * MiB), 500, 'after the first 5 MiB drained');
  assert.equal(throttle.reserve(1_000, MiB), 1_000);
  // Reserved over one second and a tenth: 11 MiB at 10 MiB/s.
  assert.equal(throttle.reserve(1_100, 0), 1_000);
});

test('an idle spell earns no burst', () => {
  const throttle = new ByteRateThrottle(MiB);
  assert.equal(throttle.reserve(0, MiB), 0);
  assert.equal(throttle.reserve(60_000, MiB), 0, 'after a minute idle, one reservation at once');
  assert.equal(throttle.reserve(60_000, MiB), 1_000, 'but the next one waits its turn');
});

test('a rate of zero is refused', () => {
  assert.throws(() => new ByteRateThrottle(0), /positive/);
});
