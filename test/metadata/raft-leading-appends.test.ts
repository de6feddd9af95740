// A leader's appends leave before its own write of the same entries is durable (replica.ts,
// leadingAppends), so followers write in parallel with it; nothing is applied or answered before a
// quorum, the leader's own write included or not, holds the entries. Three members in this
// process over real RPC; the leader's write is held up by filling the libuv threadpool (its log
// writes go through it) with opens of FIFOs that no writer has opened yet.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, open, openSync } from 'node:fs';
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

// The members talk as metadata members do (raft.step is theirs alone).
setProcessRpcSecurity({ mode: 'token', token: CLUSTER_TOKEN, role: 'metadata' });

const caller = { uid: 0, gid: 0 };
const IDS = [1, 2, 3];

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("a leader's appends reach the followers while its own write is still on its way to the disk", async () => {
  const members = await Promise.all(
    IDS.map(async (nodeId) => {
      const dataDir = tempDir(`strata-leading-${nodeId}-`);
      const files = new SnapshotFiles(dataDir);
      const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
      const store = RaftStore.open(join(dataDir, 'raft-log'));
      const transport = new RaftTransport(silentLogger);
      const server = new RpcServer({ name: `member ${nodeId}` });
      let replica: MetadataReplica | undefined;
      server.handle(RAFT_RPC.step, async ({ header }) => {
        replica?.step((header as { message: Message }).message);
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
        // Elections far apart: a leader whose Readies wait on its write sends no heartbeats.
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
  for (const m of members)
    for (const peer of members) if (peer !== m) m.transport.setPeer(peer.nodeId, peer.addr);
  const blockers: string[] = [];
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

    // Every threadpool thread waits in open() of a FIFO: no Raft log write can complete here.
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const dir = tempDir('strata-leading-fifo-');
    for (let i = 0; i < threads; i++) {
      const fifo = join(dir, `fifo-${i}`);
      execFileSync('mkfifo', [fifo]);
      blockers.push(fifo);
      open(fifo, 'r', (error, fd) => {
        if (!error) closeSync(fd);
      });
    }
    let answered = false;
    const created = leader.replica
      .propose({
        command: {
          op: 'create',
          nowMs: 2,
          parent: bucket.inode?.ino as number,
          name: 'f',
          mode: 0o644,
          caller,
          exclusive: true,
        },
      })
      .finally(() => {
        answered = true;
      });
    const index = leader.replica.raft.status().lastIndex;
    await until('the entry at both followers while the leader writes it', () =>
      followers.every((f) => f.replica.raft.status().lastIndex >= index),
    );
    // No member could write it yet: nothing is committed, applied or answered.
    assert.equal(answered, false);
    for (const m of members) assert.ok(m.stateMachine.appliedIndex() < index);

    for (const fifo of blockers.splice(0)) closeSync(openSync(fifo, 'w'));
    const result = await created;
    assert.ok(result.ok);
    await until('every member applied the create', () =>
      members.every((m) => m.stateMachine.appliedIndex() >= index),
    );
  } finally {
    for (const fifo of blockers) closeSync(openSync(fifo, 'w'));
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
