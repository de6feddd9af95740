// Closing a replica fails every read barrier at once: the rounds in flight and the reads queued
// behind them. close() used to fail the round in flight and then start a new one for the queued
// reads, which nothing answered any more: they waited for its 5 s timeout, and its timer kept a
// stopping metadata member's process alive (one stopped after its peers missed the 20 s bound).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../helpers/server.ts';
import { startSingleReplica } from '../helpers/single-replica.ts';

test('close fails the read round in flight and the reads queued behind it', async () => {
  const dataDir = tempDir('strata-replica-close-');
  const { replica, close } = startSingleReplica(dataDir);
  try {
    // A single voter elects itself; a barrier then passes.
    for (let attempt = 0; ; attempt++) {
      try {
        await replica.readBarrier();
        break;
      } catch (error) {
        if (attempt > 500) throw error;
        await new Promise((r) => setTimeout(r, 10)); // not the leader yet
      }
    }
    // The first starts a round; the second waits in the queue for the next one.
    const inFlight = replica.readBarrier();
    const queued = replica.readBarrier();
    replica.close();
    const [first, second] = await Promise.allSettled([inFlight, queued]);
    assert.equal(first.status, 'rejected');
    assert.match(String((first as PromiseRejectedResult).reason), /stopped/);
    assert.equal(second.status, 'rejected');
    // Not 'read index round timed out': no round runs after close.
    assert.match(String((second as PromiseRejectedResult).reason), /stopped/);
  } finally {
    await close();
  }
});
