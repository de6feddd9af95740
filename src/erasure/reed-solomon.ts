import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { MUL_TABLE } from './gf256.ts';
import { identity, invert, type Matrix, multiply, subMatrix, vandermonde } from './matrix.ts';

const DECODE_CACHE_ENTRIES_MAX = 64;

export function shardSizeFor(dataLengthBytes: number, dataShards: number): number {
  return Math.max(1, Math.ceil(dataLengthBytes / dataShards));
}

// Systematic Reed-Solomon over GF(2^8). The encoding matrix is a (k+m) x k Vandermonde matrix
// times the inverse of its top k x k square (Backblaze's construction), so the first k rows are
// the identity (data shards are stored as is) and any k rows are invertible.
export class ReedSolomon {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly totalShards: number;
  private readonly parityRows: Matrix;
  private readonly matrix: Matrix;
  private readonly decodeCache = new Map<string, Matrix>();

  constructor(dataShards: number, parityShards: number) {
    if (
      !Number.isInteger(dataShards) ||
      !Number.isInteger(parityShards) ||
      dataShards < 1 ||
      parityShards < 1
    ) {
      throw new StrataError(
        'EINVAL',
        `erasure code needs k >= 1 and m >= 1, got ${dataShards}+${parityShards}`,
      );
    }
    if (dataShards + parityShards > 256) {
      throw new StrataError(
        'EINVAL',
        `k + m must be at most 256, got ${dataShards + parityShards}`,
      );
    }
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.totalShards = dataShards + parityShards;
    const v = vandermonde(this.totalShards, dataShards);
    this.matrix = multiply(v, invert(subMatrix(v, 0, dataShards, 0, dataShards)));
    this.parityRows = this.matrix.slice(dataShards);
    assert.deepEqual(this.matrix.slice(0, dataShards), identity(dataShards), 'systematic');
  }

  // Fills shards[k..k+m) from shards[0..k). All shards have the same length.
  encode(shards: Uint8Array[]): void {
    this.checkShards(shards);
    codeShards(this.parityRows, shards.slice(0, this.dataShards), shards.slice(this.dataShards));
  }

  verify(shards: Uint8Array[]): boolean {
    this.checkShards(shards);
    const expected = shards.slice(this.dataShards).map((s) => new Uint8Array(s.length));
    codeShards(this.parityRows, shards.slice(0, this.dataShards), expected);
    return expected.every((parity, i) => Buffer.compare(parity, shards[this.dataShards + i]) === 0);
  }

  // Rebuilds the shards whose `present` flag is false, in place, from any k present ones.
  reconstruct(
    shards: Uint8Array[],
    present: boolean[],
    options: { dataOnly?: boolean } = {},
  ): void {
    this.checkShards(shards);
    assert.equal(present.length, this.totalShards, 'one presence flag per shard');
    const available = present.flatMap((p, i) => (p ? [i] : []));
    if (available.length < this.dataShards) {
      throw new StrataError(
        'NOT_ENOUGH_SHARDS',
        `reconstruction needs ${this.dataShards} shards, ${available.length} present`,
      );
    }
    const k = this.dataShards;
    const missingData = [];
    for (let i = 0; i < k; i++) if (!present[i]) missingData.push(i);
    const inputs = available.slice(0, k);
    if (missingData.length > 0) {
      const decode = this.decodeMatrix(inputs);
      codeShards(
        missingData.map((i) => decode[i]),
        inputs.map((i) => shards[i]),
        missingData.map((i) => shards[i]),
      );
    }
    if (options.dataOnly) return;
    const missingParity = [];
    for (let i = k; i < this.totalShards; i++) if (!present[i]) missingParity.push(i);
    if (missingParity.length > 0) {
      codeShards(
        missingParity.map((i) => this.matrix[i]),
        shards.slice(0, k),
        missingParity.map((i) => shards[i]),
      );
    }
  }

  // Inverse of the encoding rows of the shards we read: maps them back to the data shards.
  private decodeMatrix(inputs: number[]): Matrix {
    const key = inputs.join(',');
    let decode = this.decodeCache.get(key);
    if (!decode) {
      decode = invert(inputs.map((i) => this.matrix[i]));
      if (this.decodeCache.size >= DECODE_CACHE_ENTRIES_MAX) this.decodeCache.clear();
      this.decodeCache.set(key, decode);
    }
    return decode;
  }

  private checkShards(shards: Uint8Array[]): void {
    assert.equal(shards.length, this.totalShards, `expected ${this.totalShards} shards`);
    const size = shards[0].length;
    assert(
      shards.every((s) => s.length === size),
      'all shards have the same length',
    );
  }
}

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
function codeShards(rows: Matrix, inputs: Uint8Array[], outputs: Uint8Array[]): void {
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
