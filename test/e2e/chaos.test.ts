// The chaos scenario's short form (test/e2e/chaos/scenario.ts): one round with a few objects.
// The long form, with more objects and rounds and a timing table, is `npm run chaos`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChaosScenario } from './chaos/scenario.ts';

test('chaos: two servers killed, repaired, two more killed, one restarted during repair, one stopped, one added, one drained and removed: every object reads back and the disks hold exactly the shards the metadata names', async (t) => {
  const scenario = await ChaosScenario.start({
    objects: 8,
    seed: 1,
    log: (line) => t.diagnostic(line),
  });
  try {
    const report = await scenario.round(1);
    t.diagnostic(JSON.stringify(report));
    assert.ok(report.getAddedMsMax < 1_000, `a GET gained ${report.getAddedMsMax} ms`);
    assert.equal(report.stripesNotSpread, 0);
  } finally {
    await scenario.stop();
  }
});
