import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { ReedSolomon } from '../erasure/index.ts';
import type { Stripe } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { erasureStripes } from '../observability/metrics.ts';
import type { DataPool } from './data-pool.ts';
import { codecFor, shardViews } from './stripe-codec.ts';
import { placeNewStripe, placeRetries } from './stripe-placement.ts';
import { type ShardAssignment, writeShards } from './stripe-write-round.ts';

export interface ErasureParams {
  k: number;
  m: number;
  shardSizeBytes: number; // of a full stripe; a short last stripe uses smaller shards
}

// Deleting the shards of a failed or discarded write is best effort (the scrubber collects what
// is left), so it does not wait long on a server that does not answer.
const SHARD_DELETE_TIMEOUT_MS = 5_000;

// Encodes `data` (at most k * shardSizeBytes) into one stripe and stores its k+m shards on
// distinct targets placed by the cluster's strategy on servers recorded up, off those the health
// view avoids (stripe-placement.ts). Resolves once at least k+1 shards are durable on their data
// servers (the write quorum: the stripe then survives one more loss). A shard whose write fails
// is written once more on a target chosen as a repair would choose it (keeping the domain rule,
// on a server holding no other shard of the stripe), when there is one; one that still
// cannot be written, or whose server is still silent a moment after the quorum, is left absent
// at the location the stripe records for it and named in the stripe's `absentShards`: reads skip
// it, and the commit lists it for repair, which rebuilds it elsewhere. Below the quorum the shards already written are
// deleted and the error is thrown.
export async function writeStripe(
  pool: DataPool,
  params: ErasureParams,
  data: Buffer,
  log?: Logger,
): Promise<Stripe> {
  const { k, m } = params;
  assert(
    data.length > 0 && data.length <= k * params.shardSizeBytes,
    'stripe data within capacity',
  );
  const shardSizeBytes = Math.ceil(data.length / k);
  const stripeId = randomBytes(16).toString('hex');
  const view = await pool.placementView();
  const shape = { stripeId, k, m };
  const shards = placeNewStripe(view, shape, pool.avoidedForWrites());
  const buffers = encodeStripe(codecFor(k, m), data, shardSizeBytes);
  const quorum = writeQuorum(k, m);
  const all = shards.map((target, index) => ({ index, target }));
  const first = await writeShards(pool, stripeId, all, buffers, quorum);
  const attempted: ShardAssignment[] = [...all];
  const versions = first.flatMap((o) => (o.state === 'ok' ? [o.version] : []));
  const failed = first.flatMap((o) => (o.state === 'failed' ? [o] : []));
  const missing = first.filter((o) => o.state === 'pending').map((o) => o.index);
  if (failed.length > 0) {
    const avoid = pool.avoidedForWrites();
    for (const f of failed) avoid.add(f.target.serverId);
    const failedIndexes = failed.map((f) => f.index);
    const moves = placeRetries(view, shape, shards, failedIndexes, avoid);
    const second = await writeShards(pool, stripeId, moves, buffers, quorum - versions.length);
    for (const outcome of second) {
      if (outcome.state !== 'failed') shards[outcome.index] = outcome.target;
      if (outcome.state === 'ok') versions.push(outcome.version);
      else missing.push(outcome.index);
      attempted.push({ index: outcome.index, target: outcome.target });
    }
    const moved = new Set(moves.map((move) => move.index));
    for (const f of failed) if (!moved.has(f.index)) missing.push(f.index);
  }
  const stripe: Stripe = {
    id: stripeId,
    k,
    m,
    shardSizeBytes,
    dataLengthBytes: data.length,
    shards,
    // The oldest format any server wrote: a reader may then refuse anything older as stale.
    shardVersion: Math.min(...versions),
    placementEpoch: view.epoch,
  };
  // The shards left absent are named in the record, so the commit lists them for repair
  // (src/metadata/absent-shards.ts) and readers skip them.
  if (missing.length > 0) stripe.absentShards = [...new Set(missing)].sort((a, b) => a - b);
  if (versions.length === k + m) {
    erasureStripes.inc({ operation: 'encode' });
    return stripe;
  }
  if (versions.length >= quorum) {
    erasureStripes.inc({ operation: 'degraded_write' });
    log?.warn('stripe written without some shards', {
      stripeId,
      missing: missing.map((i) => ({ shard: i, target: shards[i] })),
      errors: failed.map((f) => ({ shard: f.index, target: f.target, error: f.error })),
    });
    return stripe;
  }
  await deleteShardsAt(pool, stripeId, attempted).catch(() => {});
  throw failed[0].error;
}

// k+1, capped at k+m: with m = 1 every shard must land.
export function writeQuorum(k: number, m: number): number {
  return Math.min(k + m, k + 1);
}

function encodeStripe(codec: ReedSolomon, data: Buffer, shardSizeBytes: number): Buffer[] {
  const { dataShards: k, totalShards } = codec;
  const buffers = shardViews(totalShards, shardSizeBytes);
  for (let i = 0; i < k && i * shardSizeBytes < data.length; i++) {
    data.copy(buffers[i], 0, i * shardSizeBytes, Math.min(data.length, (i + 1) * shardSizeBytes));
  }
  codec.encode(buffers);
  assert.equal(buffers.length, k + codec.parityShards);
  return buffers;
}

export function deleteStripeShards(pool: DataPool, stripe: Stripe): Promise<void> {
  const locations = stripe.shards.map((target, index) => ({ index, target }));
  return deleteShardsAt(pool, stripe.id, locations);
}

// Deletes each shard at its location (a shard written twice is listed twice).
async function deleteShardsAt(
  pool: DataPool,
  stripeId: string,
  locations: ShardAssignment[],
): Promise<void> {
  const byServer = new Map<string, Array<{ stripeId: string; shardIndex: number; disk: number }>>();
  for (const { index, target } of locations) {
    const list = byServer.get(target.serverId) ?? [];
    list.push({ stripeId, shardIndex: index, disk: target.disk });
    byServer.set(target.serverId, list);
  }
  await Promise.all(
    [...byServer].map(async ([serverId, shards]) =>
      (await pool.client(serverId)).deleteShards(
        { shards },
        { timeoutMs: SHARD_DELETE_TIMEOUT_MS },
      ),
    ),
  );
}
