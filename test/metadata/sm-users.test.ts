// Users and access keys in the state machine: names and keys are validated in apply, an access
// key id belongs to one user, a user holds at most two keys, configuration users are kept in
// step by syncConfigUsers and cannot be deleted from the CLI, every change moves the users
// version, and the list never carries a secret.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { KEYS_PER_USER_MAX } from '../../src/metadata/ops-users.ts';
import { closeAll, codeOf, ok, openEmptyMachine } from './sm-helpers.ts';

after(closeAll);

const SECRET_A = 'secret-a-0123456789';
const SECRET_B = 'secret-b-0123456789';
const SECRET_C = 'secret-c-0123456789';

function withAlice() {
  const machine = openEmptyMachine();
  ok(machine, {
    op: 'createUser',
    name: 'alice',
    admin: false,
    accessKeyId: 'AKALICE1',
    secretKey: SECRET_A,
  });
  return machine;
}

test('a created user resolves by its access key, and the list shows no secret', () => {
  const machine = withAlice();
  const key = machine.reader.accessKey('AKALICE1');
  assert.deepEqual(key, {
    accessKeyId: 'AKALICE1',
    secretKey: SECRET_A,
    user: 'alice',
    admin: false,
  });
  const list = machine.reader.listUsers();
  assert.equal(list.length, 1);
  assert.deepEqual(list[0].accessKeyIds, ['AKALICE1']);
  assert.equal(list[0].source, 'cli');
  assert.ok(!JSON.stringify(list).includes(SECRET_A), 'the list carries no secret');
  assert.equal(machine.reader.accessKey('AKNOBODY'), undefined);
});

test('names, keys and flags are validated in apply', () => {
  const machine = openEmptyMachine();
  const base = { op: 'createUser' as const, admin: false, secretKey: SECRET_A };
  assert.equal(codeOf(machine, { ...base, name: '', accessKeyId: 'AK1' }), 'EINVAL');
  assert.equal(codeOf(machine, { ...base, name: 'a b', accessKeyId: 'AK1' }), 'EINVAL');
  assert.equal(codeOf(machine, { ...base, name: 'x'.repeat(129), accessKeyId: 'AK1' }), 'EINVAL');
  assert.equal(codeOf(machine, { ...base, name: 'bob', accessKeyId: 'A' }), 'EINVAL');
  assert.equal(
    codeOf(machine, { ...base, name: 'bob', accessKeyId: 'AK1', secretKey: 'short' }),
    'EINVAL',
  );
  const notBool = { ...base, name: 'bob', accessKeyId: 'AK1', admin: 'yes' as unknown as boolean };
  assert.equal(codeOf(machine, notBool), 'EINVAL');
  assert.deepEqual(machine.reader.listUsers(), [], 'nothing was created');
  assert.equal(machine.reader.usersVersion(), 0, 'refusals do not move the version');
});

test('a name and an access key id are unique across users', () => {
  const machine = withAlice();
  const again = { op: 'createUser' as const, admin: false, secretKey: SECRET_B };
  assert.equal(codeOf(machine, { ...again, name: 'alice', accessKeyId: 'AKOTHER' }), 'USER_EXISTS');
  assert.equal(
    codeOf(machine, { ...again, name: 'bob', accessKeyId: 'AKALICE1' }),
    'ACCESS_KEY_IN_USE',
  );
  const rotate = { op: 'rotateAccessKey' as const, secretKey: SECRET_C, keepOld: true };
  ok(machine, { ...again, name: 'bob', accessKeyId: 'AKBOB1' });
  assert.equal(
    codeOf(machine, { ...rotate, name: 'bob', accessKeyId: 'AKALICE1' }),
    'ACCESS_KEY_IN_USE',
  );
  assert.equal(machine.reader.accessKey('AKALICE1')?.user, 'alice');
});

test('a rotation keeping the old key allows two keys, never three; without it the old key goes', () => {
  const machine = withAlice();
  const rotate = { op: 'rotateAccessKey' as const, name: 'alice', keepOld: true };
  ok(machine, { ...rotate, accessKeyId: 'AKALICE2', secretKey: SECRET_B });
  assert.equal(machine.reader.accessKey('AKALICE1')?.secretKey, SECRET_A, 'old key kept');
  assert.equal(machine.reader.accessKey('AKALICE2')?.secretKey, SECRET_B);
  assert.equal(KEYS_PER_USER_MAX, 2);
  assert.equal(
    codeOf(machine, { ...rotate, accessKeyId: 'AKALICE3', secretKey: SECRET_C }),
    'ACCESS_KEY_LIMIT',
  );
  assert.equal(machine.reader.accessKey('AKALICE3'), undefined);
  ok(machine, { ...rotate, keepOld: false, accessKeyId: 'AKALICE3', secretKey: SECRET_C });
  assert.equal(machine.reader.accessKey('AKALICE1'), undefined, 'rotated away');
  assert.equal(machine.reader.accessKey('AKALICE2'), undefined, 'rotated away');
  assert.deepEqual(machine.reader.listUsers()[0].accessKeyIds, ['AKALICE3']);
  // The freed key id may now be given to someone else.
  ok(machine, {
    op: 'createUser',
    name: 'bob',
    admin: false,
    accessKeyId: 'AKALICE1',
    secretKey: SECRET_A,
  });
  assert.equal(machine.reader.accessKey('AKALICE1')?.user, 'bob');
});

test('deleting a user removes its keys; an unknown user is NO_SUCH_USER', () => {
  const machine = withAlice();
  ok(machine, { op: 'deleteUser', name: 'alice' });
  assert.equal(machine.reader.accessKey('AKALICE1'), undefined);
  assert.deepEqual(machine.reader.listUsers(), []);
  assert.equal(codeOf(machine, { op: 'deleteUser', name: 'alice' }), 'NO_SUCH_USER');
  const rotate = { op: 'rotateAccessKey' as const, name: 'alice', keepOld: false };
  assert.equal(
    codeOf(machine, { ...rotate, accessKeyId: 'AK2', secretKey: SECRET_B }),
    'NO_SUCH_USER',
  );
});

test('every change moves the users version', () => {
  const machine = openEmptyMachine();
  const versions = [machine.reader.usersVersion()];
  const create = { op: 'createUser' as const, name: 'alice', admin: true };
  ok(machine, { ...create, accessKeyId: 'AKALICE1', secretKey: SECRET_A });
  versions.push(machine.reader.usersVersion());
  const rotate = { op: 'rotateAccessKey' as const, name: 'alice', keepOld: true };
  ok(machine, { ...rotate, accessKeyId: 'AKALICE2', secretKey: SECRET_B });
  versions.push(machine.reader.usersVersion());
  ok(machine, { op: 'deleteUser', name: 'alice' });
  versions.push(machine.reader.usersVersion());
  for (let i = 1; i < versions.length; i++)
    assert.ok(versions[i] > versions[i - 1], `version moved: ${versions.join(' -> ')}`);
  assert.equal(machine.reader.accessKeys().version, versions.at(-1));
});

const configAdmin = {
  name: 'admin',
  admin: true,
  keys: [{ accessKeyId: 'AKADMIN', secretKey: SECRET_A }],
};

test('configuration users are created, kept in step, and refused to the CLI', () => {
  const machine = openEmptyMachine();
  const sync = { op: 'syncConfigUsers' as const, complete: true };
  const first = ok(machine, { ...sync, users: [configAdmin] });
  assert.equal(first.changed, true);
  assert.deepEqual(machine.reader.accessKey('AKADMIN'), {
    accessKeyId: 'AKADMIN',
    secretKey: SECRET_A,
    user: 'admin',
    admin: true,
  });
  const version = machine.reader.usersVersion();
  assert.equal(ok(machine, { ...sync, users: [configAdmin] }).changed, false);
  assert.equal(machine.reader.usersVersion(), version, 'an unchanged sync moves nothing');
  // A changed secret for the same access key replaces the stored one.
  const changed = { ...configAdmin, keys: [{ accessKeyId: 'AKADMIN', secretKey: SECRET_B }] };
  ok(machine, { ...sync, users: [changed] });
  assert.equal(machine.reader.accessKey('AKADMIN')?.secretKey, SECRET_B);
  assert.equal(codeOf(machine, { op: 'deleteUser', name: 'admin' }), 'USER_FROM_CONFIG');
  const rotate = { op: 'rotateAccessKey' as const, name: 'admin', keepOld: false };
  assert.equal(
    codeOf(machine, { ...rotate, accessKeyId: 'AKNEW', secretKey: SECRET_C }),
    'USER_FROM_CONFIG',
  );
  assert.equal(machine.reader.listUsers()[0].source, 'config');
});

test('a user removed from a complete configuration becomes a CLI user, deletable', () => {
  const machine = openEmptyMachine();
  ok(machine, { op: 'syncConfigUsers', complete: true, users: [configAdmin] });
  // A gateway's partial list changes nobody else.
  const other = { name: 'gw', admin: false, keys: [{ accessKeyId: 'AKGW', secretKey: SECRET_C }] };
  ok(machine, { op: 'syncConfigUsers', complete: false, users: [other] });
  assert.equal(machine.reader.listUsers().find((u) => u.name === 'admin')?.source, 'config');
  ok(machine, { op: 'syncConfigUsers', complete: true, users: [other] });
  assert.equal(machine.reader.listUsers().find((u) => u.name === 'admin')?.source, 'cli');
  assert.equal(machine.reader.accessKey('AKADMIN')?.user, 'admin', 'its key still works');
  ok(machine, { op: 'deleteUser', name: 'admin' });
  assert.equal(machine.reader.accessKey('AKADMIN'), undefined);
});

test('a configuration that breaks a rule changes nothing', () => {
  const machine = withAlice();
  const sync = { op: 'syncConfigUsers' as const, complete: true };
  const stealing = {
    name: 'eve',
    admin: true,
    keys: [{ accessKeyId: 'AKALICE1', secretKey: SECRET_B }],
  };
  assert.equal(codeOf(machine, { ...sync, users: [configAdmin, stealing] }), 'ACCESS_KEY_IN_USE');
  const three = {
    name: 'many',
    admin: false,
    keys: ['AK1', 'AK2', 'AK3'].map((accessKeyId) => ({ accessKeyId, secretKey: SECRET_C })),
  };
  assert.equal(codeOf(machine, { ...sync, users: [three] }), 'ACCESS_KEY_LIMIT');
  const twice = {
    name: 'dup',
    admin: false,
    keys: [{ accessKeyId: 'AKADMIN', secretKey: SECRET_C }],
  };
  assert.equal(codeOf(machine, { ...sync, users: [configAdmin, twice] }), 'ACCESS_KEY_IN_USE');
  assert.deepEqual(
    machine.reader.listUsers().map((u) => u.name),
    ['alice'],
    'no user was added',
  );
  assert.equal(machine.reader.accessKey('AKALICE1')?.secretKey, SECRET_A, 'nothing changed');
});

const SEALED_1 = {
  masterKeyId: '0123456789abcdef',
  wrappedSecret: Buffer.alloc(32, 1).toString('base64'),
};
const SEALED_2 = {
  masterKeyId: 'fedcba9876543210',
  wrappedSecret: Buffer.alloc(32, 2).toString('base64'),
};

test('sealUserSecrets seals a secret in the clear, re-seals from the named master key only, and refuses a stale read', () => {
  const machine = withAlice();
  const version = machine.reader.usersVersion();
  const seal = (fromMasterKeyId: string | null, sealedSecret: typeof SEALED_1) => ({
    accessKeyId: 'AKALICE1',
    fromMasterKeyId,
    sealedSecret,
  });
  // From a master key although the secret is in the clear: refused, nothing written.
  const wrongFrom = {
    op: 'sealUserSecrets' as const,
    usersVersion: version,
    keys: [seal(SEALED_2.masterKeyId, SEALED_1)],
  };
  assert.equal(codeOf(machine, wrongFrom), 'PRECONDITION_FAILED');
  assert.equal(machine.reader.accessKey('AKALICE1')?.secretKey, SECRET_A);
  ok(machine, { op: 'sealUserSecrets', usersVersion: version, keys: [seal(null, SEALED_1)] });
  const key = machine.reader.accessKey('AKALICE1');
  assert.equal(key?.secretKey, undefined, 'no secret in the clear once sealed');
  assert.deepEqual(key?.sealedSecret, SEALED_1);
  assert.equal(machine.reader.usersVersion(), version, 'sealing changes no secret: same version');
  // A retry of the same seal is a no-op; a re-seal names the key it comes from.
  ok(machine, { op: 'sealUserSecrets', usersVersion: version, keys: [seal(null, SEALED_1)] });
  assert.equal(
    codeOf(machine, { op: 'sealUserSecrets', usersVersion: version, keys: [seal(null, SEALED_2)] }),
    'PRECONDITION_FAILED',
  );
  ok(machine, {
    op: 'sealUserSecrets',
    usersVersion: version,
    keys: [seal(SEALED_1.masterKeyId, SEALED_2)],
  });
  assert.deepEqual(machine.reader.accessKey('AKALICE1')?.sealedSecret, SEALED_2);
  // A change of the users since the read refuses the whole command (a secret may have changed).
  ok(machine, {
    op: 'rotateAccessKey',
    name: 'alice',
    accessKeyId: 'AKALICE2',
    secretKey: SECRET_B,
    keepOld: true,
  });
  const stale = {
    op: 'sealUserSecrets' as const,
    usersVersion: version,
    keys: [seal(SEALED_2.masterKeyId, SEALED_1)],
  };
  assert.equal(codeOf(machine, stale), 'PRECONDITION_FAILED');
  assert.deepEqual(machine.reader.accessKey('AKALICE1')?.sealedSecret, SEALED_2);
});

test('a user is created with a sealed secret, and a key has exactly one secret', () => {
  const machine = openEmptyMachine();
  const base = { op: 'createUser' as const, name: 'carol', admin: false, accessKeyId: 'AKCAROL1' };
  assert.equal(codeOf(machine, { ...base }), 'EINVAL', 'no secret');
  assert.equal(codeOf(machine, { ...base, secretKey: SECRET_C, sealedSecret: SEALED_1 }), 'EINVAL');
  const badSealed = { masterKeyId: 'not-hex', wrappedSecret: SEALED_1.wrappedSecret };
  assert.equal(codeOf(machine, { ...base, sealedSecret: badSealed }), 'EINVAL');
  ok(machine, { ...base, sealedSecret: SEALED_1 });
  assert.deepEqual(machine.reader.accessKey('AKCAROL1'), {
    accessKeyId: 'AKCAROL1',
    sealedSecret: SEALED_1,
    user: 'carol',
    admin: false,
  });
  // The configuration's user with the same sealed secret is unchanged (sealing is deterministic).
  const users = [
    { name: 'dave', admin: false, keys: [{ accessKeyId: 'AKDAVE1', sealedSecret: SEALED_2 }] },
  ];
  ok(machine, { op: 'syncConfigUsers', users, complete: false });
  const version = machine.reader.usersVersion();
  ok(machine, { op: 'syncConfigUsers', users, complete: false });
  assert.equal(machine.reader.usersVersion(), version, 'the same sealed secret: no change');
});
