// The metadata phase of bench:fuse alone (create/stat/unlink of N files in one directory, as
// ../shared/peers/fs-bench.sh does it), on a single-node server and a FUSE mount, with the CPU
// each process spent per operation (utime + stime from /proc/PID/stat, which the machine's load
// does not inflate the way it inflates wall time). Needs root (FUSE mount).
//   node benches/fuse/meta.ts [--files 5000] [--rounds 1] [--no-write-behind]
//   STRATA_CPU_PROF_DIR=DIR: the server and the mount write V8 CPU profiles there (--cpu-prof).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, type StrataProcess, startStrata, tempDir } from '../../test/helpers/server.ts';

const { values: opts } = parseArgs({
  options: {
    files: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '1' },
    'no-write-behind': { type: 'boolean' }, // the mount's --no-write-behind
  },
});
const FILES = Number(opts.files);
const ROUNDS = Number(opts.rounds);
const PROF_DIR = process.env.STRATA_CPU_PROF_DIR;
const CLOCK_TICKS_PER_S = 100;
const IDLE_MS = 5000; // getconf CLK_TCK on Linux

// CPU seconds a process and its reaped children used so far.
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime are fields 14-17 (1-based), 12-15 here.
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / CLOCK_TICKS_PER_S;
}

// A page fetched on a connection of its own: the loops below block this process for seconds, so
// a kept-alive connection would be closed under the next request.
function page(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (d) => (text += d));
      response.on('end', () => resolve(text));
      response.on('error', reject);
    }).on('error', reject);
  });
}

// Requests answered so far, by kind: the server's RPCs by method (strata_rpc_requests_total),
// the mount's FUSE requests by opcode (strata_fuse_requests_total).
async function requestCounts(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const add = (key: string, n: number) => counts.set(key, (counts.get(key) ?? 0) + n);
  const server = await page(metricsUrl);
  for (const m of server.matchAll(/^strata_rpc_requests_total\{method="([^"]+)"[^}]*\} (\S+)$/gm))
    add(m[1], Number(m[2]));
  const mount = await page(mountMetricsUrl);
  for (const m of mount.matchAll(/^strata_fuse_requests_total\{op="([^"]+)"[^}]*\} (\S+)$/gm))
    add(`fuse.${m[1]}`, Number(m[2]));
  return counts;
}

// Each process's CPU over `fn`, per operation, in microseconds; RPCs the server answered per
// operation, by method.
async function measured(pids: Record<string, number>, ops: number, fn: () => void) {
  const requestsBefore = await requestCounts();
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
  const self0 = process.cpuUsage();
  const started = performance.now();
  fn();
  const seconds = (performance.now() - started) / 1000;
  const self = process.cpuUsage(self0);
  const cpu: Record<string, number> = {};
  for (const [k, p] of Object.entries(pids))
    cpu[k] = Math.round(((cpuSeconds(p) - before[k]) * 1e6) / ops);
  cpu.caller = Math.round((self.user + self.system) / ops);
  const requestsPerOp: Record<string, number> = {};
  for (const [kind, n] of await requestCounts()) {
    const per = (n - (requestsBefore.get(kind) ?? 0)) / ops;
    if (per >= 0.01) requestsPerOp[kind] = Number(per.toFixed(2));
  }
  return { perS: Math.round(ops / seconds), cpuUsPerOp: cpu, requestsPerOp };
}

const work = tempDir('strata-bench-fuse-meta-');
const mountPoint = join(work, 'mnt');
mkdirSync(mountPoint);
let server: StrataProcess | undefined;
let mount: ChildProcess | undefined;
let metricsUrl = '';
let mountMetricsUrl = '';
const profArgs = PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`] : [];
try {
  server = await startStrata({
    dataDir: join(work, 'data'),
    env: PROF_DIR ? { NODE_OPTIONS: profArgs.join(' ') } : {},
  });
  metricsUrl = server.metricsUrl;
  mount = spawn(
    process.execPath,
    [
      ...profArgs,
      join(REPO_ROOT, 'bin', 'strata-mount.ts'),
      mountPoint,
      '--metadata-addr',
      server.metadataAddr,
      ...(opts['no-write-behind'] ? ['--no-write-behind'] : []),
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  mount.stdout?.on('data', (d) => (output += d));
  mount.stderr?.on('data', (d) => (output += d));
  while (!/^mounted /m.test(output)) {
    if (mount.exitCode !== null) throw new Error(`strata-mount exited:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  mountMetricsUrl = /^metrics at (\S+)$/m.exec(output)?.[1] ?? '';
  const dir = join(mountPoint, 'bench', 'fsbench-meta');
  mkdirSync(dir, { recursive: true });
  const pids = { server: server.process.pid as number, mount: mount.pid as number };
  const paths = Array.from({ length: FILES }, (_, i) => join(dir, `f${i}`));
  // What each process spends doing nothing asked of it (ticks, heartbeats, watchers), per second:
  // part of every figure below, in proportion to the phase's wall time.
  const idleBefore = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idleCpuMsPerS = Object.fromEntries(
    Object.entries(pids).map(([k, p]) => [
      k,
      Math.round(((cpuSeconds(p) - idleBefore[k]) * 1000) / (IDLE_MS / 1000)),
    ]),
  );
  console.log(JSON.stringify({ idleCpuMsPerS }));
  for (let round = 0; round < ROUNDS; round++) {
    const create = await measured(pids, FILES, () => {
      for (const p of paths) closeSync(openSync(p, 'wx'));
    });
    if (readdirSync(dir).length !== FILES) throw new Error('files missing after the creates');
    const stat = await measured(pids, FILES, () => {
      for (const p of paths) statSync(p);
    });
    const unlink = await measured(pids, FILES, () => {
      for (const p of paths) unlinkSync(p);
    });
    if (readdirSync(dir).length !== 0) throw new Error('files left after the unlinks');
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(JSON.stringify({ files: FILES, load, create, stat, unlink }));
  }
  rmdirSync(dir);
} finally {
  if (mount && mount.exitCode === null) {
    const exited = new Promise((r) => mount?.once('exit', r));
    mount.kill('SIGINT');
    await exited;
  }
  spawnSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
}
