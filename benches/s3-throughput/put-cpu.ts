// CPU seconds per GiB PUT, process by process, for 16 MiB PUTs 8 at a time (the bench:s3 load):
// wall-clock MiB/s on a shared machine says little, CPU per GiB does not depend on the load.
//   node benches/s3-throughput/put-cpu.ts [--count 48] [--rounds 1] [--profile DIR]
//     [--node-options '--max-semi-space-size=32']
// Starts one single-node server (gateway + data-server child), PUTs `count` objects per round
// with the AWS SDK (its default checksum, as s3-load.mjs does) and reads utime+stime of the
// gateway and the data server from /proc before and after each round, and from the server's
// metrics page the garbage collections of both processes (full ones cost the gateway most:
// src/common/heap-tuning.ts) and the shard writes that missed the direct-write slab
// (strata_data_writes_unstaged_total). --profile writes V8 CPU profiles (--cpu-prof) of both
// server processes to DIR.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { patternBytes } from '../../test/helpers/s3.ts';
import { startStrata, tempDir } from '../../test/helpers/server.ts';

const { values: opts } = parseArgs({
  options: {
    count: { type: 'string', default: '48' },
    rounds: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '8' },
    profile: { type: 'string' },
    'node-options': { type: 'string', default: '' }, // for both server processes
    'server-output': { type: 'string' }, // the servers' stdout and stderr, written to this file
  },
});

const MiB = 1024 * 1024;
const OBJECT_BYTES = 16 * MiB;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

// [user, system] CPU seconds of a process so far.
function cpuSeconds(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) / TICKS_PER_SECOND, Number(fields[12]) / TICKS_PER_SECOND];
}

function childPids(pid: number): number[] {
  const out = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim();
  return out === '' ? [] : out.split('\n').map(Number);
}

const nodeOptions = [
  opts['node-options'],
  opts.profile ? `--cpu-prof --cpu-prof-dir=${opts.profile}` : '',
].join(' ');
const env: Record<string, string> = { NODE_OPTIONS: nodeOptions.trim() };
const server = await startStrata({ dataDir: join(tempDir('strata-put-cpu-'), 'data'), env });
const gatewayPid = server.process.pid as number;
const [dataPid] = childPids(gatewayPid);
const s3 = new S3Client({
  endpoint: server.s3Endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
  maxAttempts: 1,
  requestHandler: new NodeHttpHandler({
    httpAgent: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  }),
});
// Counters of the server's metrics page (the gateway's and its data process's, summed).
async function serverCounters(metricsUrl: string) {
  const page = await (await fetch(metricsUrl)).text();
  const value = (series: string) => {
    const line = page.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  };
  return {
    major: value('strata_process_nodejs_gc_duration_seconds_count{kind="major"}'),
    incremental: value('strata_process_nodejs_gc_duration_seconds_count{kind="incremental"}'),
    minor: value('strata_process_nodejs_gc_duration_seconds_count{kind="minor"}'),
    unstaged: value('strata_data_writes_unstaged_total'),
    writes: value('strata_data_writes_total'),
  };
}

const bodies = Array.from({ length: 4 }, (_, i) => patternBytes(OBJECT_BYTES, i + 1));
try {
  await s3.send(new CreateBucketCommand({ Bucket: 'putcpu' }));
  const count = Number(opts.count);
  for (let round = 0; round < Number(opts.rounds); round++) {
    const countersBefore = await serverCounters(server.metricsUrl);
    const before = [cpuSeconds(gatewayPid), cpuSeconds(dataPid), process.cpuUsage()] as const;
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < count; i = next++) {
        await s3.send(
          new PutObjectCommand({
            Bucket: 'putcpu',
            Key: `r${round}/o${i}`,
            Body: bodies[i % 4],
            ContentLength: OBJECT_BYTES,
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: Number(opts.concurrency) }, worker));
    const seconds = (performance.now() - started) / 1000;
    const gib = (count * OBJECT_BYTES) / 1024 ** 3;
    const client = process.cpuUsage(before[2]);
    const perGib = (s: number) => (s / gib).toFixed(2);
    const spent = (pid: number, [user, system]: [number, number]) => {
      const [u, s] = cpuSeconds(pid);
      return `${perGib(u - user + s - system)} (user ${perGib(u - user)} sys ${perGib(s - system)})`;
    };
    const countersAfter = await serverCounters(server.metricsUrl);
    const counted = (name: keyof typeof countersAfter) =>
      countersAfter[name] - countersBefore[name];
    console.log(
      `round ${round}: ${((count * OBJECT_BYTES) / MiB / seconds).toFixed(1)} MiB/s; CPU-s/GiB ` +
        `gateway ${spent(gatewayPid, before[0])} data ${spent(dataPid, before[1])} ` +
        `client ${perGib((client.user + client.system) / 1e6)}; ` +
        `collections per GiB (both processes, by perf_hooks kind) major ${perGib(counted('major'))} ` +
        `incremental ${perGib(counted('incremental'))} minor ${perGib(counted('minor'))}; ` +
        `shard writes unstaged ${counted('unstaged')} ` +
        `of ${counted('writes')}; ` +
        `load ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
  }
} finally {
  s3.destroy();
  await server.stop();
  if (opts['server-output']) writeFileSync(opts['server-output'], server.output());
}
