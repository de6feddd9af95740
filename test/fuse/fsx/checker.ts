// fsx for Strata, after fsx from xfstests: one file, a seeded PRNG picks weighted random
// operations, each is applied to the real file through ordinary system calls and to an
// in-memory model (model.ts), and every read, and the size after every change, is compared with
// the model. The first difference throws an FsxMismatchError whose message holds the seed, the
// operation index, the first differing byte with the bytes around it, and the last operations.
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type FsxIo, nodeFsIo } from './io.ts';
import { FileModel } from './model.ts';
import { Prng } from './prng.ts';

export { type FsxIo, nodeFsIo } from './io.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
export const DEFAULT_MAX_FILE_SIZE_BYTES = 8 * MiB;
const SMALL_IO_MAX_BYTES = 4 * KiB;
/** Just over 1 MiB, so large transfers cross 1 MiB boundaries and page-cache/FUSE limits. */
const LARGE_IO_MAX_BYTES = MiB + 4097;
const PAST_EOF_IO_MAX_BYTES = 8 * KiB;
const HISTORY_OPS = 20;
const COMPARE_CHUNK_BYTES = MiB;
const HEX_CONTEXT_BYTES = 16;
/** --big-offsets writes just below and beyond this offset, then truncates back. */
const BIG_OFFSET_BYTES = 4 * GiB;
const BIG_OFFSET_MAX_FILE_SIZE_BYTES = GiB;
const PAGE_BYTES = 4096;

export type FsxOpKind =
  | 'writeSmall'
  | 'writeLarge'
  | 'writeHole'
  | 'readSmall'
  | 'readLarge'
  | 'readPastEof'
  | 'truncate'
  | 'append'
  | 'fsync'
  | 'compare'
  | 'reopen'
  | 'bigOffset';

// Out of 200. Full compares (compare, reopen) read the whole file and fsync waits for the disk,
// so they are rare; reads and writes dominate, as in xfstests' fsx.
const OP_WEIGHTS: ReadonlyArray<readonly [FsxOpKind, number]> = [
  ['writeSmall', 50],
  ['writeLarge', 10],
  ['writeHole', 10],
  ['readSmall', 50],
  ['readLarge', 12],
  ['readPastEof', 15],
  ['truncate', 20],
  ['append', 20],
  ['fsync', 1],
  ['compare', 1],
  ['reopen', 1],
  ['bigOffset', 2],
];

export interface FsxOptions {
  /** The file to check; created, or truncated to 0 if it exists. Left in place afterwards. */
  path: string;
  /** 0 .. 2^32-1; the same seed and options replay the same operations exactly. */
  seed: number;
  ops: number;
  /** Bytes; the file never grows past this (except inside a --big-offsets operation). */
  maxFileSize?: number;
  /** Now and then write beyond a 4 GiB offset (a sparse file), then truncate back. */
  bigOffsets?: boolean;
  /** The system calls; default node:fs on real descriptors. Tests wrap it to inject faults. */
  io?: FsxIo;
  /** Progress lines, one every `progressEveryOps` operations. */
  log?: (line: string) => void;
  progressEveryOps?: number;
}

export interface FsxResult {
  ops: number;
  counts: Record<FsxOpKind, number>;
  sizeBytes: number;
  elapsedMs: number;
}

export class FsxMismatchError extends Error {
  readonly code = 'FSX_MISMATCH';
  readonly seed: number;
  readonly opIndex: number;
  /** The file offset of the first differing byte; undefined for size or short-write mismatches. */
  readonly offset: number | undefined;

  constructor(message: string, seed: number, opIndex: number, offset: number | undefined) {
    super(message);
    this.name = 'FsxMismatchError';
    this.seed = seed;
    this.opIndex = opIndex;
    this.offset = offset;
  }
}

export async function runFsx(options: FsxOptions): Promise<FsxResult> {
  const run = new FsxRun(options);
  const started = performance.now();
  await run.open();
  try {
    for (let index = 0; index < options.ops; index++) {
      await run.step(index);
      const every = options.progressEveryOps ?? 10_000;
      if (options.log !== undefined && (index + 1) % every === 0) {
        const seconds = (performance.now() - started) / 1000;
        const rate = Math.round((index + 1) / seconds);
        options.log(
          `fsx: ${index + 1}/${options.ops} ops, size ${run.model.sizeBytes} bytes, ${rate} ops/s`,
        );
      }
    }
    await run.fullCompare('final compare');
  } finally {
    await run.closeQuietly();
  }
  const elapsedMs = performance.now() - started;
  return { ops: options.ops, counts: run.counts, sizeBytes: run.model.sizeBytes, elapsedMs };
}

function validate(options: FsxOptions): number {
  const maxSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE_BYTES;
  assert(Number.isSafeInteger(options.ops) && options.ops >= 0, `ops ${options.ops}`);
  assert(Number.isSafeInteger(maxSize) && maxSize >= 1, `maxFileSize ${maxSize}`);
  assert(
    !options.bigOffsets || maxSize <= BIG_OFFSET_MAX_FILE_SIZE_BYTES,
    `--big-offsets needs maxFileSize <= ${BIG_OFFSET_MAX_FILE_SIZE_BYTES}, got ${maxSize}`,
  );
  return maxSize;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

function range(offset: number, length: number): string {
  return `0x${offset.toString(16)}+0x${length.toString(16)} (${offset}..${offset + length})`;
}

class FsxRun {
  readonly model = new FileModel();
  readonly counts = Object.fromEntries(OP_WEIGHTS.map(([kind]) => [kind, 0])) as Record<
    FsxOpKind,
    number
  >;
  readonly #options: FsxOptions;
  readonly #io: FsxIo;
  readonly #rng: Prng;
  readonly #maxSize: number;
  readonly #weights: ReadonlyArray<readonly [FsxOpKind, number]>;
  readonly #weightTotal: number;
  /** Random bytes that writes take slices of: no per-write generation, no repeating pattern. */
  readonly #source: Buffer;
  readonly #scratch = Buffer.alloc(Math.max(LARGE_IO_MAX_BYTES, COMPARE_CHUNK_BYTES));
  readonly #history: string[] = [];
  #fd = -1;
  #appendFd = -1;
  #opIndex = -1;

  constructor(options: FsxOptions) {
    this.#maxSize = validate(options);
    this.#options = options;
    this.#io = options.io ?? nodeFsIo;
    this.#rng = new Prng(options.seed);
    this.#weights = OP_WEIGHTS.filter(([kind]) => kind !== 'bigOffset' || options.bigOffsets);
    this.#weightTotal = this.#weights.reduce((sum, [, weight]) => sum + weight, 0);
    // A second stream, so the data never shifts the choice of operations.
    const dataRng = new Prng((options.seed ^ 0x5eed_f5c0) >>> 0);
    this.#source = Buffer.alloc(LARGE_IO_MAX_BYTES + MiB);
    for (let at = 0; at + 4 <= this.#source.length; at += 4) {
      this.#source.writeUInt32LE(dataRng.nextUint32(), at);
    }
  }

  async open(): Promise<void> {
    const { O_RDWR, O_CREAT, O_TRUNC, O_WRONLY, O_APPEND } = constants;
    this.#fd = await this.#io.open(this.#options.path, O_RDWR | O_CREAT | O_TRUNC, 0o644);
    this.#appendFd = await this.#io.open(this.#options.path, O_WRONLY | O_APPEND, 0o644);
    await this.checkSize('size after open');
  }

  async closeQuietly(): Promise<void> {
    for (const fd of [this.#fd, this.#appendFd]) {
      if (fd >= 0) await this.#io.close(fd).catch(() => {});
    }
    this.#fd = -1;
    this.#appendFd = -1;
  }

  async step(opIndex: number): Promise<void> {
    this.#opIndex = opIndex;
    let pick = this.#rng.below(this.#weightTotal);
    let kind: FsxOpKind = this.#weights[0][0];
    for (const [candidate, weight] of this.#weights) {
      kind = candidate;
      if (pick < weight) break;
      pick -= weight;
    }
    this.counts[kind]++;
    await this.#dispatch(kind);
    assert(this.model.sizeBytes <= this.#maxSize, `model grew past maxFileSize`);
  }

  #dispatch(kind: FsxOpKind): Promise<void> {
    switch (kind) {
      case 'writeSmall':
        return this.#writeSmall();
      case 'writeLarge':
        return this.#writeLarge();
      case 'writeHole':
        return this.#writeHole();
      case 'readSmall':
        return this.#readAnywhere(SMALL_IO_MAX_BYTES);
      case 'readLarge':
        return this.#readAnywhere(LARGE_IO_MAX_BYTES);
      case 'readPastEof':
        return this.#readPastEof();
      case 'truncate':
        return this.#truncateRandom();
      case 'append':
        return this.#append();
      case 'fsync':
        return this.#fsync();
      case 'compare':
        return this.fullCompare('full compare');
      case 'reopen':
        return this.#reopen();
      case 'bigOffset':
        return this.#bigOffset();
    }
  }

  // ---- operations ----

  #writeSmall(): Promise<void> {
    const length = this.#rng.between(1, Math.min(SMALL_IO_MAX_BYTES, this.#maxSize));
    const offset = this.#rng.below(Math.min(this.model.sizeBytes, this.#maxSize - length) + 1);
    return this.#writeAt(offset, length, 'write');
  }

  #writeLarge(): Promise<void> {
    let length = this.#rng.between(1, Math.min(LARGE_IO_MAX_BYTES, this.#maxSize));
    if (this.#rng.chance(0.25) && this.#maxSize >= PAGE_BYTES) {
      // Whole pages at page offsets: the aligned path of page caches and FUSE writeback.
      length = Math.min(Math.ceil(length / PAGE_BYTES) * PAGE_BYTES, this.#maxSize);
      length -= length % PAGE_BYTES;
      const slots = Math.floor((this.#maxSize - length) / PAGE_BYTES) + 1;
      return this.#writeAt(this.#rng.below(slots) * PAGE_BYTES, length, 'write aligned');
    }
    return this.#writeAt(this.#rng.below(this.#maxSize - length + 1), length, 'write large');
  }

  #writeHole(): Promise<void> {
    const size = this.model.sizeBytes;
    if (size + 2 > this.#maxSize) return this.#writeSmall();
    const offset = this.#rng.between(size + 1, this.#maxSize - 1);
    const length = this.#rng.between(1, Math.min(64 * KiB, this.#maxSize - offset));
    return this.#writeAt(offset, length, `write past EOF ${size}`);
  }

  #readAnywhere(lengthMax: number): Promise<void> {
    const offset = this.#rng.below(this.model.sizeBytes + 1);
    const length = this.#rng.between(1, lengthMax);
    this.#note(`read ${range(offset, length)}`);
    return this.#checkRead(offset, length, 'read');
  }

  #readPastEof(): Promise<void> {
    const size = this.model.sizeBytes;
    let offset = Math.max(0, size - this.#rng.below(SMALL_IO_MAX_BYTES));
    if (this.#rng.chance(0.5)) offset += this.#rng.below(PAST_EOF_IO_MAX_BYTES);
    const length = this.#rng.between(1, PAST_EOF_IO_MAX_BYTES);
    this.#note(`read near EOF ${size}: ${range(offset, length)}`);
    return this.#checkRead(offset, length, 'read near EOF (expects a short read)');
  }

  #truncateRandom(): Promise<void> {
    const size = this.model.sizeBytes;
    if (this.#rng.chance(1 / 8)) return this.#truncateTo(0);
    if (this.#rng.chance(0.5)) return this.#truncateTo(this.#rng.below(size + 1));
    return this.#truncateTo(this.#rng.between(size, this.#maxSize));
  }

  async #append(): Promise<void> {
    const size = this.model.sizeBytes;
    const lengthMax = this.#rng.chance(0.2) ? 64 * KiB : SMALL_IO_MAX_BYTES;
    const length = Math.min(this.#rng.between(1, lengthMax), this.#maxSize - size);
    if (length === 0) return this.#truncateTo(this.#rng.below(size + 1));
    const data = this.#data(length);
    this.#note(`append (O_APPEND fd) ${range(size, length)}`);
    const written = await this.#io.write(this.#appendFd, data, null);
    this.#checkWritten(written, length, size);
    this.model.write(size, data);
    await this.checkSize('size after append');
    // Read back through the other descriptor: the bytes must have landed at the old end.
    const from = Math.max(0, size - 16);
    await this.#checkRead(from, size + length - from, 'read back after append');
  }

  async #fsync(): Promise<void> {
    const both = this.#rng.chance(0.25);
    this.#note(both ? 'fsync (both fds)' : 'fsync');
    await this.#io.fsync(this.#fd);
    if (both) await this.#io.fsync(this.#appendFd);
  }

  async #reopen(): Promise<void> {
    this.#note('close and reopen (close-to-open), then full compare');
    await this.#io.close(this.#fd);
    await this.#io.close(this.#appendFd);
    this.#fd = -1;
    this.#appendFd = -1;
    this.#fd = await this.#io.open(this.#options.path, constants.O_RDWR, 0o644);
    const { O_WRONLY, O_APPEND } = constants;
    this.#appendFd = await this.#io.open(this.#options.path, O_WRONLY | O_APPEND, 0o644);
    await this.checkSize('size after reopen');
    await this.fullCompare('compare after reopen');
  }

  async #bigOffset(): Promise<void> {
    const size = this.model.sizeBytes;
    // Half straddle the 4 GiB boundary (32-bit offset overflow), half lie beyond it.
    const offset = this.#rng.chance(0.5)
      ? BIG_OFFSET_BYTES - this.#rng.between(1, PAGE_BYTES)
      : BIG_OFFSET_BYTES + this.#rng.below(64 * MiB);
    const length = this.#rng.between(1, 64 * KiB);
    await this.#writeAt(offset, length, 'big-offset write');
    await this.#checkRead(offset - 64, length + 128, 'read back a big-offset write');
    const holeOffset = this.#rng.between(size, offset - 1);
    this.#note(`read in the hole ${range(holeOffset, PAGE_BYTES)}`);
    await this.#checkRead(holeOffset, PAGE_BYTES, 'read in the hole below a big offset');
    const back = this.#rng.chance(0.5) ? size : this.#rng.below(size + 1);
    await this.#truncateTo(back);
  }

  // ---- building blocks ----

  async #writeAt(offset: number, length: number, label: string): Promise<void> {
    const data = this.#data(length);
    this.#note(`${label} ${range(offset, length)}`);
    const written = await this.#io.write(this.#fd, data, offset);
    this.#checkWritten(written, length, offset);
    this.model.write(offset, data);
    await this.checkSize(`size after ${label}`);
  }

  async #truncateTo(sizeBytes: number): Promise<void> {
    const before = this.model.sizeBytes;
    this.#note(`truncate ${before} -> ${sizeBytes}`);
    await this.#io.ftruncate(this.#fd, sizeBytes);
    this.model.truncate(sizeBytes);
    await this.checkSize('size after truncate');
    // Around the old and new end: stale bytes after truncate down then up are a classic bug.
    const from = Math.max(0, Math.min(before, sizeBytes) - 64);
    const length = Math.min(Math.abs(sizeBytes - before) + 128, PAST_EOF_IO_MAX_BYTES);
    await this.#checkRead(from, length, 'read around the end after truncate');
  }

  async fullCompare(what: string): Promise<void> {
    const size = this.model.sizeBytes;
    this.#note(`${what}: 0..${size}`);
    for (let offset = 0; offset < size; offset += COMPARE_CHUNK_BYTES) {
      await this.#checkRead(offset, Math.min(COMPARE_CHUNK_BYTES, size - offset), what);
    }
    await this.#checkRead(size, 1, `${what}: read at EOF`);
  }

  async checkSize(what: string): Promise<void> {
    const actual = await this.#io.fstatSize(this.#fd);
    if (actual !== this.model.sizeBytes) {
      this.#fail(`${what}: fstat size ${actual}, expected ${this.model.sizeBytes}`, undefined);
    }
  }

  async #checkRead(offset: number, length: number, what: string): Promise<void> {
    assert(length <= this.#scratch.length, `read of ${length} bytes exceeds the scratch buffer`);
    const expected = this.model.read(offset, length);
    const buffer = this.#scratch.subarray(0, length);
    const got = await this.#io.read(this.#fd, buffer, offset);
    const actual = buffer.subarray(0, got);
    if (!actual.equals(expected)) this.#failBytes(what, offset, length, expected, actual);
  }

  #checkWritten(written: number, length: number, offset: number): void {
    if (written !== length) {
      this.#fail(`short write: ${written} of ${length} bytes at offset ${offset}`, undefined);
    }
  }

  #failBytes(what: string, offset: number, length: number, expected: Buffer, actual: Buffer) {
    let index = 0;
    const common = Math.min(expected.length, actual.length);
    while (index < common && expected[index] === actual[index]) index++;
    const from = Math.max(0, index - HEX_CONTEXT_BYTES);
    const to = index + 2 * HEX_CONTEXT_BYTES;
    const at = offset + index;
    const lines = [
      `${what} ${range(offset, length)}: expected ${expected.length} bytes, got ${actual.length}`,
      `first differing byte at file offset ${at} (0x${at.toString(16)})`,
      `bytes from file offset ${offset + from} (0x${(offset + from).toString(16)}):`,
      `  expected: ${hex(expected.subarray(from, to))}`,
      `  actual:   ${hex(actual.subarray(from, to))}`,
      `            ${' '.repeat(3 * (index - from))}^^ first difference`,
    ];
    if (index === common)
      lines.push('  (identical up to the shorter length: a short or long read)');
    this.#fail(lines.join('\n'), at);
  }

  #fail(detail: string, offset: number | undefined): never {
    const o = this.#options;
    const flags = [`--seed ${o.seed}`, `--ops ${this.#opIndex + 1}`, `--max-size ${this.#maxSize}`];
    if (o.bigOffsets) flags.push('--big-offsets');
    const message = [
      `fsx mismatch at op ${this.#opIndex} of ${o.ops}, seed ${o.seed}, file ${o.path}`,
      `model size ${this.model.sizeBytes} bytes`,
      detail,
      `reproduce: node scripts/fsx.ts --dir <dir> ${flags.join(' ')}`,
      `last ${this.#history.length} operations (latest last):`,
      ...this.#history.map((line) => `  ${line}`),
    ].join('\n');
    throw new FsxMismatchError(message, o.seed, this.#opIndex, offset);
  }

  #note(text: string): void {
    this.#history.push(`#${this.#opIndex} ${text}`);
    if (this.#history.length > HISTORY_OPS) this.#history.shift();
  }

  #data(length: number): Buffer {
    const start = this.#rng.below(this.#source.length - length + 1);
    return this.#source.subarray(start, start + length);
  }
}
