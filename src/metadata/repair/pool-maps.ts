// The cluster map a stripe is repaired, drained and rebalanced within: the servers of its pool
// (Stripe.pool, an archive class's stripe placed on the servers labelled data.pool), or the whole
// cluster for a stripe with none. Writers place a pool's stripes on its servers only
// (src/client/data-pool.ts) and the state machine judges them against the same set
// (src/metadata/stripe-placement.ts) and refuses a relocation out of the pool (ops-repair.ts):
// repair's targets and its domain rule come from that same set, so a rebuilt cold shard never
// lands on a hot server, and the rule is the pool's (8+3 on the cold servers), not the cluster's.
// Built once per pool per plan: a plan meets few pools.
import assert from 'node:assert/strict';
import { ClusterMap } from '../placement/cluster-map.ts';
import type { PlacementServer } from '../placement/types.ts';

export class PoolMaps {
  readonly all: ClusterMap;
  readonly #servers: readonly PlacementServer[];
  readonly #byPool = new Map<string, ClusterMap>();

  constructor(servers: readonly PlacementServer[]) {
    this.#servers = servers;
    this.all = ClusterMap.of(servers);
  }

  // The map of the pool (its servers only; none when no server carries the label, and then no
  // target: the stripe waits, reported), or of every server without one.
  of(pool: string | undefined): ClusterMap {
    if (pool === undefined) return this.all;
    let map = this.#byPool.get(pool);
    if (map === undefined) {
      map = ClusterMap.of(this.#servers.filter((s) => s.domain.pool === pool));
      this.#byPool.set(pool, map);
    }
    assert.ok(
      map.servers.every((s) => s.domain.pool === pool),
      `the map of pool ${pool} holds its servers only`,
    );
    return map;
  }
}
