// A metadata member stops on SIGTERM even when its peers are gone: a stop never waits on members
// that do not answer. Here a member restarted while its peers stay down (it knows them from its
// log, and keeps asking their ids in the background) is stopped; its peer lookups used to retry
// forever after the stop, so the process never exited and the helper killed it after 20 s.
// The bound is the helper's 20 s: the test asserts a clean exit (code 0), not a speed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';

test('a restarted member whose peers are down exits on SIGTERM', async () => {
  const cluster = await MetadataCluster.start(3);
  try {
    await cluster.leader();
    await cluster.stop();
    await cluster.startNode(1);
    const alone = cluster.nodes.get(1)?.process;
    assert.ok(alone);
    await alone.stop();
    assert.equal(
      alone.process.exitCode,
      0,
      `exit ${alone.process.exitCode ?? alone.process.signalCode}:\n${alone.output()}`,
    );
  } finally {
    await cluster.stop();
  }
});
