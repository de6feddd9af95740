// Fair share: budgets that bring every live disk within tolerance of its share by capacity, and
// the scheduler's balance moves that spend them within the domain rule. Converges, and a balanced
// cluster plans no move (no churn).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ClusterMap,
  checkPlacement,
  locationKey,
  type PlacementServer,
  placeShards,
} from '../../../src/metadata/placement/index.ts';
import {
  balanceBudget,
  type DiskLoad,
  liveDiskLoads,
  planRepairs,
  type RepairStripe,
  withinTolerance,
} from '../../../src/metadata/repair/index.ts';
import type { DiskShardCount } from '../../../src/metadata/types.ts';
import { cluster, diskBytes, serverOf } from '../placement/topology.ts';

function applyBudget(loads: readonly DiskLoad[], budget: ReturnType<typeof balanceBudget>) {
  return loads.map((l) => ({
    ...l,
    shards: l.shards - (budget.give.get(l.key) ?? 0) + (budget.take.get(l.key) ?? 0),
  }));
}

const loadsArbitrary = fc
  .array(
    fc.record({ weight: fc.constantFrom(1, 2, 3, 4), shards: fc.integer({ min: 0, max: 500 }) }),
    { minLength: 2, maxLength: 30 },
  )
  .map((disks) => {
    const servers: PlacementServer[] = disks.map((d, i) => ({
      ...serverOf(0, 0, i, 1),
      disks: [{ disk: 0, state: 'up', capacityBytes: d.weight * diskBytes, freeBytes: 0 }],
    }));
    const counts: DiskShardCount[] = disks.map((d, i) => ({
      serverId: servers[i].serverId,
      disk: 0,
      shards: d.shards,
    }));
    return liveDiskLoads(servers, counts);
  });

test('the budget brings every disk within tolerance, moves each shard once, and conserves shards', () => {
  fc.assert(
    fc.property(loadsArbitrary, (loads) => {
      const budget = balanceBudget(loads, 1_000_000);
      const after = applyBudget(loads, budget);
      const total = (ls: DiskLoad[]) => ls.reduce((sum, l) => sum + l.shards, 0);
      assert.equal(total(after), total([...loads]));
      for (const key of budget.give.keys()) assert.ok(!budget.take.has(key), 'give or take');
      for (const l of after)
        assert.ok(withinTolerance(l), `${l.key}: ${l.shards} of ${l.fairShards}`);
      // No churn: once balanced, nothing more is planned.
      assert.equal(balanceBudget(after, 1_000_000).moves, 0);
    }),
    { seed: Number(process.env.STRATA_SEED ?? 42), numRuns: 300 },
  );
});

test('a disk not live (down, draining, not yet reported) gets no share and no budget', () => {
  const servers = cluster({ zones: 1, racksPerZone: 1, hostsPerRack: 4, disksPerHost: 1 });
  servers[1] = { ...servers[1], state: 'draining' };
  servers[2] = { ...servers[2], disks: [{ ...servers[2].disks[0], capacityBytes: 0 }] };
  const counts = servers.map((s) => ({ serverId: s.serverId, disk: 0, shards: 50 }));
  const loads = liveDiskLoads(servers, counts);
  assert.deepEqual(
    loads.map((l) => [l.serverId, l.fairShards]),
    [
      ['s-0-0-0', 50],
      ['s-0-0-3', 50],
    ],
  );
  assert.equal(balanceBudget(loads, 100).moves, 0);
});

// Places `count` 4+2 stripes over `servers` as writers do, all healthy.
function stripesOver(servers: PlacementServer[], count: number): RepairStripe[] {
  const map = ClusterMap.of(servers);
  return Array.from({ length: count }, (_, i) => {
    const id = i.toString(16).padStart(32, '0');
    const shards = placeShards({
      strategy: 'spread-domains',
      stripeId: id,
      width: 6,
      m: 2,
      count: 6,
      cluster: map,
    });
    return { id, k: 4, m: 2, shardSizeBytes: 1 << 20, shards };
  });
}

function countsOf(stripes: readonly RepairStripe[]): DiskShardCount[] {
  const byDisk = new Map<string, DiskShardCount>();
  for (const s of stripes)
    for (const at of s.shards) {
      const key = locationKey(at);
      const entry = byDisk.get(key) ?? { ...at, shards: 0 };
      entry.shards++;
      byDisk.set(key, entry);
    }
  return [...byDisk.values()];
}

test('a server joining 6 gets its share through balance moves that keep the domain rule, then none', () => {
  const old = cluster({ zones: 1, racksPerZone: 1, hostsPerRack: 6, disksPerHost: 2 });
  let stripes = stripesOver(old, 200);
  const servers = [...old, serverOf(0, 0, 6, 2)];
  const map = ClusterMap.of(servers);
  let rounds = 0;
  for (; rounds < 50; rounds++) {
    const loads = liveDiskLoads(servers, countsOf(stripes));
    const budget = balanceBudget(loads, 1_000);
    if (budget.moves === 0) break;
    const plan = planRepairs({
      stripes,
      servers,
      findings: [],
      inFlight: [],
      strategy: 'spread-domains',
      limits: { tasksInFlightMax: 20, bytesInFlightMax: 1 << 30 },
      balance: budget,
    });
    assert.ok(
      plan.tasks.length > 0,
      `round ${rounds}: a budget of ${budget.moves} planned nothing`,
    );
    assert.ok(plan.tasks.every((t) => t.reason === 'balance'));
    for (const t of plan.tasks) {
      assert.ok((budget.give.get(locationKey(t.from)) ?? 0) > 0, 'moved off a giving disk');
      assert.ok((budget.take.get(locationKey(t.target)) ?? 0) > 0, 'onto a taking disk');
    }
    stripes = stripes.map((s) => {
      const shards = s.shards.slice();
      for (const t of plan.tasks) if (t.stripeId === s.id) shards[t.shardIndex] = t.target;
      return { ...s, shards };
    });
  }
  const loads = liveDiskLoads(servers, countsOf(stripes));
  for (const l of loads) assert.ok(withinTolerance(l), `${l.key}: ${l.shards} of ${l.fairShards}`);
  const joined = loads.filter((l) => l.serverId === 's-0-0-6');
  assert.ok(
    joined.every((l) => l.shards > 0),
    'the new server holds shards',
  );
  for (const s of stripes) assert.deepEqual(checkPlacement(s, map), [], `stripe ${s.id}`);
  // Balanced: the next plan has no move at all.
  const last = planRepairs({
    stripes,
    servers,
    findings: [],
    inFlight: [],
    strategy: 'spread-domains',
    limits: { tasksInFlightMax: 20, bytesInFlightMax: 1 << 30 },
    balance: balanceBudget(loads, 1_000),
  });
  assert.deepEqual(last.tasks, []);
  assert.ok(rounds > 0 && rounds < 50, `converged in ${rounds} rounds`);
});
