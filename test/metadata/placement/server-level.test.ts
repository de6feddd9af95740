// The server level of the domain rule: data servers sharing one host label (containers, or every
// server of a cluster on one machine with the default label) still get at most m shards each.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkPlacement,
  type PlacementServer,
  placementStrategies,
  placeShards,
} from '../../../src/metadata/placement/index.ts';

function sameHost(serverCount: number): PlacementServer[] {
  return Array.from({ length: serverCount }, (_, n) => ({
    serverId: `s${n}`,
    state: 'up' as const,
    domain: { zone: 'z', rack: 'r', host: 'one-machine' },
    disks: Array.from({ length: 6 }, (_, disk) => ({
      disk,
      state: 'up' as const,
      capacityBytes: 2 ** 30,
      freeBytes: 2 ** 30 - disk * 1000,
    })),
  }));
}

for (const strategy of placementStrategies) {
  test(`${strategy}: 3 servers on one host with 4+2 hold 2 shards of every stripe each`, () => {
    const servers = sameHost(3);
    for (let n = 0; n < 2000; n++) {
      const stripeId = `stripe-${n}`;
      const shards = placeShards({
        strategy,
        stripeId,
        width: 6,
        m: 2,
        count: 6,
        cluster: servers,
      });
      const perServer = new Map<string, number>();
      for (const s of shards) perServer.set(s.serverId, (perServer.get(s.serverId) ?? 0) + 1);
      assert.deepEqual(
        [...perServer.values()],
        [2, 2, 2],
        `${stripeId}: ${JSON.stringify(shards)}`,
      );
      assert.deepEqual(checkPlacement({ id: stripeId, k: 4, m: 2, shards }, servers), []);
    }
  });
}

test('checkPlacement reports 3 shards on one of 3 servers sharing a host', () => {
  const servers = sameHost(3);
  const onServer = ['s0', 's0', 's0', 's1', 's1', 's2'];
  const shards = onServer.map((serverId, disk) => ({ serverId, disk }));
  const violations = checkPlacement({ id: 'x', k: 4, m: 2, shards }, servers);
  assert.deepEqual(
    violations.map((v) => v.code),
    ['DOMAIN_OVERLOADED'],
  );
});

test('spread-domains puts one shard on each of 6 servers sharing a host', () => {
  const servers = sameHost(6);
  for (let n = 0; n < 500; n++) {
    const shards = placeShards({
      strategy: 'spread-domains',
      stripeId: `stripe-${n}`,
      width: 6,
      m: 2,
      count: 6,
      cluster: servers,
    });
    assert.equal(new Set(shards.map((s) => s.serverId)).size, 6, JSON.stringify(shards));
  }
});
