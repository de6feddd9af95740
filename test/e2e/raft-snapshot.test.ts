// Log compaction and InstallSnapshot with real processes: with a snapshot every 4 KiB of log, a
// member that was down while hundreds of commands committed can no longer be sent the entries it
// missed; it must receive the leader's snapshot, install it, and serve the same namespace.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { currentStateName } from '../../src/metadata/replication/snapshot-files.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { MetadataCluster, type MetadataNode, raftStatusOf } from '../helpers/metadata-cluster.ts';
import { tempDir } from '../helpers/server.ts';

describe('metadata snapshots', () => {
  let cluster: MetadataCluster;
  let client: StrataClient;

  before(async () => {
    const config = join(tempDir('strata-snap-'), 'strata.toml');
    // Small chunks make a transfer take hundreds of round trips, long enough to crash inside.
    writeFileSync(
      config,
      '[metadata]\nraft_snapshot_log_bytes = 4096\nraft_snapshot_chunk_bytes = 1024\n',
    );
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

  test('a follower killed -9 while receiving a snapshot keeps its old state, then catches up with nothing lost', async () => {
    await client.mkdir('/crash');
    const { id: leaderId } = await cluster.leader();
    const behind = leaderId === 1 ? 2 : 1;
    const node = cluster.nodes.get(behind) as MetadataNode;
    await node.process.stop();
    const stateBefore = currentStateName(node.dataDir);
    const appliedBefore = MetadataStateMachine.appliedIndexAt(join(node.dataDir, stateBefore));
    const names = Array.from({ length: 400 }, (_, i) => `c${String(i).padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(names.slice(i, i + 20).map((name) => client.mkdir(`/crash/${name}`)));
    }

    await cluster.startNode(behind);
    const incoming = join(node.dataDir, 'snapshots', 'incoming', 'data.mdb');
    const deadline = Date.now() + 20_000;
    while (!(existsSync(incoming) && statSync(incoming).size >= 8 * 1024)) {
      assert.ok(Date.now() < deadline, 'the follower never started receiving a snapshot');
      await new Promise((r) => setTimeout(r, 1));
    }
    await node.process.kill();
    // Killed in the middle of the transfer: the old state is live and untouched.
    assert.ok(existsSync(incoming), 'the kill came before the transfer finished');
    assert.equal(currentStateName(node.dataDir), stateBefore);
    const oldState = join(node.dataDir, stateBefore);
    // The old state may have applied entries the follower already held in its own log (one it
    // had stored before it was stopped but learned committed only after its restart: CI saw 311
    // against 310), never the snapshot's: none of the directories made while it was down.
    assert.ok(MetadataStateMachine.appliedIndexAt(oldState) >= appliedBefore);
    const old = MetadataStateMachine.open(oldState, { durable: false });
    try {
      // (/crash itself may be that entry held but not yet applied.)
      const crash = old.reader.resolvePath('/crash');
      if (crash) assert.deepEqual(old.reader.readdir(crash.ino, undefined, 1000), []);
    } finally {
      await old.close();
    }

    await cluster.startNode(behind);
    const caughtUpBy = Date.now() + 30_000;
    for (;;) {
      const status = await raftStatusOf(node.addr);
      const lead = await raftStatusOf(cluster.nodes.get(leaderId)?.addr as string);
      if (status && lead && status.appliedIndex >= lead.commitIndex - 2) break;
      assert.ok(Date.now() < caughtUpBy, `caught up: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.notEqual(currentStateName(node.dataDir), stateBefore, 'a snapshot was installed');
    // Every acknowledged mkdir is in the follower's own state.
    await node.process.stop();
    const state = MetadataStateMachine.open(join(node.dataDir, currentStateName(node.dataDir)), {
      durable: false,
    });
    try {
      const dir = state.reader.resolvePath('/crash');
      assert.ok(dir, 'the directory is there');
      const held = state.reader.readdir(dir.ino, undefined, 1000).map((e) => e.name);
      assert.deepEqual(held.sort(), names);
    } finally {
      await state.close();
    }
    await cluster.startNode(behind);
  });

  test('a leader killed -9 while taking a snapshot restarts from its old one, with nothing lost', async () => {
    await client.mkdir('/taking');
    const acknowledged: string[] = [];
    let caught = false;
    // The copy takes milliseconds at this size: watch for the snapshot directory appearing and
    // kill at once; try a few snapshots until one kill lands inside the copy.
    for (let attempt = 0; attempt < 8 && !caught; attempt++) {
      const { id: leaderId } = await cluster.leader();
      const leader = cluster.nodes.get(leaderId) as MetadataNode;
      const snapshots = join(leader.dataDir, 'snapshots');
      const killedPid = leader.process.process.pid;
      const killed = new Promise<void>((resolve) => {
        const watcher = watch(snapshots, (_event, name) => {
          if (!name?.startsWith('tmp-')) return;
          watcher.close();
          void leader.process.kill().then(() => {
            caught ||= readdirSync(snapshots).some((entry) => entry.startsWith('tmp-'));
            resolve();
          });
        });
      });
      // Writes until the leader's log passes its snapshot threshold and it takes one.
      for (let i = 0; i < 200 && leader.process.process.exitCode === null; i += 10) {
        const batch = Array.from({ length: 10 }, (_, j) => `a${attempt}-${i + j}`);
        const results = await Promise.allSettled(batch.map((n) => client.mkdir(`/taking/${n}`)));
        results.forEach((r, j) => {
          if (r.status === 'fulfilled') acknowledged.push(batch[j]);
        });
        if (leader.process.process.signalCode !== null) break;
      }
      const timeout = new Promise((r) => setTimeout(r, 20_000).unref());
      await Promise.race([killed, timeout]);
      if (leader.process.process.signalCode === null) continue; // no snapshot this round
      await cluster.startNode(leaderId);
      // (The restarted process may be taking a snapshot of its own already: tmp-<its pid>-n.)
      const left = readdirSync(snapshots).filter((entry) => entry.startsWith(`tmp-${killedPid}-`));
      assert.deepEqual(left, [], 'the interrupted copy is removed at start');
    }
    assert.ok(caught, 'no kill landed while a snapshot was being taken');
    await cluster.leader();
    const names = new Set((await client.readdir('/taking')).map((e) => e.name));
    const lost = acknowledged.filter((name) => !names.has(name));
    assert.deepEqual(lost, [], 'acknowledged mkdirs are all there');
  });
});
