// Repair's recent pace: shard bytes written over a sliding window, and how long the queue would
// take at that pace (the ETA `strata cluster status` shows, as `ceph -s` shows recovery's).
// Pure: time comes in as milliseconds.
import assert from 'node:assert/strict';

export const RATE_WINDOW_MS = 30_000;
const SAMPLES_MAX = 4_096; // bounds the memory whatever the task rate

export class RateWindow {
  readonly #windowMs: number;
  #samples: Array<{ atMs: number; bytes: number }> = [];

  constructor(windowMs = RATE_WINDOW_MS) {
    assert.ok(windowMs > 0, 'a window of positive length');
    this.#windowMs = windowMs;
  }

  note(atMs: number, bytes: number): void {
    assert.ok(bytes >= 0, 'bytes written are not negative');
    this.#samples.push({ atMs, bytes });
    if (this.#samples.length > SAMPLES_MAX) this.#samples.splice(0, this.#samples.length / 2);
  }

  // Bytes per second over the window ending now; 0 with nothing written in it. The span is the
  // whole window once it has filled, or since the first sample, so a start is not overstated.
  bytesPerSecond(nowMs: number): number {
    const since = nowMs - this.#windowMs;
    this.#samples = this.#samples.filter((s) => s.atMs > since);
    if (this.#samples.length === 0) return 0;
    const bytes = this.#samples.reduce((sum, s) => sum + s.bytes, 0);
    const spanMs = Math.max(1_000, nowMs - Math.max(since, this.#samples[0].atMs - 1_000));
    return (bytes * 1000) / spanMs;
  }

  // Mean bytes of the samples in the window (a shard's size, for the queue's bytes).
  meanBytes(): number {
    if (this.#samples.length === 0) return 0;
    return this.#samples.reduce((sum, s) => sum + s.bytes, 0) / this.#samples.length;
  }
}

// Seconds until `queuedShards` shards of about `shardBytes` each are written at `bytesPerSecond`;
// undefined when nothing is queued or there is no pace to judge by.
export function etaSeconds(
  queuedShards: number,
  shardBytes: number,
  bytesPerSecond: number,
): number | undefined {
  if (queuedShards === 0) return 0;
  if (bytesPerSecond <= 0 || shardBytes <= 0) return undefined;
  return Math.ceil((queuedShards * shardBytes) / bytesPerSecond);
}
