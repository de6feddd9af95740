import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trimOldest } from '../../src/common/map-trim.ts';

test('trimOldest leaves a map at or under its bound alone', () => {
  const map = new Map([1, 2, 3, 4].map((k) => [k, String(k)]));
  trimOldest(map, 4);
  assert.deepEqual([...map.keys()], [1, 2, 3, 4]);
});

test('trimOldest drops the oldest entries, down to three quarters of the bound', () => {
  const map = new Map<number, number>();
  for (let i = 0; i < 1000; i++) map.set(i, i);
  map.delete(500);
  map.set(500, 500); // re-added: now the newest
  map.set(3, -3); // replaced in place: keeps its (oldest) position
  trimOldest(map, 800);
  assert.equal(map.size, 600);
  const keys = [...map.keys()];
  assert.equal(keys.at(-1), 500);
  assert.equal(map.has(3), false);
  assert.deepEqual(keys.slice(0, 3), [400, 401, 402]);
});

test('trimOldest keeps a map bounded through many inserts (an LRU-sized cache)', () => {
  const map = new Map<number, number>();
  for (let i = 0; i < 100_000; i++) {
    map.set(i, i);
    trimOldest(map, 1000);
    assert.ok(map.size <= 1000);
  }
  assert.equal([...map.keys()].at(-1), 99_999);
  assert.ok(map.size >= 750);
});
