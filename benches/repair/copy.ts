// The plain copy the repair rate is compared with: the lost server's shard files, read and
// written whole (user space, as repair moves bytes), each written file fsynced as the data server
// fsyncs a shard, `concurrency` files at a time, into a directory on a surviving server's disk.
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export async function shardFiles(dataDir: string): Promise<Array<{ path: string; bytes: number }>> {
  const files: Array<{ path: string; bytes: number }> = [];
  const disks = await readdir(join(dataDir, 'disks'));
  for (const disk of disks) {
    const root = join(dataDir, 'disks', disk, 'shards');
    const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      files.push({ path, bytes: (await stat(path)).size });
    }
  }
  return files;
}

export async function plainCopy(
  files: ReadonlyArray<{ path: string; bytes: number }>,
  destDir: string,
  concurrency: number,
): Promise<{ bytes: number; ms: number }> {
  let next = 0;
  let bytes = 0;
  const startedMs = performance.now();
  const worker = async () => {
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (let i = next++; i < files.length; i = next++) {
      const source = await open(files[i].path, 'r');
      const target = await open(join(destDir, `copy-${i}`), 'wx');
      try {
        for (;;) {
          const { bytesRead } = await source.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          await target.write(buffer, 0, bytesRead);
          bytes += bytesRead;
        }
        await target.sync();
      } finally {
        await source.close();
        await target.close();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { bytes, ms: performance.now() - startedMs };
}
