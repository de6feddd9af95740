// On-disk format of one shard, version 2 (written since shard identity was bound, issue 10):
//   header (64 bytes): magic "STRS" u32, version u32 (2), data length u64, block size u32,
//                      block count u32, stripe id (16 bytes), shard index u32,
//                      header CRC32C u32 (over the 44 bytes before it), reserved (16 zero bytes)
//   data (data length bytes)
//   CRC32C of each block of the data, u32 each, block count of them; block b's CRC is seeded with
//   crc32c(b as u32 BE, header CRC), so it covers the shard's identity and the block's place in it
// Version 1 (still read, never written): a 32-byte header of magic, version, data length, block
// size, block count and a header CRC32C over the 24 bytes before it; unseeded block CRCs.
//
// Why identity: a shard's checksums alone prove its bytes are the bytes some writer stored, not
// that they are this shard's. A shard file of another stripe (or of this stripe's other index)
// copied or restored to this path would pass them and be served as this shard's data. A version 2
// header names the shard, and the reader compares that name with the one it asked for (its path),
// and the length with what the metadata recorded; blocks spliced in from another shard fail their
// seeded CRC. There is no generation field: stripe ids are 128 random bits chosen per write and a
// shard file is created once (O_EXCL) and never rewritten, so (stripe id, index) names one content
// for ever and an "older version" of a shard cannot exist.
// Blocks of 64 KiB let a ranged read verify just the blocks it touches.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { crc32c } from './crc32c.ts';

export const SHARD_MAGIC = 0x53545253; // "STRS"
export const SHARD_VERSION = 2;
// Enough bytes to hold either version's header: readers fetch this much first.
export const SHARD_HEADER_BYTES_MAX = 64;
export const SHARD_BLOCK_BYTES = 64 * 1024;
const V1_HEADER_BYTES = 32;
const V2_HEADER_BYTES = 64;
// Where the data of a file encodeShard's header starts (the header is written first).
export const SHARD_DATA_AT = V2_HEADER_BYTES;
const V2_CRC_AT = 44;
const STRIPE_ID_BYTES = 16;
const STRIPE_ID = /^[0-9a-f]{32}$/;

export interface ShardIdentity {
  stripeId: string; // 32 lowercase hex characters
  shardIndex: number;
}

export interface ShardHeader {
  version: 1 | 2;
  headerBytes: number;
  dataLength: number;
  blockSize: number;
  blockCount: number;
  // Version 2: the header's CRC, which seeds every block's CRC. Version 1: none (unseeded).
  blockSeed: number | undefined;
}

// What the reader knows a shard must be, from its address and the stripe's metadata.
export interface ShardExpectation extends ShardIdentity {
  dataLength?: number; // the stripe's shard size, when the caller knows it
  minVersion?: number; // the version the shard was written in (a version 1 file there is stale)
}

// A shard file's header and its blocks' checksums, written around the data.
export interface EncodedShard {
  head: Buffer;
  crcs: Buffer;
}

// The bytes of the file encodeShard's header and checksums make of `dataLength` bytes of data.
export function shardFileBytes(dataLength: number): number {
  return V2_HEADER_BYTES + dataLength + Math.ceil(dataLength / SHARD_BLOCK_BYTES) * 4;
}

export function encodeShard(identity: ShardIdentity, data: Uint8Array): EncodedShard {
  assert(STRIPE_ID.test(identity.stripeId), 'stripe id is 32 lowercase hex characters');
  assert(Number.isInteger(identity.shardIndex) && identity.shardIndex >= 0);
  const blockCount = Math.ceil(data.length / SHARD_BLOCK_BYTES);
  const head = Buffer.alloc(V2_HEADER_BYTES);
  head.writeUInt32BE(SHARD_MAGIC, 0);
  head.writeUInt32BE(SHARD_VERSION, 4);
  head.writeBigUInt64BE(BigInt(data.length), 8);
  head.writeUInt32BE(SHARD_BLOCK_BYTES, 16);
  head.writeUInt32BE(blockCount, 20);
  head.write(identity.stripeId, 24, STRIPE_ID_BYTES, 'hex');
  head.writeUInt32BE(identity.shardIndex, 40);
  const headerCrc = crc32c(head.subarray(0, V2_CRC_AT));
  head.writeUInt32BE(headerCrc, V2_CRC_AT);
  const crcs = Buffer.allocUnsafe(blockCount * 4);
  for (let b = 0; b < blockCount; b++) {
    const block = data.subarray(
      b * SHARD_BLOCK_BYTES,
      Math.min(data.length, (b + 1) * SHARD_BLOCK_BYTES),
    );
    crcs.writeUInt32BE(crc32c(block, blockSeed(headerCrc, b)), b * 4);
  }
  return { head, crcs };
}

// Decodes and checks a header read from the start of a shard file (`head` may hold more bytes
// than the header), against what the reader expects the shard to be. Any disagreement is
// SHARD_CORRUPT: the reader then treats the shard as missing and rebuilds it from the others.
export function decodeHeader(head: Buffer, name: string, expected: ShardExpectation): ShardHeader {
  const corrupt = (why: string) => new StrataError('SHARD_CORRUPT', `shard ${name}: ${why}`);
  if (head.length < V1_HEADER_BYTES) throw corrupt('truncated header');
  if (head.readUInt32BE(0) !== SHARD_MAGIC) throw corrupt('bad magic');
  const version = head.readUInt32BE(4);
  const header = version === 1 ? decodeV1(head) : decodeV2(head, version, expected);
  if (header === undefined) throw corrupt('header checksum mismatch');
  if (typeof header === 'string') throw corrupt(header);
  if (
    header.blockSize === 0 ||
    header.blockCount !== Math.ceil(header.dataLength / header.blockSize)
  )
    throw corrupt('inconsistent header');
  if (expected.dataLength !== undefined && header.dataLength !== expected.dataLength)
    throw corrupt(
      `holds ${header.dataLength} bytes where the stripe's shards have ${expected.dataLength}`,
    );
  if (expected.minVersion !== undefined && header.version < expected.minVersion)
    throw corrupt(
      `version ${header.version} file where version ${expected.minVersion} was written`,
    );
  return header;
}

function decodeV1(head: Buffer): ShardHeader | undefined {
  if (head.readUInt32BE(24) !== crc32c(head.subarray(0, 24))) return undefined;
  return {
    version: 1,
    headerBytes: V1_HEADER_BYTES,
    ...sizes(head),
    blockSeed: undefined,
  };
}

function decodeV2(
  head: Buffer,
  version: number,
  expected: ShardIdentity,
): ShardHeader | string | undefined {
  if (head.length < V2_HEADER_BYTES) return 'truncated header';
  const headerCrc = crc32c(head.subarray(0, V2_CRC_AT));
  if (head.readUInt32BE(V2_CRC_AT) !== headerCrc) return undefined;
  // Checked after the CRC: a flipped version byte is a bad checksum, not an unknown version.
  if (version !== 2) return `unknown version ${version}`;
  const stripeId = head.toString('hex', 24, 24 + STRIPE_ID_BYTES);
  const shardIndex = head.readUInt32BE(40);
  if (stripeId !== expected.stripeId || shardIndex !== expected.shardIndex) {
    return `holds shard ${stripeId}.${shardIndex}, not ${expected.stripeId}.${expected.shardIndex}`;
  }
  return { version: 2, headerBytes: V2_HEADER_BYTES, ...sizes(head), blockSeed: headerCrc };
}

// The shard a version 2 header names, when the header is intact (magic and CRC); otherwise
// undefined. Lets the scrubber tell "another shard's file at this path" from plain damage.
export function headerIdentity(head: Buffer): ShardIdentity | undefined {
  if (head.length < V2_HEADER_BYTES || head.readUInt32BE(0) !== SHARD_MAGIC) return undefined;
  if (head.readUInt32BE(4) !== 2) return undefined;
  if (head.readUInt32BE(V2_CRC_AT) !== crc32c(head.subarray(0, V2_CRC_AT))) return undefined;
  return {
    stripeId: head.toString('hex', 24, 24 + STRIPE_ID_BYTES),
    shardIndex: head.readUInt32BE(40),
  };
}

function sizes(head: Buffer) {
  return {
    dataLength: Number(head.readBigUInt64BE(8)),
    blockSize: head.readUInt32BE(16),
    blockCount: head.readUInt32BE(20),
  };
}

// Block b of a version 2 shard: its CRC starts from this seed, so the same bytes at another
// index, or in another shard, give another CRC.
function blockSeed(headerCrc: number, block: number): number {
  const index = Buffer.allocUnsafe(4);
  index.writeUInt32BE(block, 0);
  return crc32c(index, headerCrc);
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
    const seed = header.blockSeed === undefined ? 0 : blockSeed(header.blockSeed, firstBlock + i);
    if (crc32c(block, seed) !== crcs.readUInt32BE(i * 4)) {
      throw new StrataError(
        'SHARD_CORRUPT',
        `shard ${name}: block ${firstBlock + i} checksum mismatch`,
      );
    }
  }
}
