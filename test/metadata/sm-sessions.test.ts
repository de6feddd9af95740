// Client sessions expire by the log's time (Raft dissertation §6.3, src/metadata/sessions.ts):
// the leader's stamps on the entries, never a member's own clock. A retry within the timeout gets
// the first result; a session idle for longer is forgotten with its results.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SESSION_EXPIRY_BATCH, SESSION_TIMEOUT_MS } from '../../src/metadata/sessions.ts';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Command } from '../../src/metadata/types.ts';
import { closeAll, openMachine, ROOT } from './sm-helpers.ts';

after(closeAll);

function bucketOf(machine: MetadataStateMachine): number {
  const result = machine.apply({
    op: 'createBucket',
    nowMs: 1,
    name: 'b',
    owner: 'o',
    caller: ROOT,
  });
  assert.ok(result.ok);
  return (result as unknown as { inode: { ino: number } }).inode.ino;
}

const create = (parent: number, name: string): Command => ({
  op: 'create',
  nowMs: 1,
  parent,
  name,
  mode: 0o644,
  caller: ROOT,
  exclusive: true,
});

// An exclusive create applied a second time fails with EEXIST; answered from the session it
// returns the first result (ok).
function retry(machine: MetadataStateMachine, parent: number, id: string, atMs: number) {
  return machine.apply(create(parent, `f-${id}`), undefined, { id, seq: 1, ackBelow: 1 }, atMs);
}

test('a session idle longer than the timeout in log time is forgotten; an active one is kept', () => {
  const machine = openMachine();
  const parent = bucketOf(machine);
  const T = SESSION_TIMEOUT_MS;
  assert.ok(retry(machine, parent, 'idle', 0).ok);
  assert.ok(retry(machine, parent, 'active', 0).ok);
  // Within the timeout retries are answered from the session (the create is not applied again).
  assert.ok(retry(machine, parent, 'idle', T / 2).ok);
  assert.ok(retry(machine, parent, 'active', T).ok);
  // Another client's entry moves the log's time: "idle" was last heard from T + 1 ago.
  machine.apply(create(parent, 'other'), undefined, undefined, T / 2 + T + 1);
  const idle = retry(machine, parent, 'idle', T / 2 + T + 2);
  assert.equal(idle.ok ? 'ok' : idle.code, 'EEXIST', 'the expired session was forgotten');
  assert.ok(retry(machine, parent, 'active', T / 2 + T + 3).ok, 'the active one is remembered');
});

test('the log time never goes back: a stamp from a leader whose clock is behind does not revive a session', () => {
  const machine = openMachine();
  const parent = bucketOf(machine);
  assert.ok(retry(machine, parent, 's', 1_000).ok);
  // The log's time reaches 2 × timeout; then a leader whose clock is far behind stamps 5 and 10.
  machine.apply(create(parent, 'a'), undefined, undefined, 2 * SESSION_TIMEOUT_MS);
  machine.apply(create(parent, 'b'), undefined, undefined, 5);
  const result = retry(machine, parent, 's', 10);
  assert.equal(result.ok ? 'ok' : result.code, 'EEXIST', 'expired by the log time, not the stamp');
});

test('expiry is bounded per entry and an idle backlog drains over the following entries', () => {
  const machine = openMachine();
  const parent = bucketOf(machine);
  const ids = Array.from(
    { length: SESSION_EXPIRY_BATCH * 3 },
    (_, i) => `s${String(i).padStart(2, '0')}`,
  );
  for (const id of ids) assert.ok(retry(machine, parent, id, 0).ok);
  const later = SESSION_TIMEOUT_MS + 1;
  const code = (id: string) => {
    const result = retry(machine, parent, id, later);
    return result.ok ? 'ok' : result.code;
  };
  // This entry expires the first batch (by idle time, then id).
  machine.apply(create(parent, 'tick'), undefined, undefined, later);
  assert.equal(code(ids[0]), 'EEXIST', 'the first batch is gone');
  // That entry expired the second batch; the third is still known.
  assert.equal(code(ids[ids.length - 1]), 'ok', 'the last batch is still known');
  assert.equal(code(ids[SESSION_EXPIRY_BATCH]), 'EEXIST', 'the second batch went with one entry');
});
