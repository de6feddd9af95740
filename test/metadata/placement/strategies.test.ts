// The placement strategies against their invariants: distinct live targets, the domain rule,
// balance, and minimal movement when a server joins or leaves. Property tests draw cluster shapes
// and erasure profiles; the balance and movement figures use 10^5 stripes on fixed shapes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isStrataError } from '../../../src/common/errors.ts';
import {
  ClusterMap,
  checkPlacement,
  domainRule,
  liveCandidates,
  locationKey,
  type PlacementServer,
  type PlacementStrategy,
  placementStrategies,
  placeShards,
} from '../../../src/metadata/placement/index.ts';
import {
  cluster,
  degrade,
  degradeArbitrary,
  profileArbitrary,
  serverOf,
  shapeArbitrary,
  stripeIds,
} from './topology.ts';

const manyStripes = 100_000;

function place(
  strategy: PlacementStrategy,
  cluster: ClusterMap | PlacementServer[],
  stripeId: string,
  profile: { k: number; m: number },
) {
  const width = profile.k + profile.m;
  return placeShards({ strategy, stripeId, width, m: profile.m, count: width, cluster });
}

function canPlace(servers: PlacementServer[], width: number, m: number): boolean {
  return domainRule(liveCandidates(servers), width, m).cap !== Number.POSITIVE_INFINITY;
}

for (const strategy of placementStrategies) {
  describe(`placement strategy ${strategy}`, () => {
    test('targets are distinct live disks and every placement passes checkPlacement', () => {
      fc.assert(
        fc.property(shapeArbitrary, profileArbitrary, degradeArbitrary, (shape, p, changes) => {
          const servers = degrade(cluster(shape), changes);
          if (!canPlace(servers, p.width, p.m)) {
            assert.throws(
              () => place(strategy, servers, 'x', p),
              (e: unknown) => isStrataError(e, 'NOT_ENOUGH_TARGETS'),
            );
            return;
          }
          const map = ClusterMap.of(servers);
          for (const id of stripeIds(50)) {
            const shards = place(strategy, map, id, p);
            const stripe = { id, k: p.k, m: p.m, shards };
            assert.deepEqual(checkPlacement(stripe, servers, { requireLive: true }), []);
          }
        }),
        { numRuns: 150 },
      );
    });

    test('no host holds more than m shards: 3 hosts with 4+2 get 2 shards each', () => {
      const servers = ClusterMap.of([0, 1, 2].map((host) => serverOf(0, 0, host, 6)));
      for (const id of stripeIds(2000)) {
        const shards = place(strategy, servers, id, { k: 4, m: 2 });
        const perServer = new Map<string, number>();
        for (const s of shards) perServer.set(s.serverId, (perServer.get(s.serverId) ?? 0) + 1);
        assert.deepEqual([...perServer.values()], [2, 2, 2], `stripe ${id}: ${[...perServer]}`);
      }
    });

    test('the same stripe and cluster give the same placement, whatever the server order', () => {
      const servers = cluster({ zones: 2, racksPerZone: 2, hostsPerRack: 2, disksPerHost: 3 });
      for (const id of stripeIds(500)) {
        assert.deepEqual(
          place(strategy, servers, id, { k: 4, m: 2 }),
          place(strategy, [...servers].reverse(), id, { k: 4, m: 2 }),
        );
      }
    });

    test('a server that joins only gains shards: every changed target is on it', () => {
      fc.assert(
        fc.property(shapeArbitrary, profileArbitrary, fc.nat(), (shape, p, where) => {
          const before = cluster(shape);
          const rack = where % (shape.zones * shape.racksPerZone);
          const zone = Math.floor(rack / shape.racksPerZone);
          const joined = serverOf(zone, rack % shape.racksPerZone, 99, shape.disksPerHost);
          const after = [...before, joined];
          fc.pre(sameRule(before, after, p.width, p.m));
          const [mapBefore, mapAfter] = [ClusterMap.of(before), ClusterMap.of(after)];
          for (const id of stripeIds(100)) {
            const moved = difference(
              place(strategy, mapAfter, id, p),
              place(strategy, mapBefore, id, p),
            );
            for (const target of moved) assert.equal(target.serverId, joined.serverId);
          }
        }),
        { numRuns: 200 },
      );
    });

    test('a server that leaves only loses shards: every changed target was on it', () => {
      fc.assert(
        fc.property(shapeArbitrary, profileArbitrary, fc.nat(), (shape, p, which) => {
          const before = cluster(shape);
          const gone = before[which % before.length];
          const after = before.filter((s) => s !== gone);
          fc.pre(sameRule(before, after, p.width, p.m));
          const [mapBefore, mapAfter] = [ClusterMap.of(before), ClusterMap.of(after)];
          for (const id of stripeIds(100)) {
            const moved = difference(
              place(strategy, mapBefore, id, p),
              place(strategy, mapAfter, id, p),
            );
            for (const target of moved) assert.equal(target.serverId, gone.serverId);
          }
        }),
        { numRuns: 200 },
      );
    });
  });
}

// Balance: 2 zones x 2 racks x 3 hosts x 4 disks (48 disks), 4+2, 10^5 stripes: 12,500 shards per
// disk on average. A binomial count has a standard deviation of about 110 here, so 5% (625) is
// more than 5 deviations: a strategy that favours some disks fails it, chance does not.
const balanceShape = { zones: 2, racksPerZone: 2, hostsPerRack: 3, disksPerHost: 4 };
const balancePercent = 5;

for (const strategy of placementStrategies) {
  test(`${strategy} keeps every disk within ${balancePercent}% of the mean over 10^5 stripes`, () => {
    const servers = cluster(balanceShape);
    const perDisk = countPerDisk(strategy, servers, stripeIds(manyStripes));
    const mean = (manyStripes * 6) / 48;
    assert.equal(perDisk.size, 48, 'every disk receives shards');
    for (const [disk, shards] of perDisk) {
      const offPercent = (Math.abs(shards - mean) / mean) * 100;
      assert.ok(offPercent <= balancePercent, `${disk}: ${shards} shards, mean ${mean}`);
    }
  });
}

test('least-loaded gives a disk with twice the free bytes more shards than the others', () => {
  const servers = cluster({ zones: 1, racksPerZone: 1, hostsPerRack: 8, disksPerHost: 2 });
  for (const disk of servers[0].disks) disk.freeBytes *= 2;
  const perDisk = countPerDisk('least-loaded', servers, stripeIds(20_000));
  const roomy = servers[0].disks.map((d) => perDisk.get(locationKey({ ...servers[0], ...d })) ?? 0);
  const others = [...perDisk.entries()].filter(([key]) => !key.startsWith(servers[0].serverId));
  const otherMean = others.reduce((sum, [, n]) => sum + n, 0) / others.length;
  for (const shards of roomy) assert.ok(shards > otherMean * 1.2, `${shards} vs ${otherMean}`);
  const uniform = countPerDisk('random', servers, stripeIds(20_000));
  const uniformRoomy = uniform.get(locationKey({ serverId: servers[0].serverId, disk: 0 })) ?? 0;
  assert.ok(uniformRoomy < otherMean * 1.2, 'random ignores free bytes');
});

test('spread-domains puts one shard per rack when there are as many racks as shards', () => {
  const servers = cluster({ zones: 2, racksPerZone: 3, hostsPerRack: 2, disksPerHost: 2 });
  const map = ClusterMap.of(servers);
  for (const id of stripeIds(2000)) {
    const shards = place('spread-domains', map, id, { k: 4, m: 2 });
    const racks = new Set(
      shards.map((s) => servers.find((x) => x.serverId === s.serverId)?.domain),
    );
    const rackNames = new Set([...racks].map((d) => `${d?.zone}/${d?.rack}`));
    assert.equal(rackNames.size, 6, `stripe ${id}`);
  }
});

// Movement over 10^5 stripes on one shape: the fraction of shards that move when a 13th host joins
// 12 (4 disks each) is what the newcomer's share should be, 4/52 of all disks, and no more.
for (const strategy of placementStrategies) {
  test(`${strategy}: a 13th host joining moves only the shards it takes over 10^5 stripes`, () => {
    const before = cluster({ zones: 1, racksPerZone: 1, hostsPerRack: 12, disksPerHost: 4 });
    const mapBefore = ClusterMap.of(before);
    const mapAfter = ClusterMap.of([...before, serverOf(0, 0, 12, 4)]);
    let moved = 0;
    for (const id of stripeIds(manyStripes)) {
      const changed = difference(
        place(strategy, mapAfter, id, PROFILE),
        place(strategy, mapBefore, id, PROFILE),
      );
      for (const target of changed) assert.equal(target.serverId, 's-0-0-12');
      moved += changed.length;
    }
    const expected = (manyStripes * 6 * 4) / 52;
    assert.ok(Math.abs(moved - expected) / expected < 0.05, `moved ${moved}, ideal ${expected}`);
  });
}

const PROFILE = { k: 4, m: 2 };

function countPerDisk(
  strategy: PlacementStrategy,
  servers: PlacementServer[],
  ids: string[],
): Map<string, number> {
  const perDisk = new Map<string, number>();
  const map = ClusterMap.of(servers);
  for (const id of ids) {
    for (const target of place(strategy, map, id, PROFILE)) {
      const key = locationKey(target);
      perDisk.set(key, (perDisk.get(key) ?? 0) + 1);
    }
  }
  return perDisk;
}

function sameRule(a: PlacementServer[], b: PlacementServer[], width: number, m: number): boolean {
  const ruleA = domainRule(liveCandidates(a), width, m);
  const ruleB = domainRule(liveCandidates(b), width, m);
  return (
    ruleA.cap !== Number.POSITIVE_INFINITY &&
    ruleB.cap !== Number.POSITIVE_INFINITY &&
    ruleA.level === ruleB.level &&
    ruleA.cap === ruleB.cap
  );
}

function difference<T extends { serverId: string; disk: number }>(a: T[], b: T[]): T[] {
  const inB = new Set(b.map(locationKey));
  return a.filter((t) => !inB.has(locationKey(t)));
}
