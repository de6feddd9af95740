// A small seeded pseudo-random generator (mulberry32). The core never draws randomness of its own:
// the driver hands it one of these (or its own implementation), so a seed replays a run exactly.
import assert from 'node:assert/strict';

export interface RandomSource {
  /** An integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}

export class SeededPrng implements RandomSource {
  #state: number;

  constructor(seed: number) {
    assert.ok(Number.isSafeInteger(seed), `seed must be a safe integer, got ${seed}`);
    // Mix the high bits in so seeds above 2^32 do not collide with their low 32 bits.
    this.#state = (seed ^ Math.floor(seed / 0x100000000) ^ 0x9e3779b9) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }

  nextInt(maxExclusive: number): number {
    assert.ok(Number.isSafeInteger(maxExclusive) && maxExclusive > 0, `bad bound ${maxExclusive}`);
    return Math.floor(this.next() * maxExclusive);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert.ok(items.length > 0, 'pick from an empty list');
    return items[this.nextInt(items.length)];
  }
}
