import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { identity, invert, type Matrix, multiply, subMatrix, vandermonde } from './matrix.ts';
import { codeShardsTs } from './ts-kernel.ts';
import { kernelModule, WasmKernel } from './wasm-kernel.ts';

export type KernelName = 'wasm-simd' | 'ts';

// The SIMD kernel where the runtime has WebAssembly SIMD, unless STRATA_ERASURE_KERNEL=ts.
function chooseKernel(wanted: KernelName | undefined): KernelName {
  const choice = wanted ?? (process.env.STRATA_ERASURE_KERNEL === 'ts' ? 'ts' : undefined);
  if (choice === 'ts') return 'ts';
  if (kernelModule() === null) {
    if (choice === 'wasm-simd') throw new StrataError('ENOTSUP', 'no WebAssembly SIMD here');
    return 'ts';
  }
  return 'wasm-simd';
}

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

  readonly kernel: KernelName;
  private readonly wasm: WasmKernel | undefined;

  constructor(dataShards: number, parityShards: number, options: { kernel?: KernelName } = {}) {
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
    this.kernel = chooseKernel(options.kernel);
    const module = kernelModule();
    this.wasm =
      this.kernel === 'wasm-simd' && module ? new WasmKernel(module, this.totalShards) : undefined;
  }

  // k+m shard buffers of `sizeBytes` that the SIMD kernel codes in place, without copying them
  // through its window. A codec hands out one such set at a time: a new call invalidates the last.
  allocateShards(sizeBytes: number): Buffer[] {
    if (this.wasm) return this.wasm.allocateShards(this.totalShards, sizeBytes);
    return Array.from({ length: this.totalShards }, () => Buffer.alloc(sizeBytes));
  }

  private code(rows: Matrix, inputs: Uint8Array[], outputs: Uint8Array[]): void {
    if (this.wasm) this.wasm.code(rows, inputs, outputs);
    else codeShardsTs(rows, inputs, outputs);
  }

  // Fills shards[k..k+m) from shards[0..k). All shards have the same length.
  encode(shards: Uint8Array[]): void {
    this.checkShards(shards);
    this.code(this.parityRows, shards.slice(0, this.dataShards), shards.slice(this.dataShards));
  }

  verify(shards: Uint8Array[]): boolean {
    this.checkShards(shards);
    const expected = shards.slice(this.dataShards).map((s) => new Uint8Array(s.length));
    this.code(this.parityRows, shards.slice(0, this.dataShards), expected);
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
      this.code(
        missingData.map((i) => decode[i]),
        inputs.map((i) => shards[i]),
        missingData.map((i) => shards[i]),
      );
    }
    if (options.dataOnly) return;
    const missingParity = [];
    for (let i = k; i < this.totalShards; i++) if (!present[i]) missingParity.push(i);
    if (missingParity.length > 0) {
      this.code(
        missingParity.map((i) => this.matrix[i]),
        shards.slice(0, k),
        missingParity.map((i) => shards[i]),
      );
    }
  }

  // Computes shard `target` alone from k other shards (`inputs[i]` is shard `indices[i]`) into
  // `output`: one row, the target's encoding row times the inverse of the inputs' rows, so a
  // repair codes one shard's bytes, not the k data shards and every parity one, and needs no
  // buffers of the whole stripe. Inputs and output are used where they are (no copies here).
  codeShard(target: number, indices: readonly number[], inputs: Uint8Array[], output: Uint8Array) {
    const k = this.dataShards;
    assert(Number.isInteger(target) && target >= 0 && target < this.totalShards, 'a shard index');
    assert.equal(indices.length, k, `exactly k = ${k} input shards`);
    assert.equal(inputs.length, k, 'one buffer per input index');
    assert(new Set(indices).size === k && !indices.includes(target), 'k distinct other shards');
    assert(
      inputs.every((b) => b.length === output.length),
      'inputs and output have the same length',
    );
    this.code([this.shardRow(target, indices)], inputs, [output]);
  }

  private shardRow(target: number, indices: readonly number[]): Matrix[number] {
    const key = `${target}<${indices.join(',')}`;
    let rows = this.decodeCache.get(key);
    if (!rows) {
      rows = multiply([this.matrix[target]], this.decodeMatrix([...indices]));
      if (this.decodeCache.size >= DECODE_CACHE_ENTRIES_MAX) this.decodeCache.clear();
      this.decodeCache.set(key, rows);
    }
    return rows[0];
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
