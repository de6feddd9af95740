// Where a writer places a stripe and its retried shards (src/client/stripe-placement.ts): the
// recorded strategy over servers recorded up, the client's avoidance never loosening the rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeNewStripe, placeRetries } from '../../src/client/stripe-placement.ts';
import {
  ClusterMap,
  checkPlacement,
  type PlacementServer,
  type ServerState,
} from '../../src/metadata/placement/index.ts';

function servers(count: number, states: Record<string, ServerState> = {}): PlacementServer[] {
  return Array.from({ length: count }, (_, n) => ({
    serverId: `s${n}`,
    state: states[`s${n}`] ?? 'up',
    domain: { zone: 'z', rack: 'r', host: `h${n}` },
    disks: Array.from({ length: 6 }, (_, disk) => ({
      disk,
      state: 'up' as const,
      capacityBytes: 2 ** 30,
      freeBytes: 2 ** 30,
    })),
  }));
}

const view = (list: PlacementServer[]) => ({
  epoch: 1,
  map: ClusterMap.of(list),
  strategy: 'spread-domains' as const,
});

test('a new stripe goes only to servers recorded up', () => {
  for (const state of ['suspect', 'down', 'draining', 'removed'] as const) {
    const list = servers(4, { s1: state });
    for (let n = 0; n < 200; n++) {
      const shards = placeNewStripe(view(list), { stripeId: `x${n}`, k: 4, m: 2 }, new Set());
      assert.ok(!shards.some((s) => s.serverId === 's1'), `${state}: ${JSON.stringify(shards)}`);
    }
  }
});

test('servers the client avoids are kept off while the stripe fits, never loosening the rule', () => {
  const six = view(servers(6));
  const shards = placeNewStripe(six, { stripeId: 'a', k: 4, m: 2 }, new Set(['s0', 's1']));
  assert.ok(!shards.some((s) => s.serverId === 's0' || s.serverId === 's1'));
  // With 3 servers the rule (2 per host) cannot hold without s0: s0 still gets its 2 shards.
  const three = servers(3);
  const onThree = placeNewStripe(view(three), { stripeId: 'b', k: 4, m: 2 }, new Set(['s0']));
  assert.equal(onThree.filter((s) => s.serverId === 's0').length, 2);
  assert.deepEqual(checkPlacement({ id: 'b', k: 4, m: 2, shards: onThree }, three), []);
});

test('failed shards move to servers holding others within the cap, or stay when none is left', () => {
  const list = servers(6);
  const shape = { stripeId: 'c', k: 4, m: 2 };
  const shards = placeNewStripe(view(list), shape, new Set());
  const failed = [0, 1];
  const avoid = new Set(failed.map((i) => shards[i].serverId));
  const moves = placeRetries(view(list), shape, shards, failed, avoid);
  assert.equal(moves.length, 2);
  const after = [...shards];
  for (const move of moves) {
    assert.ok(!avoid.has(move.target.serverId));
    after[move.index] = move.target;
  }
  assert.deepEqual(checkPlacement({ id: 'c', k: 4, m: 2, shards: after }, list), []);
  // 3 servers with 4+2: the others already hold 2 each, so a failed server's shards stay.
  const three = servers(3);
  const onThree = placeNewStripe(view(three), shape, new Set());
  const lost = onThree.flatMap((s, i) => (s.serverId === 's0' ? [i] : []));
  assert.deepEqual(placeRetries(view(three), shape, onThree, lost, new Set(['s0'])), []);
});

test('a stripe that does not fit on the servers recorded up goes to servers recorded suspect too', () => {
  // A lone server that missed heartbeats (a loaded machine) is suspect: writes still go to it.
  const lone = servers(1, { s0: 'suspect' });
  const asUp = servers(1);
  const withSuspect = { ...view(lone), mapWithSuspect: ClusterMap.of(asUp) };
  const shards = placeNewStripe(withSuspect, { stripeId: 'd', k: 4, m: 2 }, new Set());
  assert.equal(shards.length, 6);
  assert.ok(shards.every((s) => s.serverId === 's0'));
  // Without that last resort there is nowhere to write.
  assert.throws(() => placeNewStripe(view(lone), { stripeId: 'd', k: 4, m: 2 }, new Set()), {
    code: 'NOT_ENOUGH_TARGETS',
  });
});
