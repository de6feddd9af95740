import assert from 'node:assert';
import { isStrataError } from '../common/errors.ts';
import type { Extent, ExtentWindow, FileExtent, Stripe } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { inlineReads, stripeReadsRetriedMoved } from '../observability/metrics.ts';
import type { DataPool } from './data-pool.ts';
import type { MetadataClient } from './metadata-client.ts';
import { type ReadKeys, readStripeDataParts } from './stripe-crypt.ts';
import { readStripeRangePartsLeased } from './stripe-read.ts';
import type { LeaseSink } from './types.ts';

// Extents are fetched from the metadata service a window at a time, so a huge file never needs
// its whole layout in memory.
const EXTENT_WINDOW_BYTES = 256 * 1024 * 1024;
// Bytes handed out per yielded chunk at most, and how many chunks are fetched ahead.
export const READ_PIECE_BYTES_MAX = 4 * 1024 * 1024;
const READ_AHEAD_PIECES = 2;

interface Piece {
  offset: number;
  length: number;
  extent: FileExtent | undefined; // undefined: a hole, read as zeros
}

// Yields the bytes [offset, offset+length) of a file: extents through their stripes, holes as
// zeros; a few pieces are fetched ahead so that disks and network overlap with the consumer.
// A piece is yielded in the parts its stripe read gave (a shard's range, or an encrypted chunk's
// plaintext: readStripeDataParts), never joined: a consumer sees buffers of any size.
export async function* readFileRange(
  metadata: MetadataClient,
  pool: DataPool,
  ino: number,
  offset: number,
  length: number,
  log?: Logger,
  customerKey?: Buffer, // an SSE-C object's key, from the request that reads it
  // Extents already read with the file's record (objectRead): the window they cover is not
  // asked for again.
  first?: ExtentWindow,
  // Given: the bytes of plain (unencrypted) stripes come in pooled buffers (shardBuffers), and
  // each such read's parts and release are handed here once it has its bytes, for the caller to
  // call the release once nothing reads them (nor any view of them) any more. A read fetched
  // ahead and never yielded (the consumer stopped) may be handed over after the consumer is done:
  // never released, its buffers are collected as any others.
  leases?: LeaseSink,
): AsyncIterable<Buffer> {
  assert(offset >= 0 && length >= 0);
  const pending: Array<Promise<Buffer[]>> = [];
  const keys = { atRest: pool.atRest, customerKey };
  for await (const piece of pieces(metadata, ino, offset, length, first)) {
    pending.push(fetchCurrent(metadata, ino, pool, piece, keys, log, leases));
    // Attach a handler now so a failed read-ahead is not an unhandled rejection.
    pending[pending.length - 1].catch(() => {});
    if (pending.length > READ_AHEAD_PIECES) yield* await (pending.shift() as Promise<Buffer[]>);
  }
  while (pending.length > 0) yield* await (pending.shift() as Promise<Buffer[]>);
}

async function* pieces(
  metadata: MetadataClient,
  ino: number,
  offset: number,
  length: number,
  first: ExtentWindow | undefined,
) {
  const end = offset + length;
  let cursor = offset;
  while (cursor < end) {
    // The extents overlapping a window are all there is in it, whatever else they cover.
    const known =
      first !== undefined && first.offset <= cursor && cursor < first.offset + first.length;
    const windowEnd = known
      ? Math.min(end, first.offset + first.length)
      : Math.min(end, cursor + EXTENT_WINDOW_BYTES);
    const extents = known
      ? first.extents
      : await metadata.read('extents', ino, cursor, windowEnd - cursor);
    for (const extent of extents) {
      const extentEnd = extent.fileOffset + extent.length;
      if (extentEnd <= cursor) continue;
      if (extent.fileOffset >= windowEnd) break;
      if (extent.fileOffset > cursor) yield* split(cursor, extent.fileOffset, undefined);
      const pieceEnd = Math.min(extentEnd, windowEnd);
      yield* split(Math.max(cursor, extent.fileOffset), pieceEnd, extent);
      cursor = pieceEnd;
    }
    if (cursor < windowEnd) yield* split(cursor, windowEnd, undefined);
    cursor = windowEnd;
  }
}

function* split(start: number, end: number, extent: FileExtent | undefined): Generator<Piece> {
  for (let at = start; at < end; at += READ_PIECE_BYTES_MAX) {
    yield { offset: at, length: Math.min(READ_PIECE_BYTES_MAX, end - at), extent };
  }
}

// A stripe read that found too few of its shards (NOT_ENOUGH_SHARDS, DATA_DAMAGED) may have read
// an old record: a repair or a rebalance moved shards of the stripe, and deleted the old files
// once the new places were committed, after this read had the record (its extents came at its
// start; a slow shard read widens the window to the hedge delay). So the piece's extent is read
// again: if the stripe's shards are somewhere else now, the read is done again from there, once;
// if nothing moved, the first error stands.
async function fetchCurrent(
  metadata: MetadataClient,
  ino: number,
  pool: DataPool,
  piece: Piece,
  keys: ReadKeys,
  log: Logger | undefined,
  leases: LeaseSink | undefined,
): Promise<Buffer[]> {
  try {
    return await fetchPiece(pool, piece, keys, log, leases);
  } catch (error) {
    const old = piece.extent;
    const shardsWanting =
      isStrataError(error, 'NOT_ENOUGH_SHARDS') || isStrataError(error, 'DATA_DAMAGED');
    if (old === undefined || old.inline !== undefined || !shardsWanting) throw error;
    const stripe = old.stripe;
    // The same extent of the same stripe, its shards elsewhere: never other bytes (a file
    // written meanwhile has other extents or stripes, and this read keeps to what it started on).
    const current = (await metadata.read('extents', ino, piece.offset, piece.length)).find(
      (e): e is Extent =>
        e.inline === undefined &&
        e.stripe.id === stripe.id &&
        e.fileOffset === old.fileOffset &&
        e.length === old.length &&
        e.stripeOffset === old.stripeOffset,
    );
    if (current === undefined || sameShards(current.stripe, stripe)) throw error;
    stripeReadsRetriedMoved.inc();
    log?.info('shards moved during a read; reading again from their new places', {
      stripeId: stripe.id,
      error,
    });
    return fetchPiece(pool, { ...piece, extent: current }, keys, log, leases);
  }
}

function sameShards(a: Stripe, b: Stripe): boolean {
  return (
    a.shards.length === b.shards.length &&
    a.shards.every((s, i) => s.serverId === b.shards[i].serverId && s.disk === b.shards[i].disk)
  );
}

async function fetchPiece(
  pool: DataPool,
  piece: Piece,
  keys: ReadKeys,
  log?: Logger,
  leases?: LeaseSink,
): Promise<Buffer[]> {
  const { extent } = piece;
  if (!extent) return [Buffer.alloc(piece.length)];
  if (extent.inline !== undefined) return [inlineBytes(extent, piece.offset, piece.length)];
  const inStripe = extent.stripeOffset + (piece.offset - extent.fileOffset);
  const at = { offset: inStripe, length: piece.length };
  if (leases !== undefined && extent.stripe.encryption === undefined && piece.length > 0) {
    const read = await readStripeRangePartsLeased(pool, extent.stripe, inStripe, piece.length, log);
    leases(read.parts, read.release);
    return read.parts;
  }
  return readStripeDataParts(pool, keys, extent.stripe, at, log);
}

// [offset, offset + length) of a file, out of an inline extent that covers it (the bytes came
// with the extent from the metadata service: no data server is asked).
export function inlineBytes(extent: FileExtent, offset: number, length: number): Buffer {
  assert(extent.inline !== undefined, 'an inline extent');
  const from = offset - extent.fileOffset;
  assert(from >= 0 && from + length <= extent.length, 'the range lies within the extent');
  inlineReads.inc();
  const { buffer, byteOffset } = extent.inline;
  return Buffer.from(buffer, byteOffset + from, length);
}
