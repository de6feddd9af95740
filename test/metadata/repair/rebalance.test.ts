// Rebalancing in the repair scheduler: a stripe whose healthy shards break the domain rule against
// the live view (written while a domain was down) gets moves, last, that restore the rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ClusterMap,
  checkPlacement,
  type PlacementServer,
} from '../../../src/metadata/placement/index.ts';
import {
  misplacedShards,
  planRepairs,
  type RepairInput,
  type RepairStripe,
  type RepairTask,
} from '../../../src/metadata/repair/index.ts';
import { cluster } from '../placement/topology.ts';

// 9 hosts of 2 disks in 3 racks; 4+2 stripes: with 3 racks live, at most 2 shards per rack.
const shape = { zones: 1, racksPerZone: 3, hostsPerRack: 3, disksPerHost: 2 };
const rack0 = ['s-0-0-0', 's-0-0-1', 's-0-0-2'];
const rack1 = ['s-0-1-0', 's-0-1-1', 's-0-1-2'];
const rack2 = ['s-0-2-0', 's-0-2-1', 's-0-2-2'];

function stripeOn(id: string, serverIds: string[]): RepairStripe {
  return {
    id,
    k: 4,
    m: 2,
    shardSizeBytes: 1 << 20,
    shards: serverIds.map((serverId) => ({ serverId, disk: 0 })),
  };
}

// Written while rack 2 was down: 3 shards in each of the two other racks.
const crowded = stripeOn('c', [...rack0, ...rack1]);
// Within the rule: 2 shards per rack.
const spread = stripeOn('s', [rack0[0], rack0[1], rack1[0], rack1[1], rack2[0], rack2[1]]);

function withState(list: PlacementServer[], ids: string[], state: PlacementServer['state']) {
  return list.map((s) => (ids.includes(s.serverId) ? { ...s, state } : s));
}

function input(overrides: Partial<RepairInput> = {}): RepairInput {
  return {
    stripes: [crowded, spread],
    servers: cluster(shape),
    findings: [],
    inFlight: [],
    strategy: 'spread-domains',
    limits: { tasksInFlightMax: 100, bytesInFlightMax: 1 << 30 },
    ...overrides,
  };
}

function applied(stripe: RepairStripe, tasks: readonly RepairTask[]): RepairStripe {
  const shards = stripe.shards.slice();
  for (const t of tasks) if (t.stripeId === stripe.id) shards[t.shardIndex] = t.target;
  return { ...stripe, shards };
}

test('a stripe over the cap of a domain that is live again gets moves that restore the rule', () => {
  const { servers } = input();
  assert.ok(checkPlacement(crowded, servers).some((v) => v.code === 'DOMAIN_OVERLOADED'));
  const plan = planRepairs(input());
  assert.deepEqual(
    plan.tasks.map((t) => [t.id, t.reason]),
    [
      ['c/2', 'rebalance'],
      ['c/5', 'rebalance'],
    ],
  );
  assert.deepEqual(plan.waiting, []);
  for (const task of plan.tasks) {
    assert.equal(task.sources.length, 4);
    assert.ok(!task.sources.some((s) => s.shardIndex === task.shardIndex));
    assert.ok(rack2.includes(task.target.serverId), `${task.id} goes to rack 2`);
    assert.deepEqual(task.from, crowded.shards[task.shardIndex]);
  }
  assert.deepEqual(checkPlacement(applied(crowded, plan.tasks), servers), []);
});

test('a stripe within the rule, or under a rule not enforced, gets no move', () => {
  assert.deepEqual(planRepairs(input({ stripes: [spread] })).tasks, []);
  // While rack 2 is down (and holds none of its shards) the crowded stripe is within the rule.
  const rackDown = withState(cluster(shape), rack2, 'down');
  assert.deepEqual(misplacedShards(crowded, ClusterMap.of(rackDown)), []);
  const plan = planRepairs(input({ stripes: [crowded], servers: rackDown }));
  assert.deepEqual(plan, { tasks: [], waiting: [], unrecoverable: [], unjudged: 0 });
});

test('moves come after every rebuild, within the same throttle', () => {
  // s-0-2-0 down: the spread stripe lost shard 4; the crowded stripe still has moves to make.
  const servers = withState(cluster(shape), ['s-0-2-0'], 'down');
  const plan = planRepairs(
    input({ servers, limits: { tasksInFlightMax: 1, bytesInFlightMax: 1 << 30 } }),
  );
  assert.deepEqual(
    plan.tasks.map((t) => [t.id, t.reason]),
    [['s/4', 'lost']],
  );
  assert.deepEqual(
    plan.waiting.map((w) => [`${w.stripeId}/${w.shardIndex}`, w.reason, w.why]),
    [
      ['c/2', 'rebalance', 'throttled'],
      ['c/5', 'rebalance', 'throttled'],
    ],
  );
});

test('a stripe with a shard not readable gets no move until it is, and is reported unjudged', () => {
  const servers = withState(cluster(shape), ['s-0-0-0'], 'suspect');
  const plan = planRepairs(input({ stripes: [crowded], servers }));
  assert.deepEqual(plan.tasks, []);
  // The driver counts a walk for a grown view as done only when no stripe was left unjudged.
  assert.equal(plan.unjudged, 1);
  assert.equal(planRepairs(input({ stripes: [crowded] })).unjudged, 0);
});

test('moves are deterministic and idempotent: in flight, none is planned again', () => {
  const first = planRepairs(input());
  assert.deepEqual(planRepairs(input()), first);
  const again = planRepairs(input({ inFlight: first.tasks }));
  assert.deepEqual(again, { tasks: [], waiting: [], unrecoverable: [], unjudged: 0 });
  // One move in flight: the other is still planned, to a target that keeps the rule with it.
  const [one] = first.tasks;
  const rest = planRepairs(input({ inFlight: [one] }));
  assert.deepEqual(
    rest.tasks.map((t) => t.id),
    ['c/5'],
  );
  const servers = cluster(shape);
  assert.deepEqual(checkPlacement(applied(crowded, [one, ...rest.tasks]), servers), []);
  // Once committed, the stripe is within the rule: no churn.
  const moved = applied(crowded, first.tasks);
  assert.deepEqual(planRepairs(input({ stripes: [moved] })).tasks, []);
});

// 8 hosts of 2 disks, one rack: 4+2 stripes fit one shard per host.
const eightHosts = cluster({ zones: 1, racksPerZone: 1, hostsPerRack: 8, disksPerHost: 2 });
const host = (h: number) => `s-0-0-${h}`;
// Rebuilt while hosts 5 to 7 were down: 2 shards on host 0 (disks 0 and 1), within the rule.
const doubled: RepairStripe = {
  ...stripeOn('d', [host(0), host(0), host(1), host(2), host(3), host(4)]),
  shards: [0, 0, 1, 2, 3, 4].map((h, i) => ({ serverId: host(h), disk: i === 1 ? 1 : 0 })),
};

test('a stripe with 2 shards on one host, once k+m hosts are live, is spread one per host', () => {
  assert.deepEqual(misplacedShards(doubled, ClusterMap.of(eightHosts)), [1]);
  const plan = planRepairs(input({ stripes: [doubled], servers: eightHosts }));
  assert.equal(plan.tasks.length, 1);
  const [move] = plan.tasks;
  assert.equal(move.reason, 'rebalance');
  assert.ok(
    [5, 6, 7].map(host).includes(move.target.serverId),
    `to an empty host, got ${move.target.serverId}`,
  );
  const moved = applied(doubled, plan.tasks);
  assert.equal(new Set(moved.shards.map((s) => s.serverId)).size, 6, 'one shard per host');
  // Spread: no further move (no churn).
  assert.deepEqual(planRepairs(input({ stripes: [moved], servers: eightHosts })).tasks, []);
});

test('while fewer than k+m hosts are live, 2 shards on one host is the best spread: no move', () => {
  const threeDown = withState(eightHosts, [5, 6, 7].map(host), 'down');
  assert.deepEqual(misplacedShards(doubled, ClusterMap.of(threeDown)), []);
  assert.deepEqual(planRepairs(input({ stripes: [doubled], servers: threeDown })).tasks, []);
});

test('under random and least-loaded, whose writes keep only the cap, 2 shards on one host is not moved', () => {
  for (const strategy of ['random', 'least-loaded'] as const) {
    assert.deepEqual(misplacedShards(doubled, ClusterMap.of(eightHosts), [], strategy), []);
    const plan = planRepairs(input({ stripes: [doubled], servers: eightHosts, strategy }));
    assert.deepEqual(plan.tasks, [], `${strategy}: no move within the cap`);
  }
});
