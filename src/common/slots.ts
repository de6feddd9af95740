import assert from 'node:assert';

// A counting semaphore: at most `max` holders at once, the rest wait in arrival order. The
// client library uses one to bound the stripes all its writes have in memory together; a data
// server one per disk to bound the repair work it takes on (src/data/repair-slots.ts).
export class Slots {
  private readonly max: number;
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(max: number) {
    assert(Number.isInteger(max) && max > 0, 'at least one slot');
    this.max = max;
  }

  async acquire(): Promise<() => void> {
    if (this.held >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held++;
    let released = false;
    return () => {
      assert(!released, 'a slot is released once');
      released = true;
      const next = this.waiting.shift();
      if (next)
        next(); // the slot passes straight to the next waiter
      else this.held--;
    };
  }
}
