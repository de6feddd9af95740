import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isStrataError } from '../../src/common/errors.ts';
import { ReedSolomon } from '../../src/erasure/index.ts';

function shardsOf(
  k: number,
  m: number,
  size: number,
  fill: (shard: number, byte: number) => number,
) {
  return Array.from({ length: k + m }, (_, s) =>
    Uint8Array.from({ length: size }, (_, b) => (s < k ? fill(s, b) : 0)),
  );
}

describe('Reed-Solomon', () => {
  // Backblaze JavaReedSolomon's ReedSolomonTest.testOneEncode: same field, same matrix.
  test('parity matches the Backblaze known-answer vector (5+5)', () => {
    const codec = new ReedSolomon(5, 5);
    const data = [
      [0, 1],
      [4, 5],
      [2, 3],
      [6, 7],
      [8, 9],
    ];
    const shards = shardsOf(5, 5, 2, (s, b) => data[s][b]);
    codec.encode(shards);
    assert.deepEqual(
      shards.slice(5).map((s) => [...s]),
      [
        [12, 13],
        [10, 11],
        [14, 15],
        [90, 91],
        [94, 95],
      ],
    );
  });

  test('encode, erase any <= m shards, reconstruct gives the original (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(1, 15, 16, 17, 63, 64, 65, 1000),
        fc.integer(),
        fc.infiniteStream(fc.integer({ min: 0, max: 1000 })),
        (k, m, size, seed, picks) => {
          const codec = new ReedSolomon(k, m);
          const shards = shardsOf(
            k,
            m,
            size,
            (s, b) => (seed + s * 31 + b * 7 + ((s * b) >> 3)) & 0xff,
          );
          codec.encode(shards);
          assert.ok(codec.verify(shards));
          const original = shards.map((s) => Uint8Array.from(s));
          const present = new Array(k + m).fill(true);
          const iterator = picks[Symbol.iterator]();
          const erase = (iterator.next().value as number) % (m + 1);
          for (let e = 0; e < erase; ) {
            const victim = (iterator.next().value as number) % (k + m);
            if (!present[victim]) continue;
            present[victim] = false;
            shards[victim].fill(0xa5);
            e++;
          }
          codec.reconstruct(shards, present);
          assert.deepEqual(shards, original);
        },
      ),
      { numRuns: 300 },
    );
  });

  // Shared memory too (a rebuild's and a gateway's shards), whose copies through the SIMD
  // kernel's window take another path (copy-bytes.ts); 70,000 bytes spans three windows.
  test('codeShard computes one shard from any k others, with either kernel (property)', () => {
    const inMemory = (bytes: Uint8Array, shared: boolean) => {
      if (!shared) return bytes;
      const copy = new Uint8Array(new SharedArrayBuffer(bytes.length));
      copy.set(bytes);
      return copy;
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom(1, 15, 16, 17, 64, 65, 1000, 70_000),
        fc.integer(),
        fc.infiniteStream(fc.integer({ min: 0, max: 1000 })),
        fc.constantFrom('ts' as const, 'wasm-simd' as const),
        fc.boolean(),
        fc.boolean(),
        (k, m, size, seed, picks, kernel, sharedInputs, sharedOutput) => {
          const codec = new ReedSolomon(k, m, { kernel });
          const shards = shardsOf(k, m, size, (s, b) => (seed + s * 13 + b * 5 + (s ^ b)) & 0xff);
          codec.encode(shards);
          const iterator = picks[Symbol.iterator]();
          const target = (iterator.next().value as number) % (k + m);
          // k distinct others, in a drawn order (the reader takes whichever answered first).
          const others = Array.from({ length: k + m }, (_, i) => i).filter((i) => i !== target);
          const indices: number[] = [];
          while (indices.length < k) {
            const pick = others.splice((iterator.next().value as number) % others.length, 1);
            indices.push(pick[0]);
          }
          const output = inMemory(new Uint8Array(size).fill(0x5a), sharedOutput);
          codec.codeShard(
            target,
            indices,
            indices.map((i) => inMemory(shards[i], sharedInputs)),
            output,
          );
          assert.deepEqual(output, shards[target], `shard ${target} from ${indices}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('codeShard refuses the target among its inputs, or a wrong count', () => {
    const codec = new ReedSolomon(4, 2);
    const shards = shardsOf(4, 2, 8, (s, b) => s + b);
    const out = new Uint8Array(8);
    assert.throws(() => codec.codeShard(1, [0, 1, 2, 3], shards.slice(0, 4), out), /distinct/);
    assert.throws(() => codec.codeShard(5, [0, 1, 2], shards.slice(0, 3), out), /exactly k/);
  });

  test('buffers at odd offsets (byte path) give the same parity as aligned ones (word path)', () => {
    const codec = new ReedSolomon(5, 3);
    for (const size of [3, 64, 1001]) {
      const aligned = shardsOf(5, 3, size, (s, b) => (s * 17 + b * 3) & 0xff);
      const backing = new Uint8Array(8 * (size + 1) + 1);
      const odd = aligned.map((shard, i) => {
        const view = backing.subarray(1 + i * (size + 1), 1 + i * (size + 1) + size);
        view.set(shard);
        return view;
      });
      codec.encode(aligned);
      codec.encode(odd);
      assert.deepEqual(
        odd.map((s) => [...s]),
        aligned.map((s) => [...s]),
        `size ${size}`,
      );
    }
  });

  test('dataOnly rebuilds data shards and leaves missing parity alone', () => {
    const codec = new ReedSolomon(4, 2);
    const shards = shardsOf(4, 2, 100, (s, b) => s * 100 + b);
    codec.encode(shards);
    const original = shards.map((s) => Uint8Array.from(s));
    shards[1].fill(0);
    shards[5].fill(0);
    codec.reconstruct(shards, [true, false, true, true, true, false], { dataOnly: true });
    assert.deepEqual(shards.slice(0, 4), original.slice(0, 4));
    assert.ok(shards[5].every((b) => b === 0));
  });

  test('verify detects one flipped byte', () => {
    const codec = new ReedSolomon(4, 2);
    const shards = shardsOf(4, 2, 64, (s, b) => s ^ b);
    codec.encode(shards);
    shards[2][10] ^= 1;
    assert.equal(codec.verify(shards), false);
  });

  test('fewer than k shards is NOT_ENOUGH_SHARDS', () => {
    const codec = new ReedSolomon(4, 2);
    const shards = shardsOf(4, 2, 8, () => 1);
    assert.throws(
      () => codec.reconstruct(shards, [true, true, true, false, false, false]),
      (e: unknown) => isStrataError(e, 'NOT_ENOUGH_SHARDS'),
    );
  });

  test('k + m above 256 or zero shards is EINVAL', () => {
    for (const [k, m] of [
      [200, 57],
      [0, 2],
      [4, 0],
    ]) {
      assert.throws(
        () => new ReedSolomon(k, m),
        (e: unknown) => isStrataError(e, 'EINVAL'),
        `${k}+${m}`,
      );
    }
    assert.doesNotThrow(() => new ReedSolomon(200, 56));
  });
});
