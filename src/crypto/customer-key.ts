// SSE-C: a key the S3 client sends with each request (x-amz-server-side-encryption-customer-key),
// never stored. It protects an object's per-stripe data keys in place of the master key: each is
// AES-KW wrapped (data-key.ts) under a key derived from the customer's key by HKDF-SHA256 with a
// salt drawn for the object. What is stored, in every stripe's record and the object's, is the
// key id `sse-c:<salt>:<check>`: the salt and a salted HMAC of the customer's key (as AWS keeps
// a salted HMAC), enough to tell a later request's key right from wrong and nothing more
// (docs/guides/security.md, "SSE-C"). Without the key nobody, Strata included, reads the data.
import assert from 'node:assert';
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import { SSE_C_KEY_ID } from '../metadata/object-encryption.ts';
import type { WrappedKey } from './data-key.ts';
import { DATA_KEY_BYTES } from './shard-seal.ts';

export const CUSTOMER_KEY_BYTES = 32;
const SALT_BYTES = 16;
const CHECK_BYTES = 16;
const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const WRAP_INFO = 'strata sse-c wrap v1';
const CHECK_LABEL = 'strata sse-c check v1';

export function isCustomerKeyId(keyId: string): boolean {
  return SSE_C_KEY_ID.test(keyId);
}

function checkOf(key: Buffer, salt: Buffer): Buffer {
  assert.equal(key.length, CUSTOMER_KEY_BYTES, 'a 256-bit customer key');
  const mac = createHmac('sha256', key).update(CHECK_LABEL).update(salt).digest();
  return mac.subarray(0, CHECK_BYTES);
}

// A new key id for an object sealed under `key`: a fresh salt and the key's salted check.
export function newCustomerKeyId(key: Buffer): string {
  const salt = randomBytes(SALT_BYTES);
  const id = `sse-c:${salt.toString('hex')}:${checkOf(key, salt).toString('hex')}`;
  assert(isCustomerKeyId(id), 'a customer key id');
  return id;
}

function parts(keyId: string): { salt: Buffer; check: Buffer } {
  assert(isCustomerKeyId(keyId), 'a customer key id');
  const [, salt, check] = keyId.split(':');
  return { salt: Buffer.from(salt, 'hex'), check: Buffer.from(check, 'hex') };
}

// Whether `key` is the key the id was made from (compared in constant time).
export function customerKeyMatches(key: Buffer, keyId: string): boolean {
  const { salt, check } = parts(keyId);
  return timingSafeEqual(checkOf(key, salt), check);
}

function wrappingKey(key: Buffer, keyId: string): Buffer {
  const { salt } = parts(keyId);
  return Buffer.from(hkdfSync('sha256', key, salt, WRAP_INFO, DATA_KEY_BYTES));
}

export function wrapWithCustomerKey(key: Buffer, keyId: string, dataKey: Buffer): WrappedKey {
  assert.equal(dataKey.length, DATA_KEY_BYTES, 'a 256-bit data key');
  assert(customerKeyMatches(key, keyId), 'the key the id was made from');
  const kek = wrappingKey(key, keyId);
  const c = createCipheriv('id-aes256-wrap', kek, KW_IV);
  const wrapped = Buffer.concat([c.update(dataKey), c.final()]);
  kek.fill(0);
  return { keyId, wrappedKey: wrapped.toString('base64') };
}

// CUSTOMER_KEY_MISMATCH when `key` is not the stripe's; ENCRYPTION_AUTH_FAILED when it is and the
// wrapped key does not unwrap (altered).
export function unwrapWithCustomerKey(key: Buffer, wrapped: WrappedKey): Buffer {
  if (!customerKeyMatches(key, wrapped.keyId)) {
    throw new StrataError(
      'CUSTOMER_KEY_MISMATCH',
      'the customer-provided key (SSE-C) is not the key this object was written with',
    );
  }
  const kek = wrappingKey(key, wrapped.keyId);
  try {
    const d = createDecipheriv('id-aes256-wrap', kek, KW_IV);
    const out = Buffer.concat([d.update(Buffer.from(wrapped.wrappedKey, 'base64')), d.final()]);
    assert.equal(out.length, DATA_KEY_BYTES);
    return out;
  } catch {
    throw new StrataError(
      'ENCRYPTION_AUTH_FAILED',
      'a data key wrapped by a customer-provided key (SSE-C) does not unwrap',
    );
  } finally {
    kek.fill(0);
  }
}
