// The in-memory model of one file that fsx checks the real file against: a size and its bytes.
// Bytes live in fixed-size chunks of a sparse map, so a file with a hole up to a 4 GiB offset
// (--big-offsets) costs only the chunks actually written. Invariant: every stored byte at or
// past `sizeBytes` is zero, so growing the file (write past EOF, truncate up) needs no zeroing.
import assert from 'node:assert/strict';

export const MODEL_CHUNK_BYTES = 64 * 1024;

export class FileModel {
  #sizeBytes = 0;
  readonly #chunks = new Map<number, Buffer>();

  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** Writes `data` at `offset`, extending the file; a gap past the old end reads as zeros. */
  write(offset: number, data: Uint8Array): void {
    assert(Number.isSafeInteger(offset) && offset >= 0, `write offset ${offset}`);
    let done = 0;
    while (done < data.length) {
      const position = offset + done;
      const index = Math.floor(position / MODEL_CHUNK_BYTES);
      const within = position - index * MODEL_CHUNK_BYTES;
      const count = Math.min(MODEL_CHUNK_BYTES - within, data.length - done);
      this.#chunk(index).set(data.subarray(done, done + count), within);
      done += count;
    }
    this.#sizeBytes = Math.max(this.#sizeBytes, offset + data.length);
    assert.equal(done, data.length);
  }

  /** Sets the size: bytes past a smaller size are gone, a larger size adds zeros. */
  truncate(sizeBytes: number): void {
    assert(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0, `truncate size ${sizeBytes}`);
    if (sizeBytes < this.#sizeBytes) {
      const lastIndex = Math.floor(sizeBytes / MODEL_CHUNK_BYTES);
      for (const index of [...this.#chunks.keys()]) {
        if (index > lastIndex) this.#chunks.delete(index);
      }
      // Keeps the invariant: the cut-off tail of the last chunk must read as zeros if regrown.
      this.#chunks.get(lastIndex)?.fill(0, sizeBytes - lastIndex * MODEL_CHUNK_BYTES);
    }
    this.#sizeBytes = sizeBytes;
  }

  /** Reads up to `length` bytes at `offset`; short (possibly empty) at the end of the file. */
  read(offset: number, length: number): Buffer {
    assert(Number.isSafeInteger(offset) && offset >= 0, `read offset ${offset}`);
    assert(Number.isSafeInteger(length) && length >= 0, `read length ${length}`);
    const available = Math.max(0, Math.min(length, this.#sizeBytes - offset));
    const out = Buffer.alloc(available);
    let done = 0;
    while (done < available) {
      const position = offset + done;
      const index = Math.floor(position / MODEL_CHUNK_BYTES);
      const within = position - index * MODEL_CHUNK_BYTES;
      const count = Math.min(MODEL_CHUNK_BYTES - within, available - done);
      this.#chunks.get(index)?.copy(out, done, within, within + count);
      done += count;
    }
    return out;
  }

  #chunk(index: number): Buffer {
    let chunk = this.#chunks.get(index);
    if (chunk === undefined) {
      chunk = Buffer.alloc(MODEL_CHUNK_BYTES);
      this.#chunks.set(index, chunk);
    }
    return chunk;
  }
}
