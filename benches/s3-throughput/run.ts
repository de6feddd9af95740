// S3 throughput, Strata beside OpenStack Swift + s3api, in one run:
//   16 MiB objects PUT/GET with 8 concurrent; 4 KiB objects PUT/HEAD/GET/DELETE with 32 concurrent;
//   multipart uploads of 256 MiB objects in 8 MiB parts, 10 parts in flight (awscli's defaults).
// Uses the shared load generator (../shared/peers/s3-load.mjs) against both endpoints, both up
// at once and their runs alternated (Strata first in odd runs, Swift first in even ones), and
// prints each run pair's ratios with their median, then each side's medians and their ratio.
//   npm run bench:s3 [-- --big-count 32 --small-count 2000 --runs 1 --skip-swift --encryption]
//                       [--skip-warmup]
// Against Swift, each side first takes a shorter load that is not counted (16 big objects, 400
// small ones): the runs compare two servers in their steady state, not a first run's start-up
// (V8 compiling the hot paths, pools and hashing threads growing), which cost Strata's first
// run up to a third of its PUT rate and always fell in the first pair.
// --encryption runs Strata twice, without and with encryption at rest (two servers, the same
// load in turn, run by run, the order swapped each run) and prints the ratio of each pair of
// runs, the median of those ratios, and the two sides' medians: the cost of sealing and opening;
// then 16 MiB GETs on both servers interleaved batch by batch (--steady-rounds 16), the figure to
// quote for a GET's cost (docs/guides/security.md, "Cost of encryption").
import assert from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { patternBytes } from '../../test/helpers/s3.ts';
import { REPO_ROOT, type StrataProcess, startStrata, tempDir } from '../../test/helpers/server.ts';
import { MachineSpeed } from '../machine-speed.ts';

// Beside the checkout (/work/main), or two levels up from a git worktree (/work/wt/NAME).
const PEERS =
  [join(REPO_ROOT, '..', 'shared', 'peers'), join(REPO_ROOT, '..', '..', 'shared', 'peers')].find(
    (dir) => existsSync(dir),
  ) ?? join(REPO_ROOT, '..', 'shared', 'peers');
const { values: opts } = parseArgs({
  options: {
    'big-count': { type: 'string', default: '32' },
    'small-count': { type: 'string', default: '2000' },
    runs: { type: 'string', default: '1' },
    'skip-swift': { type: 'boolean', default: false },
    'skip-warmup': { type: 'boolean', default: false },
    'multipart-count': { type: 'string', default: '3' },
    encryption: { type: 'boolean', default: false },
    'steady-rounds': { type: 'string', default: '16' },
  },
});

const MiB = 1024 * 1024;
const MULTIPART_OBJECT_BYTES = 256 * MiB;
const PART_BYTES = 8 * MiB;
const PARTS_IN_FLIGHT = 10;

// Multipart uploads as awscli does them; returns MiB/s over all objects, create to complete.
async function multipart(endpoint: string, access: string, secret: string): Promise<number> {
  const s3 = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: access, secretAccessKey: secret },
  });
  const part = patternBytes(PART_BYTES, 11);
  await s3.send(new CreateBucketCommand({ Bucket: 'mpbench' })).catch(() => {});
  const count = Number(opts['multipart-count']);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const Key = `object-${i}`;
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'mpbench', Key }),
    );
    const numbers = Array.from({ length: MULTIPART_OBJECT_BYTES / PART_BYTES }, (_, n) => n + 1);
    const parts: Array<{ PartNumber: number; ETag?: string }> = [];
    const worker = async () => {
      for (let n = numbers.shift(); n !== undefined; n = numbers.shift()) {
        const done = await s3.send(
          new UploadPartCommand({ Bucket: 'mpbench', Key, UploadId, PartNumber: n, Body: part }),
        );
        parts.push({ PartNumber: n, ETag: done.ETag });
      }
    };
    await Promise.all(Array.from({ length: PARTS_IN_FLIGHT }, worker));
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'mpbench',
        Key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  s3.destroy();
  const mibs = (count * MULTIPART_OBJECT_BYTES) / MiB / seconds;
  console.log(
    `multipart: ${count} x 256 MiB in ${seconds.toFixed(1)} s = ${mibs.toFixed(1)} MiB/s`,
  );
  return mibs;
}

interface Phase {
  ops: number;
  p50: number;
  p99: number;
  errors: number;
}
interface LoadResult {
  bigPutMBs: number;
  bigGetMBs: number;
  multipartMBs?: number;
  smallPut: Phase;
  smallHead: Phase;
  smallGet: Phase;
  smallDelete: Phase;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...env },
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`)),
    );
  });
}

// The load generator resolves the SDK next to itself: give it our node_modules.
function stageLoadGenerator(): string {
  const dir = tempDir('strata-bench-');
  copyFileSync(join(PEERS, 's3-load.mjs'), join(dir, 's3-load.mjs'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function load(
  dir: string,
  label: string,
  endpoint: string,
  access: string,
  secret: string,
  runs = opts.runs,
): Promise<LoadResult> {
  return medianOf(await loadRuns(dir, label, [endpoint, access, secret], runs));
}

async function loadRuns(
  dir: string,
  label: string,
  [endpoint, access, secret]: string[],
  runs: string,
  counts = { big: opts['big-count'], small: opts['small-count'] },
): Promise<LoadResult[]> {
  const out = join(dir, `${label}.json`);
  console.log(`\n=== ${label}: ${endpoint}`);
  await run(process.execPath, [
    join(dir, 's3-load.mjs'),
    ...['--endpoint', endpoint, '--access', access, '--secret', secret],
    ...['--big-count', counts.big, '--big-size', String(16 * 1024 * 1024), '--big-conc', '8'],
    ...['--small-count', counts.small, '--small-size', '4096', '--small-conc', '32'],
    ...['--runs', runs, '--json', out],
  ]);
  return JSON.parse(readFileSync(out, 'utf8')).runs as LoadResult[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// Each figure is the median over the runs, metric by metric.
function medianOf(runs: LoadResult[]): LoadResult {
  const phase = (key: 'smallPut' | 'smallHead' | 'smallGet' | 'smallDelete'): Phase => ({
    ops: median(runs.map((r) => r[key].ops)),
    p50: median(runs.map((r) => r[key].p50)),
    p99: median(runs.map((r) => r[key].p99)),
    errors: runs.reduce((sum, r) => sum + r[key].errors, 0),
  });
  return {
    bigPutMBs: median(runs.map((r) => r.bigPutMBs)),
    bigGetMBs: median(runs.map((r) => r.bigGetMBs)),
    smallPut: phase('smallPut'),
    smallHead: phase('smallHead'),
    smallGet: phase('smallGet'),
    smallDelete: phase('smallDelete'),
  };
}

function table(
  strata: LoadResult,
  swift: LoadResult | undefined,
  names = ['Strata', 'Swift+s3api'],
) {
  const rows: Array<[string, number, number | undefined, string]> = [
    ['16 MiB PUT, c=8', strata.bigPutMBs, swift?.bigPutMBs, 'MiB/s'],
    ['16 MiB GET, c=8', strata.bigGetMBs, swift?.bigGetMBs, 'MiB/s'],
    [
      'multipart 256 MiB, 8 MiB parts, c=10',
      strata.multipartMBs ?? 0,
      swift?.multipartMBs,
      'MiB/s',
    ],
  ];
  for (const key of ['smallPut', 'smallHead', 'smallGet', 'smallDelete'] as const) {
    rows.push([
      `4 KiB ${key.slice(5).toUpperCase()}, c=32`,
      strata[key].ops,
      swift?.[key].ops,
      'ops/s',
    ]);
  }
  console.log(`\nmedians over ${opts.runs} run(s) each`);
  console.log(`\n| workload | ${names[0]} | ${names[1]} | ${names[0]} / ${names[1]} |`);
  console.log('|---|---|---|---|');
  for (const [name, ours, theirs, unit] of rows) {
    const ratio = theirs ? (ours / theirs).toFixed(2) : '-';
    console.log(
      `| ${name} | ${ours.toFixed(1)} ${unit} | ${theirs?.toFixed(1) ?? '-'} ${unit} | ${ratio} |`,
    );
  }
}

// Then, with both servers still up, 16 MiB GETs in the steady state (steadyGets below): the row
// to quote for the cost of opening.
// The same load on a server without and one with encryption at rest, pair by pair, the order
// swapped each pair (plain first, then encrypted first, ...): whatever else the machine does, and
// whatever one run leaves behind (a multipart upload's dirty pages still being written back),
// weighs on both alike, and neither always runs first. Each pair gives a ratio per workload;
// the medians of those ratios are printed beside the medians of each side.
async function encryptionPair(dir: string): Promise<[LoadResult, LoadResult]> {
  const plain = await startStrata({ dataDir: join(dir, 'strata-plain') });
  const env = { STRATA_ENCRYPTION_ENABLED: 'true' };
  const sealed = await startStrata({ dataDir: join(dir, 'strata-encrypted'), env });
  const nodes = [plain, sealed];
  const results: [LoadResult[], LoadResult[]] = [[], []];
  try {
    for (let r = 0; r < Number(opts.runs); r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const node = nodes[i];
        const label = i === 0 ? 'strata' : 'strata-encrypted';
        const keys = [node.s3Endpoint, node.accessKey, node.secretKey];
        const [result] = await loadRuns(dir, `${label}-${r}`, keys, '1');
        result.multipartMBs = await multipart(node.s3Endpoint, node.accessKey, node.secretKey);
        results[i].push(result);
      }
    }
    await steadyGets(nodes[1], nodes[0], Number(opts['steady-rounds']));
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
  pairTable(results[1], results[0]);
  return [medianWithMultipart(results[0]), medianWithMultipart(results[1])];
}

function medianWithMultipart(runs: LoadResult[]): LoadResult {
  return { ...medianOf(runs), multipartMBs: median(runs.map((x) => x.multipartMBs ?? 0)) };
}

const SWIFT_KEYS = ['http://127.0.0.1:18080', 'test:tester', 'testing'];

// Strata and Swift up together, their runs alternated (Strata first, then Swift first, ...): each
// run of one side is next to a run of the other, so a spell in which the machine runs faster or
// slower (benches/machine-speed.ts: this VM's speed has swung 2.4 times within a run) weighs on
// the two sides of a pair more alike than on two windows minutes apart, and the median of the
// pairs' ratios sets aside a pair it hit on one side only.
async function versusSwift(dir: string, speed: MachineSpeed): Promise<[LoadResult, LoadResult]> {
  const strata = await startStrata({ dataDir: join(dir, 'strata') });
  const swiftDir = join(dir, 'swift');
  const sides = [
    { label: 'Strata', keys: [strata.s3Endpoint, strata.accessKey, strata.secretKey] },
    { label: 'Swift', keys: SWIFT_KEYS },
  ];
  const results: [LoadResult[], LoadResult[]] = [[], []];
  try {
    await run('bash', [join(PEERS, 'swift-s3.sh'), 'start', swiftDir]);
    if (!opts['skip-warmup']) {
      for (const { label, keys } of sides) {
        console.log(`\n(warm-up of ${label}, not counted)`);
        await loadRuns(dir, `${label.toLowerCase()}-warmup`, keys, '1', {
          big: '16',
          small: '400',
        });
      }
    }
    for (let r = 0; r < Number(opts.runs); r++) {
      for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
        const { label, keys } = sides[i];
        speed.probe(`before ${label} (run ${r + 1})`);
        const [result] = await loadRuns(dir, `${label.toLowerCase()}-${r}`, keys, '1');
        result.multipartMBs = await multipart(keys[0], keys[1], keys[2]);
        results[i].push(result);
      }
    }
  } finally {
    await run('bash', [join(PEERS, 'swift-s3.sh'), 'stop', swiftDir]).catch(() => {});
    await strata.stop();
  }
  pairTable(results[0], results[1], ['Strata', 'Swift'], 'Strata');
  return [medianWithMultipart(results[0]), medianWithMultipart(results[1])];
}

// CPU time of a server (its process and its data service's), from utime + stime in /proc.
function serverCpuMs(node: StrataProcess): number {
  const pid = node.process.pid;
  assert(pid !== undefined, 'a running server');
  const cpuMsOf = (id: number) => {
    const stat = readFileSync(`/proc/${id}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ ticks
  };
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim();
  const ids = [pid, ...(children === '' ? [] : children.split(' ').map(Number))];
  return ids.reduce((sum, id) => sum + cpuMsOf(id), 0);
}

// 16 MiB GETs in the steady state, the two servers interleaved batch by batch. The pairs above
// time each server's GET phase as one window of a few seconds, right after that server's own PUT
// phase and half a minute from the other server's window: on a shared machine another user's
// burst lands in one window and not the other, which moves a pair's ratio far more than the
// cipher does (the 4 KiB HEAD row, which decrypts nothing, swings with it). Here each server holds
// `--big-count` objects of random bytes written beforehand, and batches of 8 concurrent GETs
// (s3-load's concurrency) alternate between them, the order swapped each round, so both sides
// of a round see the same minute of load. Prints the median of the rounds' ratios, and each
// server's CPU per GET over all its batches (which the machine's load moves far less).
async function steadyGets(
  sealed: StrataProcess,
  plain: StrataProcess,
  rounds: number,
): Promise<void> {
  const BATCH = 8;
  const count = Math.max(BATCH, Number(opts['big-count']));
  const size = 16 * MiB;
  const bodies = Array.from({ length: 4 }, () => randomBytes(size)); // as s3-load's
  const sides = [sealed, plain].map((node) => ({
    node,
    s3: new S3Client({
      endpoint: node.s3Endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: node.accessKey, secretAccessKey: node.secretKey },
      maxAttempts: 1,
    }),
    ms: [] as number[],
    cpuMs: 0,
  }));
  try {
    for (const { s3 } of sides) {
      await s3.send(new CreateBucketCommand({ Bucket: 'steady' }));
      let next = 0;
      const put = async () => {
        for (let i = next++; i < count; i = next++) {
          const Body = bodies[i % bodies.length];
          await s3.send(new PutObjectCommand({ Bucket: 'steady', Key: `big/${i}`, Body }));
        }
      };
      await Promise.all(Array.from({ length: BATCH }, put));
    }
    for (let r = 0; r < rounds; r++) {
      for (const side of r % 2 === 0 ? sides : [sides[1], sides[0]]) {
        const cpuBefore = serverCpuMs(side.node);
        const started = performance.now();
        await Promise.all(
          Array.from({ length: BATCH }, async (_, j) => {
            const Key = `big/${(r * BATCH + j) % count}`;
            const got = await side.s3.send(new GetObjectCommand({ Bucket: 'steady', Key }));
            let bytes = 0;
            for await (const chunk of got.Body as AsyncIterable<Uint8Array>) bytes += chunk.length;
            if (bytes !== size) throw new Error(`${Key}: ${bytes} bytes of ${size}`);
          }),
        );
        side.ms.push(performance.now() - started);
        side.cpuMs += serverCpuMs(side.node) - cpuBefore;
      }
    }
  } finally {
    for (const { s3 } of sides) s3.destroy();
  }
  const [e, p] = sides;
  const mibs = (ms: number) => (BATCH * size) / MiB / (ms / 1000);
  const ratios = e.ms.map((ms, r) => p.ms[r] / ms);
  const perGet = (side: (typeof sides)[number]) => side.cpuMs / (rounds * BATCH);
  console.log(
    `\n16 MiB GET, c=${BATCH}, steady state: ${rounds} rounds of ${BATCH} GETs per server over ` +
      `${count} objects, alternated (load ${loadAverage()})`,
  );
  console.log('\n| measure | encrypted | unencrypted | encrypted / unencrypted |');
  console.log('|---|---|---|---|');
  console.log(
    `| MiB/s, medians of the rounds; median of the rounds' ratios | ${mibs(median(e.ms)).toFixed(1)} | ` +
      `${mibs(median(p.ms)).toFixed(1)} | ${median(ratios).toFixed(2)} |`,
  );
  console.log(
    `| server CPU ms per GET (process and data service) | ${perGet(e).toFixed(1)} | ` +
      `${perGet(p).toFixed(1)} | ${(perGet(e) / perGet(p)).toFixed(2)} |`,
  );
  // The second batch of a round tends to be the faster (the first follows the same server's
  // batch of the round before, and shares the machine with what that batch left running): with
  // the order swapped each round, the geometric mean weighs both orders alike.
  const geometric = Math.exp(ratios.reduce((sum, x) => sum + Math.log(x), 0) / ratios.length);
  console.log(`| geometric mean of the rounds' ratios | | | ${geometric.toFixed(2)} |`);
  console.log(
    `rounds' ratios (odd rounds encrypted first): ${ratios.map((x) => x.toFixed(2)).join(' ')}`,
  );
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).join(' ');
}

// encrypted / unencrypted pair by pair (each pair ran back to back), and the median of those
// ratios: a burst of other load lowers one pair's figures on both sides, so the ratio of a pair
// moves less than either side's figures, and the median of the ratios sets aside a pair a burst
// hit on one side only. The median of each side (the table after) can pair a fast run of one
// side with a slow run of the other.
function pairTable(
  sealed: LoadResult[],
  plain: LoadResult[],
  names = ['encrypted', 'unencrypted'],
  evenFirst = 'unencrypted', // which side ran first in pairs 1, 3, ...
): void {
  const rows: Array<[string, (x: LoadResult) => number]> = [
    ['16 MiB PUT, c=8', (x) => x.bigPutMBs],
    ['16 MiB GET, c=8', (x) => x.bigGetMBs],
    ['multipart 256 MiB, 8 MiB parts, c=10', (x) => x.multipartMBs ?? 0],
    ['4 KiB PUT, c=32', (x) => x.smallPut.ops],
    ['4 KiB HEAD, c=32', (x) => x.smallHead.ops],
    ['4 KiB GET, c=32', (x) => x.smallGet.ops],
    ['4 KiB DELETE, c=32', (x) => x.smallDelete.ops],
  ];
  const pairs = sealed.map((_, r) => r);
  const oddFirst = evenFirst === names[0] ? names[1] : names[0];
  const order = (r: number) => `${r % 2 === 0 ? evenFirst : oddFirst} first`;
  console.log(
    `\n${names[0]} / ${names[1]}, pair by pair (${names[0]} and ${names[1]} figures in brackets)`,
  );
  console.log(
    `\n| workload | ${pairs.map((r) => `pair ${r + 1} (${order(r)})`).join(' | ')} | median of the ratios |`,
  );
  console.log(`|---|${pairs.map(() => '---|').join('')}---|`);
  for (const [name, figure] of rows) {
    const ratios = pairs.map((r) => figure(sealed[r]) / figure(plain[r]));
    const cells = pairs.map(
      (r) =>
        `${ratios[r].toFixed(2)} (${figure(sealed[r]).toFixed(1)} / ${figure(plain[r]).toFixed(1)})`,
    );
    console.log(`| ${name} | ${cells.join(' | ')} | ${median(ratios).toFixed(2)} |`);
  }
}

// The issue's physical limit for durable erasure-coded writes: the disk's write bandwidth over
// the erasure overhead ((k + m) / k, 1.5 for the default 4+2), of which the 16 MiB PUT row is to
// reach 0.6. The disk's bandwidth is measured where the servers keep their data, as dd writes 2
// GiB in 1 MiB direct writes with an fsync at the end (one stream: this VM's disk gave the same
// total to four at once); undefined where dd is missing or fails.
const DISK_PROBE_BYTES = 2 * 1024 * MiB;
const ERASURE_OVERHEAD = (4 + 2) / 4;
function diskWriteMiBs(inDir: string): number | undefined {
  const file = join(inDir, 'disk-probe');
  const started = performance.now();
  const dd = spawnSync('dd', [
    'if=/dev/zero',
    `of=${file}`,
    'bs=1M',
    `count=${DISK_PROBE_BYTES / MiB}`,
    'oflag=direct',
    'conv=fsync',
  ]);
  const seconds = (performance.now() - started) / 1000;
  rmSync(file, { force: true });
  if (dd.status !== 0) return undefined;
  return DISK_PROBE_BYTES / MiB / seconds;
}

function diskForm(put: number, diskMiBs: number | undefined): void {
  if (diskMiBs === undefined) {
    console.log('\ndisk probe failed (dd): the disk form of the PUT goal is not printed');
    return;
  }
  const limit = diskMiBs / ERASURE_OVERHEAD;
  console.log(
    `\ndisk: ${diskMiBs.toFixed(0)} MiB/s written direct (dd, 2 GiB); the limit for durable 4+2 ` +
      `writes ${limit.toFixed(0)} MiB/s; the 16 MiB PUT row ${put.toFixed(1)} MiB/s is ` +
      `${(put / limit).toFixed(2)} of it (goal 0.6: ${(0.6 * limit).toFixed(0)} MiB/s)`,
  );
}

const dir = stageLoadGenerator();
const diskMiBs = diskWriteMiBs(dir);
let swift: LoadResult | undefined;
let ours: LoadResult;
let sealed: LoadResult | undefined;
const speed = new MachineSpeed();
const withSwift = !opts['skip-swift'] && existsSync(join(PEERS, 'swift-s3.sh'));
if (opts.encryption) {
  speed.probe('before Strata');
  [ours, sealed] = await encryptionPair(dir);
  if (withSwift) {
    speed.probe('before Swift');
    const swiftDir = join(dir, 'swift');
    await run('bash', [join(PEERS, 'swift-s3.sh'), 'start', swiftDir]);
    try {
      swift = await load(dir, 'swift', SWIFT_KEYS[0], SWIFT_KEYS[1], SWIFT_KEYS[2]);
      swift.multipartMBs = await multipart(SWIFT_KEYS[0], SWIFT_KEYS[1], SWIFT_KEYS[2]);
    } finally {
      await run('bash', [join(PEERS, 'swift-s3.sh'), 'stop', swiftDir]).catch(() => {});
    }
  }
} else if (withSwift) {
  [ours, swift] = await versusSwift(dir, speed);
} else {
  speed.probe('before Strata');
  const strata = await startStrata({ dataDir: join(dir, 'strata') });
  try {
    ours = await load(dir, 'strata', strata.s3Endpoint, strata.accessKey, strata.secretKey);
    ours.multipartMBs = await multipart(strata.s3Endpoint, strata.accessKey, strata.secretKey);
  } finally {
    await strata.stop();
  }
}
speed.probe('at the end');
table(ours, swift);
diskForm(ours.bigPutMBs, diskMiBs);
if (sealed) table(sealed, ours, ['encrypted', 'unencrypted']);
console.log(`\n${speed.report()}`);
