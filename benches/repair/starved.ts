// Repair beside a load that keeps every CPU busy: does the repair thread's CPU class guard
// (src/cluster/repair-cpu-class.ts) keep rebuilds going? Seven data services in this process,
// one shard rebuilt again and again on the seventh (deleted after each), beside --hogs busy
// loops at nice 0, for --seconds. Prints progress every 5 s: rebuilds done, failed, and the
// thread's class; the data services log each starvation the guard sees.
//   node benches/repair/starved.ts [--class idle|nice] [--hogs 3] [--seconds 40]
// Figures (issue 12's notes): at idle with the guard, 479-565 rebuilds in 40 s beside three
// loops, at most one failed; at idle without the guard, none in 20 s.
import { type ChildProcess, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { RepairCpuClass } from '../../src/data/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import {
  K,
  M,
  type RebuildServer,
  startRebuildServers,
  stopRebuildServers,
  writeRebuildStripe,
} from '../../test/helpers/rebuild-loop.ts';

const { values: opts } = parseArgs({
  options: {
    class: { type: 'string', default: 'idle' },
    hogs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '40' },
  },
});
if (!['idle', 'nice'].includes(opts.class))
  throw new Error(`--class: idle or nice, got ${opts.class}`);
const CPU_CLASS = opts.class as RepairCpuClass;
const HOGS = Number(opts.hogs);
const SECONDS = Number(opts.seconds);
const SHARD_BYTES = 1024 * 1024;
const REBUILT = 4; // the shard index rebuilt, on the server after the stripe's six
const log = createLogger({ level: 'warn' });

let servers: RebuildServer[] = [];
const hogs: ChildProcess[] = [];
const cleanUp = () => {
  for (const hog of hogs) hog.kill('SIGKILL');
};
process.on('exit', cleanUp); // busy loops must not outlive the bench, whatever ends it

try {
  servers = await startRebuildServers(CPU_CLASS, log);
  const { header } = await writeRebuildStripe(servers, SHARD_BYTES, REBUILT);
  const { stripeId } = header;
  for (let i = 0; i < HOGS; i++) hogs.push(spawn('sh', ['-c', 'while :; do :; done']));
  const target = servers[K + M];
  const startedMs = Date.now();
  let done = 0;
  let failed = 0;
  const progress = setInterval(() => {
    const seconds = ((Date.now() - startedMs) / 1000).toFixed(0);
    console.log(
      `${seconds} s: ${done} rebuilds, ${failed} failed, class ${target.rebuilder.thread.cpuClass ?? 'nice'}`,
    );
  }, 5_000);
  while (Date.now() - startedMs < SECONDS * 1000) {
    try {
      await target.client.rebuildShard(header);
    } catch (error) {
      failed++;
      console.log(`a rebuild failed: ${(error as Error).message}`);
      continue;
    }
    await target.client.deleteShards({ shards: [{ stripeId, shardIndex: REBUILT, disk: 0 }] });
    done++;
  }
  clearInterval(progress);
  cleanUp();
  console.log(
    `${done} rebuilds in ${SECONDS} s beside ${HOGS} busy loops, ${failed} failed (class ${CPU_CLASS})`,
  );
} finally {
  cleanUp();
  await stopRebuildServers(servers);
}
