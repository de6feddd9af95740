// What the repair bench's foreground GETs wait for when something else loads the machine: the
// bench's cluster (3 metadata members, 6 data servers, a gateway) serving its paced foreground
// (10 GETs a second of 1 MiB objects), 15 s in each phase: at rest; beside a disk hog (fio, 16
// writers of 1 MiB blocks, each fsynced, in a temporary directory on the same disk, no part of
// the cluster); at rest again; beside two busy loops at nice 0; beside the same at nice 10.
// Each phase prints the GETs' p50/p90/p99 (from their scheduled start, as the bench) and the
// average time the members and the data servers spent in `meta.read` and `data.getShard`.
// A repair or a plain copy is such a load; this tells which kind the foreground's latency moves
// with (docs/testing.md, "The repair benchmark").
//   node benches/repair/contention.ts [--hog-nice 0] [--phase-seconds 15]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { patternBytes, s3Client } from '../../test/helpers/s3.ts';
import { startBenchCluster } from './cluster.ts';
import { percentile, startPacedGets, within } from './foreground.ts';

const { values: opts } = parseArgs({
  options: {
    'hog-nice': { type: 'string', default: '0' },
    'phase-seconds': { type: 'string', default: '15' },
  },
});
const HOG_NICE = Number(opts['hog-nice']);
const PHASE_MS = Number(opts['phase-seconds']) * 1000;
if (!Number.isInteger(HOG_NICE) || HOG_NICE < 0 || HOG_NICE > 19)
  throw new Error(`--hog-nice: 0 to 19, got ${opts['hog-nice']}`);
if (!(PHASE_MS > 0)) throw new Error('--phase-seconds: above 0');
const SMALL_OBJECTS = 64;
const GETS_PER_SECOND = 10;
const SETTLE_MS = 3000;
const HANDLERS =
  /^strata_rpc_request_duration_seconds_(sum|count)\{method="(meta\.read|data\.getShard)"/;

const probe = spawn('fio', ['--version'], { stdio: 'ignore' });
const fioCode = await new Promise<number | null>((r) => {
  probe.once('error', () => r(null));
  probe.once('exit', r);
});
if (fioCode !== 0) throw new Error('fio is needed for the disk hog (apt-get install fio)');

const configDir = mkdtempSync(join(tmpdir(), 'strata-contention-'));
const hogDir = mkdtempSync(join(tmpdir(), 'strata-contention-hog-'));
const cluster = await startBenchCluster({
  configDir,
  dataServers: 6,
  downAfterSeconds: 5,
  repairMaxConcurrent: 16,
  repairBandwidthBytesPerSecond: 10 * 1024 ** 3,
});
try {
  const s3 = s3Client(cluster.gateway);
  await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
  const keys: string[] = [];
  for (let i = 0; i < SMALL_OBJECTS; i++) {
    const key = `small/${i}`;
    await s3.send(
      new PutObjectCommand({ Bucket: 'bench', Key: key, Body: patternBytes(1 << 20, i) }),
    );
    keys.push(key);
  }
  let running = true;
  const gets = startPacedGets(s3, 'bench', keys, GETS_PER_SECOND, () => running);
  // Each handler's summed seconds and count over every process of the cluster.
  const handlers = async () => {
    const totals = new Map<string, number>();
    for (const p of [...cluster.metadata, ...cluster.data]) {
      for (const line of (await (await fetch(p.metricsUrl)).text()).split('\n')) {
        const match = HANDLERS.exec(line);
        if (!match) continue;
        const key = `${match[2]} ${match[1]}`;
        totals.set(key, (totals.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
      }
    }
    return totals;
  };
  const phase = async (name: string, start: () => () => void) => {
    const before = await handlers();
    const stop = start();
    const fromMs = performance.now();
    await new Promise((r) => setTimeout(r, PHASE_MS));
    const toMs = performance.now();
    stop();
    const after = await handlers();
    const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    const l = within(gets, fromMs, toMs).latenciesMs;
    const avg = (method: string) =>
      `${method} ${((1000 * delta(`${method} sum`)) / Math.max(1, delta(`${method} count`))).toFixed(2)} ms`;
    console.log(
      `${name}: GET p50 ${percentile(l, 50).toFixed(1)} ms, p90 ${percentile(l, 90).toFixed(1)}, ` +
        `p99 ${percentile(l, 99).toFixed(1)} (${l.length} GETs); handlers on average: ` +
        `${avg('meta.read')}, ${avg('data.getShard')}`,
    );
    await new Promise((r) => setTimeout(r, SETTLE_MS)); // written-back and idle again
  };
  const busyLoops = (nice: number) => () => {
    const loops = [0, 1].map(() =>
      spawn('nice', ['-n', String(nice), process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' }),
    );
    return () => {
      for (const loop of loops) loop.kill('SIGKILL');
    };
  };
  await new Promise((r) => setTimeout(r, SETTLE_MS)); // connections opened, code warm
  await phase('at rest', () => () => {});
  await phase(`beside a disk hog (fio, 16 fsynced writers, nice ${HOG_NICE})`, () => {
    const fio = spawn(
      'nice',
      [
        ...['-n', String(HOG_NICE), 'fio', '--name=hog', `--directory=${hogDir}`, '--rw=write'],
        ...['--bs=1M', '--fsync=1', '--numjobs=16', '--size=256M', '--time_based'],
        `--runtime=${Math.ceil(PHASE_MS / 1000) + 1}`,
      ],
      { stdio: 'ignore', detached: true },
    );
    return () => {
      try {
        process.kill(-(fio.pid as number), 'SIGKILL');
      } catch {} // ended by itself
    };
  });
  await phase('at rest again', () => () => {});
  await phase('beside 2 busy loops at nice 0', busyLoops(0));
  await phase('beside 2 busy loops at nice 10', busyLoops(10));
  running = false;
  await gets.done;
} finally {
  await cluster.stop();
  rmSync(configDir, { recursive: true, force: true });
  rmSync(hogDir, { recursive: true, force: true });
}
