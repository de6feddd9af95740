// Committed entries are applied a bounded slice of time per event-loop turn (replica.ts,
// APPLY_TURN_BUDGET_MS): a Ready of many entries yields between slices, so timers, heartbeats and
// RPCs are served meanwhile, and every entry is still applied, once, in log order. With a budget
// of 0 a turn applies one entry, which makes the yields countable without measuring time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import { tempDir } from '../helpers/server.ts';
import { startSingleReplica } from '../helpers/single-replica.ts';

const caller = { uid: 0, gid: 0 };
const FILES = 64;

function startReplica(snapshotLogBytes: number) {
  const dataDir = tempDir('strata-apply-yield-');
  return startSingleReplica(dataDir, { snapshotLogBytes, applyTurnBudgetMs: 0 });
}

async function createBucket(replica: MetadataReplica): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      const bucket = await replica.propose({
        command: { op: 'createBucket', nowMs: 1, name: 'b', owner: 'o', caller },
      });
      assert.ok(bucket.ok && bucket.inode);
      return bucket.inode.ino;
    } catch (error) {
      if (attempt > 200) throw error;
      await new Promise((r) => setTimeout(r, 10)); // not the leader yet
    }
  }
}

const createIn = (replica: MetadataReplica, parent: number, name: string) =>
  replica.propose({
    command: { op: 'create', nowMs: 2, parent, name, mode: 0o644, caller, exclusive: true },
  });

test('a Ready of many entries is applied over several turns, all of it and in order', async () => {
  const { replica, stateMachine } = startReplica(64 * 1024 * 1024);
  try {
    const parent = await createBucket(replica);
    // The applied index as each turn of the loop sees it (setImmediate: once a turn).
    const seen = new Set<number>();
    let sampling = true;
    let sampled: () => void = () => undefined;
    const samplerDone = new Promise<void>((resolve) => {
      sampled = resolve;
    });
    const sample = () => {
      seen.add(stateMachine.appliedIndex());
      if (sampling) setImmediate(sample);
      else sampled();
    };
    setImmediate(sample);
    // Proposed in one turn: they go out in one Ready and commit together.
    const created = await Promise.all(
      Array.from({ length: FILES }, (_, i) => createIn(replica, parent, `f${i}`)),
    );
    sampling = false;
    await samplerDone;
    assert.ok(
      created.every((r) => r.ok),
      'every create applied',
    );
    // Inodes are numbered in apply order: the log order of the proposals.
    const inos = created.map((r) => r.inode?.ino as number);
    assert.deepEqual(
      inos,
      [...inos].sort((a, b) => a - b),
      'applied in log order',
    );
    for (let i = 0; i < FILES; i++)
      assert.ok(stateMachine.reader.lookup(parent, `f${i}`), `f${i} is there`);
    // One entry a turn: the loop saw most of the intermediate applied indexes (one Ready applied
    // in a single turn would show none of them).
    assert.ok(seen.size >= FILES / 2, `applied over ${seen.size} turns seen`);
  } finally {
    replica.close();
    await replica.drained();
    await stateMachine.close();
  }
});

// A snapshot is the state machine's copy at its applied index, and the core compacts its log to
// that index, which must be one the core was told is applied: a Ready is advanced only once all
// of it is applied. Applies keep their budget while a copy is made, so a copy may hold part of a
// Ready; the replica then waits for the rest before it compacts. Readies of 256 entries applied
// one a turn outlast a copy of this small state: without the wait the core's assertion fails
// ("snapshot N beyond applied M").
const FILES_PER_ROUND = 256;
test('snapshots taken while Readies are applied over several turns', async () => {
  const { replica, stateMachine } = startReplica(4 * 1024); // a snapshot every few dozen creates
  try {
    const parent = await createBucket(replica);
    const snapshotIndex = () => replica.status().firstIndex - 1;
    for (let round = 0; round < 20; round++) {
      const created = await Promise.all(
        Array.from({ length: FILES_PER_ROUND }, (_, i) =>
          createIn(replica, parent, `r${round}-${i}`),
        ),
      );
      assert.ok(
        created.every((r) => r.ok),
        `round ${round}: every create applied`,
      );
    }
    assert.ok(snapshotIndex() > 0, 'the log was compacted at least once');
    for (let i = 0; i < FILES_PER_ROUND; i++)
      assert.ok(stateMachine.reader.lookup(parent, `r19-${i}`), `r19-${i} is there`);
  } finally {
    replica.close();
    await replica.drained();
    await stateMachine.close();
  }
});
