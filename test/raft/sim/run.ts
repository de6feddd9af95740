// Runs simulator seeds: `npm run sim -- --seeds 10000 [--from N]`, or `--seed N` to replay one.
// A failing seed prints the one command that replays it.
import { parseArgs } from 'node:util';
import { replayCommand } from './replay.ts';
import { type ProfileName, runSimulation, type SimulationResult } from './simulation.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string', default: '100' },
    from: { type: 'string', default: '1' },
    'old-term-commit-bug': { type: 'boolean', default: false },
    profile: { type: 'string', default: 'random' },
    verbose: { type: 'boolean', default: false },
  },
});

const testingFaults = values['old-term-commit-bug']
  ? { commitOldTermEntriesByCounting: true }
  : undefined;

const profileName = values.profile as ProfileName;
if (profileName !== 'random' && profileName !== 'figure8') {
  throw new Error(`--profile must be random or figure8, got ${profileName}`);
}

function report(result: SimulationResult): void {
  console.error(`seed ${result.seed} FAILED\n${result.failure}`);
  console.error(`profile: ${JSON.stringify(result.profile)}`);
  console.error(
    `replay: ${replayCommand(result.seed, { bug: testingFaults !== undefined, profileName })}`,
  );
}

const startedMs = performance.now();
if (values.seed !== undefined) {
  const result = runSimulation({ seed: Number(values.seed), testingFaults, profileName });
  console.log(JSON.stringify(result.stats));
  if (values.verbose) console.log(JSON.stringify(result.profile));
  if (!result.ok) {
    report(result);
    process.exitCode = 1;
  } else {
    console.log(`seed ${result.seed} ok`);
  }
} else {
  const count = Number(values.seeds);
  const from = Number(values.from);
  let failures = 0;
  let recovered = 0;
  let acknowledged = 0;
  let undecided = 0;
  for (let seed = from; seed < from + count; seed++) {
    const result = runSimulation({ seed, testingFaults, profileName });
    if (result.stats.recovered) recovered++;
    acknowledged += result.stats.acknowledgedOps;
    if (result.stats.linearizabilityUndecided) {
      undecided++;
      console.log(`seed ${seed}: linearizability undecided (search limit)`);
    }
    if (!result.ok) {
      failures++;
      report(result);
      if (failures >= 5) break;
    }
    if ((seed - from + 1) % 1000 === 0) {
      const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
      console.log(`${seed - from + 1} seeds, ${failures} failures, ${seconds} s`);
    }
  }
  const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
  console.log(
    `seeds ${from}..${from + count - 1}: ${failures} failures, ${recovered} recovered after faults, ` +
      `${acknowledged} acknowledged client operations, ${undecided} undecided histories, ${seconds} s`,
  );
  if (failures > 0) process.exitCode = 1;
}
