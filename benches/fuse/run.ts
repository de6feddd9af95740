// POSIX workload through Strata's FUSE mount beside the local disk and MooseFS, in one run:
//   fio sequential write and read of a 1 GiB file in 1 MiB blocks, 4 KiB random reads for 30 s,
//   create/stat/unlink of 10,000 files in one directory (../shared/peers/fs-bench.sh on each).
// Strata is a single-node server mounted with bin/strata-mount.ts, the workload in a bucket
// directory made by mkdir at the mount's top level; MooseFS is ../shared/peers/moosefs.sh
// (1 master, 2 chunkservers, 2 copies); local is a directory on the disk under the temp dir.
// A target that fails prints its error in place of its figures; the others still run.
// Needs root (FUSE mounts, MooseFS, dropping the page cache).
//   npm run bench:fuse
//   BENCH_FUSE_SIZE=1G BENCH_FUSE_RUNTIME=30 BENCH_FUSE_FILES=10000
//   BENCH_FUSE_TARGETS=strata,local,moosefs BENCH_SHARED_DIR=../shared
//   BENCH_FUSE_ENCRYPTION=1: Strata with encryption at rest, the mount given the key file
//   (--key-file), so it seals what it writes and opens what it reads: compare with a run without.
//   BENCH_FUSE_MOUNT_ARGS="--busy-poll-us 0": more strata-mount flags (split at spaces), to
//   compare a mount option with a run without.
//   BENCH_FUSE_RUNS=3: every target that many times, the order reversed each run (as given in odd
//   runs, backwards in even ones), so a spell in which this shared machine runs faster or slower
//   weighs on every side alike and none always runs first: each run's table, then each run's
//   Strata / peer ratios with their median, and each target's medians.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT, type StrataProcess, startStrata, tempDir } from '../../test/helpers/server.ts';
import { MachineSpeed } from '../machine-speed.ts';

const TARGETS_KNOWN = ['strata', 'local', 'moosefs'] as const;
type Target = (typeof TARGETS_KNOWN)[number];
const TARGET_NAMES: Record<Target, string> = {
  strata: 'Strata',
  local: 'local',
  moosefs: 'MooseFS',
};

const SIZE = process.env.BENCH_FUSE_SIZE || '1G';
const RUNTIME_S = Number(process.env.BENCH_FUSE_RUNTIME || '30');
const FILES = Number(process.env.BENCH_FUSE_FILES || '10000');
const ENCRYPTION = process.env.BENCH_FUSE_ENCRYPTION === '1';
const RUNS = Number(process.env.BENCH_FUSE_RUNS || '1');
const MOUNT_ARGS = (process.env.BENCH_FUSE_MOUNT_ARGS ?? '').split(' ').filter((a) => a !== '');
const TARGET_NAMES_GIVEN = (process.env.BENCH_FUSE_TARGETS || TARGETS_KNOWN.join(','))
  .split(',')
  .map((t) => t.trim())
  .filter((t) => t !== '');
for (const t of TARGET_NAMES_GIVEN) {
  if (!(TARGETS_KNOWN as readonly string[]).includes(t)) {
    throw new Error(`BENCH_FUSE_TARGETS: unknown target ${t} (known: ${TARGETS_KNOWN.join(',')})`);
  }
}
const TARGETS = TARGET_NAMES_GIVEN as Target[];
if (!/^\d+[KMG]?$/i.test(SIZE)) throw new Error(`BENCH_FUSE_SIZE: not a fio size: ${SIZE}`);
if (!(RUNTIME_S > 0) || !(FILES > 0)) throw new Error('BENCH_FUSE_RUNTIME, BENCH_FUSE_FILES: > 0');
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('BENCH_FUSE_RUNS: a whole number >= 1');

// BENCH_SHARED_DIR: where ../shared is when the checkout is a worktree elsewhere.
const SHARED = process.env.BENCH_SHARED_DIR || join(REPO_ROOT, '..', 'shared');
const PEERS = join(SHARED, 'peers');
const FS_BENCH = join(PEERS, 'fs-bench.sh');
const MOOSEFS = join(PEERS, 'moosefs.sh');
for (const script of [FS_BENCH, MOOSEFS]) {
  if (!existsSync(script)) {
    throw new Error(
      `${script} is missing: this bench needs the shared reference scripts in ../shared/peers ` +
        `beside the repository (${REPO_ROOT})`,
    );
  }
}

const MOUNT_BIN = join(REPO_ROOT, 'bin', 'strata-mount.ts');
const MOUNT_READY_TIMEOUT_MS = 30_000;
const UNMOUNT_TIMEOUT_MS = 15_000;
// A generous bound on one target's whole workload, so a hung mount cannot hold the run forever.
const WORKLOAD_TIMEOUT_MS = (30 * 60 + RUNTIME_S) * 1000;
const PHASE_POLL_MS = 200;

interface Figures {
  label: string;
  seq_write_mib_s: number;
  seq_read_mib_s: number;
  randread_4k_iops: number;
  create_per_s: number;
  stat_per_s: number;
  unlink_per_s: number;
}
type Outcome = { figures: Figures; line: string } | { error: string };

const work = tempDir('strata-bench-fuse-');
chmodSync(work, 0o755); // MooseFS's daemons run as the mfs user and keep their data in here
const cleanups: Array<() => Promise<void>> = [];
let workload: ChildProcess | undefined; // fs-bench.sh

function stopWorkload(): void {
  if (!workload || workload.exitCode !== null || workload.signalCode !== null) return;
  for (const pid of processTree(workload.pid as number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function progress(target: string, message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${target}: ${message}`);
}

function mounted(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === path);
}

// A process and all its descendants (fio puts itself in a session of its own, out of the group).
function processTree(pid: number): number[] {
  const pids: number[] = [];
  const pending = [pid];
  while (pending.length > 0 && pids.length < 1000) {
    const p = pending.pop() as number;
    pids.push(p);
    try {
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      if (children) pending.push(...children.split(' ').map(Number));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return pids;
}

// All descendants' command lines, to tell which phase of fs-bench.sh is running.
function descendantCommands(pid: number): string[] {
  return processTree(pid).map((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      return '';
    }
  });
}

const PHASES: Array<[RegExp, string]> = [
  [/apt-get/, 'installing fio'],
  [/--name=seqwrite/, `fio sequential write of ${SIZE}, 1 MiB blocks`],
  [/--name=seqread/, `fio sequential read of ${SIZE}, 1 MiB blocks`],
  [/--name=randread/, `fio 4 KiB random reads for ${RUNTIME_S} s`],
  [/fsbench-meta/, `create/stat/unlink of ${FILES} files`],
];

// Runs fs-bench.sh on `dir`; resolves with its JSON line, rejects with its stderr.
function fsBench(target: Target, dir: string): Promise<{ figures: Figures; line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [FS_BENCH, dir, target], {
      detached: true, // out of the terminal's group: Ctrl-C reaches us, and we stop the whole tree
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        FS_BENCH_SIZE: SIZE,
        FS_BENCH_RANDREAD_S: String(RUNTIME_S),
        FS_BENCH_FILES: String(FILES),
      },
    });
    workload = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      process.stderr.write(d);
    });
    let phase = '';
    const poll = setInterval(() => {
      const commands = descendantCommands(child.pid as number).join('\n');
      const now = PHASES.find(([pattern]) => pattern.test(commands))?.[1];
      if (now && now !== phase) {
        phase = now;
        progress(target, phase);
      }
    }, PHASE_POLL_MS);
    const timeout = setTimeout(() => {
      progress(target, `workload still running after ${WORKLOAD_TIMEOUT_MS / 1000} s: stopping it`);
      stopWorkload();
    }, WORKLOAD_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(timeout);
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0) {
        const last = stderr.trim().split('\n').slice(-5).join('\n');
        reject(new Error(`fs-bench.sh exited ${code ?? signal}${last ? `: ${last}` : ''}`));
        return;
      }
      try {
        const figures = JSON.parse(line) as Figures;
        if (typeof figures.seq_write_mib_s !== 'number') throw new Error('no seq_write_mib_s');
        resolve({ figures, line });
      } catch (e) {
        reject(new Error(`fs-bench.sh printed no figures (${(e as Error).message}): ${line}`));
      }
    });
  });
}

// Runs the command to completion, its output shown; throws with the output's tail on a failure.
function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  process.stdout.write(output);
  if (result.status !== 0) {
    const tail = output.trim().split('\n').slice(-3).join('\n');
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status ?? result.signal}: ${tail}`,
    );
  }
}

async function startMount(
  mountPoint: string,
  metadataAddr: string,
  keyFile: string | undefined,
): Promise<ChildProcess> {
  const keyArgs = keyFile === undefined ? [] : ['--key-file', keyFile];
  const args = [MOUNT_BIN, mountPoint, '--metadata-addr', metadataAddr, ...keyArgs, ...MOUNT_ARGS];
  const mount = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  mount.stdout?.on('data', (d) => {
    output += d;
  });
  mount.stderr?.on('data', (d) => {
    output += d;
  });
  const deadline = Date.now() + MOUNT_READY_TIMEOUT_MS;
  while (!/^mounted /m.test(output)) {
    if (mount.exitCode !== null || mount.signalCode !== null) {
      throw new Error(`strata-mount exited (${mount.exitCode ?? mount.signalCode}):\n${output}`);
    }
    if (Date.now() > deadline) {
      mount.kill('SIGKILL');
      throw new Error(`strata-mount not mounted after ${MOUNT_READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return mount;
}

// Ctrl-C to strata-mount unmounts; a mount that does not go is detached lazily.
async function stopMount(mount: ChildProcess, mountPoint: string): Promise<void> {
  if (mount.exitCode === null && mount.signalCode === null) {
    const exited = new Promise<void>((resolve) => mount.once('exit', () => resolve()));
    mount.kill('SIGINT');
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), UNMOUNT_TIMEOUT_MS)),
    ]);
    if (timedOut) mount.kill('SIGKILL');
  }
  if (mounted(mountPoint)) spawnSync('umount', ['-l', mountPoint]);
}

// Each run in directories of its own (`runIndex`): a fresh server, data directory and mount point.
async function benchStrata(runIndex: number): Promise<{ figures: Figures; line: string }> {
  let server: StrataProcess | undefined;
  let mount: ChildProcess | undefined;
  const mountPoint = join(work, `strata-mnt-${runIndex}`);
  const dataDir = join(work, `strata-data-${runIndex}`);
  mkdirSync(mountPoint);
  const stop = async () => {
    if (mount) await stopMount(mount, mountPoint);
    mount = undefined;
    await server?.stop();
    server = undefined;
    if (!mounted(mountPoint)) rmSync(dataDir, { recursive: true, force: true });
  };
  cleanups.push(stop);
  try {
    progress('strata', `starting a single-node server${ENCRYPTION ? ', encryption at rest' : ''}`);
    const env: Record<string, string> = ENCRYPTION ? { STRATA_ENCRYPTION_ENABLED: 'true' } : {};
    server = await startStrata({ dataDir, env });
    progress('strata', `mounting ${mountPoint} (metadata ${server.metadataAddr})`);
    const keyFile = ENCRYPTION ? join(dataDir, 'master.key') : undefined;
    mount = await startMount(mountPoint, server.metadataAddr, keyFile);
    progress('strata', 'mkdir bench (a bucket)');
    mkdirSync(join(mountPoint, 'bench'));
    return await fsBench('strata', join(mountPoint, 'bench'));
  } finally {
    progress('strata', 'unmounting and stopping the server');
    await stop();
  }
}

async function benchLocal(runIndex: number): Promise<{ figures: Figures; line: string }> {
  const dir = join(work, `local-${runIndex}`);
  progress('local', `directory ${dir}`);
  try {
    return await fsBench('local', dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchMooseFs(runIndex: number): Promise<{ figures: Figures; line: string }> {
  const moose = join(work, `moosefs-${runIndex}`);
  const mountPoint = join(work, `moosefs-mnt-${runIndex}`);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    progress('moosefs', 'stopping');
    spawnSync('bash', [MOOSEFS, 'stop', moose, mountPoint], { stdio: 'inherit' });
    if (!mounted(mountPoint)) rmSync(moose, { recursive: true, force: true });
  };
  cleanups.push(stop);
  try {
    progress('moosefs', 'starting 1 master and 2 chunkservers, mounting');
    run('bash', [MOOSEFS, 'start', moose, mountPoint]);
    if (!mounted(mountPoint)) throw new Error(`moosefs.sh start left ${mountPoint} unmounted`);
    return await fsBench('moosefs', join(mountPoint, 'bench'));
  } finally {
    await stop();
  }
}

const BENCHES: Record<Target, (runIndex: number) => Promise<{ figures: Figures; line: string }>> = {
  strata: benchStrata,
  local: benchLocal,
  moosefs: benchMooseFs,
};

async function cleanUp(): Promise<void> {
  stopWorkload();
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((e) => console.error(`cleanup: ${(e as Error).message}`));
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanUp().finally(() => {
      removeWorkDir();
      process.exit(130);
    });
  });
}

const ROWS: Array<[keyof Omit<Figures, 'label'>, string, string]> = [
  ['seq_write_mib_s', `seq write ${SIZE}, 1 MiB`, 'MiB/s'],
  ['seq_read_mib_s', `seq read ${SIZE}, 1 MiB`, 'MiB/s'],
  ['randread_4k_iops', `4 KiB random read, ${RUNTIME_S} s`, 'IOPS'],
  ['create_per_s', `create, ${FILES} files`, 'ops/s'],
  ['stat_per_s', `stat, ${FILES} files`, 'ops/s'],
  ['unlink_per_s', `unlink, ${FILES} files`, 'ops/s'],
];

function table(outcomes: Map<Target, Outcome>): void {
  const targets = [...outcomes.keys()];
  const figures = (t: Target) => {
    const o = outcomes.get(t);
    return o && 'figures' in o ? o.figures : undefined;
  };
  const versus = (['local', 'moosefs'] as const).filter(
    (t) => outcomes.has('strata') && outcomes.has(t),
  );
  const header = [
    'workload',
    'unit',
    ...targets.map((t) => TARGET_NAMES[t]),
    ...versus.map((t) => `Strata / ${TARGET_NAMES[t]}`),
  ];
  console.log(`\n| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const [key, name, unit] of ROWS) {
    const cells = targets.map((t) => {
      const value = figures(t)?.[key];
      if (value === undefined) return 'failed';
      return unit === 'MiB/s' ? value.toFixed(1) : value.toFixed(0);
    });
    const ratios = versus.map((t) => {
      const ours = figures('strata')?.[key];
      const theirs = figures(t)?.[key];
      return ours !== undefined && theirs ? (ours / theirs).toFixed(2) : '-';
    });
    console.log(`| ${[name, unit, ...cells, ...ratios].join(' | ')} |`);
  }
  for (const [t, o] of outcomes) {
    if ('error' in o) console.log(`\n${TARGET_NAMES[t]} failed: ${o.error}`);
  }
}

// Never recurse into a mount that failed to go away: that would delete inside it.
function removeWorkDir(): void {
  const left = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((path) => path?.startsWith(`${work}/`));
  if (left.length > 0) console.error(`still mounted, ${work} kept: ${left.join(' ')}`);
  else rmSync(work, { recursive: true, force: true });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

// Over several runs: each run's Strata / peer ratio per row and their median, and each target's
// median figure (runs in which a target failed are left out of its median and of the ratios).
function summary(runs: Array<Map<Target, Outcome>>): void {
  const figuresOf = (run: Map<Target, Outcome>, t: Target) => {
    const o = run.get(t);
    return o && 'figures' in o ? o.figures : undefined;
  };
  const peers = (['local', 'moosefs'] as const).filter(
    (t) => TARGETS.includes('strata') && TARGETS.includes(t),
  );
  console.log(`\nover ${runs.length} runs (targets alternated)`);
  const header = [
    'workload',
    ...TARGETS.map((t) => `${TARGET_NAMES[t]}, median`),
    ...peers.map((t) => `Strata / ${TARGET_NAMES[t]} by run`),
    ...peers.map((t) => `Strata / ${TARGET_NAMES[t]}, median`),
  ];
  console.log(`\n| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const [key, name, unit] of ROWS) {
    const medians = TARGETS.map((t) => {
      const values = runs.flatMap((run) => figuresOf(run, t)?.[key] ?? []);
      if (values.length === 0) return 'failed';
      const value = median(values);
      return `${unit === 'MiB/s' ? value.toFixed(1) : value.toFixed(0)} ${unit}`;
    });
    const ratios = peers.map((t) =>
      runs.flatMap((run) => {
        const ours = figuresOf(run, 'strata')?.[key];
        const theirs = figuresOf(run, t)?.[key];
        return ours !== undefined && theirs ? [ours / theirs] : [];
      }),
    );
    const byRun = ratios.map((r) => r.map((x) => x.toFixed(2)).join(', ') || '-');
    const ofRatios = ratios.map((r) => (r.length > 0 ? median(r).toFixed(2) : '-'));
    console.log(`| ${[name, ...medians, ...byRun, ...ofRatios].join(' | ')} |`);
  }
}

const runs: Array<Map<Target, Outcome>> = [];
const speed = new MachineSpeed();
try {
  console.log(
    `fuse bench: targets ${TARGETS.join(',')}; size ${SIZE}, random reads ${RUNTIME_S} s, ` +
      `${FILES} files; ${RUNS} run(s); work dir ${work}`,
  );
  for (let r = 0; r < RUNS; r++) {
    const outcomes = new Map<Target, Outcome>();
    runs.push(outcomes);
    const order = r % 2 === 0 ? TARGETS : [...TARGETS].reverse();
    for (const target of order) {
      const label = RUNS > 1 ? `${TARGET_NAMES[target]} (run ${r + 1})` : TARGET_NAMES[target];
      speed.probe(`before ${label}`);
      progress(target, RUNS > 1 ? `begin run ${r + 1} of ${RUNS}` : 'begin');
      try {
        const result = await BENCHES[target](r);
        outcomes.set(target, result);
        progress(target, `done: ${result.line}`);
      } catch (e) {
        const error = (e as Error).message;
        outcomes.set(target, { error });
        progress(target, `FAILED: ${error}`);
      }
    }
  }
  speed.probe('at the end');
} finally {
  await cleanUp();
  removeWorkDir();
}
for (const [r, outcomes] of runs.entries()) {
  if (RUNS > 1) console.log(`\nrun ${r + 1}`);
  // Columns in the order the targets were given, whichever ran first.
  const inOrder = new Map<Target, Outcome>();
  for (const t of TARGETS) {
    const outcome = outcomes.get(t);
    if (outcome !== undefined) inOrder.set(t, outcome);
  }
  table(inOrder);
}
if (RUNS > 1) summary(runs);
console.log(`\n${speed.report()}`);
console.log('');
for (const outcomes of runs) {
  for (const [target, o] of outcomes) {
    console.log('line' in o ? o.line : JSON.stringify({ label: target, error: o.error }));
  }
}
