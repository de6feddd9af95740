// Where a writer puts the shards of a new stripe, and where a shard whose write failed goes
// instead: the cluster's recorded strategy (placeShards) over the servers recorded up, so every
// stripe keeps the domain rule the metadata service checks at commit (src/metadata/stripe-placement.ts).
import assert from 'node:assert';
import { isStrataError } from '../common/errors.ts';
import type { ClusterMap, PlacementStrategy } from '../metadata/placement/index.ts';
import { placeShards } from '../metadata/placement/index.ts';
import type { ShardLocation } from '../metadata/types.ts';

export interface PlacementView {
  epoch: number; // the placement epoch of the records `map` was built from
  map: ClusterMap;
  // The same records with servers recorded suspect counted as up, when any is: the last resort
  // of a write that does not fit on the servers recorded up.
  mapWithSuspect?: ClusterMap;
  strategy: PlacementStrategy;
  pool?: string; // the map holds this pool's servers only (the stripe records it)
}

export interface StripeShape {
  stripeId: string;
  k: number;
  m: number;
  pool?: string;
}

// k+m targets on servers the cluster records up, keeping off those this client avoids when the
// stripe still fits without them. The domain rule always comes from the whole up set (what the
// metadata service checks against): the client's avoidance never loosens it. When the stripe
// cannot fit without the avoided servers, it goes on them too, and their shards are retried;
// when it cannot fit on the servers recorded up at all, servers recorded suspect are used too.
export function placeNewStripe(
  view: PlacementView,
  shape: StripeShape,
  avoided: ReadonlySet<string>,
): ShardLocation[] {
  const request = {
    strategy: view.strategy,
    stripeId: shape.stripeId,
    width: shape.k + shape.m,
    m: shape.m,
    count: shape.k + shape.m,
    cluster: view.map,
  };
  if (avoided.size > 0) {
    try {
      return placeShards({ ...request, avoidServers: avoided });
    } catch (error) {
      if (!isStrataError(error, 'NOT_ENOUGH_TARGETS')) throw error;
    }
  }
  try {
    return placeShards(request);
  } catch (error) {
    // A suspect server may only be slow (a loaded machine misses a heartbeat or two): writing
    // to it beats refusing the write; its shards are retried elsewhere if it does not answer.
    if (!isStrataError(error, 'NOT_ENOUGH_TARGETS') || !view.mapWithSuspect) throw error;
    return placeShards({ ...request, cluster: view.mapWithSuspect });
  }
}

// New targets for the shards at `failed` indexes, one at a time by the same strategy a repair
// uses, counting every other shard of the stripe against its domains (so the rule holds), never
// on a server in `avoid` nor a disk holding another shard. Unlike a repair it may use a server
// that already holds a shard, within the rule's cap: the write cannot wait for a new server.
// Stops at the first shard with no target left (the write goes on without it, degraded).
// Returns the moves made.
export function placeRetries(
  view: PlacementView,
  shape: StripeShape,
  shards: readonly ShardLocation[],
  failed: readonly number[],
  avoid: ReadonlySet<string>,
): Array<{ index: number; target: ShardLocation }> {
  assert.equal(shards.length, shape.k + shape.m, 'a whole stripe');
  const current = [...shards];
  const moves: Array<{ index: number; target: ShardLocation }> = [];
  for (const index of failed) {
    let target: ShardLocation;
    try {
      [target] = placeShards({
        strategy: view.strategy,
        stripeId: shape.stripeId,
        width: shape.k + shape.m,
        m: shape.m,
        count: 1,
        cluster: view.map,
        kept: current.filter((_, i) => i !== index),
        avoidServers: avoid,
      });
    } catch (error) {
      if (isStrataError(error, 'NOT_ENOUGH_TARGETS')) break;
      throw error;
    }
    current[index] = target;
    moves.push({ index, target });
  }
  return moves;
}
