import assert from 'node:assert';
import { createHash } from 'node:crypto';
import { BODY_DIGEST_ALGORITHMS, type BodyDigests } from '../common/body-digests.ts';
import { shardBuffers } from '../common/buffer-pool.ts';
import { StrataError } from '../common/errors.ts';
import { OffloadedHash } from '../common/hash-offload.ts';
import type { Slots } from '../common/slots.ts';
import type { KmsSealKey } from '../crypto/index.ts';
import { crc32c } from '../data/crc32c.ts';
import type { Extent, FileExtent, Stripe } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { DataPool } from './data-pool.ts';
import { SendTracker } from './send-tracker.ts';
import { type CustomerKey, plainLengthOf } from './stripe-crypt.ts';
import { deleteStripeShards, type ErasureParams, writeStripe } from './stripe-io.ts';
import type { Body } from './types.ts';

// How many stripes of one stream are encoded and written at once: enough to keep the disks and
// the network busy while the next stripe is read, few enough to bound memory (each ~k+m shards).
const STRIPES_IN_FLIGHT_MAX = 3;

export interface WrittenData<E extends FileExtent = Extent> {
  extents: E[]; // fileOffset from 0, contiguous
  sizeBytes: number;
  md5Hex: string;
  // CRC32C of the same bytes as md5Hex, for the whole-object check of a GET (object-digest.ts):
  // a tenth of an MD5's cost there.
  crc32c: number;
}

// Cuts a stream into full stripes, writes them (durably) and returns the extents that describe
// them. Nothing is visible until the caller commits the extents to the metadata service; if the
// stream or a write fails, the stripes written so far are deleted before the error is rethrown.
export interface WriteStreamOptions {
  maxSizeBytes?: number;
  log?: Logger;
  // Shared by all the writes of one client, so many concurrent uploads cannot exhaust memory:
  // each stripe in flight holds a slot (about k+m shards of buffers).
  slots?: Slots;
  seal?: boolean; // every stripe sealed, whatever encryption at rest says (SSE-S3)
  kms?: KmsSealKey; // every stripe sealed with its data key wrapped under this KMS key (SSE-KMS)
  customer?: CustomerKey; // every stripe sealed under this customer's key (SSE-C)
  // The body's MD5 and CRC32C, taken by whoever streams it (src/common/body-digests.ts): the
  // writer then hashes nothing itself.
  digests?: BodyDigests;
}

// A body of at most `inlineMaxBytes` (> 0) is returned as one inline extent and nothing is
// written to the data servers; a larger one is written as writeStream writes it. The caller
// decides whether the object may be inline at all (not sealed, docs/architecture/overview.md).
export async function writeStreamOrInline(
  pool: DataPool,
  params: ErasureParams & { inlineMaxBytes: number },
  body: Body,
  options: WriteStreamOptions = {},
): Promise<WrittenData<FileExtent>> {
  assert(
    params.inlineMaxBytes > 0 &&
      options.seal !== true &&
      options.kms === undefined &&
      options.customer === undefined,
    'inline only where allowed: never for an encrypted object',
  );
  const head: Buffer[] = [];
  let headBytes = 0;
  const chunks = toChunks(body)[Symbol.asyncIterator]();
  for (;;) {
    const next = await chunks.next();
    if (next.done) break;
    head.push(next.value);
    headBytes += next.value.length;
    if (headBytes > params.inlineMaxBytes) {
      // Too large after all: the bytes read so far, then the rest, as stripes.
      const rest = { [Symbol.asyncIterator]: () => chunks };
      return writeStream(pool, params, concatStreams(head, rest), options);
    }
  }
  if (headBytes > (options.maxSizeBytes ?? Number.MAX_SAFE_INTEGER))
    throw new StrataError(
      'ENTITY_TOO_LARGE',
      `the body is larger than ${options.maxSizeBytes} bytes`,
    );
  const brought = options.digests; // hashed by whoever streamed the body, when given
  const md5 = createHash('md5');
  const inline = new Uint8Array(headBytes);
  let at = 0;
  let crc = 0;
  for (const chunk of head) {
    if (brought === undefined) {
      md5.update(chunk);
      crc = crc32c(chunk, crc);
    }
    inline.set(chunk, at);
    at += chunk.length;
  }
  const extents: FileExtent[] =
    headBytes === 0 ? [] : [{ fileOffset: 0, length: headBytes, inline }];
  const digests = brought?.get() ?? { md5Hex: md5.digest('hex'), crc32c: crc };
  return { extents, sizeBytes: headBytes, ...digests };
}

async function* concatStreams(head: Buffer[], rest: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  yield* head;
  yield* rest;
}

export async function writeStream(
  pool: DataPool,
  params: ErasureParams,
  body: Body,
  options: WriteStreamOptions = {},
): Promise<WrittenData> {
  const { maxSizeBytes = Number.MAX_SAFE_INTEGER, log, slots, seal, kms, customer } = options;
  const stripeCapacity = params.k * params.shardSizeBytes;
  // On a hashing thread (src/common/hash-offload.ts): the ETag's MD5 held a gateway's event loop,
  // and the CRC32C was a tenth of what was left on it. None here when the body brings them.
  const hashes =
    options.digests === undefined ? new OffloadedHash([...BODY_DIGEST_ALGORITHMS]) : undefined;
  const stripes: Array<Promise<Stripe>> = [];
  const inFlight = new Set<Promise<Stripe>>();
  // Stripe buffers come from the pool and go back once every shard write of their stripe is
  // done with them (a straggler may still be sending after the stripe's quorum): a fresh 4 MiB
  // per stripe was most of what the gateway's collector freed under large PUTs.
  let buffer: Buffer | undefined; // the stripe being filled, taken at its first byte
  let filled = 0;
  let sizeBytes = 0;
  const flush = async () => {
    assert(buffer !== undefined, 'a stripe with bytes has its buffer');
    const data = buffer.subarray(0, filled);
    buffer = undefined;
    filled = 0;
    const release = slots ? await slots.acquire() : () => {};
    // `buffer` is replaced above, so this stripe's bytes are the write's alone until its sends
    // are done.
    const sends = new SendTracker();
    const owned = { seal, kms, customer, dataOwned: true, sends };
    const write = writeStripe(pool, params, data, log, owned);
    write.then(release, release);
    void write
      .catch(() => {})
      .then(() => sends.idle())
      .then(() => shardBuffers.release(data));
    stripes.push(write);
    inFlight.add(write);
    const settle = () => inFlight.delete(write);
    write.then(settle, settle);
    while (inFlight.size >= STRIPES_IN_FLIGHT_MAX) await Promise.race(inFlight).catch(() => {});
  };
  try {
    for await (const chunk of toChunks(body)) {
      await hashes?.update(chunk);
      sizeBytes += chunk.length;
      if (sizeBytes > maxSizeBytes) {
        throw new StrataError('ENTITY_TOO_LARGE', `the body is larger than ${maxSizeBytes} bytes`);
      }
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(chunk.length - offset, stripeCapacity - filled);
        buffer ??= shardBuffers.acquire(stripeCapacity);
        buffer.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === stripeCapacity) await flush();
      }
    }
    if (filled > 0) await flush();
    const digests = await bodyDigests(hashes, options.digests);
    const written = await Promise.all(stripes);
    return { extents: toExtents(written), sizeBytes, ...digests };
  } catch (error) {
    hashes?.abort();
    if (buffer !== undefined) shardBuffers.release(buffer); // filled, never sent
    await discard(pool, stripes);
    throw error;
  }
}

// The body's MD5 and CRC32C: hashed here, or brought with it.
async function bodyDigests(
  hashes: OffloadedHash | undefined,
  brought: BodyDigests | undefined,
): Promise<{ md5Hex: string; crc32c: number }> {
  if (brought !== undefined) return brought.get();
  assert(hashes !== undefined, 'a body that brings no digests is hashed here');
  const [md5, crc] = await hashes.digest();
  return { md5Hex: md5.toString('hex'), crc32c: crc.readUInt32BE(0) };
}

async function discard(pool: DataPool, stripes: Array<Promise<Stripe>>): Promise<void> {
  const settled = await Promise.allSettled(stripes);
  await Promise.allSettled(
    settled.flatMap((s) => (s.status === 'fulfilled' ? [deleteStripeShards(pool, s.value)] : [])),
  );
}

export function toExtents(stripes: Stripe[], startOffset = 0): Extent[] {
  let fileOffset = startOffset;
  return stripes.map((stripe) => {
    const length = plainLengthOf(stripe);
    const extent = { fileOffset, length, stripe, stripeOffset: 0 };
    fileOffset += length;
    return extent;
  });
}

async function* toChunks(body: Body): AsyncIterable<Buffer> {
  if (Buffer.isBuffer(body)) {
    if (body.length > 0) yield body;
    return;
  }
  for await (const chunk of body) {
    assert(chunk instanceof Uint8Array, 'body chunks are bytes');
    if (chunk.length > 0)
      yield Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  }
}
