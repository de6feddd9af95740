// The leader keeps only a tail of its Raft log in memory (4,096 applied entries): a follower that
// was down while more than that committed, with no snapshot taken meanwhile, is sent the entries
// behind the tail from the leader's Raft store (LMDB), catches up without a snapshot and can lead
// with the whole namespace.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { MetadataCluster, raftStatusOf } from '../helpers/metadata-cluster.ts';

const MISSED = 6000; // more than the in-memory tail (raftDefaults.maxLogEntriesInMemory)

describe('the Raft log tail', () => {
  let cluster: MetadataCluster;
  let client: StrataClient;

  before(async () => {
    cluster = await MetadataCluster.start(3);
    client = new StrataClient({ metadataAddrs: cluster.addrs });
  });
  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('a follower behind the in-memory tail catches up from the leader store, no snapshot', async () => {
    await client.mkdir('/tail');
    const { id: leaderId } = await cluster.leader();
    const behind = leaderId === 3 ? 2 : 3;
    await cluster.nodes.get(behind)?.process.stop();
    for (let i = 0; i < MISSED; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => client.mkdir(`/tail/d${i + j}`)));
    }
    const leaderAddr = cluster.nodes.get(leaderId)?.addr as string;
    const lead = await raftStatusOf(leaderAddr);
    assert.ok(lead, 'leader status');
    assert.equal(lead.firstIndex, 1, 'no snapshot was taken (the default trigger is 64 MiB)');
    assert.ok(
      lead.logEntriesInMemory <= 4096 + 256,
      `the leader holds only a tail in memory: ${JSON.stringify(lead)}`,
    );
    assert.ok(lead.lastIndex > MISSED, 'the log is longer than the tail');

    await cluster.startNode(behind);
    const node = cluster.nodes.get(behind);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await raftStatusOf(node?.addr as string);
      const now = await raftStatusOf(leaderAddr);
      if (status && now && status.appliedIndex >= now.commitIndex - 2) {
        assert.equal(status.firstIndex, 1, 'caught up by entries, not by a snapshot');
        break;
      }
      assert.ok(Date.now() < deadline, `caught up: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // The caught-up member must be able to lead with the full namespace.
    await cluster.nodes.get(leaderId)?.process.kill();
    await cluster.leader(leaderId);
    const names = await client.readdir('/tail');
    assert.equal(names.length, MISSED);
    await cluster.startNode(leaderId);
  });
});
