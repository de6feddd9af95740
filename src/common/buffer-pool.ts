import assert from 'node:assert';

// Large buffers reused instead of allocated per shard: a rebuild on a data server reads k shards
// from its peers (each a fresh buffer at the source's disk read and one at the target's frame
// reader), codes one, and reads it back once written, so every rebuilt byte once made ten bytes
// of new ArrayBuffers. V8 counts those towards the heap's global limit: on a data server's
// small heap (about 10 MB) a full mark-compact ran every few MB allocated, several a second per
// server in benches/repair, and garbage collection was the largest item of a data server's busy
// time (about a fifth).
//
// Ownership is explicit: `acquire` hands out a buffer nobody else holds, `release` gives it back
// once nothing will read or write it again. A buffer that is never released is only collected
// as any other (the pool keeps no hold on buffers it handed out); one released twice, or one the
// pool did not hand out, fails an assertion. Idle buffers are kept by capacity (bytes rounded up
// to CAPACITY_STEP_BYTES, so a shard with its file header, or with its frame's header, takes the
// same class as the bare shard) up to `idleBytesMax` in all; beyond that they are dropped.
//
// Contents are not cleared: whoever acquires a buffer must write every byte it exposes (the
// shard store refuses a short read, the frame reader fills the whole frame, the kernel writes
// its whole output).
export const CAPACITY_STEP_BYTES = 64 * 1024;
const POISON_BYTE = 0xa5;

export class BufferPool {
  readonly idleBytesMax: number;
  readonly pooledBytesMin: number;
  readonly pooledBytesMax: number;
  private readonly idle = new Map<number, Buffer[]>(); // by capacity, most recently used last
  private idleBytesNow = 0;
  // The buffers handed out and not yet given back, by their memory: release checks it (weakly
  // held, so one never released is still collected).
  private readonly out = new WeakSet<ArrayBuffer>();
  private readonly made = new WeakSet<ArrayBuffer>(); // every allocation this pool made
  private reusedCount = 0;
  private allocatedCount = 0;
  private outCount = 0;
  // Tests set it: a released buffer is overwritten at once, so a holder that reads it after its
  // release reads garbage (a rebuilt shard would not match) instead of, usually, its old bytes.
  poisonOnRelease = false;

  // Buffers over SharedArrayBuffers: a view posted to a worker thread is the same memory there,
  // not a copy (a data server's repair thread codes and checksums rebuilds in place).
  readonly shared: boolean;

  constructor(options: {
    idleBytesMax: number;
    pooledBytesMin?: number;
    pooledBytesMax?: number;
    shared?: boolean;
  }) {
    assert(Number.isSafeInteger(options.idleBytesMax) && options.idleBytesMax >= 0);
    this.idleBytesMax = options.idleBytesMax;
    this.shared = options.shared ?? false;
    this.pooledBytesMin = options.pooledBytesMin ?? CAPACITY_STEP_BYTES;
    this.pooledBytesMax = options.pooledBytesMax ?? 64 * 1024 * 1024;
  }

  // A buffer of exactly `bytes` (a view of a pooled allocation when `bytes` is in the pooled
  // range, else a plain allocation that release() lets go). Its contents are undefined.
  acquire(bytes: number): Buffer {
    assert(Number.isSafeInteger(bytes) && bytes >= 0, `a byte count, got ${bytes}`);
    if (bytes < this.pooledBytesMin || bytes > this.pooledBytesMax)
      return this.shared ? Buffer.from(new SharedArrayBuffer(bytes)) : Buffer.allocUnsafe(bytes);
    const capacity = capacityOf(bytes);
    const list = this.idle.get(capacity);
    let whole = list?.pop();
    if (whole !== undefined) {
      this.idleBytesNow -= capacity;
      this.reusedCount++;
    } else {
      // Its own ArrayBuffer (never a slice of Node's shared 8 KiB pool), so `buffer` is whole.
      whole = this.shared
        ? Buffer.from(new SharedArrayBuffer(capacity))
        : Buffer.allocUnsafeSlow(capacity);
      this.made.add(whole.buffer as ArrayBuffer);
      this.allocatedCount++;
    }
    this.out.add(whole.buffer as ArrayBuffer); // allocUnsafeSlow: never shared
    this.outCount++;
    return whole.subarray(0, bytes);
  }

  // Gives back a buffer acquire() returned (any view of it). Its holder must not touch it again.
  release(buffer: Buffer): void {
    const memory = buffer.buffer as ArrayBuffer;
    if (!this.made.has(memory)) return; // a size acquire() does not pool: a plain allocation
    assert(this.out.has(memory), 'a pooled buffer released twice');
    this.out.delete(memory);
    this.outCount--;
    const capacity = memory.byteLength;
    if (this.poisonOnRelease) new Uint8Array(memory).fill(POISON_BYTE);
    if (capacity > this.idleBytesMax) return; // dropped: the collector's
    // Full: buffers of other sizes go first (shard sizes change with the stripes being
    // rebuilt; the size just released is the one in use now).
    for (const [other, buffers] of this.idle) {
      if (this.idleBytesNow + capacity <= this.idleBytesMax) break;
      if (other === capacity) continue;
      while (buffers.length > 0 && this.idleBytesNow + capacity > this.idleBytesMax) {
        buffers.shift();
        this.idleBytesNow -= other;
      }
      if (buffers.length === 0) this.idle.delete(other);
    }
    if (this.idleBytesNow + capacity > this.idleBytesMax) return; // as many of its size idle
    const list = this.idle.get(capacity);
    const whole = Buffer.from(memory, 0, capacity);
    if (list === undefined) this.idle.set(capacity, [whole]);
    else list.push(whole);
    this.idleBytesNow += capacity;
  }

  get idleBytes(): number {
    return this.idleBytesNow;
  }

  // Acquires served from idle buffers and from new allocations since the pool was made, and the
  // pooled buffers handed out and not given back now.
  get counts(): { reused: number; allocated: number; out: number } {
    return { reused: this.reusedCount, allocated: this.allocatedCount, out: this.outCount };
  }
}

function capacityOf(bytes: number): number {
  return Math.ceil(bytes / CAPACITY_STEP_BYTES) * CAPACITY_STEP_BYTES;
}

// The process's pool for shard-sized buffers: the data server's whole-shard reads, the RPC
// client's large replies for callers that release them, a rebuild's coded shard and read-back.
// 64 MiB idle at most: a data server runs a few rebuilds and a few peers' reads per disk at once
// (repair-slots.ts), each holding about k+2 shards of (by default) 1 MiB.
export const shardBuffers = new BufferPool({ idleBytesMax: 64 * 1024 * 1024 });

// A rebuilding data server's pool (src/cluster/shard-rebuilder.ts): the k shards its rebuild
// reads (its peers' replies and its own disk's) and the shard it codes, in shared memory, so
// that its repair thread (src/cluster/repair-thread.ts) codes and checksums them where they are.
// Apart from shardBuffers because shared memory is refused by some APIs (TextDecoder) that a
// client's reads may meet; these buffers only go to sockets, files and the repair thread.
export const repairBuffers = new BufferPool({ idleBytesMax: 64 * 1024 * 1024, shared: true });

// A buffer with the duty to give it back: `release` once nothing reads it any more.
export interface Leased {
  data: Buffer;
  release(): void;
}

// A release that runs once, whatever calls it how often: for buffers handed along paths where
// more than one party may end their use (a reply written or its connection lost).
export function releaseOnce(pool: BufferPool, buffer: Buffer): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    pool.release(buffer);
  };
}
