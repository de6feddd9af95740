import assert from 'node:assert';

// Page-aligned buffers for direct (O_DIRECT) shard writes. A direct write takes its bytes from
// the caller's memory to the disk without the kernel's copy into the page cache, but only from
// memory aligned to the device's block size. Node gives no aligned allocation: a Buffer's
// address is wherever malloc put it. A WebAssembly.Memory's is not: V8 maps it (mmap), so it
// starts on a page, and any offset in it that is a multiple of 4 KiB is 4 KiB-aligned too.
// One memory of SLAB_BYTES is cut into runs of 64 KiB granules (the wasm page), first fit; a
// write that finds no room (a burst of many, or one very large shard) writes through the page
// cache as before. The memory is made at the first lease and kept: its pages are touched once,
// where a fresh allocation per shard paid the first touch of every page again.
// (Each WebAssembly.Memory reserves about 8 GiB of address space for its guard region, so one
// slab, not one memory per buffer.)
export const DIRECT_ALIGN_BYTES = 4096; // a multiple of every common logical block size
export const GRANULE_BYTES = 64 * 1024; // the WebAssembly page
// 32 MiB: about 30 shards of the default 1 MiB in flight at once (the repair reads' slab below).
export const SLAB_BYTES = 32 * 1024 * 1024;
// The shard writes' slab: 128 MiB. Under 16 MiB S3 PUTs, 8 at a time, on a single node, 32 MiB
// left 11-26% of shard writes to the page cache (strata_data_writes_unstaged_total), whose copy
// (copy_folio_from_iter_atomic) was 18% of the data process's on-CPU samples (perf); with 128 MiB
// none were, and the data process spent 2.42 CPU-s per GiB against 2.64 (medians of 8 alternated
// runs of benches/s3-throughput/put-cpu.ts, 7 of 8 lower). Its pages are touched only as leases
// reach them (first fit: the low granules again and again), so a data server that never sees
// such a burst never holds them; one that has keeps them (the data process's VmRSS at the end
// of that load: 419 MB against 255 with 32 MiB).
export const DIRECT_WRITE_SLAB_BYTES = 128 * 1024 * 1024;
const POISON_BYTE = 0xa5;

// The pure core: which granules of a slab are handed out.
export class GranuleMap {
  private readonly used: Uint8Array;
  private freeCount: number;

  constructor(granules: number) {
    assert(Number.isInteger(granules) && granules > 0);
    this.used = new Uint8Array(granules);
    this.freeCount = granules;
  }

  // The first run of `count` free granules, marked used: its first granule's index.
  take(count: number): number | undefined {
    assert(Number.isInteger(count) && count > 0, 'a positive granule count');
    if (count > this.freeCount) return undefined;
    let runStart = 0;
    for (let i = 0; i < this.used.length; i++) {
      if (this.used[i] === 1) {
        runStart = i + 1;
        continue;
      }
      if (i + 1 - runStart === count) {
        this.used.fill(1, runStart, i + 1);
        this.freeCount -= count;
        return runStart;
      }
    }
    return undefined;
  }

  give(first: number, count: number): void {
    assert(first >= 0 && count > 0 && first + count <= this.used.length, 'a run of the map');
    for (let i = first; i < first + count; i++) {
      assert(this.used[i] === 1, 'a granule given back twice');
      this.used[i] = 0;
    }
    this.freeCount += count;
  }

  get free(): number {
    return this.freeCount;
  }
}

export interface StagingLease {
  // `bytes` rounded up to DIRECT_ALIGN_BYTES, at an aligned address. Contents undefined.
  buffer: Buffer;
  release(): void;
}

export class DirectStaging {
  private readonly slabBytes: number;
  // A shared memory (its buffer a SharedArrayBuffer): a lease posted to a worker thread is the
  // same memory there, as repairBuffers' are (the repair thread verifies and codes in place).
  readonly shared: boolean;
  private memory: Buffer | undefined;
  private map: GranuleMap | undefined;
  // The slab could not be mapped (an address-space limit, `ulimit -v`, refuses the memory's
  // reservation): every write goes through the page cache, as on a disk without direct writes.
  private unavailable = false;
  // Tests set it: a released lease is overwritten at once (as BufferPool's poisonOnRelease), so a
  // reader that uses it after its release reads garbage instead of, usually, its old bytes.
  poisonOnRelease = false;

  constructor(slabBytes = SLAB_BYTES, options: { shared?: boolean } = {}) {
    assert(slabBytes > 0 && slabBytes % GRANULE_BYTES === 0, 'whole granules');
    this.slabBytes = slabBytes;
    this.shared = options.shared ?? false;
  }

  // An aligned buffer of at least `bytes` (rounded up to the alignment), or undefined when the
  // slab has no run that large free now.
  lease(bytes: number): StagingLease | undefined {
    assert(Number.isSafeInteger(bytes) && bytes > 0, `a byte count, got ${bytes}`);
    const alignedBytes = alignUp(bytes);
    const count = Math.ceil(alignedBytes / GRANULE_BYTES);
    const memory = this.slab();
    if (memory === undefined) return undefined;
    const first = this.map?.take(count);
    if (first === undefined) return undefined;
    const buffer = memory.subarray(first * GRANULE_BYTES, first * GRANULE_BYTES + alignedBytes);
    let released = false;
    return {
      buffer,
      release: () => {
        assert(!released, 'a staging buffer released twice');
        released = true;
        if (this.poisonOnRelease) buffer.fill(POISON_BYTE);
        this.map?.give(first, count);
      },
    };
  }

  // Bytes handed out and not given back now (whole granules).
  get leasedBytes(): number {
    return this.map === undefined
      ? 0
      : (this.slabBytes / GRANULE_BYTES - this.map.free) * GRANULE_BYTES;
  }

  private slab(): Buffer | undefined {
    if (this.memory === undefined && !this.unavailable) {
      const pages = this.slabBytes / GRANULE_BYTES;
      try {
        const wasm = new WebAssembly.Memory({
          initial: pages,
          maximum: pages,
          shared: this.shared,
        });
        this.memory = Buffer.from(wasm.buffer);
        this.map = new GranuleMap(pages);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        this.unavailable = true;
      }
    }
    return this.memory;
  }
}

export function alignUp(bytes: number): number {
  return Math.ceil(bytes / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
}

// The process's staging slab, for every disk's shard writes.
export const directStaging = new DirectStaging(DIRECT_WRITE_SLAB_BYTES);

// The slab repair reads land in (ShardStore's `direct` reads: a peer's rebuild reading a shard
// here, and a rebuild reading this server's own). In benches/repair the kernel's copy of those
// reads out of the page cache (`_copy_to_iter` under pread) was a quarter of the whole machine's
// CPU while a repair ran: every source shard is read once, cold (written direct, so never
// cached), and a rebuilt GiB reads k of them. Read direct, the disk's DMA fills the buffer and
// no CPU copies it. Shared: the repair thread checks and codes the bytes where they are. 32 MiB
// holds about 30 whole shards of 1 MiB, more than a server's repair slots run at once
// (repair-slots.ts) together with the socket writes still sending them.
export const directReads = new DirectStaging(SLAB_BYTES, { shared: true });

// The slab a data server's rebuilt shards are coded into: the repair thread codes each where
// its file's direct write takes it from (at SHARD_DATA_AT of a file-sized lease), so the event
// loop writes it without copying it into directStaging first. That copy, of shared memory just
// written on the other core, was 1.2% of the whole machine's on-CPU samples in benches/repair
// (perf). 16 MiB: a server runs at most two rebuilds per disk (repair-slots.ts), about 1 MiB
// each; a rebuild that finds no room codes into repairBuffers and is copied as before.
export const REBUILD_SLAB_BYTES = 16 * 1024 * 1024;
export const rebuildStaging = new DirectStaging(REBUILD_SLAB_BYTES, { shared: true });
