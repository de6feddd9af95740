import assert from 'node:assert';

// A counting semaphore: at most `max` holders at once, the rest wait in arrival order. The
// client library uses one to bound the stripes all its writes have in memory together; a data
// server one per disk to bound the repair work it takes on, and two whose size follows its
// clients (src/data/repair-slots.ts, resized by repair-yield.ts).
export class Slots {
  private max: number;
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(max: number) {
    assert(Number.isInteger(max) && max > 0, 'at least one slot');
    this.max = max;
  }

  get inUse(): number {
    return this.held;
  }

  // A new bound. Raised: waiters start at once. Lowered: holders keep their slots (nothing is
  // taken back), and no waiter starts until the holders are below it.
  resize(max: number): void {
    assert(Number.isInteger(max) && max > 0, 'at least one slot');
    this.max = max;
    while (this.held < this.max && this.waiting.length > 0) {
      this.held++;
      (this.waiting.shift() as () => void)();
    }
  }

  async acquire(): Promise<() => void> {
    if (this.held >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held++;
    let released = false;
    return () => {
      assert(!released, 'a slot is released once');
      released = true;
      // The slot passes straight to the next waiter, unless the bound was lowered below it.
      const next = this.held <= this.max ? this.waiting.shift() : undefined;
      if (next) next();
      else this.held--;
      assert(this.held >= 0, 'never fewer than no holders');
    };
  }
}
