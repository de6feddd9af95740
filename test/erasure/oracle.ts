// The reference implementation: the reed-solomon-erasure Rust crate (the same matrix as
// Backblaze's JavaReedSolomon and klauspost/reedsolomon), built to WebAssembly. Its API takes all
// shards as one flat array and copies them in and out; a test oracle, not a codec to run.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm';

let instance: ReedSolomonErasure | undefined;

export function rustCrate(): ReedSolomonErasure {
  if (!instance) {
    const require = createRequire(import.meta.url);
    const main = require.resolve('@digitaldefiance/reed-solomon-erasure.wasm');
    instance = ReedSolomonErasure.fromBytes(
      readFileSync(join(main, '..', 'reed_solomon_erasure_bg.wasm')),
    );
  }
  return instance;
}

// Parity of `data` (k shards of `size`) as the crate computes it.
export function crateParity(k: number, m: number, data: Uint8Array[]): Uint8Array[] {
  const size = data[0].length;
  const flat = new Uint8Array(size * (k + m));
  for (const [i, shard] of data.entries()) flat.set(shard, i * size);
  const code = rustCrate().encode(flat, k, m);
  if (code !== ReedSolomonErasure.RESULT_OK) throw new Error(`crate encode failed: ${code}`);
  return Array.from({ length: m }, (_, j) => flat.slice((k + j) * size, (k + j + 1) * size));
}
