// MD5 of up to LANES bodies at once, one per lane of the SIMD kernel (md5-kernel-source.ts), for
// a hashing thread (hash-thread.ts) that receives several bodies' segments interleaved, as a
// gateway under concurrent PUTs does. The lanes queue their bodies' bytes in chunks of
// CHUNK_BYTES from one pool in the kernel's memory (copied in once, never moved). Nothing is
// hashed until the pool runs low: then, round after round, every lane with a full chunk has its
// oldest one hashed in the same kernel call, until a quarter of the pool is free again. By then
// most lanes hold several chunks, so the rounds run full. A round whose lanes are all in one group
// of four runs the 4-lane kernel on that group; a lane of the group left out is given a scratch
// chunk and its state put back after. digest() hashes its lane's full chunks the same way (with
// every other lane that has one), then its last bytes and the padding.
import assert from 'node:assert';
import { readFileSync } from 'node:fs';
import { copyBytes } from './copy-bytes.ts';

export const LANES = 8;
export const CHUNK_BYTES = 64 * 1024;
export const POOL_CHUNKS = 256; // 16 MiB: 2 MiB a lane, two of hash-offload.ts's 1 MiB segments
// Hashing starts below this many free chunks (more than the lanes' partly filled last chunks, so a
// round always has a full chunk to hash) and stops at the second.
const POOL_LOW = 32;
const POOL_RESUMED = 64;
// Below this, rounds run however few lanes they fill: each lane may need a chunk for its next
// bytes.
const POOL_FORCED = LANES + 1;
// md5x8's rate per lane over md5x4's (2,593 and 1,676 MiB/s on the development machine).
const X8_SPEEDUP = 1.5;
const BLOCK = 64;
const CHUNK_BLOCKS = CHUNK_BYTES / BLOCK;
const GROUP_LANES = 4;
const GROUP_STATE_BYTES = 64; // A, B, C, D as v128, lane i of the group in lane i
const FINAL_AT = 1024; // each lane's last bytes and padding: two blocks
const SCRATCH_AT = 64 * 1024; // a chunk of zeros, the input of lanes left out of a call
const CHUNKS_AT = SCRATCH_AT + CHUNK_BYTES;
export const KERNEL_PAGES = (CHUNKS_AT + POOL_CHUNKS * CHUNK_BYTES) / 65536;
const INITIAL = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

type Md5x4 = (st: number, a: number, b: number, c: number, d: number, n: number) => void;
type Md5x8 = (
  st: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  b0: number,
  b1: number,
  b2: number,
  b3: number,
  n: number,
) => void;

interface Lane {
  chunks: number[]; // addresses, oldest first; all full but the last
  last: number; // bytes in the last chunk
  total: number; // bytes taken since open
}

let compiled: WebAssembly.Module | undefined;
function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(new URL('./md5-kernel.wasm', import.meta.url)));
  return compiled;
}

export class Md5Lanes {
  private readonly heap: Uint8Array;
  private readonly words: DataView;
  private readonly md5x4: Md5x4;
  private readonly md5x8: Md5x8;
  private readonly lanes: Array<Lane | undefined> = new Array(LANES).fill(undefined);
  private readonly freeChunks: number[] = [];
  // Lane-chunks hashed, and the kernel's lane-chunks run (the difference went to scratch).
  readonly usage = { hashed: 0, run: 0 };

  constructor() {
    const instance = new WebAssembly.Instance(kernelModule(), {});
    const memory = instance.exports.memory as WebAssembly.Memory;
    assert.equal(memory.buffer.byteLength, KERNEL_PAGES * 65536, 'the kernel memory is the layout');
    this.heap = new Uint8Array(memory.buffer);
    this.words = new DataView(memory.buffer);
    this.md5x4 = instance.exports.md5x4 as Md5x4;
    this.md5x8 = instance.exports.md5x8 as Md5x8;
    for (let i = POOL_CHUNKS - 1; i >= 0; i--) this.freeChunks.push(CHUNKS_AT + i * CHUNK_BYTES);
  }

  // Chunks not in any lane's queue (all of them when no lane is open).
  get freeChunkCount(): number {
    return this.freeChunks.length;
  }

  // A free lane, or undefined when all are taken.
  open(): number | undefined {
    const lane = this.lanes.indexOf(undefined);
    if (lane < 0) return undefined;
    this.lanes[lane] = { chunks: [], last: CHUNK_BYTES, total: 0 };
    this.setState(lane, INITIAL);
    return lane;
  }

  update(lane: number, bytes: Uint8Array): void {
    const held = this.mustLane(lane);
    for (let at = 0; at < bytes.length; ) {
      if (held.last === CHUNK_BYTES) {
        if (this.freeChunks.length < POOL_LOW)
          this.hashRounds(() => this.freeChunks.length >= POOL_RESUMED);
        const chunk = this.freeChunks.pop();
        assert(chunk !== undefined, 'every lane has room for its queue');
        held.chunks.push(chunk);
        held.last = 0;
      }
      const taken = Math.min(CHUNK_BYTES - held.last, bytes.length - at);
      // The bytes are a hashing segment, in shared memory: copyBytes (copy-bytes.ts).
      copyBytes(
        this.heap,
        (held.chunks.at(-1) as number) + held.last,
        bytes.subarray(at, at + taken),
      );
      held.last += taken;
      held.total += taken;
      at += taken;
    }
  }

  // The 16-byte digest; the lane is free again.
  digest(lane: number): Buffer {
    const held = this.mustLane(lane);
    // Whole chunks with the others', then the last chunk's whole blocks and the rest alone.
    const partial = held.chunks.length > 0 && held.last < CHUNK_BYTES;
    const inLast = partial ? held.last : 0;
    const chunk = partial ? held.chunks.pop() : undefined;
    held.last = CHUNK_BYTES; // what is left in the queue is full chunks
    this.hashRounds(() => held.chunks.length === 0, lane);
    const blocks = Math.floor(inLast / BLOCK);
    if (chunk !== undefined && blocks > 0) this.run([lane], [chunk], blocks);
    // The padding (RFC 1321, 3.1-3.2): 0x80, zeros to 56 mod 64, the length in bits (LE).
    const tail = inLast - blocks * BLOCK;
    const final = FINAL_AT + lane * 2 * BLOCK;
    const finalBlocks = tail < 56 ? 1 : 2;
    this.heap.fill(0, final, final + 2 * BLOCK);
    if (chunk !== undefined)
      this.heap.copyWithin(final, chunk + blocks * BLOCK, chunk + blocks * BLOCK + tail);
    this.heap[final + tail] = 0x80;
    const bits = held.total * 8;
    this.words.setUint32(final + finalBlocks * BLOCK - 8, bits >>> 0, true);
    this.words.setUint32(final + finalBlocks * BLOCK - 4, Math.floor(bits / 2 ** 32), true);
    this.run([lane], [final], finalBlocks);
    if (chunk !== undefined) this.freeChunks.push(chunk);
    const digest = Buffer.alloc(16);
    for (const [k, word] of this.state(lane).entries()) digest.writeUInt32LE(word, 4 * k);
    this.free(lane);
    return digest;
  }

  drop(lane: number): void {
    this.mustLane(lane);
    this.free(lane);
  }

  private free(lane: number): void {
    for (const chunk of this.mustLane(lane).chunks) this.freeChunks.push(chunk);
    this.lanes[lane] = undefined;
  }

  // Rounds of one full chunk from each of the lanes a round takes, until `done` or, when not
  // `forced`, until no round would fill half its kernel. `needed`: a lane every round must take.
  private hashRounds(done: () => boolean, needed?: number): void {
    while (!done()) {
      const candidates: number[] = [];
      for (const [lane, queue] of this.lanes.entries()) {
        // Only full chunks: all but a last one that is still being filled.
        const full = (queue?.chunks.length ?? 0) - ((queue?.last ?? 0) < CHUNK_BYTES ? 1 : 0);
        if (queue !== undefined && full >= 1) candidates.push(lane);
      }
      const chosen = roundOf(candidates, needed);
      const forced = needed !== undefined || this.freeChunks.length < POOL_FORCED;
      if (!forced && chosen.width > 2 * chosen.lanes.length) return; // under half: wait for more
      assert(chosen.lanes.length > 0, 'a round has a full chunk to hash');
      const inputs = chosen.lanes.map((lane) => this.mustLane(lane).chunks[0]);
      this.run(chosen.lanes, inputs, CHUNK_BLOCKS);
      for (const lane of chosen.lanes) {
        const queue = this.mustLane(lane);
        this.freeChunks.push(queue.chunks.shift() as number);
        if (queue.chunks.length === 0) queue.last = CHUNK_BYTES; // the next byte starts a chunk
      }
    }
  }

  // One kernel call: `blocks` blocks from inputs[i] into lanes[i]'s state. The 4-lane kernel when
  // they are all in one group; lanes of the groups run that are not among them keep their state.
  private run(lanes: number[], inputs: number[], blocks: number): void {
    assert(lanes.length > 0 && lanes.length === inputs.length && blocks > 0);
    const groups = new Set(lanes.map((l) => Math.floor(l / GROUP_LANES)));
    const first = Math.min(...groups) * GROUP_LANES;
    const width = groups.size === 1 ? GROUP_LANES : LANES;
    const addresses: number[] = [];
    const kept = new Map<number, number[]>();
    for (let l = first; l < first + width; l++) {
      const i = lanes.indexOf(l);
      if (i >= 0) addresses.push(inputs[i]);
      else {
        kept.set(l, this.state(l));
        addresses.push(SCRATCH_AT);
      }
    }
    const st = (first / GROUP_LANES) * GROUP_STATE_BYTES;
    if (width === GROUP_LANES) {
      const [a0, a1, a2, a3] = addresses;
      this.md5x4(st, a0, a1, a2, a3, blocks);
    } else {
      const [a0, a1, a2, a3, b0, b1, b2, b3] = addresses;
      this.md5x8(st, a0, a1, a2, a3, b0, b1, b2, b3, blocks);
    }
    for (const [l, words] of kept) this.setState(l, words);
    this.usage.hashed += lanes.length * blocks;
    this.usage.run += width * blocks;
  }

  private mustLane(lane: number): Lane {
    const held = this.lanes[lane];
    assert(held !== undefined, `lane ${lane} is open`);
    return held;
  }

  // A lane's A, B, C, D.
  private state(lane: number): number[] {
    const base = Math.floor(lane / GROUP_LANES) * GROUP_STATE_BYTES + (lane % GROUP_LANES) * 4;
    return [0, 1, 2, 3].map((k) => this.words.getUint32(base + 16 * k, true));
  }

  private setState(lane: number, words: number[]): void {
    const base = Math.floor(lane / GROUP_LANES) * GROUP_STATE_BYTES + (lane % GROUP_LANES) * 4;
    for (const [k, word] of words.entries()) this.words.setUint32(base + 16 * k, word, true);
  }
}

// The lanes a round hashes: those of one group of four (the 4-lane kernel) or all (the 8-lane
// one, two groups interleaved, 1.5 times as fast per lane), whichever fills its kernel more;
// with `needed`, only choices that take it.
export function roundOf(candidates: number[], needed?: number): { lanes: number[]; width: number } {
  const inGroup = (g: number) => candidates.filter((l) => Math.floor(l / GROUP_LANES) === g);
  const choices = [
    { lanes: inGroup(0), width: GROUP_LANES },
    { lanes: inGroup(1), width: GROUP_LANES },
    { lanes: candidates, width: LANES },
  ].filter((c) => c.lanes.length > 0 && (needed === undefined || c.lanes.includes(needed)));
  // Lanes per unit of kernel time: md5x8 runs 8 lanes in 1/1.55 of two md5x4 calls' time.
  const speed = (c: { lanes: number[]; width: number }) =>
    (c.lanes.length / c.width) * (c.width === LANES ? X8_SPEEDUP : 1);
  return choices.reduce((best, c) => (speed(c) > speed(best) ? c : best), choices[0]);
}
