// A single-voter metadata replica in this process, for tests of the replication layer: its state
// machine (not durable on its own: the Raft log is), log store and snapshot files under dataDir.
// It elects itself within a few ticks; `close` stops it and closes what it opened.
import { join } from 'node:path';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import { SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { RaftTransport } from '../../src/metadata/replication/transport.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { silentLogger } from '../../src/observability/logger.ts';

export interface SingleReplica {
  replica: MetadataReplica;
  stateMachine: MetadataStateMachine;
  store: RaftStore;
  close(): Promise<void>;
}

export function startSingleReplica(
  dataDir: string,
  options: { store?: RaftStore; snapshotLogBytes?: number; applyTurnBudgetMs?: number } = {},
): SingleReplica {
  const files = new SnapshotFiles(dataDir);
  const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
  const store = options.store ?? RaftStore.open(join(dataDir, 'raft-log'));
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
    snapshotLogBytes: options.snapshotLogBytes ?? 64 * 1024 * 1024, // default: no snapshot
    ...(options.applyTurnBudgetMs === undefined
      ? {}
      : { applyTurnBudgetMs: options.applyTurnBudgetMs }),
    diskSpace: { paths: [dataDir], minFreeBytes: 0, checkIntervalMs: 60_000 },
    files,
  });
  const close = async () => {
    replica.close();
    await replica.drained();
    await store.close();
    await stateMachine.close();
  };
  return { replica, stateMachine, store, close };
}
