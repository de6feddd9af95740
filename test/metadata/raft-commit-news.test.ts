// A leader does not send an empty append per commit to tell followers the new commit index: it
// holds that news for the next append with entries to carry (replica.ts, holdCommitNews), and
// sends it by itself only when no append follows. Three members in this process over real RPC;
// each follower's received messages are counted.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import { SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { RAFT_RPC, RaftTransport } from '../../src/metadata/replication/transport.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Message } from '../../src/raft/index.ts';
import { RpcServer } from '../../src/rpc/index.ts';
import { setProcessRpcSecurity } from '../../src/rpc/security.ts';
import { CLUSTER_TOKEN } from '../helpers/cluster-token.ts';
import { tempDir } from '../helpers/server.ts';

setProcessRpcSecurity({ mode: 'token', token: CLUSTER_TOKEN, role: 'metadata' });

const caller = { uid: 0, gid: 0 };
const IDS = [1, 2, 3];
const CREATES = 60;

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('commits reach the followers on the next append, not one empty append each; the last one too', async () => {
  const members = await Promise.all(
    IDS.map(async (nodeId) => {
      const dataDir = tempDir(`strata-commit-news-${nodeId}-`);
      const files = new SnapshotFiles(dataDir);
      const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
      const store = RaftStore.open(join(dataDir, 'raft-log'));
      const transport = new RaftTransport(silentLogger);
      const server = new RpcServer({ name: `member ${nodeId}` });
      const received = { commitOnly: 0, withEntries: 0 };
      let replica: MetadataReplica | undefined;
      server.handle(RAFT_RPC.step, async ({ header }) => {
        const message = (header as { message: Message }).message;
        if (message.type === 'app' && message.entries.length === 0) received.commitOnly++;
        if (message.type === 'app' && message.entries.length > 0) received.withEntries++;
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
      const member = { nodeId, replica, stateMachine, store, transport, server, received };
      return { ...member, addr: `127.0.0.1:${port}` };
    }),
  );
  for (const m of members)
    for (const peer of members) if (peer !== m) m.transport.setPeer(peer.nodeId, peer.addr);
  try {
    await until('a leader', () => members.some((m) => m.replica.isLeader));
    const leader = members.find((m) => m.replica.isLeader);
    assert.ok(leader);
    const followers = members.filter((m) => m !== leader);
    const bucket = await leader.replica.propose({
      command: { op: 'createBucket', nowMs: 1, name: 'b', owner: 'o', caller },
    });
    assert.ok(bucket.ok);
    await until('the followers applied the bucket', () =>
      followers.every((f) => f.stateMachine.appliedIndex() >= leader.stateMachine.appliedIndex()),
    );
    for (const f of followers) Object.assign(f.received, { commitOnly: 0, withEntries: 0 });

    // One client: each create is proposed once the previous one is answered.
    for (let n = 0; n < CREATES; n++) {
      const result = await leader.replica.propose({
        command: {
          op: 'create',
          nowMs: 2,
          parent: bucket.inode?.ino as number,
          name: `f${n}`,
          mode: 0o644,
          caller,
          exclusive: true,
        },
      });
      assert.ok(result.ok);
    }
    // The last commit has no append after it: its news leaves by itself.
    const last = leader.stateMachine.appliedIndex();
    await until('the followers applied the last create', () =>
      followers.every((f) => f.stateMachine.appliedIndex() >= last),
    );
    for (const f of followers) {
      assert.ok(f.received.withEntries >= CREATES, `follower ${f.nodeId} got every entry`);
      // One empty append per commit before; now the next append carries it. A loaded machine
      // may let a hold expire now and then before the next create is proposed.
      assert.ok(
        f.received.commitOnly < CREATES / 2,
        `follower ${f.nodeId}: ${f.received.commitOnly} commit-only appends for ${CREATES} creates`,
      );
    }
  } finally {
    for (const m of members) {
      m.replica.close();
      await m.replica.drained();
      await m.transport.close();
      await m.server.close();
      await m.store.close();
      await m.stateMachine.close();
    }
  }
});
