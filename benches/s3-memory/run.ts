// Gateway memory under one huge streaming PUT and GET: a 5 GiB object (size adjustable) goes up
// through @aws-sdk/client-s3 at its default settings (aws-chunked with a CRC32 trailer) and comes
// back, while /proc/<pid>/status of the server process (S3 gateway and metadata service; the data
// service runs in its own child) is sampled. Prints peak RSS (VmHWM) and throughput.
//   npm run bench:s3-memory [-- --gib 5]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { patternBytes, s3Client } from '../../test/helpers/s3.ts';
import { startStrata, tempDir } from '../../test/helpers/server.ts';

const { values: opts } = parseArgs({ options: { gib: { type: 'string', default: '5' } } });
const MiB = 1024 * 1024;
const sizeBytes = Math.round(Number(opts.gib) * 1024 * MiB);
const LIMIT_MIB = 512;

function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return kib / 1024;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

// A body of `size` bytes made of one repeated 1 MiB block: nothing large is held by the client.
function body(size: number): Readable {
  const block = patternBytes(MiB, 7);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(MiB, size - sent);
      sent += n;
      this.push(n === MiB ? block : block.subarray(0, n));
    },
  });
}

const server = await startStrata({ dataDir: join(tempDir('strata-memory-'), 'data') });
const pid = server.process.pid as number;
const s3 = s3Client(server);
let peakSampledMiB = 0;
const sampler = setInterval(() => {
  peakSampledMiB = Math.max(peakSampledMiB, statusMiB(pid, 'VmRSS'));
}, 100);
try {
  await s3.send(new CreateBucketCommand({ Bucket: 'memory' }));
  const idleMiB = statusMiB(pid, 'VmRSS');
  console.log(
    `server pid ${pid}: idle RSS ${idleMiB.toFixed(0)} MiB; object ${(sizeBytes / 1024 / MiB).toFixed(2)} GiB`,
  );

  let started = performance.now();
  await s3.send(
    new PutObjectCommand({
      Bucket: 'memory',
      Key: 'huge',
      Body: body(sizeBytes),
      ContentLength: sizeBytes,
    }),
  );
  const putSeconds = (performance.now() - started) / 1000;
  const afterPutPeak = statusMiB(pid, 'VmHWM');
  console.log(
    `PUT  ${(sizeBytes / MiB / putSeconds).toFixed(1)} MiB/s; peak RSS so far ${afterPutPeak.toFixed(0)} MiB`,
  );

  started = performance.now();
  const got = await s3.send(new GetObjectCommand({ Bucket: 'memory', Key: 'huge' }));
  let received = 0;
  for await (const chunk of got.Body as AsyncIterable<Uint8Array>) received += chunk.length;
  const getSeconds = (performance.now() - started) / 1000;
  if (received !== sizeBytes)
    throw new Error(`GET returned ${received} bytes, expected ${sizeBytes}`);
  console.log(`GET  ${(sizeBytes / MiB / getSeconds).toFixed(1)} MiB/s`);

  const peakMiB = statusMiB(pid, 'VmHWM');
  const children = childPids(pid).map(
    (child) => `${child}: ${statusMiB(child, 'VmHWM').toFixed(0)} MiB`,
  );
  console.log(`\n| process | peak RSS (VmHWM) |`);
  console.log('|---|---|');
  console.log(
    `| gateway + metadata (pid ${pid}) | ${peakMiB.toFixed(0)} MiB (sampled max ${peakSampledMiB.toFixed(0)} MiB) |`,
  );
  for (const line of children) console.log(`| data service child ${line.replace(':', ' |')} |`);
  console.log(
    `\ngateway peak ${peakMiB.toFixed(0)} MiB: ${peakMiB < LIMIT_MIB ? 'under' : 'OVER'} the ${LIMIT_MIB} MiB limit`,
  );
  if (peakMiB >= LIMIT_MIB) process.exitCode = 1;
} finally {
  clearInterval(sampler);
  s3.destroy();
  await server.stop();
}
