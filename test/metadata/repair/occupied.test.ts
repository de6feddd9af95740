// The memory of targets that held a stale file of a task's shard: avoided for a while, then tried
// again (the stale file is collected eventually, and the disk may be the only one the rule allows).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  OCCUPIED_TASKS_MAX,
  OccupiedTargets,
  planRepairs,
  type RepairStripe,
} from '../../../src/metadata/repair/index.ts';
import { cluster } from '../placement/topology.ts';

const a = { serverId: 'a', disk: 0 };
const b = { serverId: 'b', disk: 1 };

test('a target that held a stale file is avoided until the memory expires', () => {
  const occupied = new OccupiedTargets(60_000);
  occupied.note('s/1', a, 1_000);
  assert.deepEqual(occupied.current(1_000), new Map([['s/1', [a]]]));
  occupied.note('s/1', b, 30_000);
  assert.deepEqual(occupied.current(59_999), new Map([['s/1', [a, b]]]));
  assert.deepEqual(occupied.current(61_000), new Map([['s/1', [b]]]), 'a is tried again');
  assert.deepEqual(occupied.current(90_000), new Map(), 'then b');
  assert.equal(occupied.size, 0, 'expired entries are dropped');
});

test('a commit forgets the task, and a second refusal at one disk restarts its period', () => {
  const occupied = new OccupiedTargets(60_000);
  occupied.note('s/1', a, 0);
  occupied.note('s/1', a, 50_000);
  assert.deepEqual(occupied.current(100_000).get('s/1'), [a]);
  occupied.done('s/1');
  assert.equal(occupied.current(100_000).size, 0);
});

test('the memory is bounded', () => {
  const occupied = new OccupiedTargets();
  for (let i = 0; i <= OCCUPIED_TASKS_MAX; i++) occupied.note(`s${i}/0`, a, 0);
  assert.ok(occupied.size <= OCCUPIED_TASKS_MAX);
});

// The case the cluster simulator found: with one disk per server, 3 servers and 2+1, the only disk
// the rule leaves for a lost shard is the one remembered as occupied. While remembered, the shard
// waits with no target; once forgotten, it is planned there.
test('a shard whose only target is remembered occupied is planned there once the memory expires', () => {
  const servers = cluster({ zones: 1, racksPerZone: 1, hostsPerRack: 4, disksPerHost: 1 });
  servers[0] = { ...servers[0], state: 'down' };
  const stripe: RepairStripe = {
    id: 's',
    k: 2,
    m: 1,
    shardSizeBytes: 1,
    shards: servers.slice(0, 3).map((s) => ({ serverId: s.serverId, disk: 0 })),
  };
  const only = { serverId: servers[3].serverId, disk: 0 };
  const occupied = new OccupiedTargets(60_000);
  occupied.note('s/0', only, 0);
  const plan = (nowMs: number) =>
    planRepairs({
      stripes: [stripe],
      servers,
      findings: [],
      inFlight: [],
      occupied: occupied.current(nowMs),
      strategy: 'spread-domains',
      limits: { tasksInFlightMax: 4, bytesInFlightMax: 1 << 30 },
    });
  assert.equal(plan(1_000).tasks.length, 0);
  assert.match(plan(1_000).waiting[0].why, /no target/);
  assert.deepEqual(plan(60_000).tasks[0].target, only);
});

test('a period of zero is refused', () => {
  assert.throws(() => new OccupiedTargets(0), /forgetAfterMs/);
});
