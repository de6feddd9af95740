// The cluster commands of the state machine: data server registration with failure domains,
// server states set by the leader's detector, disk status from heartbeats, and the one cluster
// configuration (the first recorded wins).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { ClusterConfig } from '../../src/metadata/types.ts';
import {
  type CommandInput,
  closeAll,
  codeOf,
  extent,
  ok,
  openEmptyMachine,
  openMachineWithServers,
  ROOT,
  run,
  stripe,
} from './sm-helpers.ts';

after(closeAll);

const domain = { zone: 'z1', rack: 'r1', host: 'h1' };
const disks = [
  { disk: 0, path: '/d0' },
  { disk: 1, path: '/d1' },
];
const register = (serverId = 's1', extra: object = {}) =>
  ({
    op: 'registerDataServer',
    server: { serverId, addr: 'h:1', disks, domain, ...extra },
  }) as const;

test('a registered server is up, with its domain labels and its disks up with no space known', () => {
  const machine = openEmptyMachine();
  ok(machine, register());
  const [server] = machine.reader.dataServers();
  assert.equal(server.state, 'up');
  assert.deepEqual(server.domain, domain);
  assert.equal(server.stateSinceMs, 1_000);
  assert.deepEqual(
    server.disks.map((d) => [d.disk, d.state, d.capacityBytes, d.freeBytes]),
    [
      [0, 'up', 0, 0],
      [1, 'up', 0, 0],
    ],
  );
  assert.deepEqual(machine.reader.dataServer('s1'), server);
  assert.equal(machine.reader.dataServer('nope'), undefined);
});

test('a server of an older version, without labels, is its own host in the default zone and rack', () => {
  const machine = openEmptyMachine();
  ok(machine, {
    op: 'registerDataServer',
    server: { serverId: 'old', addr: 'h:1', disks: [{ disk: 0, path: '/d0' }] },
  });
  assert.deepEqual(machine.reader.dataServer('old')?.domain, {
    zone: 'default',
    rack: 'default',
    host: 'old',
  });
});

test('bad labels and server ids are refused with EINVAL', () => {
  const machine = openEmptyMachine();
  assert.equal(
    codeOf(machine, register('s1', { domain: { zone: '', rack: 'r', host: 'h' } })),
    'EINVAL',
  );
  assert.equal(
    codeOf(machine, register('s1', { domain: { zone: 'a\nb', rack: 'r', host: 'h' } })),
    'EINVAL',
  );
  assert.equal(codeOf(machine, register('s1', { domain: { zone: 'z', rack: 'r' } })), 'EINVAL');
  assert.equal(codeOf(machine, register('')), 'EINVAL');
  const twice = [
    { disk: 0, path: '/a' },
    { disk: 0, path: '/b' },
  ];
  assert.equal(codeOf(machine, register('s1', { disks: twice })), 'EINVAL');
  assert.deepEqual(machine.reader.dataServers(), []);
});

test('the detector moves a server up -> suspect -> down -> up, each change stamped', () => {
  const machine = openEmptyMachine();
  ok(machine, register());
  ok(machine, { op: 'setServerState', serverId: 's1', state: 'suspect', ifState: 'up' });
  assert.equal(machine.reader.dataServer('s1')?.state, 'suspect');
  run(machine, { op: 'setServerState', serverId: 's1', state: 'down', nowMs: 5_000 });
  assert.equal(machine.reader.dataServer('s1')?.state, 'down');
  assert.equal(machine.reader.dataServer('s1')?.stateSinceMs, 5_000);
  run(machine, {
    op: 'setServerState',
    serverId: 's1',
    state: 'up',
    ifState: 'down',
    nowMs: 9_000,
  });
  assert.equal(machine.reader.dataServer('s1')?.state, 'up');
  assert.equal(machine.reader.dataServer('s1')?.stateSinceMs, 9_000);
});

test('a stale verdict (ifState no longer true) is refused and changes nothing', () => {
  const machine = openEmptyMachine();
  ok(machine, register());
  ok(machine, { op: 'setServerState', serverId: 's1', state: 'draining' });
  assert.equal(
    codeOf(machine, { op: 'setServerState', serverId: 's1', state: 'down', ifState: 'up' }),
    'PRECONDITION_FAILED',
  );
  assert.equal(machine.reader.dataServer('s1')?.state, 'draining');
});

test('setServerState refuses unknown servers, unknown states, and bringing back a removed server', () => {
  const machine = openEmptyMachine();
  ok(machine, register());
  assert.equal(
    codeOf(machine, { op: 'setServerState', serverId: 'nope', state: 'down' }),
    'ENOENT',
  );
  assert.equal(
    codeOf(machine, { op: 'setServerState', serverId: 's1', state: 'gone' as never }),
    'EINVAL',
  );
  ok(machine, { op: 'setServerState', serverId: 's1', state: 'draining' });
  ok(machine, { op: 'setServerState', serverId: 's1', state: 'removed' });
  assert.equal(
    codeOf(machine, { op: 'setServerState', serverId: 's1', state: 'up' }),
    'SERVER_REMOVED',
  );
  assert.equal(machine.reader.dataServer('s1')?.state, 'removed');
});

test('registering again (a restart) keeps the state and the disk status; only heartbeats change them', () => {
  const machine = openEmptyMachine();
  ok(machine, register());
  ok(machine, {
    op: 'setDiskStatus',
    serverId: 's1',
    disks: [{ disk: 1, state: 'up', capacityBytes: 1000, freeBytes: 600 }],
  });
  run(machine, { op: 'setServerState', serverId: 's1', state: 'down', nowMs: 2_000 });
  run(machine, { ...register('s1', { addr: 'h:2' }), nowMs: 3_000 });
  const server = machine.reader.dataServer('s1');
  assert.equal(server?.state, 'down', 'a restarted server is not up until it is heard from');
  assert.equal(server?.stateSinceMs, 2_000);
  assert.equal(server?.addr, 'h:2');
  assert.equal(server?.disks[1].freeBytes, 600);
});

test('setDiskStatus records state and space; unknown disks and impossible sizes are refused', () => {
  const machine = openEmptyMachine();
  ok(machine, register());
  ok(machine, {
    op: 'setDiskStatus',
    serverId: 's1',
    disks: [{ disk: 0, state: 'failed', capacityBytes: 0, freeBytes: 0 }],
  });
  assert.equal(machine.reader.dataServer('s1')?.disks[0].state, 'failed');
  assert.equal(machine.reader.dataServer('s1')?.disks[1].state, 'up');
  const bad = (d: object) =>
    codeOf(machine, {
      op: 'setDiskStatus',
      serverId: 's1',
      disks: [{ disk: 1, state: 'up', capacityBytes: 10, freeBytes: 5, ...d }],
    });
  assert.equal(bad({ disk: 7 }), 'EINVAL');
  assert.equal(bad({ freeBytes: 11 }), 'EINVAL');
  assert.equal(bad({ state: 'sleepy' }), 'EINVAL');
  assert.equal(codeOf(machine, { op: 'setDiskStatus', serverId: 'nope', disks: [] }), 'ENOENT');
  assert.equal(machine.reader.dataServer('s1')?.disks[1].capacityBytes, 0, 'unchanged');
});

test('a disk adopts another identity only while it records no shard (a replaced disk)', () => {
  const machine = openMachineWithServers([]);
  const OLD = 'a'.repeat(32);
  const NEW = 'b'.repeat(32);
  const status = (diskId: string, state: 'up' | 'failed' = 'up'): CommandInput => ({
    op: 'setDiskStatus',
    serverId: 's',
    disks: [{ disk: 0, state, capacityBytes: 10, freeBytes: 5, diskId }],
  });
  ok(machine, status(OLD));
  assert.equal(machine.reader.dataServer('s')?.disks[0].diskId, OLD, 'the first is adopted');
  const s = stripe(4096);
  ok(machine, {
    op: 'putObject',
    bucket: 'b',
    key: 'k',
    size: s.dataLengthBytes,
    extents: [extent(0, s.dataLengthBytes, s)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });
  assert.equal(codeOf(machine, status(NEW)), 'PRECONDITION_FAILED', 'disk 0 holds a shard');
  ok(machine, status(OLD, 'failed'));
  assert.equal(machine.reader.dataServer('s')?.disks[0].state, 'failed');
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k' });
  ok(machine, status(NEW));
  assert.deepEqual(
    [
      machine.reader.dataServer('s')?.disks[0].diskId,
      machine.reader.dataServer('s')?.disks[0].state,
    ],
    [NEW, 'up'],
  );
  assert.equal(codeOf(machine, status('not hex')), 'EINVAL');
});

const config = (k: number, strategy = 'spread-domains'): ClusterConfig =>
  ({
    erasure: { k, m: 2, shardSizeBytes: 1 << 20 },
    placement: { strategy },
  }) as ClusterConfig;

test('the first cluster configuration recorded wins; a later one changes nothing', () => {
  const machine = openEmptyMachine();
  assert.equal(machine.reader.clusterConfig(), undefined);
  const first = ok(machine, { op: 'initClusterConfig', config: config(4) });
  assert.deepEqual(first.clusterConfig, config(4));
  const second = ok(machine, { op: 'initClusterConfig', config: config(6, 'random') });
  assert.deepEqual(second.clusterConfig, config(4), 'answers the recorded one');
  assert.deepEqual(machine.reader.clusterConfig(), config(4));
});

test('a bad cluster configuration is refused', () => {
  const machine = openEmptyMachine();
  assert.equal(codeOf(machine, { op: 'initClusterConfig', config: config(0) }), 'EINVAL');
  assert.equal(codeOf(machine, { op: 'initClusterConfig', config: config(255) }), 'EINVAL');
  assert.equal(
    codeOf(machine, { op: 'initClusterConfig', config: config(4, 'round-robin') }),
    'EINVAL',
  );
  assert.equal(machine.reader.clusterConfig(), undefined);
});

test('replicas applying the same cluster commands read the same view', () => {
  const commands = [
    register('a'),
    register('b', { domain: { zone: 'z2', rack: 'r2', host: 'h2' } }),
    { op: 'setServerState', serverId: 'a', state: 'suspect', ifState: 'up' },
    { op: 'setServerState', serverId: 'a', state: 'down', ifState: 'up' }, // stale: refused
    {
      op: 'setDiskStatus',
      serverId: 'b',
      disks: [{ disk: 0, state: 'up', capacityBytes: 9, freeBytes: 3 }],
    },
    { op: 'initClusterConfig', config: config(4) },
  ] as CommandInput[];
  const views = [openEmptyMachine(), openEmptyMachine()].map((machine) => {
    for (const [i, command] of commands.entries()) run(machine, { ...command, nowMs: 1_000 + i });
    return JSON.stringify([machine.reader.dataServers(), machine.reader.clusterConfig()]);
  });
  assert.equal(views[0], views[1]);
  assert.match(views[0], /"state":"suspect"/);
});
