import assert from 'node:assert';
import type { ExtentWindow, FileExtent } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { inlineReads } from '../observability/metrics.ts';
import type { DataPool } from './data-pool.ts';
import type { MetadataClient } from './metadata-client.ts';
import { type ReadKeys, readStripeDataParts } from './stripe-crypt.ts';
import { readStripeRangePartsLeased } from './stripe-read.ts';

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
  // each such read's release is added here once it has its bytes, for the caller to call once
  // nothing reads them (nor any view of them) any more. A read fetched ahead and never yielded
  // (the consumer stopped) may add its release after the consumer is done: never called, its
  // buffers are collected as any others.
  leases?: Array<() => void>,
): AsyncIterable<Buffer> {
  assert(offset >= 0 && length >= 0);
  const pending: Array<Promise<Buffer[]>> = [];
  for await (const piece of pieces(metadata, ino, offset, length, first)) {
    pending.push(fetchPiece(pool, piece, { atRest: pool.atRest, customerKey }, log, leases));
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

async function fetchPiece(
  pool: DataPool,
  piece: Piece,
  keys: ReadKeys,
  log?: Logger,
  leases?: Array<() => void>,
): Promise<Buffer[]> {
  const { extent } = piece;
  if (!extent) return [Buffer.alloc(piece.length)];
  if (extent.inline !== undefined) return [inlineBytes(extent, piece.offset, piece.length)];
  const inStripe = extent.stripeOffset + (piece.offset - extent.fileOffset);
  const at = { offset: inStripe, length: piece.length };
  if (leases !== undefined && extent.stripe.encryption === undefined && piece.length > 0) {
    const read = await readStripeRangePartsLeased(pool, extent.stripe, inStripe, piece.length, log);
    leases.push(read.release);
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
