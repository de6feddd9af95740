// Copies a file to a new one at a bounded write rate, each chunk on the disk before the next is
// written, and returns the copy's size and CRC32C. A snapshot file is written this way
// (snapshot-files.ts, adoptTaken): on a disk the Raft store shares, an unpaced copy of hundreds
// of megabytes makes every Raft fsync wait behind it (docs/architecture/raft.md, "Snapshots").
import assert from 'node:assert';
import { open } from 'node:fs/promises';
import { PRIVATE_FILE_MODE } from '../../common/private-dir.ts';
import { crc32c } from '../../data/crc32c.ts';

export interface PacedCopyOptions {
  bytesPerSecond: number;
  // Written and synced as one: at most this much of the copy is ever queued at the disk ahead of
  // another writer's fsync.
  chunkBytes: number;
}

export async function copyFilePaced(
  from: string,
  to: string,
  options: PacedCopyOptions,
): Promise<{ sizeBytes: number; checksum: number }> {
  const { bytesPerSecond, chunkBytes } = options;
  assert(bytesPerSecond > 0 && chunkBytes > 0, `pace ${bytesPerSecond} B/s, chunk ${chunkBytes}`);
  const source = await open(from, 'r');
  try {
    const target = await open(to, 'wx', PRIVATE_FILE_MODE);
    try {
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const startedMs = performance.now();
      let sizeBytes = 0;
      let checksum = 0;
      for (;;) {
        const { bytesRead } = await source.read(chunk, 0, chunkBytes, sizeBytes);
        if (bytesRead === 0) break;
        const data = chunk.subarray(0, bytesRead);
        for (let done = 0; done < bytesRead; ) {
          const { bytesWritten } = await target.write(
            data,
            done,
            bytesRead - done,
            sizeBytes + done,
          );
          done += bytesWritten;
        }
        await target.datasync();
        checksum = crc32c(data, checksum);
        sizeBytes += bytesRead;
        const aheadMs = startedMs + (sizeBytes * 1000) / bytesPerSecond - performance.now();
        if (aheadMs > 0) await new Promise((resolve) => setTimeout(resolve, aheadMs));
      }
      assert.equal((await target.stat()).size, sizeBytes, `copy of ${from}: every byte written`);
      return { sizeBytes, checksum };
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
