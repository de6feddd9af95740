// SSE-C key ids and wrapping (src/crypto/customer-key.ts): an id tells the key it was made from
// apart from any other, is salted (one key gives unrelated ids), holds nothing of the key, and a
// data key wrapped under a customer key opens only with that key and only unaltered.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import {
  customerKeyMatches,
  isCustomerKeyId,
  newCustomerKeyId,
  unwrapWithCustomerKey,
  wrapWithCustomerKey,
} from '../../src/crypto/index.ts';

test('a key id matches its key and no other, and is salted per call', () => {
  const key = randomBytes(32);
  const id = newCustomerKeyId(key);
  assert.ok(isCustomerKeyId(id), id);
  assert.ok(customerKeyMatches(key, id));
  assert.ok(!customerKeyMatches(randomBytes(32), id));
  const again = newCustomerKeyId(key);
  assert.notEqual(again, id, 'a fresh salt each time');
  assert.ok(customerKeyMatches(key, again));
});

test('a key id holds nothing of the key: not its bytes, hex, base64 nor MD5', () => {
  const key = randomBytes(32);
  const id = newCustomerKeyId(key);
  const md5 = createHash('md5').update(key).digest();
  for (const form of [key, md5])
    for (const text of [form.toString('hex'), form.toString('base64')])
      assert.ok(!id.includes(text), 'a form of the key in its id');
});

test('a wrapped data key opens with its customer key only, and only unaltered', () => {
  const key = randomBytes(32);
  const dataKey = randomBytes(32);
  const wrapped = wrapWithCustomerKey(key, newCustomerKeyId(key), dataKey);
  assert.ok(unwrapWithCustomerKey(key, wrapped).equals(dataKey));
  assert.throws(
    () => unwrapWithCustomerKey(randomBytes(32), wrapped),
    (e) => isStrataError(e, 'CUSTOMER_KEY_MISMATCH'),
  );
  const bytes = Buffer.from(wrapped.wrappedKey, 'base64');
  bytes[3] ^= 1;
  const altered = { ...wrapped, wrappedKey: bytes.toString('base64') };
  assert.throws(
    () => unwrapWithCustomerKey(key, altered),
    (e) => isStrataError(e, 'ENCRYPTION_AUTH_FAILED'),
  );
  // Two objects under one key wrap under unrelated keys (their salts differ).
  const other = wrapWithCustomerKey(key, newCustomerKeyId(key), dataKey);
  assert.notEqual(other.wrappedKey, wrapped.wrappedKey);
});
