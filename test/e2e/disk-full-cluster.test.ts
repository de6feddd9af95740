// A full disk on one member of a 3-node metadata cluster: that member raises its NOSPACE alarm and
// stops acknowledging (it cannot make the entries durable), the other two go on committing, and
// once space is back the member catches up with every entry, in order, and serves the same
// namespace. Each member's data directory is its own small tmpfs (root only).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { RAFT_RPC } from '../../src/metadata/replication/transport.ts';
import type { RaftStatus } from '../../src/raft/index.ts';
import { RpcClient } from '../../src/rpc/index.ts';
import { fillDisk } from '../helpers/disk.ts';
import { freePort, MetadataCluster } from '../helpers/metadata-cluster.ts';
import { type StrataProcess, tempDir } from '../helpers/server.ts';

const isRoot = process.getuid?.() === 0;
const TMPFS_SIZE = '80m'; // above the default reserve of 64 MiB, so the alarm clears
const WAIT_MS = 20_000;

let root = '';
const disks: string[] = [];
let cluster: MetadataCluster;
let client: StrataClient;

type Status = RaftStatus & { alarms: string[] };

async function statusOf(addr: string): Promise<Status> {
  const rpc = new RpcClient(addr, { connectTimeoutMs: 1_000, defaultTimeoutMs: 2_000 });
  try {
    return (await rpc.call<Status>(RAFT_RPC.status, {})).header;
  } finally {
    await rpc.close();
  }
}

async function waitUntil(
  what: string,
  condition: () => Promise<boolean>,
  alive: StrataProcess,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    assert.equal(alive.process.exitCode, null, `the member is alive:\n${alive.output()}`);
    if (await condition()) return;
    assert.ok(Date.now() < deadline, `${what} within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  if (!isRoot) return;
  root = tempDir('strata-diskfull-cluster-');
  cluster = new MetadataCluster();
  const ports = await Promise.all([0, 1, 2].map(() => freePort()));
  cluster.addrs = ports.map((p) => `127.0.0.1:${p}`);
  for (const [i, addr] of cluster.addrs.entries()) {
    const dataDir = join(root, `n${i + 1}`);
    mkdirSync(dataDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', dataDir]);
    disks.push(dataDir);
    const peers = cluster.addrs.filter((a) => a !== addr).join(',');
    cluster.nodes.set(i + 1, {
      process: undefined as never,
      addr,
      dataDir,
      args: ['--role', 'metadata', '--node-id', String(i + 1), '--metadata-addr', addr].concat([
        '--raft-peers',
        peers,
      ]),
    });
  }
  await Promise.all([1, 2, 3].map((id) => cluster.startNode(id)));
  client = new StrataClient({ metadataAddrs: cluster.addrs });
  await client.mkdir('/full');
});

after(async () => {
  if (!isRoot) return;
  await client?.close();
  await cluster?.stop();
  for (const disk of disks) execFileSync('umount', [disk]);
  rmSync(root, { recursive: true, force: true });
});

test('a follower with a full disk stops acknowledging; the others commit; it catches up after', {
  skip: isRoot ? false : 'needs root to mount a small tmpfs per metadata node',
}, async () => {
  const leader = await cluster.leader();
  const followerId = [1, 2, 3].find((id) => id !== leader.id) as number;
  const follower = cluster.nodes.get(followerId);
  assert.ok(follower);
  const filler = join(follower.dataDir, 'filler');
  const before = await statusOf(follower.addr);
  fillDisk(filler);
  // Writes go on through the two members with room (a quorum of three).
  for (let i = 0; i < 20; i++) await client.mkdir(`/full/d${i}`);
  await waitUntil(
    'the follower raises its alarm',
    async () => (await statusOf(follower.addr)).alarms.includes('NOSPACE'),
    follower.process,
  );
  const leaderStatus = await statusOf(cluster.nodes.get(leader.id)?.addr as string);
  assert.equal(leaderStatus.alarms.length, 0, 'the leader has no alarm');
  const stalled = await statusOf(follower.addr);
  assert.ok(
    stalled.appliedIndex < leaderStatus.commitIndex,
    `the full follower applied ${stalled.appliedIndex}, the cluster committed ` +
      `${leaderStatus.commitIndex}: it cannot have taken them all`,
  );
  assert.ok(stalled.appliedIndex >= before.appliedIndex, 'nothing applied is undone');
  assert.equal(follower.process.process.exitCode, null, 'the follower is alive');

  rmSync(filler);
  await waitUntil(
    'the follower clears its alarm and catches up',
    async () => {
      const s = await statusOf(follower.addr);
      return s.alarms.length === 0 && s.appliedIndex >= leaderStatus.commitIndex;
    },
    follower.process,
  );
  const names = (await client.readdir('/full')).map((e) => e.name);
  assert.equal(names.length, 20, 'every write of the outage is there');
  assert.equal(follower.process.process.exitCode, null, 'the follower is alive');
});

test('a leader with a full disk hands leadership to a member with room; writes go on', {
  skip: isRoot ? false : 'needs root to mount a small tmpfs per metadata node',
}, async () => {
  const old = await cluster.leader();
  const full = cluster.nodes.get(old.id);
  assert.ok(full);
  const filler = join(full.dataDir, 'filler');
  fillDisk(filler);
  await waitUntil(
    'another member leads',
    async () => {
      for (const [id, node] of cluster.nodes) {
        if (id !== old.id && (await statusOf(node.addr)).role === 'leader') return true;
      }
      return false;
    },
    full.process,
  );
  for (let i = 0; i < 10; i++) await client.mkdir(`/full/after-handoff-${i}`);
  const status = await statusOf(full.addr);
  assert.notEqual(status.role, 'leader', 'the full member does not lead');
  assert.ok(status.alarms.includes('NOSPACE'), 'and shows its alarm');
  rmSync(filler);
  const leader = await cluster.leader();
  const commit = (await statusOf(cluster.nodes.get(leader.id)?.addr as string)).commitIndex;
  await waitUntil(
    'the member that was full clears its alarm and catches up',
    async () => {
      const s = await statusOf(full.addr);
      return s.alarms.length === 0 && s.appliedIndex >= commit;
    },
    full.process,
  );
});
