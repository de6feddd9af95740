// Shard files on a test server's disks, and forging them: tests of the data-integrity checks
// need well-formed shard files with chosen contents (what a buggy writer or a misplaced copy
// would leave), which only the format's own encoder can make.
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { crc32c } from '../../src/data/crc32c.ts';
import { encodeShard } from '../../src/data/shard-file.ts';

// Every shard file of a single-node test server (its six disks), by stripe id, in index order.
export function shardsByStripe(dataDir: string, disks = 6): Map<string, string[]> {
  const byStripe = new Map<string, string[]>();
  for (let d = 0; d < disks; d++) {
    const root = join(dataDir, 'disks', `d${d}`, 'shards');
    for (const name of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
      const path = join(root, name);
      // A file listed and removed before its stat (a repair releasing a replaced shard while
      // the scan runs: two tests failed so under load) is not there.
      const stat = statSync(path, { throwIfNoEntry: false });
      if (stat === undefined || !stat.isFile()) continue;
      const [stripeId, index] = basename(path).split('.');
      const files = byStripe.get(stripeId) ?? [];
      files[Number(index)] = path;
      byStripe.set(stripeId, files);
    }
  }
  return byStripe;
}

// The version 1 format as the code before issue 10 wrote it: a 32-byte header, unseeded CRCs.
export function shardFileV1(data: Buffer): Buffer {
  const blockBytes = 65_536;
  const blockCount = Math.ceil(data.length / blockBytes);
  const head = Buffer.alloc(32);
  head.writeUInt32BE(0x53545253, 0);
  head.writeUInt32BE(1, 4);
  head.writeBigUInt64BE(BigInt(data.length), 8);
  head.writeUInt32BE(blockBytes, 16);
  head.writeUInt32BE(blockCount, 20);
  head.writeUInt32BE(crc32c(head.subarray(0, 24)), 24);
  const crcs = Buffer.alloc(blockCount * 4);
  for (let b = 0; b < blockCount; b++)
    crcs.writeUInt32BE(crc32c(data.subarray(b * blockBytes, (b + 1) * blockBytes)), b * 4);
  return Buffer.concat([head, data, crcs]);
}

// The same shard file with its data changed by `mutate` and every checksum made valid again, in
// the file's own format version: bytes that were wrong before the data server checksummed them.
export function resealed(file: Buffer, path: string, mutate: (data: Buffer) => void): Buffer {
  const version = file.readUInt32BE(4);
  const headerBytes = version === 1 ? 32 : 64;
  const data = Buffer.from(
    file.subarray(headerBytes, headerBytes + Number(file.readBigUInt64BE(8))),
  );
  mutate(data);
  if (version === 1) return shardFileV1(data);
  const [stripeId, index] = basename(path).split('.');
  const { head, crcs } = encodeShard({ stripeId, shardIndex: Number(index) }, data);
  return Buffer.concat([head, data, crcs]);
}
