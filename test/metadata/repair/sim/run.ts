// Runs cluster simulator seeds: `npm run sim:cluster -- --seeds 1000 [--from N]`, or `--seed N`
// to replay one (`--verbose` prints its whole trace). A failing seed prints the command that
// replays it. `--delete-before-commit-bug` plants a bug the simulator must catch; `--pools` adds a
// cold pool that half the stripes are placed in; `--degraded-writes` commits k+1 of k+m.
import { parseArgs } from 'node:util';
import { type Profile, withPools } from './profile.ts';
import { replayCommand } from './replay.ts';
import { type ClusterSimResult, runClusterSimulation } from './simulation.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string', default: '100' },
    from: { type: 'string', default: '1' },
    'delete-before-commit-bug': { type: 'boolean', default: false },
    'degraded-writes': { type: 'boolean', default: false },
    pools: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});

const bug = values['delete-before-commit-bug'];
const testingFaults = bug ? { deleteBeforeCommit: true } : undefined;
const adjustProfile = (profile: Profile): Profile => {
  const degraded = values['degraded-writes'] ? { ...profile, degradedWrites: true } : profile;
  return values.pools ? withPools(degraded) : degraded;
};
const replayOptions = {
  bug,
  degradedWrites: values['degraded-writes'],
  pools: values.pools,
};

function report(result: ClusterSimResult, trace: boolean): void {
  console.error(`seed ${result.seed} FAILED\n${result.failure}`);
  console.error(`profile: ${JSON.stringify(result.profile)}`);
  if (trace) console.error(`trace (last lines):\n${result.trace.join('\n')}`);
  console.error(`replay: ${replayCommand(result.seed, replayOptions)}`);
}

const startedMs = performance.now();
if (values.seed !== undefined) {
  const result = runClusterSimulation({
    seed: Number(values.seed),
    testingFaults,
    adjustProfile,
    verbose: values.verbose,
  });
  if (values.verbose) console.log(result.trace.join('\n'));
  console.log(JSON.stringify(result.profile));
  console.log(JSON.stringify(result.stats));
  if (!result.ok) {
    report(result, !values.verbose);
    process.exitCode = 1;
  } else {
    console.log(`seed ${result.seed} ok`);
  }
} else {
  const count = Number(values.seeds);
  const from = Number(values.from);
  const totals = { failures: 0, repaired: 0, moves: 0, stale: 0, ghosts: 0, convergedMsMax: 0 };
  for (let seed = from; seed < from + count; seed++) {
    const result = runClusterSimulation({ seed, testingFaults, adjustProfile });
    totals.repaired += result.stats.repair.done;
    totals.moves += result.stats.repair.moves;
    totals.stale += result.stats.collected.stale;
    totals.ghosts += result.stats.ghostTasks;
    const converged = result.stats.convergedAfterMs ?? 0;
    totals.convergedMsMax = Math.max(totals.convergedMsMax, converged);
    if (!result.ok) {
      totals.failures++;
      report(result, true);
      if (totals.failures >= 5) break;
    }
    if ((seed - from + 1) % 100 === 0) {
      const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
      console.log(`${seed - from + 1} seeds, ${totals.failures} failures, ${seconds} s`);
    }
  }
  const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
  console.log(
    `seeds ${from}..${from + count - 1}: ${totals.failures} failures; ${totals.repaired} shards ` +
      `rebuilt, ${totals.moves} moved, ${totals.stale} stale files collected, ${totals.ghosts} ` +
      `tasks finished by a former leader; slowest convergence ${totals.convergedMsMax} ms ` +
      `after the faults; ${seconds} s`,
  );
  if (totals.failures > 0) process.exitCode = 1;
}
