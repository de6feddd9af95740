// Sequential reads through the kernel arrive 128 KiB at a time; each would cost a metadata
// round trip for the size and one for the extents before the data. A file read sequentially is
// fetched a stripe-sized block at a time instead, the next block ahead of the reader; a random
// read goes straight through. Blocks are dropped whenever the file may have changed (a write or
// truncate here, an open after another client's change, an invalidation).
import type { StrataClient } from '../client/strata-client.ts';

const STREAMS_MAX = 32;
const BLOCKS_PER_STREAM_MAX = 4;

interface Stream {
  nextOffset: number;
  blocks: Map<number, Promise<Buffer>>; // block index -> the block's bytes (short at EOF)
}

export class ReadAhead {
  private readonly client: StrataClient;
  private readonly blockBytes: number;
  private readonly streams = new Map<number, Stream>();

  constructor(client: StrataClient, blockBytes: number) {
    this.client = client;
    this.blockBytes = blockBytes;
  }

  drop(ino: number): void {
    this.streams.delete(ino);
  }

  async read(ino: number, offset: number, length: number): Promise<Buffer> {
    let stream = this.streams.get(ino);
    // The kernel has several reads of a stream in flight, so they may arrive a little out of order.
    const sequential =
      stream !== undefined && Math.abs(offset - stream.nextOffset) <= this.blockBytes;
    if (!sequential) {
      // A first read from the start counts as the beginning of a sequential stream.
      if (offset !== 0) return this.client.read(ino, offset, length);
      stream = { nextOffset: 0, blocks: new Map() };
    }
    const s = stream as Stream;
    this.streams.delete(ino);
    this.streams.set(ino, s); // most recently used last
    while (this.streams.size > STREAMS_MAX)
      this.streams.delete(this.streams.keys().next().value as number);
    s.nextOffset = Math.max(s.nextOffset, offset + length);
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
