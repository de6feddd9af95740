// mulberry32: a tiny, fast, seeded PRNG, so one seed replays one run of fsx exactly.
import assert from 'node:assert/strict';

export class Prng {
  #state: number;

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed) && seed >= 0 && seed <= 0xffffffff, `seed ${seed}`);
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in [0, bound); 53 bits of randomness, so bounds past 4 GiB work. */
  below(bound: number): number {
    assert(Number.isSafeInteger(bound) && bound > 0, `bound ${bound}`);
    const unit = (this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11)) / 2 ** 53;
    return Math.floor(unit * bound);
  }

  /** A uniform integer in [low, high]. */
  between(low: number, high: number): number {
    assert(low <= high, `between ${low} and ${high}`);
    return low + this.below(high - low + 1);
  }

  chance(probability: number): boolean {
    return this.nextUint32() < probability * 2 ** 32;
  }
}
