import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStrataError } from '../../../src/common/errors.ts';
import { placeStripe } from '../../../src/metadata/placement/index.ts';

const sixDisks = Array.from({ length: 6 }, (_, disk) => ({ serverId: 'data-1', disk }));

test('placement picks k+m distinct targets, deterministically', () => {
  for (let i = 0; i < 200; i++) {
    const id = i.toString(16).padStart(32, '0');
    const a = placeStripe(id, sixDisks, 6);
    assert.deepEqual(a, placeStripe(id, [...sixDisks].reverse(), 6), `stripe ${id}`);
    assert.equal(new Set(a.map((t) => t.disk)).size, 6);
  }
});

test('placement spreads shards over servers before doubling up on one', () => {
  const targets = ['a', 'b', 'c'].flatMap((serverId) =>
    [0, 1, 2].map((disk) => ({ serverId, disk })),
  );
  for (let i = 0; i < 100; i++) {
    const chosen = placeStripe(`${i}`.padStart(32, '0'), targets, 3);
    assert.equal(new Set(chosen.map((t) => t.serverId)).size, 3);
  }
});

test('placement balances shard 0 across disks', () => {
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 6000; i++) counts[placeStripe(`s${i}`, sixDisks, 6)[0].disk]++;
  for (const count of counts) assert.ok(count > 700 && count < 1300, `uneven: ${counts}`);
});

test('too few targets is NOT_ENOUGH_TARGETS', () => {
  assert.throws(
    () => placeStripe('x', sixDisks.slice(0, 5), 6),
    (e: unknown) => isStrataError(e, 'NOT_ENOUGH_TARGETS'),
  );
});
