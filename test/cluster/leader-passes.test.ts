// The leader-only pass loop shared by the restore, transition and replication runners: passes
// only while leading, never two at once, a failure counted and retried, stop() waits for the pass.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaderPasses } from '../../src/cluster/leader-passes.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { leaderPassFailures } from '../../src/observability/metrics.ts';

const failuresOf = async (task: string) =>
  (await leaderPassFailures.get()).values.find((v) => v.labels.task === task)?.value ?? 0;

describe('LeaderPasses', () => {
  test('passes run only while leading, one at a time, and stop waits for the one in flight', async () => {
    let running = 0;
    let runningMax = 0;
    let passes = 0;
    let finished = 0;
    const loop = new LeaderPasses({
      task: 'restore',
      intervalMs: 5,
      log: silentLogger,
      runPass: async () => {
        running++;
        passes++;
        runningMax = Math.max(runningMax, running);
        await sleep(40); // eight ticks: each would start a pass if overlap were allowed
        running--;
        finished++;
      },
    });
    loop.kick();
    assert.equal(passes, 0, 'no pass before leadership');
    loop.leadership(true);
    assert.equal(loop.leading, true);
    await sleep(150);
    assert.ok(passes >= 2, `passes ran (${passes})`);
    assert.equal(runningMax, 1, 'never two passes at once');
    await loop.stop();
    assert.equal(running, 0, 'stop returned after the pass in flight ended');
    assert.equal(finished, passes);
    const after = passes;
    await sleep(50);
    assert.equal(passes, after, 'no pass after stop');
    assert.equal(loop.leading, false);
  });

  test('a failed pass is counted, and the next tick runs again', async () => {
    const before = await failuresOf('transition');
    const leadership: boolean[] = [];
    let passes = 0;
    const loop = new LeaderPasses({
      task: 'transition',
      intervalMs: 5,
      log: silentLogger,
      onLeadership: (isLeader) => leadership.push(isLeader),
      runPass: async () => {
        passes++;
        if (passes <= 2) throw new Error(`pass ${passes} fails`);
      },
    });
    loop.leadership(true);
    for (let waited = 0; passes < 4 && waited < 5000; waited += 10) await sleep(10);
    await loop.stop();
    assert.ok(passes >= 4, 'passes went on after the failures');
    assert.equal((await failuresOf('transition')) - before, 2);
    assert.deepEqual(leadership, [true, false]);
  });
});
