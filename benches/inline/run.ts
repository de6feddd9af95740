// Small files with and without inline data (docs/architecture/overview.md, "Small files inline"):
// 4 KiB PUTs and GETs per second through the SDK with 32 in flight, and 4 KiB files per second one writer
// creates through a FUSE mount (open, write, close), on two single-node servers started side by
// side, one with erasure_coding.inline_max_bytes at its default and one at 0 (every file
// striped, as before inline data). The rounds alternate between them, so that whatever else the
// machine does weighs on both alike; each figure is the median of its rounds.
//   npm run bench:inline [-- --puts 500 --files 300 --rounds 3]   (the mount rows need root)
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { canMount, mounted, type StrataMount, startMount } from '../../test/helpers/mount.ts';
import { patternBytes, s3Client } from '../../test/helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../../test/helpers/server.ts';

const { values: opts } = parseArgs({
  options: {
    puts: { type: 'string', default: '500' },
    files: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '3' },
  },
});
const PUTS = Number(opts.puts);
const FILES = Number(opts.files);
const ROUNDS = Number(opts.rounds);
const CONCURRENCY = 32;
const body = patternBytes(4096, 9);

interface Target {
  name: string;
  server: StrataProcess;
  s3: S3Client;
  mount?: StrataMount;
  puts: number[];
  gets: number[];
  files: number[];
}

async function start(name: string, inlineMaxBytes: number): Promise<Target> {
  const env = { STRATA_ERASURE_CODING_INLINE_MAX_BYTES: String(inlineMaxBytes) };
  const server = await startStrata({ env });
  const s3 = s3Client(server);
  await s3.send(new CreateBucketCommand({ Bucket: 'small' }));
  let mount: StrataMount | undefined;
  if (canMount) {
    const mountPoint = join(tempDir('strata-bench-mnt-'), 'mnt');
    mkdirSync(mountPoint);
    mount = await startMount(server.metadataAddr, { mountPoint });
  }
  return { name, server, s3, mount, puts: [], gets: [], files: [] };
}

async function putRound(t: Target, round: number): Promise<void> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < PUTS; i = next++)
      await t.s3.send(
        new PutObjectCommand({ Bucket: 'small', Key: `r${round}/p${i}`, Body: body }),
      );
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.puts.push(PUTS / ((performance.now() - started) / 1000));
}

// GETs of the objects a PUT round made, with as many in flight.
async function getRound(t: Target, round: number): Promise<void> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < PUTS; i = next++) {
      const reply = await t.s3.send(
        new GetObjectCommand({ Bucket: 'small', Key: `r${round}/p${i}` }),
      );
      const bytes = await reply.Body?.transformToByteArray();
      if (bytes?.length !== body.length) throw new Error(`r${round}/p${i}: ${bytes?.length} bytes`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.gets.push(PUTS / ((performance.now() - started) / 1000));
}

function fileRound(t: Target, round: number): void {
  if (!t.mount) return;
  const dir = join(t.mount.mountPoint, 'small', `files${round}`);
  mkdirSync(dir);
  const started = performance.now();
  for (let i = 0; i < FILES; i++) {
    const fd = openSync(join(dir, `f${i}`), 'wx');
    writeSync(fd, body);
    closeSync(fd);
  }
  t.files.push(FILES / ((performance.now() - started) / 1000));
}

async function stop(t: Target): Promise<void> {
  if (t.mount) {
    await t.mount.stop();
    if (mounted(t.mount.mountPoint)) spawnSync('umount', ['-l', t.mount.mountPoint]);
  }
  t.s3.destroy();
  await t.server.stop();
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const targets = [await start('striped', 0), await start('inline', 64 * 1024)];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) await putRound(t, round);
    for (const t of targets) await getRound(t, round);
    for (const t of targets) fileRound(t, round);
  }
} finally {
  await Promise.all(targets.map(stop));
}
const [striped, inline] = targets;
console.log(`\nmedians of ${ROUNDS} alternating rounds`);
console.log('| workload | striped (inline_max_bytes = 0) | inline (64 KiB) | inline / striped |');
console.log('|---|---|---|---|');
const row = (name: string, a?: number, b?: number) =>
  console.log(
    `| ${name} | ${a?.toFixed(0) ?? '-'} | ${b?.toFixed(0) ?? '-'} | ${a && b ? (b / a).toFixed(2) : '-'} |`,
  );
row(`4 KiB PUT, c=${CONCURRENCY} (ops/s)`, median(striped.puts), median(inline.puts));
row(`4 KiB GET, c=${CONCURRENCY} (ops/s)`, median(striped.gets), median(inline.gets));
row('4 KiB file via the mount, 1 writer (files/s)', median(striped.files), median(inline.files));
