// The write load: a client placing a new stripe with placeShards over the servers recorded up (the
// records as src/client/stripe-placement.ts reads them), writing its k+m shards, placing a failed
// shard once more as a repair would (every other shard kept, the failed server avoided), and
// committing the stripe only when all k+m shards landed. Degraded writes (k+1 of k+m, which the
// real client commits, the rest absent where the record names them) only with
// profile.degradedWrites: the stripe names its absent shards and the commit lists them in the
// state machine's table (cluster.absentTable, as src/metadata/absent-shards.ts does), which the
// repair driver takes as lost shards. A failed write leaves its files as orphans.
import assert from 'node:assert/strict';
import { isStrataError } from '../../../../src/common/errors.ts';
import {
  ClusterMap,
  checkPlacement,
  locationKey,
  placementServers,
  placeShards,
} from '../../../../src/metadata/placement/index.ts';
import { misplacedShards } from '../../../../src/metadata/repair/index.ts';
import type { ShardLocation } from '../../../../src/metadata/types.ts';
import type { SeededPrng } from '../../../../src/raft/index.ts';
import type { SimCluster } from './cluster.ts';
import { type Profile, SIM_POOL } from './profile.ts';

export interface WriteStats {
  written: number;
  noTargets: number; // too few live disks: refused before writing anything
  failed: number; // a shard could not be written anywhere: nothing committed
  retried: number; // shards placed a second time after a failed write
  degraded: number; // stripes committed with shards absent (profile.degradedWrites)
}

export function writeStripe(
  cluster: SimCluster,
  profile: Profile,
  prng: SeededPrng,
  nowMs: number,
  stats: WriteStats,
  fail: (message: string) => never,
): void {
  const { k, m, strategy } = profile;
  const stripeId = `w${String(cluster.sizes.size).padStart(5, '0')}`;
  // With pools, half the stripes are an archive class's: placed on the pool's servers only and
  // judged against them (src/client/data-pool.ts, src/metadata/stripe-placement.ts).
  const pool = profile.pools && prng.chance(0.5) ? SIM_POOL : undefined;
  const servers = poolMap(cluster, pool);
  let shards: ShardLocation[];
  try {
    shards = placeShards({ strategy, stripeId, width: k + m, m, count: k + m, cluster: servers });
  } catch (error) {
    if (!isStrataError(error, 'NOT_ENOUGH_TARGETS')) throw error;
    stats.noTargets++;
    return;
  }
  const stripe = { id: stripeId, k, m, shards, ...(pool === undefined ? {} : { pool }) };
  const placed = checkPlacement(stripe, servers, { requireLive: true });
  if (placed.length > 0) fail(`placeShards broke its promise: ${placed[0].message}`);
  cluster.sizes.set(stripeId, 1 + prng.nextInt(profile.shardSizeBytesMax));
  const failedServers = new Set<string>();
  const failed: number[] = [];
  shards.forEach((location, index) => {
    if (cluster.writeShard(location, stripeId, index, nowMs) === 'ok') return;
    failedServers.add(location.serverId);
    failed.push(index);
  });
  const landed = new Set<number>();
  for (const index of failed) {
    stats.retried++;
    const target = placeAgain(servers, profile, stripeId, shards, index, failedServers);
    if (target === undefined) continue;
    if (cluster.writeShard(target, stripeId, index, nowMs) !== 'ok') {
      failedServers.add(target.serverId);
      continue;
    }
    shards[index] = target;
    landed.add(index);
  }
  const missing = failed.filter((index) => !landed.has(index));
  // The client's write quorum (writeQuorum in src/client/stripe-io.ts): k+1, at most k+m.
  const quorum = Math.min(k + m, k + 1);
  if (missing.length > 0 && (!profile.degradedWrites || k + m - missing.length < quorum)) {
    stats.failed++;
    return;
  }
  if (missing.length > 0) stats.degraded++;
  for (const index of missing) {
    cluster.absent.add(`${stripeId}/${index}@${shards[index].serverId}/${shards[index].disk}`);
    cluster.absentTable.set(`${stripeId}/${index}`, shards[index]);
  }
  // The state machine's check at commit (checkNewStripe), against the same records.
  const committed = checkPlacement(stripe, servers);
  if (committed.length > 0) fail(`a written stripe breaks placement: ${committed[0].message}`);
  const record = { ...stripe, shardSizeBytes: cluster.sizeOf(stripeId) };
  // Crowded beyond the strategy's spread (a shard placed again beside the others): counted, as
  // the state machine counts it, so that repair walks (src/metadata/stripe-placement.ts).
  if (misplacedShards(record, servers, [], strategy).length > 0) cluster.crowdedWrites++;
  cluster.stripes.set(stripeId, record);
  stats.written++;
}

// The servers a stripe of `pool` is placed on and judged against: the pool's, or every server.
export function poolMap(cluster: SimCluster, pool: string | undefined): ClusterMap {
  const records = [...cluster.records.values()];
  const inPool = pool === undefined ? records : records.filter((r) => r.domain.pool === pool);
  return ClusterMap.of(placementServers(inPool));
}

function placeAgain(
  servers: ClusterMap,
  profile: Profile,
  stripeId: string,
  shards: readonly ShardLocation[],
  index: number,
  avoidServers: ReadonlySet<string>,
): ShardLocation | undefined {
  try {
    const [target] = placeShards({
      strategy: profile.strategy,
      stripeId,
      width: profile.k + profile.m,
      m: profile.m,
      count: 1,
      cluster: servers,
      kept: shards.filter((_, i) => i !== index),
      avoidServers,
      avoidDisks: new Set(shards.map(locationKey)),
    });
    assert.ok(target);
    return target;
  } catch (error) {
    if (!isStrataError(error, 'NOT_ENOUGH_TARGETS')) throw error;
    return undefined;
  }
}
