// Three metadata replicas in this process over real RPC, for tests of the replication layer that
// watch or hold up what the members send each other. Member 1 elects itself first (the others'
// election timeouts are far away, so a leader whose Readies wait sends no heartbeats and still
// keeps its place). `onStep` sees each Raft message a member receives before it is stepped.
import { join } from 'node:path';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import { SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { RAFT_RPC, RaftTransport } from '../../src/metadata/replication/transport.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Message } from '../../src/raft/index.ts';
import { RpcServer } from '../../src/rpc/index.ts';
import { setProcessRpcSecurity } from '../../src/rpc/security.ts';
import { CLUSTER_TOKEN } from './cluster-token.ts';
import { tempDir } from './server.ts';

export interface TrioMember {
  nodeId: number;
  addr: string;
  replica: MetadataReplica;
  stateMachine: MetadataStateMachine;
}

const IDS = [1, 2, 3];

export async function startReplicaTrio(
  dirPrefix: string,
  onStep: (nodeId: number, message: Message) => void = () => {},
): Promise<{ members: TrioMember[]; close(): Promise<void> }> {
  // The members talk as metadata members do (raft.step is theirs alone).
  setProcessRpcSecurity({ mode: 'token', token: CLUSTER_TOKEN, role: 'metadata' });
  const started = await Promise.all(
    IDS.map(async (nodeId) => {
      const dataDir = tempDir(`${dirPrefix}-${nodeId}-`);
      const files = new SnapshotFiles(dataDir);
      const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
      const store = RaftStore.open(join(dataDir, 'raft-log'));
      const transport = new RaftTransport(silentLogger);
      const server = new RpcServer({ name: `member ${nodeId}` });
      let replica: MetadataReplica | undefined;
      server.handle(RAFT_RPC.step, async ({ header }) => {
        const message = (header as { message: Message }).message;
        onStep(nodeId, message);
        replica?.step(message);
        return { header: null };
      });
      const { port } = await server.listen('127.0.0.1', 0);
      replica = new MetadataReplica({
        nodeId,
        store,
        stateMachine,
        transport,
        bootstrapVoters: IDS,
        log: silentLogger,
        tickMs: 50,
        electionTimeoutTicks: nodeId === 1 ? 10 : 400,
        seed: nodeId,
        snapshotLogBytes: 64 * 1024 * 1024,
        diskSpace: { paths: [dataDir], minFreeBytes: 0, checkIntervalMs: 60_000 },
        files,
      });
      return { nodeId, addr: `127.0.0.1:${port}`, replica, stateMachine, store, transport, server };
    }),
  );
  for (const m of started)
    for (const peer of started) if (peer !== m) m.transport.setPeer(peer.nodeId, peer.addr);
  const close = async () => {
    for (const m of started) {
      m.replica.close();
      await m.replica.drained();
      await m.transport.close();
      await m.server.close();
      await m.store.close();
      await m.stateMachine.close();
    }
  };
  return { members: started, close };
}
