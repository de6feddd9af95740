// The repair's byte-rate throttle, pure: time comes in as milliseconds. Each reservation starts
// when the bytes reserved before it have drained at `bytesPerSecond`, so repair I/O is spread
// evenly at the rate instead of bursting (an idle spell earns no credit: repair is background
// work, and a burst after idling is what foreground reads would feel).
import assert from 'node:assert/strict';

export class ByteRateThrottle {
  readonly bytesPerSecond: number;
  private nextFreeMs = Number.NEGATIVE_INFINITY;

  constructor(bytesPerSecond: number) {
    assert.ok(bytesPerSecond > 0, `a repair rate is positive, got ${bytesPerSecond}`);
    this.bytesPerSecond = bytesPerSecond;
  }

  // Reserves `bytes` at `nowMs`; returns how long to wait before moving them.
  reserve(nowMs: number, bytes: number): number {
    assert.ok(bytes >= 0 && Number.isFinite(nowMs), 'a reservation of bytes at a time');
    const startMs = Math.max(nowMs, this.nextFreeMs);
    this.nextFreeMs = startMs + (bytes * 1000) / this.bytesPerSecond;
    const waitMs = startMs - nowMs;
    assert.ok(waitMs >= 0, 'never a negative wait');
    return waitMs;
  }
}
