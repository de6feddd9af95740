// A snapshot this member is taking, overtaken by one received from the leader (issue 11's 'no term
// for applied index' crash, seen in the scale short form's follower restarted after kill -9). The
// core replaces its log with a received snapshot the moment the last chunk is stepped
// (raft-node.ts, #restore), while the replica installs it only once the Ready carrying it is
// durable, one Ready or more later (persistReady, installSnapshot). A copy of the state taken in
// between is at an index the core's log no longer holds: the replica must see it as overtaken
// (counted and logged), not look up its term.
//
// One real follower (member 2), driven by messages of a leader (member 1) this test plays: an
// append of a few hundred creates, whose log makes a snapshot due; their commit, applied one
// entry a turn (budget 0) in Readies of 128; and, right after the first Ready of them is applied
// (when the follower starts copying its state), a snapshot of a later state, whole in one chunk.
// Whether the copy reaches its checks before or after the install (a race of threadpool round
// trips, which the 8 MiB written with the snapshot's Ready tilts towards the copy), it must be
// given up and counted as overtaken, once. Without the comparison with the core's snapshot the
// follower stops on 'no term for applied index 131' in 7 runs of 8 (load 12-15 on the 2-core dev
// machine; the other one had installed first); the code before that fix, which counted nothing,
// failed every run.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Envelope, encodeEnvelope } from '../../src/metadata/replication/envelope.ts';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import { checksumFile, SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { RaftTransport } from '../../src/metadata/replication/transport.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Command } from '../../src/metadata/types.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { metadataSnapshots } from '../../src/observability/metrics.ts';
import type { Entry, Message } from '../../src/raft/index.ts';
import { tempDir } from '../helpers/server.ts';

const caller = { uid: 0, gid: 0 };
const LEADER = 1;
const FOLLOWER = 2;
const VOTERS = [1, 2, 3];
const TERM = 2; // the bootstrap entries (1..3) are term 1
const FIRST = 4; // the first index after the bootstrap entries
const CREATES = 400;
const LAST = FIRST + CREATES; // createBucket at FIRST, creates after it
const PER_READY = 128; // APPLIED_ENTRIES_PER_TURN_MAX: committed entries per Ready
const COMMIT = 3 + 2 * PER_READY; // two Readies of entries to apply
const SNAPSHOT_INDEX = LAST + 100; // the leader's snapshot: past everything the follower holds

// The command at each index the leader appends (the bucket is inode 2 in a fresh state).
function commandAt(index: number): Command {
  if (index === FIRST) return { op: 'createBucket', nowMs: 1, name: 'b', owner: 'o', caller };
  return {
    op: 'create',
    nowMs: 2,
    parent: 2,
    name: `f${index}`,
    mode: 0o644,
    caller,
    exclusive: true,
  };
}

// A create carrying 1 MiB the state machine ignores (the envelope's decoder checks only the
// fields it knows): what makes the write of the Ready after the snapshot long.
const PADDED_ENTRIES = 8;
function paddedEntry(index: number): Entry {
  const envelope = { command: commandAt(index), padding: new Uint8Array(1024 * 1024) };
  return { index, term: TERM, type: 'normal', data: encodeEnvelope(envelope as Envelope) };
}

// The leader's state at SNAPSHOT_INDEX, as the bytes of its snapshot file.
async function leaderSnapshot() {
  const dir = tempDir('strata-overtaken-leader-');
  const state = MetadataStateMachine.open(join(dir, 'state'), { durable: false });
  state.markApplied(3);
  for (let index = FIRST; index <= SNAPSHOT_INDEX; index++) {
    const result = state.apply(commandAt(index), index);
    assert.ok(result.ok, `leader state: entry ${index} applied`);
  }
  mkdirSync(join(dir, 'copy'));
  await state.snapshotTo(join(dir, 'copy'));
  await state.close();
  const file = join(dir, 'copy', 'data.mdb');
  assert.equal(MetadataStateMachine.appliedIndexAt(join(dir, 'copy')), SNAPSHOT_INDEX);
  return { data: readFileSync(file), ...(await checksumFile(file)) };
}

async function overtakenCount(): Promise<number> {
  const metric = await metadataSnapshots.get();
  return metric.values.find((v) => v.labels.origin === 'overtaken')?.value ?? 0;
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// Resolves in the first turn of the event loop where `check` holds (sampled once a turn, so the
// caller acts before the replica's next turn of applying).
function firstTurnWhere(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const sample = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out waiting for a turn'));
      else setImmediate(sample);
    };
    setImmediate(sample);
  });
}

test('a snapshot being taken is overtaken by one received from the leader before it is installed', async () => {
  const snapshot = await leaderSnapshot();
  const dataDir = tempDir('strata-overtaken-');
  const files = new SnapshotFiles(dataDir);
  const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
  const store = RaftStore.open(join(dataDir, 'raft-log'));
  const replica = new MetadataReplica({
    nodeId: FOLLOWER,
    store,
    stateMachine,
    transport: new RaftTransport(silentLogger), // no peers: its answers go nowhere
    bootstrapVoters: VOTERS,
    log: silentLogger,
    tickMs: 10,
    electionTimeoutTicks: 100_000, // it never campaigns
    seed: FOLLOWER,
    // The append below is ~40 KiB of log: a snapshot is due once anything past the last one is
    // applied.
    snapshotLogBytes: 16 * 1024,
    applyTurnBudgetMs: 0,
    diskSpace: { paths: [dataDir], minFreeBytes: 0, checkIntervalMs: 60_000 },
    files,
  });
  const snapshotIndex = () => replica.raft.status().firstIndex - 1;
  const overtakenBefore = await overtakenCount();
  try {
    await until('the bootstrap entries applied', () => stateMachine.appliedIndex() === 3);
    const entries: Entry[] = [];
    for (let index = FIRST; index <= LAST; index++)
      entries.push({
        index,
        term: TERM,
        type: 'normal',
        data: encodeEnvelope({ command: commandAt(index) }),
      });
    const leaderMessage = { from: LEADER, to: FOLLOWER, term: TERM };
    const append = (prevLogIndex: number, prevLogTerm: number, more: Entry[], commit: number) =>
      replica.step({
        ...leaderMessage,
        type: 'app',
        prevLogIndex,
        prevLogTerm,
        entries: more,
        commit,
      } as Message);
    // Appended, nothing more committed: the log is past the threshold, and the bootstrap
    // entries are applied, so a first snapshot is taken at 3.
    append(3, 1, entries, 3);
    await until('the log compacted to the bootstrap entries', () => snapshotIndex() === 3);

    // Two Readies of committed entries, applied one entry a turn; between them the follower
    // starts copying its state (the log after its last snapshot is past the threshold).
    append(LAST, TERM, [], COMMIT);
    // The first turn after the first Ready is applied: the copy started in that Ready's last
    // turn, and its file is checksummed and made durable over a few threadpool round trips; the
    // snapshot received now is installed once the Ready carrying it is durable, after any Ready
    // in progress (the second, when the apply budget holds during a copy).
    await firstTurnWhere(() => stateMachine.appliedIndex() >= 3 + PER_READY);
    assert.equal(snapshotIndex(), 3, 'the copy is not compacted yet');
    replica.step({
      ...leaderMessage,
      type: 'snap',
      meta: {
        index: SNAPSHOT_INDEX,
        term: TERM,
        confState: { voters: VOTERS, learners: [] },
      },
      totalBytes: snapshot.sizeBytes,
      checksum: snapshot.checksum,
      offsetBytes: 0,
      lengthBytes: snapshot.sizeBytes,
      data: snapshot.data,
      done: true,
    });
    // The core holds the received snapshot at once; the state machine switches to it later.
    assert.equal(snapshotIndex(), SNAPSHOT_INDEX);
    // Entries after it, in the same turn: they go to the disk in the Ready that carries the
    // snapshot, whose install then waits for 8 MiB to be written and synced (what a leader sends
    // right after a snapshot, only larger), so the copy usually reaches its checks first.
    const after: Entry[] = [];
    for (let i = 1; i <= PADDED_ENTRIES; i++) after.push(paddedEntry(SNAPSHOT_INDEX + i));
    append(SNAPSHOT_INDEX, TERM, after, SNAPSHOT_INDEX);

    await until(
      'the received snapshot installed',
      () => stateMachine.appliedIndex() === SNAPSHOT_INDEX,
    );
    const deadline = Date.now() + 20_000;
    while ((await overtakenCount()) === overtakenBefore) {
      assert.ok(Date.now() < deadline, 'timed out waiting for the copy to be given up');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(
      (await overtakenCount()) - overtakenBefore,
      1,
      'the copy was counted once as overtaken by the received snapshot',
    );
    assert.equal(snapshotIndex(), SNAPSHOT_INDEX, 'the log was not compacted to the copy');
    assert.ok(stateMachine.reader.lookup(2, `f${SNAPSHOT_INDEX}`), 'the received state is live');
    // The follower goes on: the entries after the snapshot commit and are applied.
    const last = SNAPSHOT_INDEX + PADDED_ENTRIES;
    append(last, TERM, [], last);
    await until(
      'the entries after the snapshot applied',
      () => stateMachine.appliedIndex() === last,
    );
    assert.ok(stateMachine.reader.lookup(2, `f${last}`), 'the last create is there');
  } finally {
    replica.close();
    await replica.drained();
    await store.close();
    await stateMachine.close();
  }
});
