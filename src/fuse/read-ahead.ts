// Sequential reads through the kernel arrive 128 KiB at a time; each would cost a metadata
// round trip for the size and one for the extents before the data. A file read sequentially is
// fetched a stripe-sized block at a time instead, the next block ahead of the reader. Random
// reads use the file's layout (size and extents), fetched once, so each costs one data round
// trip. Blocks and layouts are dropped whenever the file may have changed (a write or truncate
// here, an open after another client's change, an invalidation); a read that fails on a kept
// layout (its stripes collected after another client rewrote the file) is retried without it.
import assert from 'node:assert';
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

// A block's bytes as the stripe reads gave them (readPartsLeased), never joined: a read answers
// with views of them, written out together (one writev), so no byte is copied on its way to the
// kernel but by the kernel. They sit in pooled buffers, given back once no one holds the block:
// the stream's map holds it until it is evicted, and each read that answers from it holds it
// until its reply is written (ReadResult.done). A hold is taken at once on the entry got from the
// map, never after an await, so a block is never given back under a reader.
class BlockEntry {
  private refs = 1; // the stream's map
  private leased: { parts: Buffer[]; release: () => void } | undefined;
  private given = false;
  readonly ready: Promise<Block>;

  constructor(read: Promise<{ parts: Buffer[]; release: () => void }>) {
    this.ready = read.then((leased) => {
      this.leased = leased;
      if (this.refs === 0) this.giveBack();
      return { parts: leased.parts, length: leased.parts.reduce((sum, p) => sum + p.length, 0) };
    });
  }

  hold(): void {
    assert(this.refs > 0, 'a block is held only while its map holds it too');
    this.refs++;
  }

  drop(): void {
    assert(this.refs > 0, 'a block dropped more often than held');
    this.refs--;
    if (this.refs === 0 && this.leased !== undefined) this.giveBack();
  }

  private giveBack(): void {
    assert(!this.given, 'a block given back twice');
    this.given = true;
    this.leased?.release();
  }
}

interface Block {
  parts: Buffer[];
  length: number; // the parts' bytes in all: a block's, less at the end of the file
}

interface Stream {
  nextOffset: number;
  runLength: number; // reads in a row that continued the stream
  blocks: Map<number, BlockEntry>; // block index -> the block's bytes
}

// A read's bytes in parts (none empty; none at all past the end of the file), and `done`, to be
// called once they are written out (or will not be): the blocks they are views of may then be
// given back.
export interface ReadResult {
  parts: Buffer[];
  done: () => void;
}

const NOTHING_HELD = () => {};

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
    const stream = this.streams.get(ino);
    if (stream) this.evict(ino, stream);
    this.layouts.delete(ino);
  }

  private evict(ino: number, stream: Stream): void {
    this.streams.delete(ino);
    for (const entry of stream.blocks.values()) entry.drop();
    stream.blocks.clear();
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

  private async randomRead(ino: number, offset: number, length: number): Promise<Buffer[]> {
    const kept = this.layouts.get(ino);
    try {
      const { sizeBytes, extents } = await this.layout(ino);
      if (!extents) return await this.client.readParts(ino, offset, length);
      const end = Math.min(sizeBytes, offset + length);
      if (end <= offset) return [];
      return [await this.client.readFromExtents(extents, offset, end - offset)];
    } catch (error) {
      if (!kept) throw error;
      this.layouts.delete(ino);
      return this.client.readParts(ino, offset, length);
    }
  }

  // The bytes [offset, offset + length) of the file, short at its end.
  async read(ino: number, offset: number, length: number): Promise<ReadResult> {
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
    if (this.streams.get(ino) !== s) {
      const replaced = this.streams.get(ino);
      if (replaced) this.evict(ino, replaced);
    }
    this.streams.delete(ino);
    this.streams.set(ino, s); // most recently used last
    while (this.streams.size > STREAMS_MAX) {
      const [oldest, evicted] = this.streams.entries().next().value as [number, Stream];
      this.evict(oldest, evicted);
    }
    s.nextOffset = near ? Math.max(s.nextOffset, offset + length) : offset + length;
    if (s.runLength < RUN_TO_STREAM)
      return { parts: await this.randomRead(ino, offset, length), done: NOTHING_HELD };
    const first = Math.floor(offset / this.blockBytes);
    const last = Math.floor((offset + length - 1) / this.blockBytes);
    const parts: Buffer[] = [];
    const held: BlockEntry[] = [];
    const done = () => {
      for (const entry of held.splice(0)) entry.drop();
    };
    try {
      for (let index = first; index <= last; index++) {
        const entry = this.block(s, ino, index);
        entry.hold(); // before the await: see BlockEntry
        held.push(entry);
        const block = await entry.ready;
        const blockStart = index * this.blockBytes;
        const from = Math.max(offset, blockStart) - blockStart;
        const to = Math.min(offset + length, blockStart + this.blockBytes) - blockStart;
        sliceParts(block.parts, from, Math.min(to, block.length), parts);
        if (block.length < this.blockBytes) break; // end of file
      }
    } catch (error) {
      done();
      throw error;
    }
    this.block(s, ino, last + 1); // ahead of the reader
    for (const [index, entry] of s.blocks)
      if (index < first - 1) {
        s.blocks.delete(index);
        entry.drop();
      }
    return { parts, done };
  }

  // The stream's entry for block `index`, its read started if it was not there.
  private block(s: Stream, ino: number, index: number): BlockEntry {
    let entry = s.blocks.get(index);
    if (!entry) {
      const made = new BlockEntry(
        this.client.readPartsLeased(ino, index * this.blockBytes, this.blockBytes),
      );
      entry = made;
      s.blocks.set(index, made);
      // A failed read leaves the map (nothing to give back); the next read of it starts anew.
      made.ready.catch(() => {
        if (s.blocks.get(index) !== made) return;
        s.blocks.delete(index);
        made.drop();
      });
      while (s.blocks.size > BLOCKS_PER_STREAM_MAX) {
        const [oldest, evicted] = s.blocks.entries().next().value as [number, BlockEntry];
        s.blocks.delete(oldest);
        evicted.drop();
      }
    }
    return entry;
  }
}

// Appends to `out` views of the bytes [from, to) of the parts taken end to end (none empty).
export function sliceParts(parts: Buffer[], from: number, to: number, out: Buffer[]): void {
  let at = 0;
  for (const part of parts) {
    const end = at + part.length;
    const start = Math.max(from, at);
    const stop = Math.min(to, end);
    if (stop > start) out.push(part.subarray(start - at, stop - at));
    at = end;
    if (at >= to) break;
  }
}
