// The metadata scale benchmark (issue 11) from the command line: a 3-member cluster of combined
// nodes grows a namespace of --entries files while a steady S3 + FUSE-like load runs; a table
// row per window, the end-of-run figures, then one JSON line with everything.
//   npm run bench:scale [-- --entries 1000000 --window-seconds 10 --clients 64 --mixed-loops 4
//                         --mixed-rate 200 --baseline-windows 10
//                         --snapshot-log-bytes N --load-rate 300 --find-entries 100000
//                         --node-options=--cpu-prof --node-args=--single-threaded-gc
//                         --skip-mount --keep]
// --load-rate paces the bulk load (entries/s; 0: as fast as the cluster takes them). The default
// leaves this 2-core machine headroom (docs/architecture/scaling.md, "Measured": at 400 the
// baseline served 166 of the 200 mixed ops/s offered, at 300 all of them), so the windows
// compare with the baseline ("empty": the same two loads on the empty namespace) rather than
// measure CPU queueing. --node-options is the nodes' NODE_OPTIONS (--cpu-prof; their data
// children inherit it); --node-args, space-separated Node.js options on their command lines
// (V8 flags NODE_OPTIONS refuses, such as --single-threaded-gc).
// --mixed-rate paces the steady load (operations/s over its loops, each timed from when it was
// due; 0: closed loops, whose ops/s is the CPU the rest of the machine leaves them). The
// baseline spans --baseline-windows windows; the summary compares each tenth of the growth
// with it as well as each window (report.ts, `tenths`). Ten by default: a window's p99 moves
// between about 0.5 and 1.0 of its neighbours' highest with nothing changed (22.6-48.9 ms over
// the first 29 windows of a 300k run, at 3k-87k entries), so a 3-window baseline was one draw
// of that spread (28.5 ms in one run, 47.4 in the next on another machine) against which
// tenths of 33 windows were judged; ten windows at the default pace end at about 33,000
// entries, 3% of the default run.
import { parseArgs } from 'node:util';
import { runScaleBench } from './bench.ts';
import { formatFlatness } from './report.ts';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    'window-seconds': { type: 'string', default: '10' },
    clients: { type: 'string', default: '64' },
    'mixed-loops': { type: 'string', default: '4' },
    'mixed-rate': { type: 'string', default: '200' },
    'baseline-windows': { type: 'string', default: '10' },
    'snapshot-log-bytes': { type: 'string' },
    'load-rate': { type: 'string', default: '300' },
    'find-entries': { type: 'string', default: '100000' },
    'catch-up-load-seconds': { type: 'string', default: '600' },
    'node-options': { type: 'string' },
    'node-args': { type: 'string' },
    'skip-mount': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

function positiveInt(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`--${flag}: expected a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

const result = await runScaleBench({
  entries: positiveInt('entries', values.entries),
  windowSeconds: positiveInt('window-seconds', values['window-seconds']),
  clients: positiveInt('clients', values.clients),
  mixedLoops: Math.max(2, positiveInt('mixed-loops', values['mixed-loops'])),
  mixedOpsPerSecond:
    values['mixed-rate'] === '0' ? undefined : positiveInt('mixed-rate', values['mixed-rate']),
  baselineWindows: positiveInt('baseline-windows', values['baseline-windows']),
  snapshotLogBytes:
    values['snapshot-log-bytes'] === undefined
      ? undefined
      : positiveInt('snapshot-log-bytes', values['snapshot-log-bytes']),
  nodeOptions: values['node-options'],
  nodeArgs: values['node-args']?.split(' ').filter((arg) => arg !== ''),
  loadEntriesPerSecondMax:
    values['load-rate'] === '0' ? undefined : positiveInt('load-rate', values['load-rate']),
  skipMount: values['skip-mount'],
  findEntries: positiveInt('find-entries', values['find-entries']),
  catchUpLoadTimeoutMs:
    positiveInt('catch-up-load-seconds', values['catch-up-load-seconds']) * 1000,
  keep: values.keep,
  print: (line) => console.log(line),
});

const { load, growth } = result;
console.log(
  `\nbulk load: ${load.acked} entries in ${load.seconds.toFixed(1)} s, ` +
    `${load.perSecond.toFixed(0)} entries/s, ${load.errors} errors` +
    (load.errors > 0 ? ` (last: ${load.lastError})` : ''),
);
console.log(formatFlatness(result.flatness));
console.log(
  `during the growth: term ${growth.termBefore} -> ${growth.termAfter}, ` +
    `${growth.leaderChanges} leader changes, ${growth.mixedErrors} mixed-load errors`,
);
console.log(
  `stalls the members logged during the growth (own > 50 ms, with their GC pauses): ` +
    `${growth.stallsLogged.length}` +
    growth.stallsLogged.map((s) => `\n  member ${s.id}: ${s.line}`).join(''),
);
console.log(
  `acknowledged entries missing: ${result.listScan.missing} in the ListObjectsV2 scan; ` +
    result.membersMissing.map((m) => `${m.missing} on member ${m.id}`).join(', '),
);
console.log(JSON.stringify(result));
