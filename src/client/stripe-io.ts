import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import { isStrataError, StrataError } from '../common/errors.ts';
import { ReedSolomon } from '../erasure/index.ts';
import { placeStripe } from '../metadata/placement/index.ts';
import type { Stripe } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { erasureStripes } from '../observability/metrics.ts';
import type { DataPool } from './data-pool.ts';

export interface ErasureParams {
  k: number;
  m: number;
  shardSizeBytes: number; // of a full stripe; a short last stripe uses smaller shards
}

const codecs = new Map<string, ReedSolomon>();
function codecFor(k: number, m: number): ReedSolomon {
  const name = `${k}+${m}`;
  let codec = codecs.get(name);
  if (!codec) {
    codec = new ReedSolomon(k, m);
    codecs.set(name, codec);
  }
  return codec;
}

// Encodes `data` (at most k * shardSizeBytes) into one stripe and stores its k+m shards on
// distinct targets. Resolves once at least k+1 shards are durable on their data servers (the
// write quorum: the stripe then survives one more loss); a shard that could not be written is
// simply absent and reads rebuild it, as after a lost disk. Below the quorum the shards already
// written are deleted and the error is thrown.
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
  const shards = placeStripe(stripeId, await pool.targets(), k + m);
  const buffers = encodeStripe(codecFor(k, m), data, shardSizeBytes);
  const puts = buffers.map(async (body, shardIndex) => {
    const target = shards[shardIndex];
    const client = await pool.client(target.serverId);
    const reply = await client.putShard({ stripeId, shardIndex, disk: target.disk }, body);
    return reply.version ?? 1; // servers before format 2 do not say
  });
  const outcomes = await Promise.allSettled(puts);
  const versions = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const stripe: Stripe = {
    id: stripeId,
    k,
    m,
    shardSizeBytes,
    dataLengthBytes: data.length,
    shards,
    // The oldest format any server wrote: a reader may then refuse anything older as stale.
    shardVersion: Math.min(...versions),
  };
  const failed = outcomes.flatMap((o, i) =>
    o.status === 'rejected' ? [{ shard: i, error: o.reason }] : [],
  );
  if (failed.length === 0) {
    erasureStripes.inc({ operation: 'encode' });
    return stripe;
  }
  if (k + m - failed.length >= writeQuorum(k, m)) {
    erasureStripes.inc({ operation: 'degraded_write' });
    log?.warn('stripe written without some shards', {
      stripeId,
      missing: failed.map((f) => ({ shard: f.shard, target: shards[f.shard], error: f.error })),
    });
    return stripe;
  }
  await deleteStripeShards(pool, stripe).catch(() => {});
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

export async function deleteStripeShards(pool: DataPool, stripe: Stripe): Promise<void> {
  const byServer = new Map<string, Array<{ stripeId: string; shardIndex: number; disk: number }>>();
  stripe.shards.forEach((loc, shardIndex) => {
    const list = byServer.get(loc.serverId) ?? [];
    list.push({ stripeId: stripe.id, shardIndex, disk: loc.disk });
    byServer.set(loc.serverId, list);
  });
  await Promise.all(
    [...byServer].map(async ([serverId, shards]) =>
      (await pool.client(serverId)).deleteShards({ shards }),
    ),
  );
}

// Reads `length` bytes at `offset` of the stripe's data. The fast path reads just the byte ranges
// of the data shards that hold them; if any of those is missing, corrupt or unreachable, it reads
// whole shards and rebuilds the data from any k of them.
export async function readStripeRange(
  pool: DataPool,
  stripe: Stripe,
  offset: number,
  length: number,
  log?: Logger,
): Promise<Buffer> {
  assert(
    offset >= 0 && length >= 0 && offset + length <= stripe.dataLengthBytes,
    'range in stripe',
  );
  if (length === 0) return Buffer.alloc(0);
  const size = stripe.shardSizeBytes;
  const first = Math.floor(offset / size);
  const last = Math.floor((offset + length - 1) / size);
  const pieces: Array<Promise<Buffer>> = [];
  for (let i = first; i <= last; i++) {
    const start = i === first ? offset - i * size : 0;
    const end = i === last ? offset + length - i * size : size;
    pieces.push(readShard(pool, stripe, i, start, end - start));
  }
  const outcomes = await Promise.allSettled(pieces);
  if (outcomes.every((o) => o.status === 'fulfilled')) {
    erasureStripes.inc({ operation: 'read' });
    return Buffer.concat(outcomes.map((o) => (o as PromiseFulfilledResult<Buffer>).value));
  }
  const reasons = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason);
  for (const reason of reasons) if (!isShardFault(reason)) throw reason;
  log?.warn('degraded read: rebuilding stripe', { stripeId: stripe.id, errors: reasons });
  const data = await reconstructStripe(pool, stripe, log);
  return Buffer.from(data.subarray(offset, offset + length));
}

function isLostShard(error: unknown): boolean {
  return isStrataError(error, 'SHARD_MISSING') || isStrataError(error, 'SHARD_CORRUPT');
}

function isShardFault(error: unknown): boolean {
  return (
    isStrataError(error) &&
    [
      'SHARD_CORRUPT',
      'SHARD_MISSING',
      'RPC_UNAVAILABLE',
      'RPC_TIMEOUT',
      'RPC_CONNECTION_LOST',
      'EIO',
    ].includes(error.code)
  );
}

async function readShard(
  pool: DataPool,
  stripe: Stripe,
  index: number,
  offset: number,
  length: number,
) {
  const loc = stripe.shards[index];
  const client = await pool.client(loc.serverId);
  const body = await client.getShard({
    stripeId: stripe.id,
    shardIndex: index,
    disk: loc.disk,
    offset,
    length,
    shardSizeBytes: stripe.shardSizeBytes,
    shardVersion: stripe.shardVersion,
  });
  if (body.length !== length) {
    throw new StrataError(
      'SHARD_CORRUPT',
      `shard ${stripe.id}.${index} returned ${body.length} of ${length} bytes`,
    );
  }
  return body;
}

// Fetches every shard, keeps the healthy ones and decodes the data shards from any k of them.
async function reconstructStripe(pool: DataPool, stripe: Stripe, log?: Logger): Promise<Buffer> {
  const { k, m, shardSizeBytes: size } = stripe;
  const outcomes = await Promise.allSettled(
    stripe.shards.map((_, i) => readShard(pool, stripe, i, 0, size)),
  );
  const present = outcomes.map((o) => o.status === 'fulfilled');
  const healthy = present.filter(Boolean).length;
  if (healthy < k) {
    // Lost shards are those their server answered for as absent or invalid; the others only did
    // not answer. Beyond m lost, no server coming back can rebuild the stripe: damaged, not busy.
    const lost = outcomes.filter((o) => o.status === 'rejected' && isLostShard(o.reason)).length;
    const counts = `${healthy} of ${k + m} shards readable, ${lost} missing or corrupt, ${k} needed`;
    if (lost > m) throw new StrataError('DATA_DAMAGED', `stripe ${stripe.id} is lost: ${counts}`);
    throw new StrataError('NOT_ENOUGH_SHARDS', `stripe ${stripe.id}: ${counts}`);
  }
  const shards = shardViews(k + m, size);
  outcomes.forEach((o, i) => {
    if (o.status === 'fulfilled') o.value.copy(shards[i]);
  });
  codecFor(k, m).reconstruct(shards, present, { dataOnly: true });
  erasureStripes.inc({ operation: 'reconstruct' });
  log?.warn('stripe rebuilt from parity', {
    stripeId: stripe.id,
    missingShards: present.flatMap((p, i) => (p ? [] : [i])),
  });
  return Buffer.concat(shards.slice(0, k), stripe.dataLengthBytes);
}

// Zeroed shard buffers in one allocation, each starting on an 8-byte boundary so the codec can
// work a word at a time.
function shardViews(count: number, sizeBytes: number): Buffer[] {
  const stride = Math.ceil(sizeBytes / 8) * 8;
  const block = Buffer.alloc(count * stride);
  return Array.from({ length: count }, (_, i) =>
    block.subarray(i * stride, i * stride + sizeBytes),
  );
}
