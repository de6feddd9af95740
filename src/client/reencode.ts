// A lifecycle transition's data work: a version's bytes read from the stripes it has now (any k
// healthy shards of each) and written again as stripes of another storage policy (a wider code,
// the cold pool). Nothing is visible until the transitionObject command commits the new extents
// (src/metadata/ops-storage-class.ts), which checks the version still has exactly the stripes
// read here; the old shards are collected only after that commit drops their last reference.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import type { Slots } from '../common/slots.ts';
import type { KmsSealKey } from '../crypto/index.ts';
import type { Extent, Inode, Stripe } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { DataPool } from './data-pool.ts';
import { deleteStripeShards, type ErasureParams } from './stripe-io.ts';
import { writeStream } from './stripe-writer.ts';

// Bytes read per step: one piece in memory at a time beside the writer's stripes in flight.
const READ_PIECE_BYTES = 4 * 1024 * 1024;

export interface ReencodeDeps {
  pool: DataPool;
  slots: Slots;
  log: Logger;
  readFromExtents(extents: Extent[], offset: number, length: number): Promise<Buffer>;
}

export interface Reencoded {
  fromStripeIds: string[];
  extents: Extent[];
  shardBytesBefore: number; // on disk: every shard of every distinct stripe, before and after
  shardBytesAfter: number;
}

export function shardBytesOf(extents: readonly Extent[]): number {
  const stripes = new Map<string, Stripe>(extents.map((e) => [e.stripe.id, e.stripe]));
  let total = 0;
  for (const s of stripes.values()) total += (s.k + s.m) * s.shardSizeBytes;
  return total;
}

async function* bytesOf(deps: ReencodeDeps, extents: Extent[], sizeBytes: number) {
  for (let at = 0; at < sizeBytes; at += READ_PIECE_BYTES) {
    yield await deps.readFromExtents(extents, at, Math.min(READ_PIECE_BYTES, sizeBytes - at));
  }
}

// `extents`: the version's whole layout as read from the metadata (in file order). The bytes
// written are checked against the object's MD5 when its ETag is one (single-part uploads).
// `kms`: an SSE-KMS object's key (the object's own key and context): its new stripes are sealed
// under it, as the state machine checks (object-encryption.ts, checkKeptEncryption); any other
// sealed version is sealed again under the master key. SSE-C versions are never re-encoded.
export async function reencode(
  deps: ReencodeDeps,
  file: Inode,
  extents: Extent[],
  params: ErasureParams,
  kms?: KmsSealKey,
): Promise<Reencoded> {
  assert(file.type === 'file', 'only a file is re-encoded');
  assert(file.object?.sseCustomer === undefined, 'an SSE-C version is never re-encoded');
  assert(
    (file.object?.sse === 'aws:kms') === (kms !== undefined),
    'SSE-KMS re-sealed under its key',
  );
  const sealed = extents.some((e) => e.stripe.encryption !== undefined) || kms !== undefined;
  const written = await writeStream(deps.pool, params, bytesOf(deps, extents, file.size), {
    log: deps.log,
    slots: deps.slots,
    seal: sealed,
    kms,
  });
  assert.equal(written.sizeBytes, file.size, 'the re-encode read the whole version');
  const etag = file.object?.etag ?? '';
  if (/^[0-9a-f]{32}$/.test(etag) && written.md5Hex !== etag) {
    await Promise.allSettled(written.extents.map((e) => deleteStripeShards(deps.pool, e.stripe)));
    throw new StrataError(
      'DATA_DAMAGED',
      `re-encoded bytes of inode ${file.ino} do not match its MD5`,
    );
  }
  return {
    fromStripeIds: extents.map((e) => e.stripe.id),
    extents: written.extents,
    shardBytesBefore: shardBytesOf(extents),
    shardBytesAfter: shardBytesOf(written.extents),
  };
}
