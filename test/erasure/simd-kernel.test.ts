// The erasure codec against the reed-solomon-erasure Rust crate (the reference whose parity our
// shards must match byte for byte), for random k, m and sizes that are not multiples of the
// kernel's 16- or 64-byte units, through the WASM SIMD kernel (caller buffers and shards in wasm
// memory) and the TypeScript fallback; erasure of any <= m shards and reconstruction; the worker
// pool; and the committed kernel.wasm files rebuilt from their generator, byte for byte.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ReedSolomon } from '../../src/erasure/index.ts';
import { assembleKernel, kernelWat } from '../../src/erasure/kernel-source.ts';
import { kernelModule } from '../../src/erasure/wasm-kernel.ts';
import { ErasurePool } from '../../src/erasure/worker-pool.ts';
import { patternBytes } from '../helpers/s3.ts';
import { crateParity } from './oracle.ts';

const SIZES = [1, 7, 15, 16, 17, 33, 63, 64, 65, 1000, 4097, 65537];

describe('Reed-Solomon kernels against the Rust crate', () => {
  test('this Node has WebAssembly SIMD, so the SIMD kernel is the default', () => {
    assert.ok(kernelModule() !== null);
    assert.equal(new ReedSolomon(4, 2).kernel, 'wasm-simd');
  });

  for (const kernel of ['wasm-simd', 'ts'] as const) {
    test(`${kernel}: parity equals the crate's; any <= m erased shards come back (property)`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 24 }),
          fc.integer({ min: 1, max: 8 }),
          fc.constantFrom(...SIZES),
          fc.integer({ min: 1, max: 2 ** 30 }),
          fc.boolean(),
          (k, m, size, seed, inWasmMemory) => {
            const codec = new ReedSolomon(k, m, { kernel });
            const shards = inWasmMemory
              ? codec.allocateShards(size)
              : Array.from({ length: k + m }, () => Buffer.alloc(size));
            for (let i = 0; i < k; i++) shards[i].set(patternBytes(size, seed + i));
            codec.encode(shards);
            const expected = crateParity(k, m, shards.slice(0, k));
            for (let j = 0; j < m; j++)
              assert.ok(Buffer.from(expected[j]).equals(shards[k + j]), `parity ${j}`);
            const original = shards.map((s) => Buffer.from(s));
            const lost = new Set<number>();
            for (let n = 0; n < m; n++) lost.add((seed * (n + 7)) % (k + m));
            for (const i of lost) shards[i].fill(0xa5);
            codec.reconstruct(
              shards,
              shards.map((_, i) => !lost.has(i)),
            );
            for (let i = 0; i < k + m; i++) assert.ok(shards[i].equals(original[i]), `shard ${i}`);
          },
        ),
        { numRuns: 60, seed: 20261124 },
      );
    });
  }

  test('the common configurations at 1 MiB: 4+2, 8+3, 10+4, 16+4', () => {
    for (const [k, m] of [
      [4, 2],
      [8, 3],
      [10, 4],
      [16, 4],
    ]) {
      const codec = new ReedSolomon(k, m);
      const shards = Array.from({ length: k + m }, (_, i) =>
        i < k ? patternBytes(1 << 20, i + 1) : Buffer.alloc(1 << 20),
      );
      codec.encode(shards);
      const expected = crateParity(k, m, shards.slice(0, k));
      for (let j = 0; j < m; j++)
        assert.ok(Buffer.from(expected[j]).equals(shards[k + j]), `${k}+${m} parity ${j}`);
      assert.ok(codec.verify(shards));
    }
  });

  test('the worker pool codes stripes in shared memory, matching the codec', async () => {
    const pool = new ErasurePool({ workers: 2 });
    try {
      const stripes = Array.from({ length: 6 }, () => pool.allocateStripe(4, 2, 100_003));
      stripes.forEach((s, n) => {
        for (let i = 0; i < 4; i++) s.shards[i].set(patternBytes(100_003, n * 10 + i));
      });
      await Promise.all(stripes.map((s) => pool.encode(s)));
      for (const s of stripes) {
        const expected = crateParity(4, 2, s.shards.slice(0, 4));
        assert.ok(
          Buffer.from(expected[0]).equals(s.shards[4]) &&
            Buffer.from(expected[1]).equals(s.shards[5]),
        );
      }
      const original = Buffer.from(stripes[0].shards[1]);
      stripes[0].shards[1].fill(0);
      await pool.reconstruct(stripes[0], [true, false, true, true, true, true]);
      assert.ok(stripes[0].shards[1].equals(original));
    } finally {
      await pool.close();
    }
  });

  test('kernel.wat and kernel.wasm (and their relaxed-SIMD twins) are what the generator builds', async () => {
    for (const [name, relaxed] of [
      ['kernel', false],
      ['kernel-relaxed', true],
    ] as const) {
      const wat = kernelWat(relaxed);
      assert.equal(
        readFileSync(new URL(`../../src/erasure/${name}.wat`, import.meta.url), 'utf8'),
        wat,
        `${name}.wat is stale: npm run build:erasure`,
      );
      const built = Buffer.from(await assembleKernel(wat));
      assert.ok(
        built.equals(readFileSync(new URL(`../../src/erasure/${name}.wasm`, import.meta.url))),
        `${name}.wasm differs from a rebuild`,
      );
    }
  });
});
