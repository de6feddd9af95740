// Counts the RPC sends of a buffer still in flight, so that its owner reuses it only once every
// socket is done with it. A stripe write resolves at its quorum while a straggling shard write may
// still be sending (stripe-write-round.ts): a buffer reused then would send another stripe's bytes
// under this one's name, and the data server would store them with checksums of its own making.
// `begin` before a send starts (synchronously, before any await); its callback once the socket is
// done with the bytes (RpcCallOptions.bodySent) or the send never started. `idle` once no more
// sends will begin: resolves when every one has ended.
import assert from 'node:assert';

export class SendTracker {
  private outstanding = 0;
  private readonly waiters: Array<() => void> = [];

  begin(): () => void {
    this.outstanding++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.outstanding--;
      assert(this.outstanding >= 0, 'a send ended twice');
      if (this.outstanding === 0) for (const wake of this.waiters.splice(0)) wake();
    };
  }

  idle(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get inFlight(): number {
    return this.outstanding;
  }
}
