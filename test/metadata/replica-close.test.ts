// Closing a replica fails every read barrier at once: the rounds in flight and the reads queued
// behind them. close() used to fail the round in flight and then start a new one for the queued
// reads, which nothing answered any more: they waited for its 5 s timeout, and its timer kept a
// stopping metadata member's process alive (one stopped after its peers missed the 20 s bound).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import { SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { RaftTransport } from '../../src/metadata/replication/transport.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { tempDir } from '../helpers/server.ts';

test('close fails the read round in flight and the reads queued behind it', async () => {
  const dataDir = tempDir('strata-replica-close-');
  const files = new SnapshotFiles(dataDir);
  const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
  const store = RaftStore.open(join(dataDir, 'raft-log'));
  const replica = new MetadataReplica({
    nodeId: 1,
    store,
    stateMachine,
    transport: new RaftTransport(silentLogger),
    bootstrapVoters: [1],
    log: silentLogger,
    tickMs: 10,
    electionTimeoutTicks: 5,
    seed: 1,
    snapshotLogBytes: 64 << 20, // no snapshot in this test
    diskSpace: { paths: [dataDir], minFreeBytes: 0, checkIntervalMs: 60_000 },
    files,
  });
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
    replica.close();
    await replica.drained();
    await store.close();
    await stateMachine.close();
  }
});
