// A metadata member logs each event-loop stall it causes over 50 ms (src/cluster/node.ts wires
// the stall monitor to the log), and counts it in strata_process_eventloop_stalls_total. A
// process stopped by SIGSTOP is not waiting for a CPU, so the time it is stopped counts as its
// own stall: a stall of a known length without touching the server's code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStrata } from '../helpers/server.ts';

const STOPPED_MS = 300;
const LOG_WAIT_MS = 5_000;

async function stallsTotal(metricsUrl: string): Promise<number> {
  const page = await (await fetch(metricsUrl)).text();
  const match = /^strata_process_eventloop_stalls_total (\S+)$/m.exec(page);
  assert.ok(match, 'the stall counter is served');
  return Number(match[1]);
}

test('a member stopped for 300 ms logs the stall with its length and counts it', async () => {
  const server = await startStrata();
  try {
    const before = await stallsTotal(server.metricsUrl);
    const stalled = () =>
      server
        .output()
        .split('\n')
        .filter((line) => line.includes('"event loop stalled"'));
    assert.equal(stalled().length, 0, 'no stall logged at rest');
    server.process.kill('SIGSTOP');
    await sleep(STOPPED_MS);
    server.process.kill('SIGCONT');
    const deadline = Date.now() + LOG_WAIT_MS;
    while (stalled().length === 0 && Date.now() < deadline) await sleep(50);
    const lines = stalled();
    assert.equal(lines.length, 1, `one stall logged:\n${server.output()}`);
    const entry = JSON.parse(lines[0]);
    assert.equal(entry.level, 'warn');
    assert.ok(entry.ownMs >= STOPPED_MS - 50, `own ${entry.ownMs} ms for ${STOPPED_MS} stopped`);
    assert.ok(entry.cpuMs < STOPPED_MS / 2, `a stopped process uses no CPU: ${entry.cpuMs} ms`);
    assert.ok(Array.isArray(entry.gcPauses), 'the collections in it are listed (maybe none)');
    assert.equal(await stallsTotal(server.metricsUrl), before + 1);
  } finally {
    await server.stop();
  }
});
