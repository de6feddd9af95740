// How many shards of referenced stripes each disk holds: the cheapest index of stripes by
// server. Maintained inside the commands' write transactions, so every replica holds the same
// counts at the same applied index:
// - a stripe's first reference (refcount 0 -> 1) adds one at each of its k+m locations;
// - its last release (-> 0) subtracts one at each of its current (relocated) locations;
// - relocateShard moves one from the old location to the new.
// A shard a degraded write left absent is recorded at its location like any other and counts
// there (the counts count what the records name; absent-shards.ts lists it for repair), so a
// relocation's move and the last release need no special case, and a drain rebuilds it.
// They tell drain progress, let remove-server refuse while a server holds shards, give fair-share
// rebalancing each disk's load, and let the repair driver skip walks.
import assert from 'node:assert/strict';
import type { Database } from 'lmdb';
import * as K from './keys.ts';
import type { Store, StoredExtent } from './store.ts';
import type { DiskShardCount, PartInfo, ShardLocation, Stripe } from './types.ts';

export function addShardCounts(store: Store, shards: readonly ShardLocation[], delta: 1 | -1) {
  for (const at of shards) addShardCount(store.db, at, delta);
}

export function moveShardCount(store: Store, from: ShardLocation, to: ShardLocation): void {
  addShardCount(store.db, from, -1);
  addShardCount(store.db, to, 1);
}

// Never below zero: only a writer that re-references a stripe id under another shard list
// (a writer bug; the state machine keeps the first list it counted nowhere) could release
// locations never counted. The count then stays at zero rather than stopping every replica.
function addShardCount(db: Database<any, Buffer>, at: ShardLocation, delta: 1 | -1): void {
  const key = K.shardCountKey(at.serverId, at.disk);
  const next = ((db.get(key) as number | undefined) ?? 0) + delta;
  if (next > 0) db.putSync(key, next);
  else db.removeSync(key);
}

// Every disk holding at least one shard, in key order (server id, then disk).
export function shardCounts(store: Store, serverId?: string): DiskShardCount[] {
  return [...store.db.getRange(K.shardCountRange(serverId))].map(({ key, value }) => ({
    ...K.shardCountFromKey(key as Buffer),
    shards: value as number,
  }));
}

export function serverShardCount(store: Store, serverId: string): number {
  return shardCounts(store, serverId).reduce((sum, d) => sum + d.shards, 0);
}

// A state created before the counts existed has none: they are rebuilt once, when the state
// machine opens such an environment (or installs such a snapshot), by walking every extent and
// part (each referenced stripe once, at its current locations). The counts are a function of the
// state alone, so a replica rebuilding at another applied index ends up with the same counts as
// one that maintained them. Memory: the ids of the referenced stripes, once, at that opening.
export function ensureShardCounts(store: Store): boolean {
  if (store.db.get(K.shardCountsReadyKey()) !== undefined) return false;
  store.db.transactionSync(() => {
    for (const key of store.db.getKeys(K.shardCountRange())) store.db.removeSync(key as Buffer);
    const seen = new Set<string>();
    const count = (stripe: Stripe) => {
      if (seen.has(stripe.id) || store.refCount(stripe.id) === 0) return;
      seen.add(stripe.id);
      addShardCounts(store, store.currentStripe(stripe).shards, 1);
    };
    const extents = { start: Buffer.of(K.TAG.extent), end: Buffer.of(K.TAG.extent + 1) };
    for (const { value } of store.db.getRange(extents)) {
      const stripe = (value as StoredExtent).stripe; // none: inline bytes
      if (stripe !== undefined) count(stripe);
    }
    const parts = { start: Buffer.of(K.TAG.part), end: Buffer.of(K.TAG.part + 1) };
    for (const { value } of store.db.getRange(parts))
      for (const e of (value as PartInfo).extents) count(e.stripe);
    store.db.putSync(K.shardCountsReadyKey(), true);
  });
  return true;
}

// For a fresh state (no stripes yet): the counts start maintained.
export function markShardCountsReady(store: Store): void {
  assert.equal(shardCounts(store).length, 0, 'a fresh state holds no shards');
  store.db.putSync(K.shardCountsReadyKey(), true);
}
