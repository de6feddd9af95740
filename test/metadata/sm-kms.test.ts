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

// SSE-KMS beside SSE-C (object-encryption.ts): the two never mix, in records or in stripes.
describe('SSE-KMS and SSE-C exclude each other', () => {
  const CUSTOMER_KEY_ID = `sse-c:${'1'.repeat(32)}:${'a'.repeat(32)}`;
  const underCustomer = (length: number): Stripe => ({
    ...stripe(length),
    encryption: {
      cipher: 'aes-256-gcm',
      keyId: CUSTOMER_KEY_ID,
      wrappedKey: WRAPPED,
      plainLengthBytes: length,
    },
  });
  const SSE_C: Omit<ObjectMeta, 'etag'> = {
    userMeta: {},
    sseCustomer: { algorithm: 'AES256', keyId: CUSTOMER_KEY_ID },
  };

  test('an object is SSE-C or SSE-KMS, never both, and holds only its own stripes', () => {
    const machine = machineWithKeys();
    assert.equal(codeOfPut(machine, 'c', underCustomer(10), SSE_C), 'ok');
    assert.equal(objectOf(machine, 'c')?.sse, undefined);
    for (const [what, object] of [
      ['aws:kms with a customer key', { ...SSE_C, sse: 'aws:kms' as const, kmsKeyId: KEY_A }],
      ['a KMS key id with a customer key', { ...SSE_C, kmsKeyId: KEY_A }],
      ['a KMS context with a customer key', { ...SSE_C, sseContext: 'e30=' }],
    ] as const) {
      assert.equal(codeOfPut(machine, 'x', underCustomer(10), object), 'EINVAL', what);
      assert.equal(codeOfPut(machine, 'x', underKms(10, KEY_A), object), 'EINVAL', what);
    }
    assert.equal(codeOfPut(machine, 'y', underCustomer(10)), 'EINVAL', 'SSE-KMS, SSE-C stripe');
    assert.equal(
      codeOfPut(machine, 'z', underKms(10, KEY_A), SSE_C),
      'EINVAL',
      'SSE-C, KMS stripe',
    );
    assert.equal(
      codeOfPut(machine, 'p', underCustomer(10), { userMeta: {} }),
      'EINVAL',
      'a plain object, SSE-C stripe',
    );
  });

  test('SSE-C wins over a bucket default aws:kms; without it the default holds', () => {
    const machine = machineWithKeys();
    const value = { sseAlgorithm: 'aws:kms', kmsKeyId: 'alias/a' };
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'encryption', value });
    assert.equal(codeOfPut(machine, 'c', underCustomer(10), SSE_C), 'ok');
    assert.equal(objectOf(machine, 'c')?.sse, undefined, 'no aws:kms recorded');
    assert.equal(objectOf(machine, 'c')?.kmsKeyId, undefined);
    assert.deepEqual(objectOf(machine, 'c')?.sseCustomer, SSE_C.sseCustomer);
    assert.equal(codeOfPut(machine, 'd', underCustomer(10), { userMeta: {} }), 'EINVAL');
    assert.equal(codeOfPut(machine, 'k', underKms(10, KEY_A), { userMeta: {} }), 'ok');
    assert.equal(objectOf(machine, 'k')?.sse, 'aws:kms');
  });

  test('a part of an SSE-KMS upload is never under a customer key, nor the reverse', () => {
    const machine = machineWithKeys();
    const upload = (uploadId: string, object: Omit<ObjectMeta, 'etag'>) =>
      ok(machine, { op: 'createUpload', uploadId, bucket: 'b', key: uploadId, object, owner: 'o' });
    const part = (uploadId: string, s: Stripe) => {
      const result = run(machine, {
        op: 'putPart',
        uploadId,
        partNumber: 1,
        size: 10,
        etag: 'e',
        extents: [extent(0, 10, s)],
      });
      return result.ok ? 'ok' : result.code;
    };
    upload('kms', KMS_A);
    upload('customer', SSE_C);
    assert.equal(part('kms', underCustomer(10)), 'EINVAL');
    assert.equal(part('customer', underKms(10, KEY_A)), 'EINVAL');
    assert.equal(part('kms', underKms(10, KEY_A)), 'ok');
    assert.equal(part('customer', underCustomer(10)), 'ok');
  });
});
