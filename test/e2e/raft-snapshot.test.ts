// Log compaction and InstallSnapshot with real processes: with a snapshot every 4 KiB of log, a
// member that was down while hundreds of commands committed can no longer be sent the entries it
// missed; it must receive the leader's snapshot, install it, and serve the same namespace.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { MetadataCluster, raftStatusOf } from '../helpers/metadata-cluster.ts';
import { tempDir } from '../helpers/server.ts';

describe('metadata snapshots', () => {
  let cluster: MetadataCluster;
  let client: StrataClient;

  before(async () => {
    const config = join(tempDir('strata-snap-'), 'strata.toml');
    writeFileSync(config, '[metadata]\nraft_snapshot_log_bytes = 4096\n');
    cluster = await MetadataCluster.start(3, ['--config', config]);
    client = new StrataClient({ metadataAddrs: cluster.addrs });
  });
  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('a member behind the compacted log catches up by InstallSnapshot and has the same state', async () => {
    await client.mkdir('/snap');
    const { id: leaderId } = await cluster.leader();
    const behind = leaderId === 3 ? 2 : 3;
    await cluster.nodes.get(behind)?.process.stop();
    for (let i = 0; i < 300; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          client.mkdir(`/snap/d${String(i + j).padStart(3, '0')}`),
        ),
      );
    }
    const leaderStatus = await raftStatusOf(cluster.nodes.get(leaderId)?.addr as string);
    assert.ok(
      (leaderStatus?.firstIndex ?? 0) > 50,
      `the leader compacted its log (${JSON.stringify(leaderStatus)})`,
    );

    await cluster.startNode(behind);
    const node = cluster.nodes.get(behind);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = await raftStatusOf(node?.addr as string);
      const lead = await raftStatusOf(cluster.nodes.get(leaderId)?.addr as string);
      if (status && lead && status.appliedIndex >= lead.commitIndex - 2) break;
      assert.ok(
        Date.now() < deadline,
        `caught up: ${JSON.stringify(status)} vs ${JSON.stringify(lead)}`,
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    // Its log now starts after a snapshot point it could only have received from the leader.
    const caughtUp = await raftStatusOf(node?.addr as string);
    assert.ok(
      (caughtUp?.firstIndex ?? 0) > 50,
      `installed a snapshot: ${JSON.stringify(caughtUp)}`,
    );
    // The snapshot arrived as a file and became the live state by a switch of metadata.current;
    // the leader sent it from its own snapshot file.
    const dataDir = node?.dataDir as string;
    assert.match(readFileSync(join(dataDir, 'metadata.current'), 'utf8'), /^metadata-\d+$/);
    const leaderSnapshots = readdirSync(
      join(cluster.nodes.get(leaderId)?.dataDir as string, 'snapshots'),
    );
    assert.ok(
      leaderSnapshots.some((name) => /^snap-\d+$/.test(name)),
      `leader snapshot files: ${leaderSnapshots}`,
    );

    // The caught-up member must be able to lead with the full namespace: stop the old leader.
    await cluster.nodes.get(leaderId)?.process.kill();
    await cluster.leader(leaderId);
    const names = (await client.readdir('/snap')).map((e) => e.name).sort();
    assert.equal(names.length, 300);
    assert.equal(names[0], 'd000');
    assert.equal(names[299], 'd299');
    await cluster.startNode(leaderId);
  });
});
