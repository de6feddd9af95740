// The phi accrual failure detector (Hayashibara, Defago, Yared and Katayama, 2004), as Akka's
// PhiAccrualFailureDetector and Cassandra implement it. Instead of a yes/no timeout it gives a
// suspicion level: phi = -log10(1 - F(t)), where t is the time since the last heartbeat and F the
// normal distribution fitted to recent inter-arrival times, its mean shifted by the acceptable
// pause. phi = 8 means a 1e-8 chance that a heartbeat this late comes from a live server.
//
// Pure: time comes in as milliseconds from the caller; there is no clock and no timer inside.
import assert from 'node:assert/strict';

export interface PhiAccrualOptions {
  threshold: number; // phi at or above which the server is suspected (Akka and Cassandra: 8)
  maxSampleSize: number; // inter-arrival times kept (a window: old behaviour ages out)
  minStdDeviationMs: number; // floor on sigma, so steady heartbeats do not make phi jumpy
  // Extra silence tolerated before phi climbs: a GC pause or a dropped heartbeat or two.
  acceptableHeartbeatPauseMs: number;
  firstHeartbeatEstimateMs: number; // the expected interval before any has been seen
}

// Heartbeats every second: a dead server crosses phi 8 about 4.6 s after its last heartbeat
// (1 s interval + 3 s acceptable pause + about 5.6 sigma of 100 ms).
export const defaultPhiAccrualOptions: PhiAccrualOptions = {
  threshold: 8,
  maxSampleSize: 200,
  minStdDeviationMs: 100,
  acceptableHeartbeatPauseMs: 3000,
  firstHeartbeatEstimateMs: 1000,
};

export class PhiAccrualDetector {
  readonly options: PhiAccrualOptions;
  readonly #intervalsMs: number[] = []; // a ring of at most maxSampleSize
  #next = 0;
  #sumMs = 0;
  #sumSquaresMs = 0;
  #lastHeartbeatMs: number | undefined;

  constructor(options: Partial<PhiAccrualOptions> = {}) {
    this.options = { ...defaultPhiAccrualOptions, ...options };
    const o = this.options;
    assert.ok(o.threshold > 0, `threshold must be > 0, got ${o.threshold}`);
    assert.ok(Number.isInteger(o.maxSampleSize) && o.maxSampleSize > 0, 'maxSampleSize >= 1');
    assert.ok(o.minStdDeviationMs > 0, 'minStdDeviationMs must be > 0');
    assert.ok(o.acceptableHeartbeatPauseMs >= 0, 'acceptableHeartbeatPauseMs must be >= 0');
    assert.ok(o.firstHeartbeatEstimateMs > 0, 'firstHeartbeatEstimateMs must be > 0');
  }

  get lastHeartbeatMs(): number | undefined {
    return this.#lastHeartbeatMs;
  }

  heartbeat(nowMs: number): void {
    const last = this.#lastHeartbeatMs;
    if (last !== undefined) {
      assert.ok(nowMs >= last, `time went backwards: heartbeat at ${nowMs} after ${last}`);
    }
    if (last === undefined) {
      // Bootstrap with two samples around the estimate, with a wide deviation (a quarter of it),
      // so that a server that sends one heartbeat and dies is still detected (Akka does the same).
      const estimate = this.options.firstHeartbeatEstimateMs;
      this.#add(estimate - estimate / 4);
      this.#add(estimate + estimate / 4);
    } else if (this.phi(nowMs) < this.options.threshold) {
      // The first heartbeat after a failure is not a sample: the outage would skew the window.
      this.#add(nowMs - last);
    }
    this.#lastHeartbeatMs = nowMs;
  }

  // 0 before the first heartbeat: a server never heard from is not accused (it is not monitored).
  phi(nowMs: number): number {
    const last = this.#lastHeartbeatMs;
    if (last === undefined) return 0;
    assert.ok(nowMs >= last, `time went backwards: phi at ${nowMs} after heartbeat at ${last}`);
    const count = this.#intervalsMs.length;
    const meanMs = this.#sumMs / count;
    const varianceMs2 = Math.max(0, this.#sumSquaresMs / count - meanMs * meanMs);
    const stdDeviationMs = Math.max(Math.sqrt(varianceMs2), this.options.minStdDeviationMs);
    return phiOf(nowMs - last, meanMs + this.options.acceptableHeartbeatPauseMs, stdDeviationMs);
  }

  isAvailable(nowMs: number): boolean {
    return this.phi(nowMs) < this.options.threshold;
  }

  #add(intervalMs: number): void {
    if (this.#intervalsMs.length < this.options.maxSampleSize) {
      this.#intervalsMs.push(intervalMs);
    } else {
      const oldest = this.#intervalsMs[this.#next];
      this.#sumMs -= oldest;
      this.#sumSquaresMs -= oldest * oldest;
      this.#intervalsMs[this.#next] = intervalMs;
      this.#next = (this.#next + 1) % this.options.maxSampleSize;
    }
    this.#sumMs += intervalMs;
    this.#sumSquaresMs += intervalMs * intervalMs;
  }
}

// -log10(1 - F(elapsed)) for F the normal CDF, by the logistic approximation
// F(y) ~ 1 / (1 + exp(-z)), z = y (1.5976 + 0.070566 y^2) (error below 0.00014), as Akka has it.
// Above the mean, 1 - F = e / (1 + e) with e = exp(-z); written as z / ln 10 + log10(1 + e) it
// stays finite and keeps growing in the far tail, where Akka's form underflows to infinity.
export function phiOf(elapsedMs: number, meanMs: number, stdDeviationMs: number): number {
  assert.ok(stdDeviationMs > 0, 'standard deviation must be > 0');
  const y = (elapsedMs - meanMs) / stdDeviationMs;
  const z = y * (1.5976 + 0.070566 * y * y);
  const e = Math.exp(-z);
  if (elapsedMs > meanMs) return z / Math.LN10 + Math.log10(1 + e);
  return -Math.log10(1 - 1 / (1 + e));
}
