// Small files through the mount and S3, with and without inline data: how many 4 KiB files per
// second one writer creates through a FUSE mount (open, write, close), and 4 KiB PUTs per second
// through the SDK with 32 in flight, on a single-node server with erasure_coding.inline_max_bytes
// at its default and at 0 (every file striped), in turn on the same machine.
//   npm run bench:inline -- [--files 1000] [--puts 2000]   (needs root for the mount)
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { canMount, mounted, startMount } from '../../test/helpers/mount.ts';
import { patternBytes, s3Client } from '../../test/helpers/s3.ts';
import { startStrata, tempDir } from '../../test/helpers/server.ts';

const { values: opts } = parseArgs({
  options: {
    files: { type: 'string', default: '1000' },
    puts: { type: 'string', default: '2000' },
  },
});
const FILES = Number(opts.files);
const PUTS = Number(opts.puts);
const CONCURRENCY = 32;
const body = patternBytes(4096, 9);

async function measure(inlineMaxBytes: string) {
  const env = { STRATA_ERASURE_CODING_INLINE_MAX_BYTES: inlineMaxBytes };
  const server = await startStrata({ env });
  const s3 = s3Client(server);
  const result: { putsPerS: number; mountFilesPerS?: number } = { putsPerS: 0 };
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'small' }));
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      for (let i = next++; i < PUTS; i = next++)
        await s3.send(new PutObjectCommand({ Bucket: 'small', Key: `p${i}`, Body: body }));
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    result.putsPerS = PUTS / ((performance.now() - started) / 1000);
    if (canMount) {
      const mountPoint = join(tempDir('strata-bench-mnt-'), 'mnt');
      mkdirSync(mountPoint);
      const mount = await startMount(server.metadataAddr, { mountPoint });
      try {
        const dir = join(mountPoint, 'small', 'files');
        mkdirSync(dir);
        const t0 = performance.now();
        for (let i = 0; i < FILES; i++) {
          const fd = openSync(join(dir, `f${i}`), 'wx');
          writeSync(fd, body);
          closeSync(fd);
        }
        result.mountFilesPerS = FILES / ((performance.now() - t0) / 1000);
      } finally {
        await mount.stop();
        if (mounted(mountPoint)) spawnSync('umount', ['-l', mountPoint]);
      }
    }
  } finally {
    s3.destroy();
    await server.stop();
  }
  return result;
}

const striped = await measure('0');
const inline = await measure(String(64 * 1024));
console.log('| workload | striped (inline_max_bytes = 0) | inline (64 KiB) | inline / striped |');
console.log('|---|---|---|---|');
const row = (name: string, a?: number, b?: number) =>
  console.log(
    `| ${name} | ${a?.toFixed(0) ?? '-'} | ${b?.toFixed(0) ?? '-'} | ${a && b ? (b / a).toFixed(2) : '-'} |`,
  );
row(`4 KiB PUT, c=${CONCURRENCY} (ops/s)`, striped.putsPerS, inline.putsPerS);
row(
  '4 KiB file via the mount, one writer (files/s)',
  striped.mountFilesPerS,
  inline.mountFilesPerS,
);
