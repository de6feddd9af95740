// The chaos scenario's long form: `npm run chaos -- --objects N --rounds R --seed S`. Repeats
// rounds of the seeded schedule (scenario.ts) on one cluster and prints a timing table: time to
// full redundancy after each kill, the added GET latency under SIGSTOP, and the spread left.
// A failed round prints the seed, so `--seed S` replays the same schedule.
import { parseArgs } from 'node:util';
import { ChaosScenario, type RoundReport } from './scenario.ts';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '40' },
    rounds: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
  },
});
const objects = Number(values.objects);
const rounds = Number(values.rounds);
const seed = Number(values.seed);
for (const [name, n] of Object.entries({ objects, rounds, seed }))
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);

const ms = (x: number) => `${Math.round(x)}`;
const columns: Array<[string, (r: RoundReport) => string]> = [
  ['round', (r) => `${r.round}`],
  ['killed', (r) => r.killedFirst.join('+')],
  ['put_at_kill_ms', (r) => ms(r.putAtKillMs)],
  ['status_clean_at_kill', (r) => `${r.statusCleanAtKill}`],
  ['full_redundancy_ms', (r) => ms(r.fullRedundancyMs)],
  ['killed_2nd', (r) => r.killedSecond.join('+')],
  ['restarted', (r) => r.restartedDuringRepair],
  ['redundancy_2nd_ms', (r) => ms(r.fullRedundancyAfterRestartMs)],
  ['stopped', (r) => r.stopped],
  ['hedged', (r) => `${r.hedgedReads}`],
  ['get_base_max_ms', (r) => ms(r.getBaselineMsMax)],
  ['get_added_p50_ms', (r) => ms(r.getAddedMsMedian)],
  ['get_added_max_ms', (r) => ms(r.getAddedMsMax)],
  ['stripes', (r) => `${r.stripes}`],
  ['not_spread', (r) => `${r.stripesNotSpread}`],
  ['moves', (r) => `${r.movesDone}`],
  ['moves_failed', (r) => `${r.movesFailed}`],
  ['shard_files', (r) => `${r.shardFiles}`],
];

function table(reports: RoundReport[]): string {
  const rows = [columns.map(([h]) => h), ...reports.map((r) => columns.map(([, f]) => f(r)))];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ')).join('\n');
}

const log = (line: string) => console.log(`[${new Date().toISOString()}] ${line}`);
const startedMs = performance.now();
log(`chaos: ${objects} objects, ${rounds} rounds, seed ${seed}`);
const scenario = await ChaosScenario.start({ objects, seed, log });
const reports: RoundReport[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    reports.push(await scenario.round(round));
    log(`round ${round} done`);
  }
} catch (error) {
  console.error(`chaos round ${reports.length + 1} FAILED (seed ${seed}):`, error);
  process.exitCode = 1;
} finally {
  await scenario.stop();
}
console.log(`\n${table(reports)}`);
const drain = reports[0]?.drain;
if (drain)
  console.log(
    `\nround 1: ${drain.added} added; ${drain.drained} drained (${drain.drainedShards} shards) ` +
      `in ${ms(drain.drainMs)} ms, removed, cluster HEALTHY`,
  );
// The acceptance: GETs go on with less than a second added while a server is stopped.
const slow = reports.filter((r) => r.getAddedMsMax >= 1_000);
if (slow.length > 0) {
  console.error(`rounds ${slow.map((r) => r.round)}: a GET gained 1 s or more under SIGSTOP`);
  process.exitCode = 1;
}
console.log(
  `\n${reports.length} of ${rounds} rounds in ${ms((performance.now() - startedMs) / 1000)} s`,
);
