// A metadata member's state after a power loss (docs/architecture/raft.md, "Power loss"): the
// state machine is written without syncs, so a reboot that loses the page cache may leave it
// corrupt. A power loss is played by what it leaves: a new boot id (the member's
// metadata.boot_id_file rewritten) and a live state file overwritten with zeros, after a kill -9.
// The member must notice, rebuild its state from its last snapshot file and the Raft log, and
// hold every acknowledged change; a clean stop before the reboot must cost no rebuild.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { currentStateName } from '../../src/metadata/replication/snapshot-files.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { MetadataCluster, type MetadataNode, raftStatusOf } from '../helpers/metadata-cluster.ts';
import { tempDir } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const REBUILT = 'rebuilding it';

describe('a metadata member after a power loss', () => {
  let cluster: MetadataCluster;
  let client: StrataClient;
  const bootDir = tempDir('strata-boot-');
  const bootFile = (id: number) => join(bootDir, `boot-${id}`);
  let boots = 0;
  // What a reboot changes: the kernel's boot id.
  const reboot = (id: number) => writeFileSync(bootFile(id), `boot-${id}-${++boots}\n`);

  before(async () => {
    const config = join(bootDir, 'strata.toml');
    // A snapshot every 4 KiB of log: the leader compacts within a few hundred commands.
    writeFileSync(config, '[metadata]\nraft_snapshot_log_bytes = 4096\n');
    for (const id of [1, 2, 3]) reboot(id);
    cluster = await MetadataCluster.start(3, ['--config', config], (id) => ({
      STRATA_METADATA_BOOT_ID_FILE: bootFile(id),
    }));
    client = new StrataClient({ metadataAddrs: cluster.addrs });
  });
  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  const mkdirs = async (names: string[]) => {
    for (let i = 0; i < names.length; i += 20)
      await Promise.all(names.slice(i, i + 20).map((name) => client.mkdir(name)));
  };
  const caughtUp = (node: MetadataNode) =>
    until(
      `member at ${node.addr} applied the leader's commits`,
      async () => {
        const { id } = await cluster.leader();
        const lead = await raftStatusOf(cluster.nodes.get(id)?.addr as string);
        const status = await raftStatusOf(node.addr);
        return status && lead && status.appliedIndex >= lead.commitIndex ? status : undefined;
      },
      { limitMs: 30_000, intervalMs: 200 },
    );
  // A kill -9, then what a power loss may leave of the state written without syncs: garbage.
  const powerLoss = async (id: number, node: MetadataNode) => {
    await node.process.kill();
    reboot(id);
    const file = join(node.dataDir, currentStateName(node.dataDir), 'data.mdb');
    writeFileSync(file, Buffer.alloc(statSync(file).size));
  };
  // The member's own state, read offline while it is stopped: every name under each directory.
  const namesHeld = async (node: MetadataNode, dirs: string[]) => {
    await node.process.stop();
    const state = MetadataStateMachine.open(join(node.dataDir, currentStateName(node.dataDir)), {
      durable: false,
    });
    try {
      return dirs.map((path) => {
        const dir = state.reader.resolvePath(path);
        assert.ok(dir, `${path} is in the state`);
        return state.reader
          .readdir(dir.ino, undefined, 10_000)
          .map((e) => `${path}/${e.name}`)
          .sort();
      });
    } finally {
      await state.close();
    }
  };
  const numbered = (dir: string, prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => `${dir}/${prefix}${String(i).padStart(3, '0')}`);

  test('a follower that installed a snapshot rebuilds from its kept copy and the log', async () => {
    await client.mkdir('/installed');
    const { id: leaderId } = await cluster.leader();
    const id = leaderId === 3 ? 2 : 3;
    const node = cluster.nodes.get(id) as MetadataNode;
    await node.process.stop();
    // This member takes no snapshot of its own meanwhile: the received one stays its latest.
    node.env = { ...node.env, STRATA_METADATA_RAFT_SNAPSHOT_LOG_BYTES: String(1024 * 1024) };
    const before = numbered('/installed', 'a', 300);
    await mkdirs(before);
    await cluster.startNode(id);
    await caughtUp(node);
    // It caught up by InstallSnapshot: the received state is live, its twin kept as a file.
    const live = currentStateName(node.dataDir);
    const index = Number(/^metadata-(\d+)$/.exec(live)?.[1]);
    assert.ok(index > 0, `a received snapshot is live (${live})`);
    assert.ok(
      existsSync(join(node.dataDir, 'snapshots', `snap-${index}`, 'data.mdb')),
      `the received snapshot's twin is kept: ${readdirSync(join(node.dataDir, 'snapshots'))}`,
    );
    // Entries applied on the installed state after it, then the power loss.
    const after = numbered('/installed', 'b', 60);
    await mkdirs(after);
    await caughtUp(node);
    await powerLoss(id, node);

    await cluster.startNode(id);
    const rebuilt = new RegExp(`${REBUILT}.*"fromSnapshotIndex":(\\d+)`).exec(
      node.process.output(),
    );
    assert.equal(Number(rebuilt?.[1]), index, 'rebuilt from the received snapshot');
    await caughtUp(node);
    const [held] = await namesHeld(node, ['/installed']);
    assert.deepEqual(held, [...before, ...after].sort());
    delete node.env.STRATA_METADATA_RAFT_SNAPSHOT_LOG_BYTES;
    await cluster.startNode(id);
  });

  test('a leader rebuilds from its own snapshot and the log', async () => {
    await client.mkdir('/own');
    const { id } = await cluster.leader();
    const node = cluster.nodes.get(id) as MetadataNode;
    const names = numbered('/own', 'c', 300);
    await mkdirs(names);
    const status = await raftStatusOf(node.addr);
    assert.ok((status?.firstIndex ?? 0) > 1, `the leader compacted: ${JSON.stringify(status)}`);
    // Older snapshot files go once a newer one is recorded: one is left.
    await until(
      'the leader keeps one snapshot file',
      async () => {
        const snaps = readdirSync(join(node.dataDir, 'snapshots')).filter((n) => /^snap-/.test(n));
        return snaps.length === 1 ? snaps : undefined;
      },
      { limitMs: 10_000 },
    );
    await powerLoss(id, node);

    await cluster.startNode(id);
    assert.match(node.process.output(), new RegExp(REBUILT));
    await caughtUp(node);
    const [own, installed] = await namesHeld(node, ['/own', '/installed']);
    assert.deepEqual(own, names);
    assert.equal(installed.length, 360);
    await cluster.startNode(id);
  });

  test('a clean stop before the reboot costs no rebuild, and a kill -9 without one neither', async () => {
    const { id: leaderId } = await cluster.leader();
    const id = leaderId === 1 ? 2 : 1;
    const node = cluster.nodes.get(id) as MetadataNode;
    await mkdirs(numbered('/own', 'd', 20));
    await caughtUp(node);
    await node.process.stop();
    reboot(id);
    await cluster.startNode(id);
    assert.doesNotMatch(node.process.output(), new RegExp(REBUILT));
    await caughtUp(node);
    await node.process.kill(); // same boot: the page cache held every write
    await cluster.startNode(id);
    assert.doesNotMatch(node.process.output(), new RegExp(REBUILT));
    await caughtUp(node);
    const [own] = await namesHeld(node, ['/own']);
    assert.equal(own.length, 320);
    await cluster.startNode(id);
  });
});
