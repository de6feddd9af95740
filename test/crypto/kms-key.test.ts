// The built-in KMS's cryptography (src/crypto/kms-key.ts): KMS key material wrapped by the
// master key, and data keys wrapped under a key derived from (KMS key, version, context), so that
// a data key unwraps only under exactly those three.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import {
  canonicalContext,
  keyring,
  kmsWrappingKey,
  newDataKey,
  newKmsMaterial,
  newMasterKey,
  unwrapDataKeyKms,
  unwrapKmsMaterial,
  wrapDataKeyKms,
  wrapKmsMaterial,
} from '../../src/crypto/index.ts';

const KEY_ID = '2ced0eef-876a-4759-bd56-97603858b1c2';
const context = (o: Record<string, string>) =>
  canonicalContext(Buffer.from(JSON.stringify(o)).toString('base64'));

describe('KMS keys', () => {
  test('material is wrapped by the master key, and a rotated master key re-wraps it', () => {
    const old = keyring([newMasterKey()]);
    const material = newKmsMaterial();
    const wrapped = wrapKmsMaterial(old.active, material);
    assert.equal(wrapped.masterKeyId, old.active.id);
    assert.equal(Buffer.from(wrapped.wrappedMaterial, 'base64').includes(material), false);
    assert.deepEqual(unwrapKmsMaterial(old, wrapped), material);
    const next = keyring([newMasterKey()]);
    assert.throws(
      () => unwrapKmsMaterial(next, wrapped),
      (e) => isStrataError(e, 'ENCRYPTION_KEY_UNAVAILABLE'),
    );
    const rewrapped = wrapKmsMaterial(next.active, unwrapKmsMaterial(old, wrapped));
    assert.deepEqual(unwrapKmsMaterial(next, rewrapped), material, 'the same material');
  });

  test('a data key unwraps only under its KMS key, version and encryption context', () => {
    const material = newKmsMaterial();
    const place = { keyId: KEY_ID, version: 1, context: context({ a: '1', b: '2' }) };
    const dataKey = newDataKey();
    const wrapped = wrapDataKeyKms(kmsWrappingKey(material, place), dataKey);
    assert.deepEqual(
      unwrapDataKeyKms(kmsWrappingKey(material, place), wrapped.wrappedKey),
      dataKey,
    );
    const others = [
      { ...place, version: 2 },
      { ...place, keyId: '00000000-0000-4000-8000-000000000000' },
      { ...place, context: context({ a: '1', b: '3' }) },
      { ...place, context: undefined },
    ];
    for (const other of others) {
      assert.throws(
        () => unwrapDataKeyKms(kmsWrappingKey(material, other), wrapped.wrappedKey),
        (e) => isStrataError(e, 'ENCRYPTION_AUTH_FAILED'),
        JSON.stringify(other),
      );
    }
    assert.throws(
      () => unwrapDataKeyKms(kmsWrappingKey(newKmsMaterial(), place), wrapped.wrappedKey),
      (e) => isStrataError(e, 'ENCRYPTION_AUTH_FAILED'),
      'other material',
    );
  });

  test('an encryption context has one canonical form, and only JSON objects of strings are one', () => {
    assert.equal(context({ b: '2', a: '1' }), context({ a: '1', b: '2' }));
    for (const bad of ['[1]', '"s"', '{"a":1}', 'not json', 'null']) {
      assert.throws(
        () => canonicalContext(Buffer.from(bad).toString('base64')),
        (e) => isStrataError(e, 'EINVAL'),
        bad,
      );
    }
    const big = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(90)]));
    assert.throws(
      () => context(big),
      (e) => isStrataError(e, 'EINVAL'),
      'too long',
    );
  });
});
