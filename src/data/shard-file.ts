// On-disk format of one shard:
//   header (32 bytes): magic "STRS", version u32, data length u64, block size u32, block count u32,
//                      header CRC32C u32 (over the 24 bytes before it), reserved u32
//   data (data length bytes)
//   CRC32C of each block of the data, u32 each, block count of them
// Blocks of 64 KiB let a ranged read verify just the blocks it touches.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { crc32c } from './crc32c.ts';

export const SHARD_MAGIC = 0x53545253; // "STRS"
export const SHARD_VERSION = 1;
export const SHARD_HEADER_BYTES = 32;
export const SHARD_BLOCK_BYTES = 64 * 1024;

export interface ShardHeader {
  dataLength: number;
  blockSize: number;
  blockCount: number;
}

export function encodeShard(data: Uint8Array): { head: Buffer; crcs: Buffer } {
  const blockCount = Math.ceil(data.length / SHARD_BLOCK_BYTES);
  const crcs = Buffer.allocUnsafe(blockCount * 4);
  for (let b = 0; b < blockCount; b++) {
    const block = data.subarray(
      b * SHARD_BLOCK_BYTES,
      Math.min(data.length, (b + 1) * SHARD_BLOCK_BYTES),
    );
    crcs.writeUInt32BE(crc32c(block), b * 4);
  }
  const head = Buffer.alloc(SHARD_HEADER_BYTES);
  head.writeUInt32BE(SHARD_MAGIC, 0);
  head.writeUInt32BE(SHARD_VERSION, 4);
  head.writeBigUInt64BE(BigInt(data.length), 8);
  head.writeUInt32BE(SHARD_BLOCK_BYTES, 16);
  head.writeUInt32BE(blockCount, 20);
  head.writeUInt32BE(crc32c(head.subarray(0, 24)), 24);
  return { head, crcs };
}

export function decodeHeader(head: Buffer, name: string): ShardHeader {
  if (head.length < SHARD_HEADER_BYTES || head.readUInt32BE(0) !== SHARD_MAGIC) {
    throw new StrataError('SHARD_CORRUPT', `shard ${name}: bad magic`);
  }
  if (head.readUInt32BE(24) !== crc32c(head.subarray(0, 24))) {
    throw new StrataError('SHARD_CORRUPT', `shard ${name}: header checksum mismatch`);
  }
  if (head.readUInt32BE(4) !== SHARD_VERSION) {
    throw new StrataError(
      'SHARD_CORRUPT',
      `shard ${name}: unknown version ${head.readUInt32BE(4)}`,
    );
  }
  const dataLength = Number(head.readBigUInt64BE(8));
  const blockSize = head.readUInt32BE(16);
  const blockCount = head.readUInt32BE(20);
  if (blockSize === 0 || blockCount !== Math.ceil(dataLength / blockSize)) {
    throw new StrataError('SHARD_CORRUPT', `shard ${name}: inconsistent header`);
  }
  return { dataLength, blockSize, blockCount };
}

// Checks the blocks [firstBlock, firstBlock + n) held in `data` against their stored CRCs.
export function verifyBlocks(
  name: string,
  header: ShardHeader,
  firstBlock: number,
  data: Buffer,
  crcs: Buffer,
) {
  const n = crcs.length / 4;
  assert(Number.isInteger(n));
  for (let i = 0; i < n; i++) {
    const block = data.subarray(
      i * header.blockSize,
      Math.min(data.length, (i + 1) * header.blockSize),
    );
    if (crc32c(block) !== crcs.readUInt32BE(i * 4)) {
      throw new StrataError(
        'SHARD_CORRUPT',
        `shard ${name}: block ${firstBlock + i} checksum mismatch`,
      );
    }
  }
}
