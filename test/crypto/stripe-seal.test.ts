import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isStrataError } from '../../src/common/errors.ts';
import {
  chunkNonce,
  DATA_CIPHERS,
  type DataCipher,
  openWindow,
  openWindowParts,
  PLAIN_CHUNK_BYTES,
  SEALED_CHUNK_BYTES,
  type SealedLayout,
  sealedLayout,
  sealedWindow,
  sealStripe,
  TAG_BYTES,
} from '../../src/crypto/index.ts';

const STRIPE = '0123456789abcdef0123456789abcdef';

function sealed(cipher: DataCipher, k: number, plain: Buffer) {
  const sk = { stripeId: STRIPE, key: randomBytes(32), cipher };
  const layout = sealedLayout(k, plain.length);
  return { sk, layout, data: sealStripe(sk, layout, plain) };
}

function read(
  sk: Parameters<typeof openWindow>[0],
  layout: SealedLayout,
  data: Buffer,
  o: number,
  n: number,
) {
  const w = sealedWindow(layout, o, n);
  return openWindow(sk, w, data.subarray(w.start, w.end));
}

const isAuthFailure = (error: unknown) => isStrataError(error, 'ENCRYPTION_AUTH_FAILED');

describe('sealed stripes', () => {
  for (const cipher of DATA_CIPHERS) {
    test(`${cipher}: any range of any stripe opens to the plaintext`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 3 * PLAIN_CHUNK_BYTES * 4 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          (k, length, a, b) => {
            const plain = randomBytes(length);
            const { sk, layout, data } = sealed(cipher, k, plain);
            const offset = Math.min(length - 1, Math.floor(a * length));
            const n = Math.max(1, Math.floor(b * (length - offset)));
            assert.deepEqual(read(sk, layout, data, offset, n), plain.subarray(offset, offset + n));
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  test('a window opens the same from parts: one per shard, as the shards are read, or cut anywhere', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 2 * PLAIN_CHUNK_BYTES * 5 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (k, length, a, b, cuts) => {
          const plain = randomBytes(length);
          const { sk, layout, data } = sealed('aes-256-gcm', k, plain);
          const offset = Math.min(length - 1, Math.floor(a * length));
          const n = Math.max(1, Math.floor(b * (length - offset)));
          const w = sealedWindow(layout, offset, n);
          const bytes = data.subarray(w.start, w.end);
          const expected = plain.subarray(offset, offset + n);
          const size = layout.sealedShardBytes;
          const byShard: Buffer[] = [];
          for (let at = w.start; at < w.end; at = (Math.floor(at / size) + 1) * size)
            byShard.push(data.subarray(at, Math.min(w.end, (Math.floor(at / size) + 1) * size)));
          assert.deepEqual(openWindow(sk, w, byShard), expected);
          // As a GET streams them: a part per chunk, none empty, none copied out of its chunk.
          const parts = openWindowParts(sk, w, byShard);
          assert.equal(parts.length, w.chunks.length, 'a part per chunk');
          for (const part of parts) assert(part.length > 0 && part.length <= PLAIN_CHUNK_BYTES);
          assert.deepEqual(Buffer.concat(parts), expected);
          const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort(
            (x, y) => x - y,
          );
          const anywhere = [0, ...points, bytes.length]
            .slice(1)
            .map((end, i, ends) => bytes.subarray(i === 0 ? 0 : ends[i - 1], end));
          assert.deepEqual(openWindow(sk, w, anywhere), expected);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('the sealed stripe holds none of the plaintext and its chunks are CRC blocks', () => {
    const marker = Buffer.from('STRATA-PLAINTEXT-MARKER-0xC0FFEE');
    const plain = Buffer.concat(Array.from({ length: 20_000 }, () => marker));
    const { layout, data } = sealed('aes-256-gcm', 4, plain);
    assert.equal(data.indexOf(marker), -1, 'no copy of the marker in the sealed bytes');
    assert.equal(data.length, 4 * layout.sealedShardBytes);
    // A full chunk seals to exactly one 64 KiB CRC block of the shard file.
    assert.equal(PLAIN_CHUNK_BYTES + TAG_BYTES, SEALED_CHUNK_BYTES);
  });

  test('a shard moved to another index, stripe or key fails to open', () => {
    const plain = randomBytes(4 * 100_000);
    const { sk, layout, data } = sealed('aes-256-gcm', 4, plain);
    const size = layout.sealedShardBytes;
    // Shard 0's bytes where shard 1 belongs.
    const moved = Buffer.from(data);
    data.copy(moved, size, 0, size);
    assert.throws(() => read(sk, layout, moved, layout.plainShardBytes, 10), isAuthFailure);
    assert.deepEqual(read(sk, layout, moved, 0, 10), plain.subarray(0, 10), 'shard 0 still opens');
    // Another stripe's id, or another key.
    assert.throws(
      () => read({ ...sk, stripeId: 'ff'.repeat(16) }, layout, data, 0, 10),
      isAuthFailure,
    );
    assert.throws(() => read({ ...sk, key: randomBytes(32) }, layout, data, 0, 10), isAuthFailure);
    // Two chunks of one shard swapped.
    const swapped = Buffer.from(data);
    data.copy(swapped, 0, SEALED_CHUNK_BYTES, 2 * SEALED_CHUNK_BYTES);
    assert.throws(() => read(sk, layout, swapped, 0, 10), isAuthFailure);
  });

  test('any flipped byte of a chunk fails its read', () => {
    const plain = randomBytes(3 * 70_000);
    const { sk, layout, data } = sealed('chacha20-poly1305', 3, plain);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: data.length - 1 }), (at) => {
        const w = sealedWindow(layout, 0, plain.length);
        const bad = Buffer.from(data);
        bad[at] ^= 0x01;
        const inChunk = w.chunks.some((c) => {
          const s = w.start + c.sealedOffset;
          return at >= s && at < s + c.plainBytes + TAG_BYTES;
        });
        if (!inChunk) return;
        assert.throws(() => openWindow(sk, w, bad.subarray(w.start, w.end)), isAuthFailure);
        // No part of the window is handed out when any of its chunks fails.
        assert.throws(() => openWindowParts(sk, w, bad.subarray(w.start, w.end)), isAuthFailure);
      }),
      { numRuns: 50 },
    );
  });

  // The bytes on disk of a fixed stripe, as sealed before the seal code kept its nonce and AAD in
  // reused buffers (and its key as a KeyObject): stripes written by any version must keep
  // opening, so the nonce, the AAD and the layout may never change.
  test('the sealed format is unchanged: a fixed stripe seals to the same bytes', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1));
    const plain = Buffer.from(
      Array.from(
        { length: 3 * PLAIN_CHUNK_BYTES * 2 + 12_345 },
        (_, i) => (i * 31 + (i >> 9)) & 255,
      ),
    );
    const expected: Record<DataCipher, string> = {
      'aes-256-gcm': '8caf584d936e9e27095b9b94159ee10a460fdc32698a91dd84c4485ef4dd2246',
      'chacha20-poly1305': '891e15ff8e3c627cd01d6a7f75fb0a74f4148aa6952650d13e5d4e3a915185cc',
    };
    for (const cipher of DATA_CIPHERS) {
      const sk = { stripeId: STRIPE, key, cipher };
      const layout = sealedLayout(3, plain.length);
      const data = sealStripe(sk, layout, plain);
      assert.equal(createHash('sha256').update(data).digest('hex'), expected[cipher], cipher);
      assert.deepEqual(read(sk, layout, data, 0, plain.length), plain);
    }
  });

  test('no two chunks of a stripe share a nonce', () => {
    const seen = new Set<string>();
    for (let shard = 0; shard < 256; shard++) {
      for (let chunk = 0; chunk < 128; chunk++) seen.add(chunkNonce(shard, chunk).toString('hex'));
    }
    assert.equal(seen.size, 256 * 128);
  });

  test('a short stripe stays short: sealing adds one tag per chunk', () => {
    const layout = sealedLayout(4, 10);
    assert.equal(layout.plainShardBytes, 3);
    assert.equal(layout.sealedShardBytes, 3 + TAG_BYTES);
    const full = sealedLayout(4, 4 * 1024 * 1024);
    assert.equal(
      full.sealedShardBytes,
      1024 * 1024 + Math.ceil((1024 * 1024) / PLAIN_CHUNK_BYTES) * TAG_BYTES,
    );
  });
});
