// Every member of a 3-node metadata cluster killed with SIGKILL at once, under a load of creates:
// each member's state machine commits without an fsync of its own (the Raft log is the durable
// record, docs/architecture/raft.md "What a create waits for"), so each must find on restart what
// its log holds past its applied index and apply it. Afterwards every acknowledged create is
// there, in the cluster's answers and in every member's own state.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { currentStateName } from '../../src/metadata/replication/snapshot-files.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { MetadataCluster, raftStatusOf } from '../helpers/metadata-cluster.ts';

const caller = { uid: 0, gid: 0 };
const WORKERS = 4;
const ACKNOWLEDGED_BEFORE_KILL = 300;

test('acknowledged creates survive kill -9 of every member mid-apply, in every member', async () => {
  const cluster = await MetadataCluster.start(3);
  let client = new MetadataClient(cluster.addrs);
  try {
    const bucket = await client.apply({
      op: 'createBucket',
      nowMs: Date.now(),
      name: 'crash',
      owner: 'o',
      caller,
    });
    const parent = bucket.inode?.ino as number;
    const acknowledged: string[] = [];
    let killed = false;
    let enough: () => void = () => {};
    const enoughAcknowledged = new Promise<void>((resolve) => {
      enough = resolve;
    });
    const worker = async (w: number) => {
      for (let n = 0; !killed; n++) {
        const name = `w${w}-${n}`;
        try {
          const result = await client.apply({
            op: 'create',
            nowMs: Date.now(),
            parent,
            name,
            mode: 0o644,
            caller,
            exclusive: true,
          });
          // An answer that arrives after the kill began counts too: it was acknowledged.
          if (result.ok) acknowledged.push(name);
          if (acknowledged.length >= ACKNOWLEDGED_BEFORE_KILL) enough();
        } catch {
          return; // the cluster went away (or the client was closed): the outcome is unknown
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await enoughAcknowledged;
    // All at once, with creates in flight: some member is between a log write and its apply.
    await Promise.all([...cluster.nodes.values()].map((node) => node.process.kill()));
    killed = true;
    await client.close();
    await Promise.all(workers);

    for (const id of cluster.nodes.keys()) await cluster.startNode(id);
    client = new MetadataClient(cluster.addrs);
    for (const name of acknowledged) {
      const inode = await client.read('lookup', parent, name);
      assert.ok(inode, `acknowledged ${name} is there after the restart`);
    }
    // Each member applies what the cluster committed; then its own state is read offline.
    const { id: leaderId } = await cluster.leader();
    const commitIndex = (await raftStatusOf(cluster.nodes.get(leaderId)?.addr as string))
      ?.commitIndex as number;
    for (const node of cluster.nodes.values()) {
      for (;;) {
        const status = await raftStatusOf(node.addr);
        if (status !== undefined && status.appliedIndex >= commitIndex) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await client.close();
    await cluster.stop();
    for (const [id, node] of cluster.nodes) {
      const path = join(node.dataDir, currentStateName(node.dataDir));
      const sm = MetadataStateMachine.open(path, { durable: false });
      try {
        const missing = acknowledged.filter((name) => !sm.reader.lookup(parent, name));
        assert.deepEqual(missing, [], `member ${id} holds every acknowledged create`);
      } finally {
        await sm.close();
      }
    }
  } finally {
    await client.close();
    await cluster.stop();
  }
});
