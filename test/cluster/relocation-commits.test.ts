// The repair driver's group commit (src/cluster/relocation-commits.ts) against a real state
// machine: moves that end while a relocateShards command is in flight go together in the next one,
// each move gets its own outcome, and a command that fails fails every move it carried.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RelocationCommits } from '../../src/cluster/relocation-commits.ts';
import { isStrataError } from '../../src/common/errors.ts';
import type { Relocation, RelocationOutcome, Stripe } from '../../src/metadata/types.ts';
import {
  closeAll,
  EIGHT_DISKS,
  extent,
  ok,
  openMachine,
  ROOT,
  stripe,
} from '../metadata/sm-helpers.ts';

after(closeAll);

// Objects of one stripe each (all shards on server 's'), and server 't' to move shards to.
function withObjects(count: number) {
  const machine = openMachine();
  ok(machine, {
    op: 'registerDataServer',
    server: { serverId: 't', addr: 'h:1', disks: EIGHT_DISKS },
  });
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  const objects: Array<{ s: Stripe; ino: number }> = [];
  for (let i = 0; i < count; i++) {
    const s = stripe(100);
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key: `k${i}`,
      size: 100,
      extents: [extent(0, 100, s)],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
    });
    objects.push({ s, ino: machine.reader.resolvePath(`/b/k${i}`)?.ino as number });
  }
  return { machine, objects };
}

const moveOf = ({ s, ino }: { s: Stripe; ino: number }, shardIndex = 1): Relocation => ({
  stripeId: s.id,
  shardIndex,
  from: { serverId: 's', disk: shardIndex },
  to: { serverId: 't', disk: shardIndex },
  at: { ino, fileOffset: 0 },
});

test('moves that come while a command is in flight share the next one, at most batchMax each', async () => {
  const { machine, objects } = withObjects(10);
  const batches: number[] = [];
  const commits = new RelocationCommits(async (moves) => {
    batches.push(moves.length);
    await new Promise((r) => setImmediate(r)); // the command is in flight for a turn
    const result = ok(machine, { op: 'relocateShards', moves });
    return result.relocations as RelocationOutcome[];
  }, 4);
  await Promise.all(objects.map((o) => commits.commit(moveOf(o))));
  // The first goes alone at once; the other nine queued behind it, in batches of at most 4.
  assert.deepEqual(batches, [1, 4, 4, 1]);
  for (const { ino } of objects)
    assert.deepEqual(machine.reader.extents(ino, 0, 100)[0].stripe!.shards[1], {
      serverId: 't',
      disk: 1,
    });
  assert.equal(commits.waiting, 0);
});

test('a refused move rejects with its own code; the others in its batch commit', async () => {
  const { machine, objects } = withObjects(3);
  const commits = new RelocationCommits(async (moves) => {
    return ok(machine, { op: 'relocateShards', moves }).relocations as RelocationOutcome[];
  }, 8);
  await commits.commit(moveOf(objects[0]));
  const outcomes = await Promise.allSettled([
    commits.commit(moveOf(objects[1])),
    commits.commit(moveOf(objects[0])), // committed already: stale
    commits.commit(moveOf(objects[2])),
  ]);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  const refused = (outcomes[1] as PromiseRejectedResult).reason;
  assert.ok(isStrataError(refused, 'PRECONDITION_FAILED'), String(refused));
});

test('a command that fails rejects every move it carried, and the next batch still goes', async () => {
  const { machine, objects } = withObjects(3);
  let calls = 0;
  const commits = new RelocationCommits(async (moves) => {
    if (calls++ === 0) throw new Error('leader lost');
    return ok(machine, { op: 'relocateShards', moves }).relocations as RelocationOutcome[];
  }, 8);
  const first = commits.commit(moveOf(objects[0]));
  const second = commits.commit(moveOf(objects[1]));
  await assert.rejects(first, /leader lost/);
  await second;
  await commits.commit(moveOf(objects[2]));
  assert.deepEqual(machine.reader.extents(objects[0].ino, 0, 100)[0].stripe!.shards[1], {
    serverId: 's',
    disk: 1,
  });
});

test('with gatherMs, the next command waits for the interval unless a full batch waits', async () => {
  const { machine, objects } = withObjects(5);
  const batches: number[] = [];
  const commits = new RelocationCommits(
    async (moves) => {
      batches.push(moves.length);
      return ok(machine, { op: 'relocateShards', moves }).relocations as RelocationOutcome[];
    },
    4,
    { gatherMs: 600_000 }, // far longer than the test: only a full batch can end the wait
  );
  // The first move after a pause goes at once.
  await commits.commit(moveOf(objects[0]));
  assert.deepEqual(batches, [1]);
  const rest = objects.slice(1, 4).map((o) => commits.commit(moveOf(o)));
  for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(batches, [1], 'three moves wait for more within the interval');
  assert.equal(commits.waiting, 3);
  // The fourth fills the batch: it goes without waiting out the interval.
  await Promise.all([...rest, commits.commit(moveOf(objects[4]))]);
  assert.deepEqual(batches, [1, 4]);
  assert.equal(commits.waiting, 0);
});

test('flushNow sends the moves waiting out gatherMs at once (no more are coming)', async () => {
  const { machine, objects } = withObjects(3);
  const batches: number[] = [];
  const commits = new RelocationCommits(
    async (moves) => {
      batches.push(moves.length);
      return ok(machine, { op: 'relocateShards', moves }).relocations as RelocationOutcome[];
    },
    4,
    { gatherMs: 600_000 }, // far longer than the test: only flushNow can end the wait
  );
  await commits.commit(moveOf(objects[0]));
  const rest = objects.slice(1).map((o) => commits.commit(moveOf(o)));
  for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(batches, [1], 'two moves wait for more within the interval');
  commits.flushNow();
  await Promise.all(rest);
  assert.deepEqual(batches, [1, 2]);
  commits.flushNow(); // nothing waiting: nothing sent
  assert.deepEqual(batches, [1, 2]);
});
