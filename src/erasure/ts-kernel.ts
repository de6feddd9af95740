// The plain TypeScript kernel: the fallback where WebAssembly SIMD is missing, and the reference
// the SIMD kernel is tested against.
import { MUL_TABLE } from './gf256.ts';
import type { Matrix } from './matrix.ts';

// Products of a coefficient with a pair of bytes (128 KiB each): one lookup per 16 bits instead of
// per byte. Bounded: the codec's own rows plus a few decode matrices' worth.
const PAIR_TABLES_MAX = 256;
const pairTables = new Map<number, Uint16Array>();

function pairTable(coefficient: number): Uint16Array {
  let table = pairTables.get(coefficient);
  if (!table) {
    table = new Uint16Array(65536);
    const row = coefficient * 256;
    for (let x = 0; x < 65536; x++)
      table[x] = MUL_TABLE[row + (x & 0xff)] | (MUL_TABLE[row + (x >>> 8)] << 8);
    if (pairTables.size >= PAIR_TABLES_MAX) pairTables.clear();
    pairTables.set(coefficient, table);
  }
  return table;
}

const isWordAligned = (b: Uint8Array) => b.byteOffset % 4 === 0;

// outputs[r] = sum over i of rows[r][i] * inputs[i]. The first input assigns, the rest accumulate,
// so outputs need no zeroing. Word-aligned buffers (what Buffer.alloc returns) take the fast path.
export function codeShardsTs(rows: Matrix, inputs: Uint8Array[], outputs: Uint8Array[]): void {
  const length = inputs[0].length;
  const aligned = inputs.every(isWordAligned) && outputs.every(isWordAligned);
  const wordCount = aligned ? length >>> 2 : 0;
  for (let r = 0; r < outputs.length; r++) {
    const out = outputs[r];
    const row = rows[r];
    const out32 =
      wordCount > 0 ? new Uint32Array(out.buffer, out.byteOffset, wordCount) : undefined;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      if (out32) {
        const pairs = pairTable(row[i]);
        const in32 = new Uint32Array(input.buffer, input.byteOffset, wordCount);
        if (i === 0) {
          for (let w = 0; w < wordCount; w++) {
            const v = in32[w];
            out32[w] = pairs[v & 0xffff] | (pairs[v >>> 16] << 16);
          }
        } else {
          for (let w = 0; w < wordCount; w++) {
            const v = in32[w];
            out32[w] ^= pairs[v & 0xffff] | (pairs[v >>> 16] << 16);
          }
        }
      }
      const table = MUL_TABLE.subarray(row[i] * 256, row[i] * 256 + 256);
      const from = wordCount * 4;
      if (i === 0) {
        for (let b = from; b < length; b++) out[b] = table[input[b]];
      } else {
        for (let b = from; b < length; b++) out[b] ^= table[input[b]];
      }
    }
  }
}
