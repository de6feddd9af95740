// 16 MiB PUTs against this checkout and another (a worktree of an earlier commit), both servers
// up at once and their runs alternated (this one first in even rounds): the before and after of
// a change to the PUT path, with the machine's swings weighing on both sides of each pair alike.
// Each run is the shared load generator's big phase (16 MiB objects, 8 at a time, then GETs of
// them), after one warm-up run each; prints each pair's MiB/s and the servers' CPU seconds
// (their processes, PUT and GET phases together), then the medians and their ratio.
//   git worktree add /tmp/wt-base <commit> && ln -s $PWD/node_modules /tmp/wt-base/node_modules
//   node benches/s3-throughput/put-ab.ts --base /tmp/wt-base [--rounds 6] [--count 96]
// With --here-env NAME=VALUE (repeatable), this checkout's server runs with those variables: a
// setting's before and after on one commit (`--base .`).
import assert from 'node:assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, type StrataProcess, startStrata, tempDir } from '../../test/helpers/server.ts';

const { values: opts } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    count: { type: 'string', default: '96' },
    'here-env': { type: 'string', multiple: true, default: [] },
  },
});
assert(opts.base !== undefined, '--base DIR: a checkout of the commit to compare against');
const baseHelpers = join(resolve(opts.base), 'test', 'helpers', 'server.ts');
assert(existsSync(baseHelpers), `${baseHelpers} not found`);
const { startStrata: startBase } = (await import(baseHelpers)) as {
  startStrata: typeof startStrata;
};

// The load generator resolves the SDK next to itself: give it our node_modules.
const dir = tempDir('strata-put-ab-');
copyFileSync(join(REPO_ROOT, '..', 'shared', 'peers', 's3-load.mjs'), join(dir, 's3-load.mjs'));
symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));

// CPU seconds of a server: its process and its children (a combined node's data process).
function cpuSeconds(node: StrataProcess): number {
  const pid = node.process.pid;
  assert(pid !== undefined, 'a running server');
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  const ids = [pid, ...(children === '' ? [] : children.split(' ').map(Number))];
  return ids.reduce((sum, id) => {
    const stat = readFileSync(`/proc/${id}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return sum + (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ ticks
  }, 0);
}

function run(node: StrataProcess): { mibs: number; cpu: number } {
  const before = cpuSeconds(node);
  const out = execFileSync(
    process.execPath,
    [
      join(dir, 's3-load.mjs'),
      ...['--endpoint', node.s3Endpoint, '--access', node.accessKey, '--secret', node.secretKey],
      ...['--big-count', opts.count, '--skip-small'],
    ],
    { encoding: 'utf8' },
  );
  const put = /big PUT ([\d.]+) MB\/s/.exec(out);
  assert(put !== null, `no PUT figure in the load generator's output:\n${out}`);
  // The generator's "MB/s" is MiB per second (bytes / 2^20 / s).
  return { mibs: Number(put[1]), cpu: cpuSeconds(node) - before };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const base = await startBase({ dataDir: join(dir, 'base') });
const hereEnv = Object.fromEntries(
  opts['here-env'].map((pair) => {
    const at = pair.indexOf('=');
    assert(at > 0, `--here-env ${pair}: NAME=VALUE`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const here = await startStrata({ dataDir: join(dir, 'here'), env: hereEnv });
type Run = { mibs: number; cpu: number };
const results: { here: Run[]; base: Run[] } = { here: [], base: [] };
try {
  run(base);
  run(here);
  for (let round = 0; round < Number(opts.rounds); round++) {
    const order = round % 2 === 0 ? (['here', 'base'] as const) : (['base', 'here'] as const);
    for (const side of order) results[side].push(run(side === 'here' ? here : base));
    const [h, b] = [results.here[round], results.base[round]];
    console.log(
      `round ${round + 1}: this ${h.mibs.toFixed(1)} MiB/s (${h.cpu.toFixed(1)} CPU-s), ` +
        `base ${b.mibs.toFixed(1)} MiB/s (${b.cpu.toFixed(1)} CPU-s), ratio ${(h.mibs / b.mibs).toFixed(2)}`,
    );
  }
} finally {
  await Promise.all([base.stop(), here.stop()]);
}
const [h, b] = [results.here, results.base].map((rs) => ({
  mibs: median(rs.map((r) => r.mibs)),
  cpu: median(rs.map((r) => r.cpu)),
}));
const ratios = results.here.map((r, i) => r.mibs / results.base[i].mibs);
console.log(
  `\nmedians: this ${h.mibs.toFixed(1)} MiB/s, base ${b.mibs.toFixed(1)} MiB/s, ` +
    `ratio of medians ${(h.mibs / b.mibs).toFixed(2)}, median of pair ratios ` +
    `${median(ratios).toFixed(2)}; CPU-s per run ${h.cpu.toFixed(1)} against ${b.cpu.toFixed(1)}`,
);
