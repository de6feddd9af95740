// The file `strata cluster backup` writes and `strata cluster restore` reads (docs/guides/
// operations.md, "Backing up the metadata"). One file, so an operator copies one thing:
//   8 bytes   magic "STRMBK01" (the format's version is its last two characters)
//   4 bytes   header length N, big-endian
//   N bytes   header, JSON (BackupHeader)
//   4 bytes   CRC32C of the N header bytes, big-endian
//   ...       the state: a compacted copy of the state machine's LMDB file (data.mdb), exactly
//             header.sizeBytes bytes, whose CRC32C is header.checksum
// The LMDB file records its own applied index; the header repeats it with where it came from, so
// a backup can be described without opening it.
import assert from 'node:assert';
import type { FileHandle } from 'node:fs/promises';
import { StrataError } from '../../common/errors.ts';
import { crc32c } from '../../data/crc32c.ts';

const MAGIC = Buffer.from('STRMBK01');
const HEADER_BYTES_MAX = 64 * 1024;
const FORMAT = 1;

export interface BackupHeader {
  format: number;
  index: number; // the applied index the state records
  term: number; // the Raft term of that entry at the member that took it (0: not known)
  sizeBytes: number; // of the state (data.mdb)
  checksum: number; // CRC32C of the state
  takenAtMs: number;
  nodeId: number; // the member that took it
  addr: string; // and its metadata address
}

/** What the source member says of a backup it took (the header, before the bytes). */
export type BackupInfo = Omit<BackupHeader, 'format'>;

/** The bytes a backup file starts with; the state follows them. */
export function encodeBackupHeader(info: BackupInfo): Buffer {
  checkInfo(info);
  const json = Buffer.from(JSON.stringify({ format: FORMAT, ...info }));
  assert(json.byteLength <= HEADER_BYTES_MAX, 'backup header too long');
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(json.byteLength);
  const crc = Buffer.allocUnsafe(4);
  crc.writeUInt32BE(crc32c(json));
  return Buffer.concat([MAGIC, length, json, crc]);
}

/**
 * Reads and checks a backup file's header; returns it with where the state starts. A file that is
 * not a backup, or whose header was damaged, is refused with EIO.
 */
export async function readBackupHeader(
  handle: FileHandle,
  path: string,
): Promise<{ header: BackupHeader; stateOffsetBytes: number }> {
  const head = Buffer.alloc(MAGIC.byteLength + 4);
  const { bytesRead } = await handle.read(head, 0, head.byteLength, 0);
  if (bytesRead < head.byteLength || !head.subarray(0, MAGIC.byteLength).equals(MAGIC))
    throw new StrataError('EIO', `${path} is not a Strata metadata backup (no STRMBK01 magic)`);
  const length = head.readUInt32BE(MAGIC.byteLength);
  if (length > HEADER_BYTES_MAX)
    throw new StrataError('EIO', `${path}: damaged backup header (length ${length})`);
  const rest = Buffer.alloc(length + 4);
  const read = await handle.read(rest, 0, rest.byteLength, head.byteLength);
  const json = rest.subarray(0, length);
  if (read.bytesRead < rest.byteLength || crc32c(json) !== rest.readUInt32BE(length))
    throw new StrataError('EIO', `${path}: damaged backup header (CRC32C mismatch)`);
  const header = JSON.parse(json.toString('utf8')) as BackupHeader;
  if (header.format !== FORMAT)
    throw new StrataError('EIO', `${path}: backup format ${header.format}, expected ${FORMAT}`);
  checkInfo(header);
  return { header, stateOffsetBytes: head.byteLength + rest.byteLength };
}

function checkInfo(info: BackupInfo): void {
  for (const key of ['index', 'term', 'sizeBytes', 'checksum', 'takenAtMs', 'nodeId'] as const)
    assert(Number.isSafeInteger(info[key]) && info[key] >= 0, `backup header ${key}`);
  assert(info.index > 0 && info.sizeBytes > 0, 'a backup holds a state');
  assert(typeof info.addr === 'string', 'backup header addr');
}
