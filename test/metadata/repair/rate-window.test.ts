import assert from 'node:assert/strict';
import test from 'node:test';
import { etaSeconds, RateWindow } from '../../../src/metadata/repair/index.ts';

const MiB = 1 << 20;

test('the pace is the bytes written over the window, and what left the window no longer counts', () => {
  const window = new RateWindow(30_000);
  assert.equal(window.bytesPerSecond(0), 0, 'nothing written: no pace');
  for (let s = 1; s <= 60; s++) window.note(s * 1000, MiB); // 1 MiB a second for a minute
  const rate = window.bytesPerSecond(60_000);
  assert.ok(Math.abs(rate - MiB) / MiB < 0.05, `about 1 MiB/s, got ${rate}`);
  assert.equal(window.meanBytes(), MiB);
  assert.equal(window.bytesPerSecond(200_000), 0, 'a quiet window has no pace');
});

test('a start is not overstated: one shard just written is not a shard per millisecond', () => {
  const window = new RateWindow(30_000);
  window.note(10_000, 4 * MiB);
  assert.ok(window.bytesPerSecond(10_001) <= 4 * MiB, 'at most the shard over a second');
});

test('the ETA is the queue at the pace; none without a pace, zero without a queue', () => {
  assert.equal(etaSeconds(100, MiB, 10 * MiB), 10);
  assert.equal(etaSeconds(0, MiB, 0), 0);
  assert.equal(etaSeconds(5, MiB, 0), undefined);
  assert.equal(etaSeconds(3, MiB, 2 * MiB), 2, 'rounded up');
});
