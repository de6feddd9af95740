// Sequential reads through the kernel arrive 128 KiB at a time; each would cost a metadata
// round trip for the size and one for the extents before the data. A file read sequentially is
// fetched a stripe-sized block at a time instead, the next block ahead of the reader. Random
// reads use the file's layout (size and extents), fetched once, so each costs one data round
// trip. Blocks and layouts are dropped whenever the file may have changed (a write or truncate
// here, an open after another client's change, an invalidation); a read that fails on a kept
// layout (its stripes collected after another client rewrote the file) is retried without it.
import type { StrataClient } from '../client/strata-client.ts';
import type { FileExtent } from '../metadata/types.ts';

const STREAMS_MAX = 32;
const BLOCKS_PER_STREAM_MAX = 4;
const LAYOUTS_MAX = 256;
const SEQUENTIAL_WINDOW_BYTES = 512 * 1024;
const RUN_TO_STREAM = 2;
// A file with more extents than this is read without a kept layout.
const LAYOUT_EXTENTS_MAX = 16_384;

interface Layout {
  sizeBytes: number;
  extents: FileExtent[] | undefined; // undefined: too fragmented to keep
}

interface Stream {
  nextOffset: number;
  runLength: number; // reads in a row that continued the stream
  blocks: Map<number, Promise<Buffer>>; // block index -> the block's bytes (short at EOF)
}

export class ReadAhead {
  private readonly client: StrataClient;
  private readonly blockBytes: number;
  private readonly streams = new Map<number, Stream>();
  private readonly layouts = new Map<number, Promise<Layout>>();

  constructor(client: StrataClient, blockBytes: number) {
    this.client = client;
    this.blockBytes = blockBytes;
  }

  drop(ino: number): void {
    this.streams.delete(ino);
    this.layouts.delete(ino);
  }

  private layout(ino: number): Promise<Layout> {
    let layout = this.layouts.get(ino);
    if (!layout) {
      layout = (async () => {
        const inode = await this.client.getattr(ino);
        const extents = await this.client.extents(ino, 0, inode.size);
        return {
          sizeBytes: inode.size,
          extents: extents.length <= LAYOUT_EXTENTS_MAX ? extents : undefined,
        };
      })();
      this.layouts.set(ino, layout);
      layout.catch(() => this.layouts.delete(ino));
      while (this.layouts.size > LAYOUTS_MAX)
        this.layouts.delete(this.layouts.keys().next().value as number);
    }
    return layout;
  }

  private async randomRead(ino: number, offset: number, length: number): Promise<Buffer> {
    const kept = this.layouts.get(ino);
    try {
      const { sizeBytes, extents } = await this.layout(ino);
      if (!extents) return this.client.read(ino, offset, length);
      const end = Math.min(sizeBytes, offset + length);
      if (end <= offset) return Buffer.alloc(0);
      return await this.client.readFromExtents(extents, offset, end - offset);
    } catch (error) {
      if (!kept) throw error;
      this.layouts.delete(ino);
      return this.client.read(ino, offset, length);
    }
  }

  async read(ino: number, offset: number, length: number): Promise<Buffer> {
    let stream = this.streams.get(ino);
    // The kernel has several reads of a stream in flight, so they may arrive a little out of
    // order; a read this close to where the last one ended continues the stream.
    const near =
      stream !== undefined && Math.abs(offset - stream.nextOffset) <= SEQUENTIAL_WINDOW_BYTES;
    if (stream && near) {
      stream.runLength++;
    } else {
      // A read from the start of the file begins a sequential stream at once; elsewhere a
      // file must be read on from there before whole blocks are fetched for it.
      stream = {
        nextOffset: offset,
        runLength: offset === 0 ? RUN_TO_STREAM : 0,
        blocks: new Map(),
      };
    }
    const s = stream;
    this.streams.delete(ino);
    this.streams.set(ino, s); // most recently used last
    while (this.streams.size > STREAMS_MAX)
      this.streams.delete(this.streams.keys().next().value as number);
    s.nextOffset = near ? Math.max(s.nextOffset, offset + length) : offset + length;
    if (s.runLength < RUN_TO_STREAM) return this.randomRead(ino, offset, length);
    const first = Math.floor(offset / this.blockBytes);
    const last = Math.floor((offset + length - 1) / this.blockBytes);
    const parts: Buffer[] = [];
    for (let index = first; index <= last; index++) {
      const block = await this.block(s, ino, index);
      const blockStart = index * this.blockBytes;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(offset + length, blockStart + this.blockBytes) - blockStart;
      parts.push(block.subarray(from, Math.min(to, block.length)));
      if (block.length < this.blockBytes) break; // end of file
    }
    void this.block(s, ino, last + 1).catch(() => {}); // ahead of the reader
    for (const index of s.blocks.keys()) if (index < first - 1) s.blocks.delete(index);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  private block(s: Stream, ino: number, index: number): Promise<Buffer> {
    let block = s.blocks.get(index);
    if (!block) {
      block = this.client.read(ino, index * this.blockBytes, this.blockBytes);
      s.blocks.set(index, block);
      block.catch(() => s.blocks.delete(index));
      while (s.blocks.size > BLOCKS_PER_STREAM_MAX)
        s.blocks.delete(s.blocks.keys().next().value as number);
    }
    return block;
  }
}
