// The WebAssembly SIMD kernel behind the codec (see kernel-source.ts for the algorithm). One
// instance per codec, with its own memory laid out as:
//   [0, 4 KiB)          pointer arrays for one call
//   [4 KiB, 40 KiB)     split-nibble tables for up to 4 outputs x 255 inputs
//   [40 KiB, ...)       a scratch window that shards are copied through, CHUNK_BYTES per shard
//   after that          shards allocated in wasm memory (allocateShards): coded in place, no copy
import assert from 'node:assert';
import { readFileSync } from 'node:fs';
import { copyBytes } from '../common/copy-bytes.ts';
import { MUL_TABLE } from './gf256.ts';
import type { Matrix } from './matrix.ts';

const POINTERS_AT = 0;
const TABLES_AT = 4096;
const SCRATCH_AT = 40960;
const CHUNK_BYTES = 32 * 1024;
const PAGE_BYTES = 65536;
const GROUP_MAX = 4;

let compiled: WebAssembly.Module | null | undefined;

// The compiled kernel: with relaxed SIMD where the runtime has it, else plain SIMD, else null.
export function kernelModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  const names =
    process.env.STRATA_ERASURE_KERNEL === 'wasm-simd' ? ['kernel'] : ['kernel-relaxed', 'kernel'];
  for (const name of names) {
    const bytes = readFileSync(new URL(`./${name}.wasm`, import.meta.url));
    if (WebAssembly.validate(bytes)) {
      compiled = new WebAssembly.Module(bytes);
      kernelVariant = name;
      break;
    }
  }
  return compiled;
}

export let kernelVariant = 'none';

type GroupFn = (nIn: number, inPtrs: number, outPtrs: number, tables: number, len: number) => void;

// The kernel codes whole 64-byte units: lengths are padded to them, shards aligned to them.
const roundUp64 = (n: number) => (n + 63) & ~63;

export class WasmKernel {
  private readonly memory: WebAssembly.Memory;
  private readonly groups: GroupFn[];
  private readonly scratchEnd: number;
  private arenaAt: number; // start of allocated shards
  private bytes: Uint8Array;
  private view: DataView;

  constructor(module: WebAssembly.Module, maxShards: number) {
    const instance = new WebAssembly.Instance(module, {});
    const exports = instance.exports as Record<string, unknown>;
    this.memory = exports.memory as WebAssembly.Memory;
    this.groups = [1, 2, 3, 4].map((g) => exports[`code_g${g}`] as GroupFn);
    this.scratchEnd = SCRATCH_AT + maxShards * CHUNK_BYTES;
    this.arenaAt = roundUp64(this.scratchEnd);
    this.ensure(this.arenaAt);
    this.bytes = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }

  private ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE_BYTES));
    this.bytes = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }

  // `count` shards of `sizeBytes` in wasm memory, coded in place. Growing the memory detaches the
  // views handed out before, so every call replaces the previous set: allocate one stripe's
  // buffers once and reuse them.
  allocateShards(count: number, sizeBytes: number): Buffer[] {
    const stride = roundUp64(sizeBytes);
    this.ensure(this.arenaAt + count * stride);
    return Array.from({ length: count }, (_, i) =>
      Buffer.from(this.memory.buffer, this.arenaAt + i * stride, sizeBytes),
    );
  }

  // outputs[r] = XOR over i of rows[r][i] * inputs[i].
  code(rows: Matrix, inputs: Uint8Array[], outputs: Uint8Array[]): void {
    assert.equal(rows.length, outputs.length, 'one row per output');
    const length = inputs[0].length;
    if (length === 0) return;
    const inPlace = [...inputs, ...outputs].every((s) => this.inArena(s));
    for (let first = 0; first < outputs.length; first += GROUP_MAX) {
      const group = Math.min(GROUP_MAX, outputs.length - first);
      this.writeTables(rows.slice(first, first + group), inputs.length);
      const groupOutputs = outputs.slice(first, first + group);
      if (inPlace) this.codeInPlace(inputs, groupOutputs, length);
      else this.codeCopying(inputs, groupOutputs, length);
    }
  }

  private inArena(shard: Uint8Array): boolean {
    return (
      shard.buffer === this.memory.buffer &&
      shard.byteOffset >= this.arenaAt &&
      shard.byteOffset % 64 === 0
    );
  }

  private writeTables(rows: Matrix, nIn: number): void {
    assert(rows.length * nIn * 32 <= SCRATCH_AT - TABLES_AT, 'tables fit their region');
    const bytes = this.bytes;
    for (let r = 0; r < rows.length; r++) {
      for (let i = 0; i < nIn; i++) {
        const base = TABLES_AT + (r * nIn + i) * 32;
        const product = rows[r][i] * 256;
        for (let n = 0; n < 16; n++) {
          bytes[base + n] = MUL_TABLE[product + n];
          bytes[base + 16 + n] = MUL_TABLE[product + (n << 4)];
        }
      }
    }
  }

  private setPointers(inputs: number[], outputs: number[]): void {
    const all = [...inputs, ...outputs];
    assert(all.length * 4 <= TABLES_AT, 'pointers fit their region');
    for (let j = 0; j < all.length; j++) this.view.setUint32(POINTERS_AT + j * 4, all[j], true);
  }

  // Shards in wasm memory: their padding up to 64 bytes absorbs the kernel's whole blocks.
  private codeInPlace(inputs: Uint8Array[], outputs: Uint8Array[], length: number): void {
    this.setPointers(
      inputs.map((s) => s.byteOffset),
      outputs.map((s) => s.byteOffset),
    );
    this.groups[outputs.length - 1](
      inputs.length,
      POINTERS_AT,
      POINTERS_AT + inputs.length * 4,
      TABLES_AT,
      roundUp64(length),
    );
  }

  // Caller-owned buffers: through the scratch window, CHUNK_BYTES of every shard at a time (often
  // shared memory: a rebuild's shards, a gateway's stripes; copyBytes copies those at memcpy's
  // speed).
  private codeCopying(inputs: Uint8Array[], outputs: Uint8Array[], length: number): void {
    const slots = inputs.length + outputs.length;
    assert(SCRATCH_AT + slots * CHUNK_BYTES <= this.scratchEnd, 'scratch window holds the stripe');
    const slotAt = (j: number) => SCRATCH_AT + j * CHUNK_BYTES;
    this.setPointers(
      inputs.map((_, i) => slotAt(i)),
      outputs.map((_, r) => slotAt(inputs.length + r)),
    );
    const fn = this.groups[outputs.length - 1];
    const bytes = this.bytes;
    for (let offset = 0; offset < length; offset += CHUNK_BYTES) {
      const n = Math.min(CHUNK_BYTES, length - offset);
      const padded = roundUp64(n);
      for (let i = 0; i < inputs.length; i++) {
        copyBytes(bytes, slotAt(i), inputs[i].subarray(offset, offset + n));
        if (padded > n) bytes.fill(0, slotAt(i) + n, slotAt(i) + padded);
      }
      fn(inputs.length, POINTERS_AT, POINTERS_AT + inputs.length * 4, TABLES_AT, padded);
      for (let r = 0; r < outputs.length; r++) {
        const from = slotAt(inputs.length + r);
        copyBytes(outputs[r], offset, bytes.subarray(from, from + n));
      }
    }
  }
}
