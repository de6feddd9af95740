import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import { shardBuffers } from '../common/buffer-pool.ts';
import { StrataError } from '../common/errors.ts';
import { type AtRest, type KmsSealKey, sealedLayout } from '../crypto/index.ts';
import type { ReedSolomon } from '../erasure/index.ts';
import type { ShardLocation, Stripe, StripeEncryption } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { erasureStripes, writePlacementWaits } from '../observability/metrics.ts';
import type { DataPool } from './data-pool.ts';
import { SendTracker } from './send-tracker.ts';
import { codecFor, shardViews } from './stripe-codec.ts';
import {
  type CustomerKey,
  customerKeyWrapper,
  type DataKeyWrapper,
  kmsKeyWrapper,
  masterKeyWrapper,
  sealForWrite,
} from './stripe-crypt.ts';
import {
  type PlacementView,
  placeNewStripe,
  placeRetries,
  type StripeShape,
} from './stripe-placement.ts';
import { type ShardAssignment, writeShards } from './stripe-write-round.ts';

export interface ErasureParams {
  k: number;
  m: number;
  shardSizeBytes: number; // of a full stripe; a short last stripe uses smaller shards
  pool?: string; // place on this pool's servers (data.pool), or every server when none has it
  inlineMaxBytes?: number; // files up to this size may be inline (ClusterConfig); not stripes
}

// Deleting the shards of a failed or discarded write is best effort (the scrubber collects what
// is left), so it does not wait long on a server that does not answer.
const SHARD_DELETE_TIMEOUT_MS = 5_000;

export interface WriteStripeOptions {
  seal?: boolean;
  kms?: KmsSealKey;
  customer?: CustomerKey;
  // The caller hands `data` over: nothing writes to it from now on, not even once this resolves
  // (a straggling shard write may still be sending it), unless `sends` says when. The data shards
  // are then views of it instead of copies.
  dataOwned?: boolean;
  // One send is counted here for this stripe (begun when this is called), ended once every shard
  // write of it is done with its bytes (send-tracker.ts): `data` may be reused after that.
  sends?: SendTracker;
}

// Encodes `data` (at most k * shardSizeBytes) into one stripe and stores its k+m shards on
// distinct targets placed by the cluster's strategy on servers recorded up, off those the health
// view avoids (stripe-placement.ts). Resolves once at least k+1 shards are durable on their data
// servers (the write quorum: the stripe then survives one more loss). A shard whose write fails
// is written again on a target chosen as a repair would choose it (keeping the domain rule);
// while the stripe is below its quorum and no such target is left, the writer waits, bounded,
// for the cluster to record the failed server suspect (rewriteFailed). A shard that still
// cannot be written, or whose server is still silent a moment after the quorum, is left absent
// at the location the stripe records for it and named in the stripe's `absentShards`: reads skip
// it, and the commit lists it for repair, which rebuilds it elsewhere. Below the quorum the shards already written are
// deleted and the error is thrown.
export async function writeStripe(
  pool: DataPool,
  params: ErasureParams,
  data: Buffer,
  log?: Logger,
  options: WriteStripeOptions = {},
): Promise<Stripe> {
  const stripeSent = options.sends?.begin();
  const shardSends = new SendTracker();
  // Parity shards in pooled buffers, given back once no shard write reads them: a fresh 2 MiB
  // per 4 MiB stripe was most of what a writer's collector freed.
  const pooled: Buffer[] = [];
  try {
    return await writeStripeSending(pool, params, data, log, options, shardSends, pooled);
  } finally {
    void shardSends.idle().then(() => {
      for (const buffer of pooled) shardBuffers.release(buffer);
      stripeSent?.();
    });
  }
}

async function writeStripeSending(
  pool: DataPool,
  params: ErasureParams,
  data: Buffer,
  log: Logger | undefined,
  options: WriteStripeOptions,
  shardSends: SendTracker,
  pooled: Buffer[],
): Promise<Stripe> {
  const { k, m } = params;
  assert(
    data.length > 0 && data.length <= k * params.shardSizeBytes,
    'stripe data within capacity',
  );
  const stripeId = randomBytes(16).toString('hex');
  // Encryption at rest seals the data shards first; the code and the servers see sealed bytes.
  // An object asking for SSE-S3 is sealed even while encryption at rest is off for the rest.
  // SSE-KMS seals under the KMS key and SSE-C under the request's key whatever else holds.
  assert(options.kms === undefined || options.customer === undefined, 'SSE-KMS or SSE-C, not both');
  const seal =
    options.customer !== undefined ||
    options.kms !== undefined ||
    options.seal === true ||
    pool.atRest?.sealNew === true;
  const wrapper = seal ? dataKeyWrapper(pool.atRest, options) : undefined;
  const { buffers, encryption } = encodeData(
    wrapper,
    stripeId,
    codecFor(k, m),
    data,
    options.dataOwned === true,
    pooled,
  );
  assert(!seal || encryption !== undefined, 'a stripe asked to be sealed is sealed');
  assert(options.kms === undefined || encryption?.kms !== undefined, 'sealed under the KMS key');
  assert(
    options.customer === undefined || encryption?.keyId === options.customer.keyId,
    'an SSE-C stripe records its customer key id',
  );
  const shardSizeBytes = buffers[0].length;
  const view = await pool.placementView(undefined, params.pool);
  const shape = { stripeId, k, m, pool: params.pool };
  const shards = placeNewStripe(view, shape, pool.avoidedForWrites());
  const quorum = writeQuorum(k, m);
  const all = shards.map((target, index) => ({ index, target }));
  const first = await writeShards(pool, stripeId, all, buffers, quorum, shardSends);
  const round: WriteState = {
    shards,
    attempted: [...all],
    versions: first.flatMap((o) => (o.state === 'ok' ? [o.version] : [])),
    failed: first.flatMap((o) => (o.state === 'failed' ? [o] : [])),
    missing: first.filter((o) => o.state === 'pending').map((o) => o.index),
  };
  if (round.failed.length > 0)
    await rewriteFailed(pool, view, shape, buffers, round, shardSends, log);
  const { versions, failed, missing } = round;
  const stripe: Stripe = {
    id: stripeId,
    k,
    m,
    shardSizeBytes,
    // Sealed: the sealed data shards end to end (the extents address the plaintext).
    dataLengthBytes: encryption ? k * shardSizeBytes : data.length,
    shards,
    // The oldest format any server wrote: a reader may then refuse anything older as stale.
    shardVersion: Math.min(...versions),
    placementEpoch: view.epoch,
  };
  if (encryption) stripe.encryption = encryption;
  if (view.pool !== undefined) stripe.pool = view.pool;
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
  await deleteShardsAt(pool, stripeId, round.attempted).catch(() => {});
  throw failed[failed.length - 1].error;
}

// Where a stripe write stands: `shards` are the locations the stripe will record, `failed` the
// writes that failed (in order), `missing` the indexes left absent so far.
interface WriteState {
  shards: ShardLocation[];
  attempted: ShardAssignment[];
  versions: number[];
  failed: Array<ShardAssignment & { error: unknown }>;
  missing: number[];
}

// How long a write below its quorum waits for the server records to offer a target, and how
// often it reads them meanwhile. The bound is the detection time (a dead server is recorded
// suspect about 4.6 s after its last heartbeat, plus the leader's 250 ms check and a commit)
// with room for a loaded machine; a write never waits unbounded.
const PLACEMENT_WAIT_MS = 20_000;
const PLACEMENT_POLL_MS = 500;
const RETRY_ROUNDS_MAX = 64;

// Writes each failed shard again elsewhere (placeRetries: the domain rule, never a server that
// failed). While the stripe is below its quorum and no target is left, waits for the records to
// change: with 3 servers and 4+2, the two left already hold the rule's cap of 2 shards each until
// the cluster records the dead one suspect; then only 2 live domains remain, the rule is not
// enforced (as the state machine judges it too) and the shards go on the live servers.
// Shards still without a target once the quorum is reached are left absent (a degraded write).
async function rewriteFailed(
  pool: DataPool,
  firstView: PlacementView,
  shape: StripeShape,
  buffers: Buffer[],
  state: WriteState,
  shardSends: SendTracker,
  log?: Logger,
): Promise<void> {
  const quorum = writeQuorum(shape.k, shape.m);
  const avoid = pool.avoidedForWrites();
  for (const f of state.failed) avoid.add(f.target.serverId);
  let toPlace = state.failed.map((f) => f.index);
  let view = firstView;
  let waitedSinceMs: number | undefined;
  for (let round = 0; toPlace.length > 0 && round < RETRY_ROUNDS_MAX; round++) {
    const moves = placeRetries(view, shape, state.shards, toPlace, avoid);
    const outcomes = await writeShards(
      pool,
      shape.stripeId,
      moves,
      buffers,
      quorum - state.versions.length,
      shardSends,
    );
    for (const outcome of outcomes) {
      state.attempted.push({ index: outcome.index, target: outcome.target });
      if (outcome.state === 'failed') {
        state.failed.push(outcome);
        avoid.add(outcome.target.serverId);
        continue;
      }
      state.shards[outcome.index] = outcome.target;
      toPlace = toPlace.filter((i) => i !== outcome.index);
      if (outcome.state === 'ok') state.versions.push(outcome.version);
      else state.missing.push(outcome.index);
    }
    if (state.versions.length >= quorum) break;
    // A failed move put its server in `avoid`: the next round places around it.
    if (moves.length > 0) continue;
    // Below the quorum with no target left: wait for the records to change.
    if (waitedSinceMs === undefined) {
      waitedSinceMs = Date.now();
      log?.info('stripe write waits for the server records', { stripeId: shape.stripeId });
    }
    if (Date.now() - waitedSinceMs >= PLACEMENT_WAIT_MS) break;
    await new Promise((resolve) => setTimeout(resolve, PLACEMENT_POLL_MS));
    view = await pool.placementView(PLACEMENT_POLL_MS, shape.pool);
    for (const id of pool.avoidedForWrites()) avoid.add(id);
  }
  state.missing.push(...toPlace);
  if (waitedSinceMs === undefined) return;
  const placed = state.versions.length >= quorum;
  writePlacementWaits.inc({ outcome: placed ? 'placed' : 'gave_up' });
  const fields = { stripeId: shape.stripeId, waitedMs: Date.now() - waitedSinceMs };
  if (placed) log?.info('stripe write placed after waiting for the server records', fields);
  else log?.warn('stripe write found no target within the wait bound', fields);
}

// k+1, capped at k+m: with m = 1 every shard must land.
export function writeQuorum(k: number, m: number): number {
  return Math.min(k + m, k + 1);
}

// Who wraps a sealed stripe's data key: the customer's key (SSE-C, which needs no key file), the
// KMS key (SSE-KMS), else the active master key.
function dataKeyWrapper(
  atRest: AtRest | undefined,
  by: { kms?: KmsSealKey; customer?: CustomerKey },
): DataKeyWrapper {
  if (by.customer !== undefined) return customerKeyWrapper(by.customer, atRest);
  if (atRest === undefined) {
    throw new StrataError(
      'ENCRYPTION_KEY_UNAVAILABLE',
      'this write must be encrypted and this process has no key file ([encryption] key_file)',
    );
  }
  if (by.kms !== undefined) return kmsKeyWrapper(atRest, by.kms);
  return masterKeyWrapper(atRest);
}

// The k+m shards of a new stripe holding `data`: as it is, or sealed (stripe-crypt.ts).
function encodeData(
  wrapper: DataKeyWrapper | undefined,
  stripeId: string,
  codec: ReedSolomon,
  data: Buffer,
  dataOwned: boolean,
  pooled: Buffer[],
): { buffers: Buffer[]; encryption?: StripeEncryption } {
  const k = codec.dataShards;
  if (wrapper === undefined) {
    const shardSizeBytes = Math.ceil(data.length / k);
    const full = data.length === k * shardSizeBytes;
    const buffers =
      dataOwned && full
        ? encodeOwnedStripe(codec, data, shardSizeBytes, pooled)
        : encodeStripe(codec, data, shardSizeBytes);
    return { buffers };
  }
  const layout = sealedLayout(k, data.length);
  const buffers = shardViews(codec.totalShards, layout.sealedShardBytes);
  const encryption = sealForWrite(wrapper, stripeId, layout, data, buffers);
  codec.encode(buffers);
  return { buffers, encryption };
}

// A full stripe whose bytes the writer owns: the data shards are its k slices as they are, and
// only the parity shards are new (not zeroed: the kernels assign every byte of their outputs).
// Against encodeStripe this spares, per 4 MiB of a 4+2 stripe, a zero-filled 6 MiB allocation
// and a 4 MiB copy. The parity is in a pooled buffer, added to `pooled` for the writer to give
// back once no shard write reads it.
function encodeOwnedStripe(
  codec: ReedSolomon,
  data: Buffer,
  shardSizeBytes: number,
  pooled: Buffer[],
): Buffer[] {
  const { dataShards: k, parityShards: m } = codec;
  assert.equal(data.length, k * shardSizeBytes, 'a full stripe');
  const stride = Math.ceil(shardSizeBytes / 8) * 8;
  const parity = shardBuffers.acquire(m * stride);
  pooled.push(parity);
  const buffers = [
    ...Array.from({ length: k }, (_, i) =>
      data.subarray(i * shardSizeBytes, (i + 1) * shardSizeBytes),
    ),
    ...Array.from({ length: m }, (_, r) =>
      parity.subarray(r * stride, r * stride + shardSizeBytes),
    ),
  ];
  codec.encode(buffers);
  return buffers;
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
