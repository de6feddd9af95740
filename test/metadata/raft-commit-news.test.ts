// A leader does not send an empty append per commit to tell followers the new commit index: it
// holds that news for the next append with entries to carry (replica.ts, holdCommitNews), and
// sends it by itself only when no append follows. Three members in this process over real RPC;
// each follower's received messages are counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startReplicaTrio } from '../helpers/replica-trio.ts';
import { until as waitUntil } from '../helpers/wait.ts';

const caller = { uid: 0, gid: 0 };
const CREATES = 60;

const until = (what: string, check: () => boolean) =>
  waitUntil(what, async () => (check() ? true : undefined), { limitMs: 20_000, intervalMs: 5 });

test('commits reach the followers on the next append, not one empty append each; the last one too', async () => {
  const received = new Map([1, 2, 3].map((id) => [id, { commitOnly: 0, withEntries: 0 }]));
  const trio = await startReplicaTrio('strata-commit-news', (nodeId, message) => {
    const counts = received.get(nodeId);
    if (counts === undefined || message.type !== 'app') return;
    if (message.entries.length === 0) counts.commitOnly++;
    else counts.withEntries++;
  });
  const members = trio.members.map((m) => ({
    ...m,
    received: received.get(m.nodeId) ?? assert.fail(),
  }));
  try {
    await until('a leader', () => members.some((m) => m.replica.isLeader));
    const leader = members.find((m) => m.replica.isLeader);
    assert.ok(leader);
    const followers = members.filter((m) => m !== leader);
    const bucket = await leader.replica.propose({
      command: { op: 'createBucket', nowMs: 1, name: 'b', owner: 'o', caller },
    });
    assert.ok(bucket.ok);
    await until('the followers applied the bucket', () =>
      followers.every((f) => f.stateMachine.appliedIndex() >= leader.stateMachine.appliedIndex()),
    );
    for (const f of followers) Object.assign(f.received, { commitOnly: 0, withEntries: 0 });

    // One client: each create is proposed once the previous one is answered.
    for (let n = 0; n < CREATES; n++) {
      const result = await leader.replica.propose({
        command: {
          op: 'create',
          nowMs: 2,
          parent: bucket.inode?.ino as number,
          name: `f${n}`,
          mode: 0o644,
          caller,
          exclusive: true,
        },
      });
      assert.ok(result.ok);
    }
    // The last commit has no append after it: its news leaves by itself.
    const last = leader.stateMachine.appliedIndex();
    await until('the followers applied the last create', () =>
      followers.every((f) => f.stateMachine.appliedIndex() >= last),
    );
    for (const f of followers) {
      assert.ok(f.received.withEntries >= CREATES, `follower ${f.nodeId} got every entry`);
      // One empty append per commit before; now the next append carries it. A loaded machine
      // may let a hold expire now and then before the next create is proposed.
      assert.ok(
        f.received.commitOnly < CREATES / 2,
        `follower ${f.nodeId}: ${f.received.commitOnly} commit-only appends for ${CREATES} creates`,
      );
    }
  } finally {
    await trio.close();
  }
});
