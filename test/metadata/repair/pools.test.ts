// Repair, drain and rebalance keep a stripe in its pool (Stripe.pool: an archive class's stripe on
// the servers labelled data.pool): every target is a server of that pool, the domain rule and the
// spread cap are the pool's, and a shard found outside it is moved back. The state machine
// refuses the rest (test/metadata/sm-repair.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ClusterMap,
  checkPlacement,
  type PlacementServer,
  placeShards,
} from '../../../src/metadata/placement/index.ts';
import {
  planRepairs,
  type RepairInput,
  type RepairStripe,
  type RepairTask,
} from '../../../src/metadata/repair/index.ts';
import { serverOf } from '../placement/topology.ts';

const COLD = 'cold';

// `hot` servers of 2 disks, then `cold` servers of `coldDisks` disks labelled pool "cold"; each
// server its own host, all in one rack.
function servers(hot: number, cold: number, coldDisks = 3): PlacementServer[] {
  const hotServers = Array.from({ length: hot }, (_, i) => serverOf(0, 0, i, 2));
  const coldServers = Array.from({ length: cold }, (_, i) => {
    const s = serverOf(0, 0, 100 + i, coldDisks);
    return { ...s, domain: { ...s.domain, pool: COLD } };
  });
  return [...hotServers, ...coldServers];
}

const coldIds = (list: readonly PlacementServer[]) =>
  new Set(list.filter((s) => s.domain.pool === COLD).map((s) => s.serverId));

// A stripe placed as its writer places it: on its pool's servers, or on every server.
function placed(
  id: string,
  list: readonly PlacementServer[],
  profile: { k: number; m: number },
  pool?: string,
): RepairStripe {
  const inPool = pool === undefined ? list : list.filter((s) => s.domain.pool === pool);
  const width = profile.k + profile.m;
  const shards = placeShards({
    strategy: 'spread-domains',
    stripeId: id,
    width,
    m: profile.m,
    count: width,
    cluster: ClusterMap.of(inPool),
  });
  return { id, ...profile, shardSizeBytes: 1 << 20, shards, ...(pool ? { pool } : {}) };
}

function withState(list: PlacementServer[], ids: string[], state: PlacementServer['state']) {
  return list.map((s) => (ids.includes(s.serverId) ? { ...s, state } : s));
}

function input(overrides: Partial<RepairInput>): RepairInput {
  return {
    stripes: [],
    servers: [],
    findings: [],
    inFlight: [],
    strategy: 'spread-domains',
    limits: { tasksInFlightMax: 1_000, bytesInFlightMax: 2 ** 40 },
    ...overrides,
  };
}

function applied(stripe: RepairStripe, tasks: readonly RepairTask[]): RepairStripe {
  const shards = stripe.shards.slice();
  for (const t of tasks) if (t.stripeId === stripe.id) shards[t.shardIndex] = t.target;
  return { ...stripe, shards };
}

// The pool's servers as the state machine judges a pool's stripe (stripe-placement.ts).
function poolMap(list: readonly PlacementServer[], pool: string | undefined): ClusterMap {
  return ClusterMap.of(pool === undefined ? list : list.filter((s) => s.domain.pool === pool));
}

test('a lost shard of a cold stripe is rebuilt on a cold server, never on an emptier hot one', () => {
  const list = servers(8, 5);
  const stripes = Array.from({ length: 20 }, (_, i) => placed(`c${i}`, list, { k: 8, m: 3 }, COLD));
  const victim = stripes[0].shards[0].serverId;
  const plan = planRepairs(input({ stripes, servers: withState(list, [victim], 'down') }));
  assert.ok(plan.tasks.length >= stripes.length / 2, 'the down cold server held shards');
  assert.deepEqual(plan.waiting, []);
  for (const t of plan.tasks) {
    assert.ok(coldIds(list).has(t.target.serverId), `${t.id} rebuilt on ${t.target.serverId}`);
    assert.notEqual(t.target.serverId, victim);
  }
  // Each repaired stripe keeps the pool's domain rule (3 shards at most per cold server).
  for (const s of stripes) {
    const after = applied(s, plan.tasks);
    const live = withState(list, [victim], 'down');
    assert.deepEqual(
      checkPlacement(after, poolMap(live, COLD)).map((v) => v.message),
      [],
    );
  }
});

test('a drained cold server moves its shards to the other cold servers', () => {
  const list = servers(8, 5);
  const stripes = Array.from({ length: 10 }, (_, i) => placed(`c${i}`, list, { k: 8, m: 3 }, COLD));
  const drained = [...coldIds(list)][0];
  const plan = planRepairs(input({ stripes, servers: withState(list, [drained], 'draining') }));
  assert.ok(plan.tasks.length > 0 && plan.tasks.every((t) => t.reason === 'drain'));
  for (const t of plan.tasks) assert.ok(coldIds(list).has(t.target.serverId), t.id);
  assert.ok(plan.tasks.every((t) => t.target.serverId !== drained));
});

test("a cold stripe within its pool's rule is not moved to spread it over the hot servers", () => {
  // 4 cold servers of 3 disks hold 8+3 as 3, 3, 3, 2: the best the pool allows. Over the whole
  // cluster (12 servers) the spread cap would be 1 per server, and every stripe would move.
  const list = servers(8, 4);
  const stripes = Array.from({ length: 10 }, (_, i) => placed(`c${i}`, list, { k: 8, m: 3 }, COLD));
  assert.deepEqual(planRepairs(input({ stripes, servers: list })).tasks, []);
});

test('a shard of a cold stripe left on a hot server is moved back into the pool', () => {
  const list = servers(6, 4);
  const stripe = placed('c', list, { k: 8, m: 3 }, COLD);
  const hot = { serverId: list[0].serverId, disk: 0 };
  const strayed = { ...stripe, shards: stripe.shards.map((s, i) => (i === 10 ? hot : s)) };
  const plan = planRepairs(input({ stripes: [strayed], servers: list }));
  assert.equal(plan.tasks.length, 1);
  const [task] = plan.tasks;
  assert.equal(task.reason, 'rebalance');
  assert.equal(task.shardIndex, 10);
  assert.ok(coldIds(list).has(task.target.serverId));
  const after = applied(strayed, plan.tasks);
  assert.deepEqual(checkPlacement(after, poolMap(list, COLD)), []);
  // In flight, it is not planned again; landed, nothing is left to do.
  assert.deepEqual(
    planRepairs(input({ stripes: [strayed], servers: list, inFlight: plan.tasks })).tasks,
    [],
  );
  assert.deepEqual(planRepairs(input({ stripes: [after], servers: list })).tasks, []);
});

test('a cold stripe whose pool has no disk left waits, reported, rather than leave its pool', () => {
  const list = servers(8, 4);
  const stripe = placed('c', list, { k: 8, m: 3 }, COLD);
  // Every disk of every cold server holding none of its shards is gone: only hot disks are free.
  const held = new Set(stripe.shards.map((s) => `${s.serverId}/${s.disk}`));
  const full = list.map((s) =>
    s.domain.pool !== COLD
      ? s
      : {
          ...s,
          disks: s.disks.map((d) =>
            held.has(`${s.serverId}/${d.disk}`) ? d : { ...d, state: 'failed' as const },
          ),
        },
  );
  const victim = stripe.shards[0].serverId;
  const plan = planRepairs(
    input({ stripes: [stripe], servers: withState(full, [victim], 'down') }),
  );
  assert.deepEqual(plan.tasks, []);
  assert.ok(plan.waiting.length > 0 && plan.waiting.every((w) => /no target/.test(w.why)));
});

// Any cluster of hot and cold servers, stripes of both kinds, servers down, draining or back:
// every task of a pool's stripe targets a server of its pool, and every stripe its tasks repair
// keeps its pool's domain rule.
test('property: every repair, drain and move of a pool stripe stays in its pool', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }), // hot servers
      fc.integer({ min: 1, max: 6 }), // cold servers
      fc.integer({ min: 1, max: 4 }), // disks per cold server
      fc.record({ k: fc.integer({ min: 1, max: 6 }), m: fc.integer({ min: 1, max: 3 }) }),
      fc.array(fc.record({ server: fc.nat(), state: fc.constantFrom('down', 'draining') }), {
        maxLength: 3,
      }),
      (hot, cold, coldDisks, profile, faults) => {
        const list = servers(hot, cold, coldDisks);
        const coldDiskCount = cold * coldDisks;
        fc.pre(coldDiskCount >= profile.k + profile.m && hot * 2 >= 6);
        const stripes = [
          ...Array.from({ length: 6 }, (_, i) => placed(`c${i}`, list, profile, COLD)),
          ...Array.from({ length: 6 }, (_, i) => placed(`h${i}`, list, { k: 4, m: 2 })),
        ];
        let view = list;
        for (const f of faults) {
          const id = list[f.server % list.length].serverId;
          view = withState(view, [id], f.state as PlacementServer['state']);
        }
        const plan = planRepairs(input({ stripes, servers: view }));
        const cold_ = coldIds(list);
        for (const t of plan.tasks) {
          const stripe = stripes.find((s) => s.id === t.stripeId) as RepairStripe;
          if (stripe.pool === COLD) assert.ok(cold_.has(t.target.serverId), `${t.id}: hot target`);
        }
        for (const stripe of stripes) {
          const after = applied(stripe, plan.tasks);
          const violations = checkPlacement(after, poolMap(view, stripe.pool)).filter(
            (v) => v.code === 'DOMAIN_OVERLOADED' || v.code === 'DUPLICATE_TARGET',
          );
          assert.deepEqual(violations, [], `${stripe.id}`);
        }
      },
    ),
    { numRuns: 300, seed: 12 },
  );
});
