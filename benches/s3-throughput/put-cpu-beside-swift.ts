// The CPU a 16 MiB PUT costs, Strata beside Swift + s3api, in one run: bench:s3's big PUT phase
// (the shared load generator, 16 MiB objects, 8 at a time) against each, and the machine's busy
// CPU time (/proc/stat: every process, kernel work included) over the PUT phase alone, per GiB
// put. Less the load generator's own CPU (/proc/PID/stat), that is what each system spends to
// take a GiB: on a machine whose cores are all busy during the phase it sets the rate, and says
// how much of a gap in MiB/s is work the system does rather than time it waits. Strata's gateway
// and data service are shown apart too.
//   node benches/s3-throughput/put-cpu-beside-swift.ts [--count 96] [--skip-swift]
// (put-cpu.ts, beside it, is Strata alone: its processes round by round, with their collections.)
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, startStrata, tempDir } from '../../test/helpers/server.ts';

const { values: opts } = parseArgs({
  options: {
    count: { type: 'string', default: '96' },
    'skip-swift': { type: 'boolean', default: false },
  },
});
const COUNT = Number(opts.count);
const OBJECT_BYTES = 16 * 1024 * 1024;
const GIB = (COUNT * OBJECT_BYTES) / 2 ** 30;
const TICKS_PER_S = 100; // getconf CLK_TCK on Linux
const SAMPLE_MS = 50;
const PEERS = join(REPO_ROOT, '..', 'shared', 'peers');

// Busy ticks of the whole machine: user, nice, system, irq and softirq (not idle or iowait, nor
// steal: time the host ran something else while this VM wanted to run).
function machineBusyTicks(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const [user, nice, system, , , irq, softirq] = fields.map(Number);
  return user + nice + system + irq + softirq;
}

function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

interface Sample {
  atMs: number;
  machine: number;
  client: number;
  named: number[];
}

interface Figures {
  mibs: number;
  machine: number; // CPU-s per GiB, every process
  client: number; // the load generator's
  named: number[]; // per process in `pids`
}

// The big PUT phase against `endpoint`, sampled every SAMPLE_MS; the figures over the phase.
async function putPhase(
  dir: string,
  endpoint: string,
  [access, secret]: [string, string],
  pids: number[],
): Promise<Figures> {
  const out = join(dir, `load-${Date.now()}.json`);
  const load = spawn(
    process.execPath,
    [
      join(dir, 's3-load.mjs'),
      ...['--endpoint', endpoint, '--access', access, '--secret', secret],
      ...['--big-count', String(COUNT), '--big-size', String(OBJECT_BYTES), '--big-conc', '8'],
      ...['--skip-small', '--json', out],
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const samples: Sample[] = [];
  const sample = () => {
    try {
      samples.push({
        atMs: performance.now(),
        machine: machineBusyTicks(),
        client: processTicks(load.pid as number),
        named: pids.map(processTicks),
      });
    } catch {
      // The load generator has exited; its last sample stands.
    }
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  const code = await new Promise<number | null>((resolve) => load.once('exit', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`s3-load exited ${code}`);
  const run = JSON.parse(readFileSync(out, 'utf8')).runs[0];
  if (run.bigPut.errors > 0) throw new Error(`${run.bigPut.errors} PUTs failed`);
  // The PUT phase starts with the first sample (the bucket's creation is a few ms) and lasts
  // bigPut.secs; the GETs after it are left out.
  const first = samples[0];
  const endMs = first.atMs + run.bigPut.secs * 1000;
  const last = samples.filter((s) => s.atMs <= endMs).at(-1) as Sample;
  const perGib = (ticks: number) => ticks / TICKS_PER_S / GIB;
  return {
    mibs: run.bigPutMBs,
    machine: perGib(last.machine - first.machine),
    client: perGib(last.client - first.client),
    named: last.named.map((t, i) => perGib(t - first.named[i])),
  };
}

function stageLoadGenerator(): string {
  const dir = tempDir('strata-put-cpu-');
  copyFileSync(join(PEERS, 's3-load.mjs'), join(dir, 's3-load.mjs'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited ${code}`)),
    );
  });
}

const dir = stageLoadGenerator();
const strata = await startStrata({ dataDir: join(dir, 'strata') });
let ours: Figures;
try {
  const gateway = strata.process.pid as number;
  const children = readFileSync(`/proc/${gateway}/task/${gateway}/children`, 'utf8').trim();
  const data = Number(children.split(' ')[0]);
  ours = await putPhase(
    dir,
    strata.s3Endpoint,
    [strata.accessKey, strata.secretKey],
    [gateway, data],
  );
} finally {
  await strata.stop();
}
let theirs: Figures | undefined;
if (!opts['skip-swift'] && existsSync(join(PEERS, 'swift-s3.sh'))) {
  const swiftDir = join(dir, 'swift');
  await run('bash', [join(PEERS, 'swift-s3.sh'), 'start', swiftDir]);
  try {
    theirs = await putPhase(dir, 'http://127.0.0.1:18080', ['test:tester', 'testing'], []);
  } finally {
    await run('bash', [join(PEERS, 'swift-s3.sh'), 'stop', swiftDir]).catch(() => {});
  }
}

const f = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(2));
console.log(`\n${COUNT} PUTs of 16 MiB, 8 at a time; CPU-s per GiB put, over the PUT phase only\n`);
console.log('| | Strata | Swift+s3api |');
console.log('|---|---|---|');
console.log(`| MiB/s | ${ours.mibs.toFixed(1)} | ${theirs?.mibs.toFixed(1) ?? '-'} |`);
console.log(`| machine, every process | ${f(ours.machine)} | ${f(theirs?.machine)} |`);
console.log(`| the load generator | ${f(ours.client)} | ${f(theirs?.client)} |`);
const system = (x: Figures | undefined) => (x ? x.machine - x.client : undefined);
console.log(`| the system under test | ${f(system(ours))} | ${f(system(theirs))} |`);
console.log(`| of it, Strata's gateway process | ${f(ours.named[0])} | |`);
console.log(`| of it, Strata's data service | ${f(ours.named[1])} | |`);
