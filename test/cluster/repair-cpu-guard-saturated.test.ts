// The repair thread's CPU class guard (src/cluster/repair-cpu-class.ts, repair-cpu-guard-loop.ts)
// under a load that keeps the CPU busy: at SCHED_IDLE, beside a runnable nice-0 task, the thread
// gets next to nothing (without the guard: no rebuild at all in 20 s, benches/repair/starved.ts),
// so the guard must see it starved, put it at nice, and rebuilds must go on, correctly.
// To load one CPU only (other test files run beside this one), this process and everything it
// starts are pinned to one CPU, a busy loop with them: its event loop and the data services'
// share that CPU with the loop, and the repair thread, made after the pin, is on it too.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { after, test } from 'node:test';
import { STARVED_WINDOWS, WINDOW_MS } from '../../src/cluster/repair-cpu-class.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import {
  K,
  M,
  type RebuildServer,
  startRebuildServers,
  stopRebuildServers,
  writeRebuildStripe,
} from '../helpers/rebuild-loop.ts';

const SHARD_BYTES = 256 * 1024;
const REBUILT = 4; // the shard index rebuilt, on a seventh server
// Long enough for the guard to judge STARVED_WINDOWS windows and switch, then for rebuilds at nice
// beside the loop (a few a second on this machine); a bound, not a figure.
const DEADLINE_MS = 60_000;
const CPU = availableParallelism() - 1;

let servers: RebuildServer[] = [];
let loop: ChildProcess | undefined;

after(async () => {
  loop?.kill('SIGKILL');
  await stopRebuildServers(servers);
});
process.on('exit', () => loop?.kill('SIGKILL')); // a busy loop must not outlive the test

test('a starved repair thread is put at nice and its rebuilds go on beside a busy CPU', async () => {
  execFileSync('taskset', ['-a', '-p', '-c', String(CPU), String(process.pid)], {
    stdio: 'ignore',
  });
  servers = await startRebuildServers('idle', silentLogger);
  const { header, expected } = await writeRebuildStripe(servers, SHARD_BYTES, REBUILT);
  const { stripeId } = header;
  const target = servers[K + M];
  // The thread is set to idle (chrt, from the event loop) once the service serves.
  await target.client.rebuildShard(header);
  await target.client.deleteShards({ shards: [{ stripeId, shardIndex: REBUILT, disk: 0 }] });
  for (let i = 0; i < 100 && target.rebuilder.thread.cpuClass !== 'idle'; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(target.rebuilder.thread.cpuClass, 'idle', 'the thread starts at the idle class');

  loop = spawn('taskset', ['-c', String(CPU), 'sh', '-c', 'while :; do :; done'], {
    stdio: 'ignore',
  });
  const startedMs = Date.now();
  let niceAtMs: number | undefined;
  const watch = setInterval(() => {
    if (niceAtMs === undefined && target.rebuilder.thread.cpuClass === 'nice')
      niceAtMs = Date.now();
  }, WINDOW_MS / 4);
  let rebuiltAtNice = 0;
  const failed: string[] = [];
  try {
    while (rebuiltAtNice < 3) {
      assert.ok(
        Date.now() - startedMs < DEADLINE_MS,
        `3 rebuilds after the switch within ${DEADLINE_MS} ms (class ${target.rebuilder.thread.cpuClass}, ${rebuiltAtNice} done)`,
      );
      try {
        await target.client.rebuildShard(header, { timeoutMs: DEADLINE_MS });
      } catch (error) {
        // A source read may time out while its server's thread is still starved, before its
        // guard acted (benches/repair/starved.ts saw one in 500); the next rebuild tries again.
        failed.push((error as Error).message);
        assert.ok(failed.length <= 5, `rebuilds keep failing: ${failed.join('; ')}`);
        continue;
      }
      const rebuilt = await target.client.getShard({
        stripeId,
        shardIndex: REBUILT,
        disk: 0,
        shardSizeBytes: SHARD_BYTES,
        shardVersion: 2,
      });
      assert.ok(rebuilt.equals(expected), 'the rebuilt shard is the one the stripe had');
      await target.client.deleteShards({ shards: [{ stripeId, shardIndex: REBUILT, disk: 0 }] });
      if (niceAtMs !== undefined) rebuiltAtNice++;
    }
  } finally {
    clearInterval(watch);
    loop.kill('SIGKILL');
  }
  assert.ok(niceAtMs !== undefined, 'the guard put the starved thread at nice');
  // It took at least the starved windows it judges (the thread was starved from the start).
  assert.ok(niceAtMs - startedMs >= (STARVED_WINDOWS - 1) * WINDOW_MS, 'judged over its windows');
});
