// The layout of an encrypted stripe. The plaintext is split over the k data shards as an
// unencrypted stripe's data is (ceil(length / k) bytes each, the last ones shorter or empty);
// each data shard's plaintext is sealed chunk by chunk (shard-seal.ts), and the sealed shards are
// what the erasure code sees: parity is computed over ciphertext, so the data servers, the
// scrubber and the repair never need a key. In the erasure layer's coordinates the stripe's data
// is the k sealed shards end to end, each `sealedShardBytes` long (zero padded).
import assert from 'node:assert';
import {
  type DataCipher,
  PLAIN_CHUNK_BYTES,
  SEALED_CHUNK_BYTES,
  StripeChunks,
  sealedBytesOf,
  TAG_BYTES,
} from './shard-seal.ts';

export interface SealedLayout {
  k: number;
  plainLengthBytes: number;
  plainShardBytes: number; // plaintext per data shard (the last ones hold less)
  sealedShardBytes: number; // every shard of the stripe, as stored
}

export function sealedLayout(k: number, plainLengthBytes: number): SealedLayout {
  assert(Number.isInteger(k) && k >= 1, 'k data shards');
  assert(Number.isSafeInteger(plainLengthBytes) && plainLengthBytes > 0, 'a non-empty stripe');
  const plainShardBytes = Math.ceil(plainLengthBytes / k);
  return { k, plainLengthBytes, plainShardBytes, sealedShardBytes: sealedBytesOf(plainShardBytes) };
}

// Plaintext bytes data shard `i` holds.
function plainBytesOfShard(layout: SealedLayout, i: number): number {
  const left = layout.plainLengthBytes - i * layout.plainShardBytes;
  return Math.max(0, Math.min(layout.plainShardBytes, left));
}

export interface StripeKey {
  stripeId: string;
  key: Buffer;
  cipher: DataCipher;
}

// The sealed data of the stripe (k × sealedShardBytes, padding zero), ready to erasure code.
export function sealStripe(sk: StripeKey, layout: SealedLayout, plain: Buffer): Buffer {
  const size = layout.sealedShardBytes;
  const out = Buffer.alloc(layout.k * size);
  const chunks = new StripeChunks(sk.key, sk.cipher, sk.stripeId);
  for (let i = 0; i < layout.k; i++) {
    sealShard(sk, layout, plain, i, out.subarray(i * size, (i + 1) * size), chunks);
  }
  return out;
}

// Data shard `i` of the stripe, sealed into `out` (sealedShardBytes, zeroed: the padding), so a
// writer seals straight into the buffers the erasure code works on. `chunks`: the stripe's
// sealing state when the caller seals several shards (made from `sk` otherwise).
export function sealShard(
  sk: StripeKey,
  layout: SealedLayout,
  plain: Buffer,
  i: number,
  out: Buffer,
  chunks = new StripeChunks(sk.key, sk.cipher, sk.stripeId),
): void {
  assert.equal(plain.length, layout.plainLengthBytes, 'the plaintext the layout was made for');
  assert(i >= 0 && i < layout.k && out.length === layout.sealedShardBytes, 'a data shard buffer');
  const shardPlain = plainBytesOfShard(layout, i);
  const plainStart = i * layout.plainShardBytes;
  let at = 0;
  for (let c = 0; c * PLAIN_CHUNK_BYTES < shardPlain; c++) {
    const from = plainStart + c * PLAIN_CHUNK_BYTES;
    const to = plainStart + Math.min(shardPlain, (c + 1) * PLAIN_CHUNK_BYTES);
    at += chunks.seal(i, c, plain.subarray(from, to), out, at);
  }
  assert(at <= out.length, 'a sealed shard fits its size');
}

// One chunk a read needs: where it is in the sealed window, and its plaintext length.
interface WindowChunk {
  shardIndex: number;
  chunkIndex: number;
  sealedOffset: number; // from the window's start
  plainBytes: number;
}

// The sealed bytes to read for the plaintext [offset, offset + length) of the stripe: one
// contiguous range of the sealed stripe data (whole chunks), and where the plaintext begins in
// what those chunks open to.
export interface SealedWindow {
  start: number;
  end: number;
  chunks: WindowChunk[];
  skipBytes: number; // plaintext before `offset` in the first chunk
  lengthBytes: number;
}

export function sealedWindow(layout: SealedLayout, offset: number, length: number): SealedWindow {
  assert(offset >= 0 && length > 0 && offset + length <= layout.plainLengthBytes, 'a range');
  const { plainShardBytes: ps, sealedShardBytes: ss } = layout;
  const chunks: WindowChunk[] = [];
  const firstShard = Math.floor(offset / ps);
  const lastShard = Math.floor((offset + length - 1) / ps);
  let start = -1;
  let skipBytes = 0;
  for (let i = firstShard; i <= lastShard; i++) {
    const from = i === firstShard ? offset - i * ps : 0;
    const to = i === lastShard ? offset + length - i * ps : plainBytesOfShard(layout, i);
    const shardPlain = plainBytesOfShard(layout, i);
    for (let c = Math.floor(from / PLAIN_CHUNK_BYTES); c * PLAIN_CHUNK_BYTES < to; c++) {
      const at = i * ss + c * SEALED_CHUNK_BYTES;
      if (start < 0) {
        start = at;
        skipBytes = from - c * PLAIN_CHUNK_BYTES;
      }
      const plainBytes = Math.min(PLAIN_CHUNK_BYTES, shardPlain - c * PLAIN_CHUNK_BYTES);
      chunks.push({ shardIndex: i, chunkIndex: c, sealedOffset: at - start, plainBytes });
    }
  }
  const last = chunks[chunks.length - 1];
  const end = start + last.sealedOffset + last.plainBytes + TAG_BYTES;
  assert(end <= layout.k * ss, 'the window lies in the sealed data shards');
  return { start, end, chunks, skipBytes, lengthBytes: length };
}

// The plaintext of the window's range from its sealed bytes (exactly end - start of them, in one
// buffer or in consecutive parts as the shards' reads gave them: src/client/stripe-read.ts,
// readStripeRangeParts), in one buffer of the range's length (openWindowParts, joined).
export function openWindow(
  sk: StripeKey,
  window: SealedWindow,
  sealed: Buffer | readonly Buffer[],
): Buffer {
  const parts = openWindowParts(sk, window, sealed);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, window.lengthBytes);
}

// The same plaintext as openWindow, as consecutive parts: each chunk's plaintext as the decipher
// gave it (the first and last cut to the range; a tag covers its whole chunk, so they are opened
// whole). No part is copied: a GET hands them to the response as they are, where joining them
// into one window buffer cost a fresh range-sized allocation and a copy per window (a CPU profile
// of 16 MiB GETs). A chunk lies in one shard, so in one part of `sealed` when those are shards.
// Every chunk is authenticated before any part is returned.
export function openWindowParts(
  sk: StripeKey,
  window: SealedWindow,
  sealed: Buffer | readonly Buffer[],
): Buffer[] {
  const parts = Buffer.isBuffer(sealed) ? [sealed] : sealed;
  let sealedBytes = 0;
  for (const part of parts) sealedBytes += part.length;
  assert.equal(sealedBytes, window.end - window.start, 'the sealed window');
  const chunks = new StripeChunks(sk.key, sk.cipher, sk.stripeId);
  const out: Buffer[] = [];
  let part = 0;
  let partStart = 0; // of parts[part], in the window
  let skip = window.skipBytes;
  let left = window.lengthBytes;
  for (const chunk of window.chunks) {
    const from = chunk.sealedOffset;
    const to = from + chunk.plainBytes + TAG_BYTES;
    while (from >= partStart + parts[part].length) partStart += parts[part++].length;
    const bytes =
      to <= partStart + parts[part].length
        ? parts[part].subarray(from - partStart, to - partStart)
        : Buffer.concat(parts).subarray(from, to); // parts cut elsewhere than at shards
    const plain = chunks.open(chunk.shardIndex, chunk.chunkIndex, bytes);
    const taken = Math.min(left, plain.length - skip);
    out.push(skip === 0 && taken === plain.length ? plain : plain.subarray(skip, skip + taken));
    left -= taken;
    skip = 0;
  }
  assert.equal(left, 0, 'the window opens to the range asked');
  return out;
}
