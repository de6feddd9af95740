// SSE-KMS and the built-in KMS in the state machine (src/metadata/ops-kms.ts,
// object-encryption.ts): keys' life cycle, and an object records aws:kms only while every stripe
// is sealed under that key and context, with the key enabled at the commit.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Inode, ObjectMeta, Stripe } from '../../src/metadata/types.ts';
import { closeAll, codeOf, extent, ok, openMachine, ROOT, run, stripe } from './sm-helpers.ts';

after(closeAll);

const KEY_A = '11111111-1111-4111-8111-111111111111';
const KEY_B = '22222222-2222-4222-8222-222222222222';
const WRAPPED = Buffer.alloc(40, 'w').toString('base64');
const MASTER = '0123456789abcdef';

function underKms(length: number, keyId: string, context?: string): Stripe {
  return {
    ...stripe(length),
    encryption: {
      cipher: 'aes-256-gcm',
      keyId,
      wrappedKey: WRAPPED,
      plainLengthBytes: length,
      kms: context === undefined ? { version: 1 } : { version: 1, context },
    },
  };
}

function underMaster(length: number): Stripe {
  return {
    ...stripe(length),
    encryption: {
      cipher: 'aes-256-gcm',
      keyId: MASTER,
      wrappedKey: WRAPPED,
      plainLengthBytes: length,
    },
  };
}

function machineWithKeys(): MetadataStateMachine {
  const machine = openMachine();
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  for (const [id, alias] of [
    [KEY_A, 'alias/a'],
    [KEY_B, 'alias/b'],
  ])
    ok(machine, {
      op: 'createKmsKey',
      id,
      alias,
      description: '',
      masterKeyId: MASTER,
      wrappedMaterial: WRAPPED,
    });
  return machine;
}

const KMS_A: Omit<ObjectMeta, 'etag'> = { userMeta: {}, sse: 'aws:kms', kmsKeyId: KEY_A };

function put(machine: MetadataStateMachine, key: string, s: Stripe, object = KMS_A) {
  return run(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size: 10,
    extents: [extent(0, 10, s)],
    object: { etag: 'e', ...object },
    caller: ROOT,
  });
}

const codeOfPut = (...args: Parameters<typeof put>) => {
  const result = put(...args);
  return result.ok ? 'ok' : result.code;
};

const objectOf = (machine: MetadataStateMachine, key: string) =>
  (machine.reader.resolvePath(`/b/${key}`) as Inode).object;

describe('SSE-KMS records follow the stripes and the key', () => {
  test('an object sealed under its KMS key records aws:kms and the key id', () => {
    const machine = machineWithKeys();
    assert.equal(codeOfPut(machine, 'k', underKms(10, KEY_A)), 'ok');
    assert.equal(objectOf(machine, 'k')?.sse, 'aws:kms');
    assert.equal(objectOf(machine, 'k')?.kmsKeyId, KEY_A);
  });

  test('stripes under another key, another context, the master key or none are refused', () => {
    const machine = machineWithKeys();
    assert.equal(codeOfPut(machine, 'k', underKms(10, KEY_B)), 'EINVAL');
    assert.equal(codeOfPut(machine, 'k', underKms(10, KEY_A, 'e30=')), 'EINVAL');
    assert.equal(codeOfPut(machine, 'k', underMaster(10)), 'EINVAL');
    assert.equal(codeOfPut(machine, 'k', stripe(10)), 'EINVAL');
    assert.equal(machine.reader.resolvePath('/b/k'), undefined, 'nothing stored');
  });

  test('an object that is not SSE-KMS cannot share a stripe under a KMS key', () => {
    const machine = machineWithKeys();
    assert.equal(codeOfPut(machine, 'p', underKms(10, KEY_A), { userMeta: {} }), 'EINVAL');
    const sseS3 = { userMeta: {}, sse: 'AES256' as const };
    assert.equal(codeOfPut(machine, 's', underKms(10, KEY_A), sseS3), 'EINVAL');
  });

  test('a disabled key, a key pending deletion and an unknown key refuse the commit', () => {
    const machine = machineWithKeys();
    ok(machine, { op: 'setKmsKeyState', key: 'alias/a', action: 'disable' });
    assert.equal(codeOfPut(machine, 'k', underKms(10, KEY_A)), 'KMS_KEY_DISABLED');
    ok(machine, { op: 'setKmsKeyState', key: KEY_A, action: 'enable' });
    assert.equal(codeOfPut(machine, 'k', underKms(10, KEY_A)), 'ok');
    ok(machine, { op: 'setKmsKeyState', key: KEY_B, action: 'schedule-deletion' });
    const onB = { ...KMS_A, kmsKeyId: KEY_B };
    assert.equal(codeOfPut(machine, 'j', underKms(10, KEY_B), onB), 'KMS_KEY_INVALID_STATE');
    const unknown = { ...KMS_A, kmsKeyId: '33333333-3333-4333-8333-333333333333' };
    assert.equal(codeOfPut(machine, 'u', underKms(10, KEY_A), unknown), 'KMS_KEY_NOT_FOUND');
  });

  test('a bucket default aws:kms names its key by alias, stores its id, and applies it', () => {
    const machine = machineWithKeys();
    const value = { sseAlgorithm: 'aws:kms', kmsKeyId: 'alias/b' };
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'encryption', value });
    assert.equal(machine.reader.getBucket('b')?.encryptionKmsKeyId, KEY_B);
    assert.equal(codeOfPut(machine, 'd', underKms(10, KEY_B), { userMeta: {} }), 'ok');
    assert.equal(objectOf(machine, 'd')?.kmsKeyId, KEY_B);
    assert.equal(codeOfPut(machine, 'e', underKms(10, KEY_A), { userMeta: {} }), 'EINVAL');
    const missing = { sseAlgorithm: 'aws:kms', kmsKeyId: 'alias/none' };
    assert.equal(
      codeOf(machine, { op: 'setBucketAttr', name: 'b', attr: 'encryption', value: missing }),
      'KMS_KEY_NOT_FOUND',
    );
  });

  test('a POSIX write of master-sealed stripes makes an SSE-KMS file SSE-S3 or plain', () => {
    const machine = machineWithKeys();
    assert.equal(codeOfPut(machine, 'f', underKms(10, KEY_A)), 'ok');
    const ino = (machine.reader.resolvePath('/b/f') as Inode).ino;
    ok(machine, { op: 'write', ino, extents: [extent(0, 10, underMaster(10))] });
    assert.equal(objectOf(machine, 'f')?.sse, 'AES256');
    assert.equal(objectOf(machine, 'f')?.kmsKeyId, undefined);
  });
});

describe('KMS keys', () => {
  test('aliases are unique and aws/ is reserved; the default key is made once', () => {
    const machine = machineWithKeys();
    const again = {
      op: 'createKmsKey' as const,
      id: '44444444-4444-4444-8444-444444444444',
      alias: 'alias/a',
      description: '',
      masterKeyId: MASTER,
      wrappedMaterial: WRAPPED,
    };
    assert.equal(codeOf(machine, again), 'EEXIST');
    assert.equal(codeOf(machine, { ...again, alias: 'alias/aws/s3' }), 'EINVAL');
    const first = ok(machine, {
      op: 'createDefaultKmsKey',
      id: '55555555-5555-4555-8555-555555555555',
      masterKeyId: MASTER,
      wrappedMaterial: WRAPPED,
    });
    const second = ok(machine, {
      op: 'createDefaultKmsKey',
      id: '66666666-6666-4666-8666-666666666666',
      masterKeyId: MASTER,
      wrappedMaterial: WRAPPED,
    });
    assert.equal(first.kmsKey?.id, second.kmsKey?.id, 'a second gateway gets the first key');
    assert.equal(machine.reader.kmsKey('alias/aws/s3')?.id, first.kmsKey?.id);
  });

  test('states move as AWS KMS moves them; rotation adds versions; rewraps check the wrapper', () => {
    const machine = machineWithKeys();
    ok(machine, { op: 'setKmsKeyState', key: KEY_A, action: 'schedule-deletion' });
    assert.equal(machine.reader.kmsKey(KEY_A)?.state, 'PendingDeletion');
    assert.equal(
      codeOf(machine, { op: 'setKmsKeyState', key: KEY_A, action: 'enable' }),
      'KMS_KEY_INVALID_STATE',
    );
    ok(machine, { op: 'setKmsKeyState', key: KEY_A, action: 'cancel-deletion' });
    assert.equal(machine.reader.kmsKey(KEY_A)?.state, 'Disabled');
    assert.equal(
      codeOf(machine, {
        op: 'rotateKmsKey',
        key: KEY_A,
        masterKeyId: MASTER,
        wrappedMaterial: WRAPPED,
      }),
      'KMS_KEY_INVALID_STATE',
    );
    ok(machine, { op: 'rotateKmsKey', key: KEY_B, masterKeyId: MASTER, wrappedMaterial: WRAPPED });
    assert.deepEqual(
      machine.reader.kmsKey(KEY_B)?.versions.map((v) => v.version),
      [1, 2],
    );
    const next = 'fedcba9876543210';
    const rewrap = {
      keyId: KEY_B,
      version: 2,
      fromMasterKeyId: next,
      masterKeyId: next,
      wrappedMaterial: WRAPPED,
    };
    const refused = ok(machine, { op: 'rewrapKmsKeys', keys: [rewrap] });
    assert.equal(refused.rewrapped?.[0].ok, false, 'not wrapped by the master key it names');
    const done = ok(machine, {
      op: 'rewrapKmsKeys',
      keys: [{ ...rewrap, fromMasterKeyId: MASTER }],
    });
    assert.equal(done.rewrapped?.[0].ok, true);
    assert.equal(machine.reader.kmsKey(KEY_B)?.versions[1].masterKeyId, next);
    assert.equal(machine.reader.kmsKey(KEY_B)?.versions[0].masterKeyId, MASTER);
  });
});
