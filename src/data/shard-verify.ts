// Verifies one whole shard file at rest, in bounded chunks: the checks a read makes (header,
// identity against the file's name, every block's CRC, the length the header promises), over
// the whole file instead of the blocks one read touches.
import assert from 'node:assert';
import { type FileHandle, open } from 'node:fs/promises';
import { StrataError } from '../common/errors.ts';
import {
  decodeHeader,
  headerIdentity,
  SHARD_HEADER_BYTES_MAX,
  type ShardHeader,
  type ShardIdentity,
  verifyBlocks,
} from './shard-file.ts';
import type { ScrubReason } from './types.ts';

export type VerifyOutcome =
  | { kind: 'healthy' }
  | { kind: 'corrupt'; reason: ScrubReason; detail: string }
  | { kind: 'gone' }; // deleted before it could be opened

export interface VerifyOptions {
  chunkBlocks: number; // blocks read and checked per step: the memory bound
  // Called after each read with its size; the scrubber's pacing and yielding happen here.
  afterRead(bytes: number): Promise<void>;
}

export async function verifyShardFile(
  path: string,
  identity: ShardIdentity,
  options: VerifyOptions,
): Promise<VerifyOutcome> {
  assert(Number.isInteger(options.chunkBlocks) && options.chunkBlocks > 0);
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'gone' };
    throw error;
  }
  try {
    return await verifyOpen(file, path, identity, options);
  } catch (error) {
    if (error instanceof StrataError && error.code === 'SHARD_CORRUPT') {
      return { kind: 'corrupt', reason: 'checksum', detail: error.message };
    }
    throw error;
  } finally {
    await file.close();
  }
}

async function verifyOpen(
  file: FileHandle,
  path: string,
  identity: ShardIdentity,
  options: VerifyOptions,
): Promise<VerifyOutcome> {
  const sizeBytes = (await file.stat()).size;
  const head = Buffer.alloc(SHARD_HEADER_BYTES_MAX);
  const { bytesRead } = await file.read(head, 0, head.length, 0);
  await options.afterRead(bytesRead);
  let header: ShardHeader;
  try {
    header = decodeHeader(head.subarray(0, bytesRead), path, identity);
  } catch (error) {
    if (!(error instanceof StrataError) || error.code !== 'SHARD_CORRUPT') throw error;
    const named = headerIdentity(head.subarray(0, bytesRead));
    const reason: ScrubReason =
      named !== undefined ? 'identity' : bytesRead < head.length ? 'size' : 'header';
    return { kind: 'corrupt', reason, detail: error.message };
  }
  const expectedBytes = header.headerBytes + header.dataLength + header.blockCount * 4;
  if (sizeBytes !== expectedBytes) {
    const what = sizeBytes < expectedBytes ? 'truncated' : 'longer than its header says';
    const detail = `shard ${path}: ${what}: ${sizeBytes} bytes where the header makes ${expectedBytes}`;
    return { kind: 'corrupt', reason: 'size', detail };
  }
  for (let first = 0; first < header.blockCount; first += options.chunkBlocks) {
    const count = Math.min(options.chunkBlocks, header.blockCount - first);
    const start = first * header.blockSize;
    const end = Math.min(header.dataLength, (first + count) * header.blockSize);
    const data = Buffer.allocUnsafe(end - start);
    const crcs = Buffer.allocUnsafe(count * 4);
    const crcAt = header.headerBytes + header.dataLength + first * 4;
    const dataRead = await file.read(data, 0, data.length, header.headerBytes + start);
    const crcRead = await file.read(crcs, 0, crcs.length, crcAt);
    await options.afterRead(dataRead.bytesRead + crcRead.bytesRead);
    // The size was checked above; a file cut shorter since is truncated all the same.
    if (dataRead.bytesRead !== data.length || crcRead.bytesRead !== crcs.length) {
      return { kind: 'corrupt', reason: 'size', detail: `shard ${path}: truncated` };
    }
    verifyBlocks(path, header, first, data, crcs);
  }
  return { kind: 'healthy' };
}
