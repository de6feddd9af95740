// A gateway's copy of the access keys (src/client/access-keys.ts), fed by a real state machine's
// reader: it follows every change of the users table, fetches keys only when the users version
// moved, and refuses to answer (RPC_UNAVAILABLE) from a copy older than TRUST_MS, so a deleted
// key cannot outlive the bound while the metadata is unreachable. Time is the test's clock.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AccessKeyDirectory, TRUST_MS } from '../../src/client/access-keys.ts';
import { isStrataError } from '../../src/common/errors.ts';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { UserSecrets } from '../../src/metadata/user-secrets.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { closeAll, ok, openEmptyMachine } from '../metadata/sm-helpers.ts';

after(closeAll);

// The leader's answer to meta.userKeys, from the machine's reader; `down` makes it fail as an
// unreachable cluster does.
function sourceOf(machine: MetadataStateMachine) {
  // No master key: the secrets are stored as they are, as the leader resolves them then.
  const secrets = new UserSecrets({
    ring: undefined,
    keyFile: undefined,
    sealNew: false,
    log: silentLogger,
  });
  const source = {
    down: false,
    fetches: 0,
    async accessKeys(sinceVersion?: number) {
      if (source.down) throw new Error('connect ECONNREFUSED');
      const version = machine.reader.usersVersion();
      if (version === sinceVersion) return { version };
      source.fetches++;
      const stored = machine.reader.accessKeys();
      return { version: stored.version, keys: secrets.resolve(stored.keys) };
    },
  };
  return source;
}

test('the copy follows creation, rotation and deletion, fetching only on a new version', async () => {
  const machine = openEmptyMachine();
  const source = sourceOf(machine);
  let nowMs = 0;
  const keys = new AccessKeyDirectory(source, { nowMs: () => nowMs });
  await keys.refresh();
  assert.equal(keys.find('AKALICE1'), undefined);
  ok(machine, {
    op: 'createUser',
    name: 'alice',
    admin: false,
    accessKeyId: 'AKALICE1',
    secretKey: 'alice-secret-1',
  });
  await keys.refresh();
  assert.deepEqual(keys.find('AKALICE1'), {
    accessKey: 'AKALICE1',
    secretKey: 'alice-secret-1',
    user: 'alice',
    admin: false,
  });
  assert.deepEqual([...keys.userNames()], ['alice']);
  const fetches = source.fetches;
  await keys.refresh();
  assert.equal(source.fetches, fetches, 'an unchanged version fetches no keys');
  ok(machine, {
    op: 'rotateAccessKey',
    name: 'alice',
    accessKeyId: 'AKALICE2',
    secretKey: 'alice-secret-2',
    keepOld: false,
  });
  nowMs += 1_000;
  await keys.refresh();
  assert.equal(keys.find('AKALICE1'), undefined, 'rotated away');
  assert.equal(keys.find('AKALICE2')?.user, 'alice');
  ok(machine, { op: 'deleteUser', name: 'alice' });
  await keys.refresh();
  assert.equal(keys.find('AKALICE2'), undefined, 'deleted');
});

test('a copy older than TRUST_MS answers nothing, and answers again once refreshed', async () => {
  const machine = openEmptyMachine();
  ok(machine, {
    op: 'createUser',
    name: 'bob',
    admin: true,
    accessKeyId: 'AKBOB001',
    secretKey: 'bob-secret-01',
  });
  const source = sourceOf(machine);
  let nowMs = 10_000;
  const keys = new AccessKeyDirectory(source, { nowMs: () => nowMs });
  const unavailable = (e: unknown) => isStrataError(e, 'RPC_UNAVAILABLE');
  assert.throws(() => keys.find('AKBOB001'), unavailable, 'no copy yet');
  await keys.refresh();
  assert.equal(keys.find('AKBOB001')?.admin, true);
  source.down = true;
  nowMs += TRUST_MS;
  await keys.refresh(); // fails: the copy keeps its age
  assert.equal(keys.find('AKBOB001')?.user, 'bob', 'still within the bound');
  nowMs += 1;
  assert.throws(() => keys.find('AKBOB001'), unavailable, 'past the bound');
  source.down = false;
  await keys.refresh();
  assert.equal(keys.find('AKBOB001')?.user, 'bob');
});

test('an unknown key is judged again by a copy refreshed after its lookup; such refreshes are shared', async () => {
  const machine = openEmptyMachine();
  const source = sourceOf(machine);
  let nowMs = 0;
  const keys = new AccessKeyDirectory(source, { nowMs: () => nowMs });
  await keys.refresh(); // the periodic refresh, just before the user is created
  ok(machine, {
    op: 'createUser',
    name: 'carol',
    admin: false,
    accessKeyId: 'AKCAROL1',
    secretKey: 'carol-secret-1',
  });
  assert.equal(keys.find('AKCAROL1'), undefined, 'the copy predates carol');
  nowMs += 1;
  const fetchesBefore = source.fetches;
  // Her first requests, at once: each waits for one refresh begun after its lookup, and they
  // share it (UNKNOWN_KEY_REFRESH_MS after the last one started).
  await Promise.all([1, 2, 3, 4, 5].map(() => keys.refreshForUnknownKey()));
  assert.equal(keys.find('AKCAROL1')?.user, 'carol', 'a user created a moment ago');
  assert.equal(source.fetches, fetchesBefore + 1, 'one fetch for all five');
});

test('a request finding the copy past its bound waits for a refresh instead of failing', async () => {
  const machine = openEmptyMachine();
  ok(machine, {
    op: 'createUser',
    name: 'dan',
    admin: false,
    accessKeyId: 'AKDAN001',
    secretKey: 'dan-secret-01',
  });
  const source = sourceOf(machine);
  let nowMs = 0;
  const keys = new AccessKeyDirectory(source, { nowMs: () => nowMs });
  await keys.refresh();
  const fetches = source.fetches;
  await keys.refreshIfStale(); // fresh: nothing asked
  assert.equal(source.fetches, fetches);
  // The timer ran late (a busy gateway): the copy is past its bound, the metadata is fine.
  nowMs += TRUST_MS + 500;
  const unavailable = (e: unknown) => isStrataError(e, 'RPC_UNAVAILABLE');
  assert.throws(() => keys.find('AKDAN001'), unavailable);
  await keys.refreshIfStale();
  assert.equal(keys.find('AKDAN001')?.user, 'dan', 'refreshed on demand');
  // A real outage still refuses: the refresh fails and the copy stays past its bound.
  source.down = true;
  nowMs += TRUST_MS + 1;
  await keys.refreshIfStale();
  assert.throws(() => keys.find('AKDAN001'), unavailable);
});
