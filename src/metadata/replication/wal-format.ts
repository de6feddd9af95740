// The bytes of the Raft log's segment files (raft-store.ts). A segment is a run of batches, one
// per write (a Ready, a compaction record), followed by zeros (the preallocated rest). A batch is
//   magic u32 | body length u32 | CRC32C of the body u32 | body
// and its body a run of records, each starting with its kind:
//   entry:      1 | type u8 | data length u32 | entry CRC32C u32 | index u64 | term u64 | data
//   hard state: 2 | term u64 | vote u64 | commit u64
//   snapshot:   3 | replaces log u8 | JSON length u32 | record CRC32C u32 | JSON {meta, sizeBytes,
//               checksum}
// All little-endian. The batch is the unit of atomicity: a write torn by a crash fails its CRC as
// a whole, so recovery keeps or drops a Ready entirely. Each entry also keeps its own CRC32C (of
// index, term, type and data, the same as the LMDB store's), checked whenever it is read back on
// its own (a lagging follower's read, the load at start).
import assert from 'node:assert';
import { StrataError } from '../../common/errors.ts';
import { crc32c } from '../../data/crc32c.ts';
import type { Entry, EntryType, HardState, Snapshot } from '../../raft/index.ts';

export const BATCH_MAGIC = 0x4c415752; // "RWAL" read as a little-endian u32
export const BATCH_HEADER_BYTES = 12;
export const ENTRY_HEADER_BYTES = 26;
const HARD_STATE_BYTES = 25;
const SNAPSHOT_HEADER_BYTES = 10;
const KIND_ENTRY = 1;
const KIND_HARD_STATE = 2;
const KIND_SNAPSHOT = 3;
// A batch body above this is refused on write and read as damage: bounds what recovery believes.
export const BATCH_BODY_BYTES_MAX = 1024 * 1024 * 1024;

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32LE(BATCH_MAGIC, 0);

export type WalRecord =
  | { kind: 'entry'; entry: Entry }
  | { kind: 'hardState'; hardState: HardState }
  // replacesLog: a received snapshot (the whole log goes); otherwise a compaction (entries up to
  // its index go, later ones stay).
  | { kind: 'snapshot'; snapshot: Snapshot; replacesLog: boolean };

const TYPE_CODES: Record<EntryType, number> = { normal: 1, confChange: 2, noop: 3 };
const TYPES_BY_CODE: EntryType[] = ['normal', 'normal', 'confChange', 'noop'];

export function entryChecksum(index: number, term: number, type: EntryType, data: Uint8Array) {
  const head = Buffer.allocUnsafe(17);
  head.writeBigUInt64BE(BigInt(index), 0);
  head.writeBigUInt64BE(BigInt(term), 8);
  head[16] = TYPE_CODES[type];
  return crc32c(data, crc32c(head));
}

export function snapshotChecksum(snapshot: Snapshot): number {
  const { meta, sizeBytes, checksum } = snapshot;
  return crc32c(Buffer.from(JSON.stringify({ meta, sizeBytes, checksum })));
}

function writeU64(buf: Buffer, value: number, offset: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `u64 field ${value}`);
  buf.writeUInt32LE(value % 2 ** 32, offset);
  buf.writeUInt32LE(Math.floor(value / 2 ** 32), offset + 4);
}

function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * 2 ** 32;
}

function recordBytes(record: WalRecord): number {
  if (record.kind === 'entry') return ENTRY_HEADER_BYTES + record.entry.data.byteLength;
  if (record.kind === 'hardState') return HARD_STATE_BYTES;
  return SNAPSHOT_HEADER_BYTES + Buffer.byteLength(snapshotJson(record.snapshot));
}

function snapshotJson(snapshot: Snapshot): string {
  const { meta, sizeBytes, checksum } = snapshot;
  return JSON.stringify({ meta, sizeBytes, checksum });
}

export interface EncodedBatch {
  bytes: Buffer;
  // Where each entry record starts, from the start of the batch, in record order.
  entryOffsets: number[];
}

export function encodeBatch(records: WalRecord[]): EncodedBatch {
  assert(records.length > 0, 'a batch holds at least one record');
  let bodyBytes = 0;
  for (const record of records) bodyBytes += recordBytes(record);
  assert(bodyBytes <= BATCH_BODY_BYTES_MAX, `a batch of ${bodyBytes} bytes is too large`);
  const bytes = Buffer.alloc(BATCH_HEADER_BYTES + bodyBytes);
  const entryOffsets: number[] = [];
  let at = BATCH_HEADER_BYTES;
  for (const record of records) {
    if (record.kind === 'entry') entryOffsets.push(at);
    at = encodeRecord(bytes, at, record);
  }
  assert(at === bytes.byteLength, 'the batch is filled exactly');
  const body = bytes.subarray(BATCH_HEADER_BYTES);
  bytes.writeUInt32LE(BATCH_MAGIC, 0);
  bytes.writeUInt32LE(bodyBytes, 4);
  bytes.writeUInt32LE(crc32c(body), 8);
  return { bytes, entryOffsets };
}

function encodeRecord(buf: Buffer, at: number, record: WalRecord): number {
  if (record.kind === 'entry') {
    const { index, term, type, data } = record.entry;
    buf[at] = KIND_ENTRY;
    buf[at + 1] = TYPE_CODES[type];
    buf.writeUInt32LE(data.byteLength, at + 2);
    buf.writeUInt32LE(entryChecksum(index, term, type, data), at + 6);
    writeU64(buf, index, at + 10);
    writeU64(buf, term, at + 18);
    buf.set(data, at + ENTRY_HEADER_BYTES);
    return at + ENTRY_HEADER_BYTES + data.byteLength;
  }
  if (record.kind === 'hardState') {
    const { term, vote, commit } = record.hardState;
    buf[at] = KIND_HARD_STATE;
    writeU64(buf, term, at + 1);
    writeU64(buf, vote, at + 9);
    writeU64(buf, commit, at + 17);
    return at + HARD_STATE_BYTES;
  }
  const json = Buffer.from(snapshotJson(record.snapshot));
  buf[at] = KIND_SNAPSHOT;
  buf[at + 1] = record.replacesLog ? 1 : 0;
  buf.writeUInt32LE(json.byteLength, at + 2);
  buf.writeUInt32LE(snapshotChecksum(record.snapshot), at + 6);
  buf.set(json, at + SNAPSHOT_HEADER_BYTES);
  return at + SNAPSHOT_HEADER_BYTES + json.byteLength;
}

export type BatchAt =
  | { status: 'ok'; endOffset: number; records: WalRecord[]; entryOffsets: number[] }
  // Nothing written here: a zero header (the preallocated rest of the segment) or the file's end.
  | { status: 'end' }
  | { status: 'bad'; reason: string };

// The batch at `offset` of a segment's bytes, checked.
export function decodeBatchAt(buf: Buffer, offset: number): BatchAt {
  if (offset + BATCH_HEADER_BYTES > buf.byteLength) {
    const rest = buf.subarray(offset);
    return rest.every((b) => b === 0)
      ? { status: 'end' }
      : { status: 'bad', reason: 'torn header' };
  }
  const magic = buf.readUInt32LE(offset);
  const bodyBytes = buf.readUInt32LE(offset + 4);
  const crc = buf.readUInt32LE(offset + 8);
  if (magic === 0 && bodyBytes === 0 && crc === 0) return { status: 'end' };
  if (magic !== BATCH_MAGIC) return { status: 'bad', reason: 'no batch header' };
  const start = offset + BATCH_HEADER_BYTES;
  if (bodyBytes === 0 || bodyBytes > BATCH_BODY_BYTES_MAX || start + bodyBytes > buf.byteLength)
    return { status: 'bad', reason: `impossible batch length ${bodyBytes}` };
  const body = buf.subarray(start, start + bodyBytes);
  if (crc32c(body) !== crc) return { status: 'bad', reason: 'batch checksum mismatch' };
  const records: WalRecord[] = [];
  const entryOffsets: number[] = [];
  let at = start;
  while (at < start + bodyBytes) {
    if (buf[at] === KIND_ENTRY) entryOffsets.push(at - offset);
    const decoded = decodeRecord(buf, at, start + bodyBytes);
    records.push(decoded.record);
    at = decoded.end;
  }
  return { status: 'ok', endOffset: start + bodyBytes, records, entryOffsets };
}

function decodeRecord(buf: Buffer, at: number, end: number): { record: WalRecord; end: number } {
  const kind = buf[at];
  // The batch CRC matched: a malformed record inside it was written so, which is a bug.
  const malformed = () => new StrataError('EIO', `raft log: malformed record of kind ${kind}`);
  if (kind === KIND_ENTRY) {
    const entry = decodeEntryAt(buf, at);
    if (at + ENTRY_HEADER_BYTES + entry.data.byteLength > end) throw malformed();
    return {
      record: { kind: 'entry', entry },
      end: at + ENTRY_HEADER_BYTES + entry.data.byteLength,
    };
  }
  if (kind === KIND_HARD_STATE) {
    if (at + HARD_STATE_BYTES > end) throw malformed();
    const hardState = {
      term: readU64(buf, at + 1),
      vote: readU64(buf, at + 9),
      commit: readU64(buf, at + 17),
    };
    return { record: { kind: 'hardState', hardState }, end: at + HARD_STATE_BYTES };
  }
  if (kind === KIND_SNAPSHOT) {
    const jsonBytes = buf.readUInt32LE(at + 2);
    const recordEnd = at + SNAPSHOT_HEADER_BYTES + jsonBytes;
    if (recordEnd > end) throw malformed();
    const snapshot = JSON.parse(
      buf.subarray(at + SNAPSHOT_HEADER_BYTES, recordEnd).toString(),
    ) as Snapshot;
    if (snapshotChecksum(snapshot) !== buf.readUInt32LE(at + 6))
      throw new StrataError(
        'EIO',
        `the raft snapshot record at ${snapshot.meta.index} fails its checksum`,
      );
    return {
      record: { kind: 'snapshot', snapshot, replacesLog: buf[at + 1] === 1 },
      end: recordEnd,
    };
  }
  throw malformed();
}

// The entry record at `at` (its header and data must be in `buf`), its own CRC32C checked. The
// data is a copy: `buf` may be a reused read buffer.
export function decodeEntryAt(buf: Buffer, at: number): Entry {
  assert(buf[at] === KIND_ENTRY, 'an entry record');
  const type = TYPES_BY_CODE[buf[at + 1]];
  const dataBytes = buf.readUInt32LE(at + 2);
  const crc = buf.readUInt32LE(at + 6);
  const index = readU64(buf, at + 10);
  const term = readU64(buf, at + 18);
  const start = at + ENTRY_HEADER_BYTES;
  if (type === undefined || start + dataBytes > buf.byteLength)
    throw new StrataError('EIO', `raft log entry ${index} is malformed`);
  const data = new Uint8Array(buf.subarray(start, start + dataBytes));
  if (entryChecksum(index, term, type, data) !== crc) {
    throw new StrataError(
      'EIO',
      `raft log entry ${index} fails its checksum: the disk returned different bytes than ` +
        'were written; refusing to start rather than serve possibly wrong state',
    );
  }
  return { index, term, type, data };
}

export function entryDataBytesAt(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 2);
}

// Whether a valid batch starts anywhere in buf after `offset`: a damaged batch followed by a good
// one is damage in the middle of the log, not a write torn by a crash (which is always the last).
export function validBatchAfter(buf: Buffer, offset: number): number | undefined {
  for (let at = buf.indexOf(MAGIC_BYTES, offset + 1); at >= 0; ) {
    if (decodeBatchAtQuiet(buf, at)) return at;
    at = buf.indexOf(MAGIC_BYTES, at + 1);
  }
  return undefined;
}

function decodeBatchAtQuiet(buf: Buffer, at: number): boolean {
  if (at + BATCH_HEADER_BYTES > buf.byteLength) return false;
  const bodyBytes = buf.readUInt32LE(at + 4);
  const start = at + BATCH_HEADER_BYTES;
  if (bodyBytes === 0 || start + bodyBytes > buf.byteLength) return false;
  return crc32c(buf.subarray(start, start + bodyBytes)) === buf.readUInt32LE(at + 8);
}
