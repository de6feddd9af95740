// The shards writers left absent (degraded writes), replicated so repair finds them. A writer
// commits a stripe once k+1 of its k+m shards are durable; the others stay recorded at their
// planned locations, where no file is. Nothing else would tell repair: their servers are up, so
// neither the shard counts nor the servers' states show a loss, and scrubbers report corrupt
// files, not missing ones. So the writer names them (Stripe.absentShards) and the state machine,
// inside each command's transaction (the same entries at the same applied index everywhere):
// - lists each at the stripe's first reference (refcount 0 -> 1, with checkNewStripe), keyed by
//   stripe id and index, with its recorded location;
// - drops one when relocateShard moves that shard (the rebuilt shard now exists);
// - drops the stripe's entries at its last release (its shards are collected).
// Copies and multipart completion re-reference the stripe and change nothing.
// The shard counts count an absent shard at its recorded location like any other: they count
// what the records name, so relocateShard's move and the last release stay exact.
import assert from 'node:assert/strict';
import * as K from './keys.ts';
import { fail, type Store } from './store.ts';
import type { AbsentShard, ShardLocation, Stripe } from './types.ts';

// At the stripe's first reference (after checkNewStripe): lists its absent shards. A writer may
// leave at most m - 1 absent (it needs k+1 to commit); more, or a bad index, is the command's
// EINVAL and the command changes nothing.
export function recordAbsentShards(store: Store, stripe: Stripe): void {
  const absent = stripe.absentShards;
  if (absent === undefined) return;
  const width = stripe.k + stripe.m;
  const valid =
    Array.isArray(absent) &&
    absent.length < stripe.m &&
    absent.every((i) => Number.isInteger(i) && i >= 0 && i < width) &&
    new Set(absent).size === absent.length;
  if (!valid) fail('EINVAL', `stripe ${stripe.id}: bad absent shards ${JSON.stringify(absent)}`);
  assert.equal(store.db.getCount(K.absentShardRange(stripe.id)), 0, 'a new stripe lists none');
  for (const index of absent) {
    const location: ShardLocation = stripe.shards[index];
    store.db.putSync(K.absentShardKey(stripe.id, index), {
      serverId: location.serverId,
      disk: location.disk,
    });
  }
}

// relocateShard moved the shard: the rebuilt one exists now (a no-op for a shard never absent).
export function clearAbsentShard(store: Store, stripeId: string, shardIndex: number): void {
  store.db.removeSync(K.absentShardKey(stripeId, shardIndex));
}

// The stripe's last release: its shards are queued for collection, none is to be rebuilt.
export function clearAbsentShards(store: Store, stripeId: string): void {
  for (const key of store.db.getKeys(K.absentShardRange(stripeId)))
    store.db.removeSync(key as Buffer);
}

// The first `limit` entries in key order (stripe id, then index), and how many there are.
export function absentShards(
  store: Store,
  limit: number,
): { shards: AbsentShard[]; count: number } {
  assert(Number.isInteger(limit) && limit > 0, 'a positive limit');
  const shards = [...store.db.getRange({ ...K.absentShardRange(), limit })].map(
    ({ key, value }) => ({
      ...K.absentShardFromKey(key as Buffer),
      location: value as ShardLocation,
    }),
  );
  const count = store.db.getCount(K.absentShardRange());
  assert(count >= shards.length, 'the count covers the page');
  return { shards, count };
}
