// Data keys: one random 256-bit key per stripe, stored only wrapped by a master key (AES key wrap,
// RFC 3394 / NIST SP 800-38F KW: deterministic and nonce-free, with a built-in integrity check),
// in the stripe's record in the metadata. Rotating the master key re-wraps these records; the
// data, sealed under the data keys, is not touched.
import assert from 'node:assert';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import type { Keyring, MasterKey } from './master-key.ts';
import { DATA_KEY_BYTES } from './shard-seal.ts';

// RFC 3394's default initial value: unwrapping checks it, so a wrong key or altered bytes fail.
const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const WRAPPED_BYTES = DATA_KEY_BYTES + 8;

export interface WrappedKey {
  keyId: string; // the master key that wrapped it
  wrappedKey: string; // base64
}

export function newDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

export function wrapDataKey(master: MasterKey, dataKey: Buffer): WrappedKey {
  assert.equal(dataKey.length, DATA_KEY_BYTES, 'a 256-bit data key');
  const c = createCipheriv('id-aes256-wrap', master.key, KW_IV);
  const wrapped = Buffer.concat([c.update(dataKey), c.final()]);
  assert.equal(wrapped.length, WRAPPED_BYTES, 'KW adds one 64-bit block');
  return { keyId: master.id, wrappedKey: wrapped.toString('base64') };
}

// ENCRYPTION_KEY_UNAVAILABLE when the ring lacks the master key; ENCRYPTION_AUTH_FAILED when the
// wrapped key does not unwrap under it (altered).
export function unwrapDataKey(ring: Keyring, wrapped: WrappedKey): Buffer {
  const master = ring.byId.get(wrapped.keyId);
  if (!master) {
    throw new StrataError(
      'ENCRYPTION_KEY_UNAVAILABLE',
      `master key ${wrapped.keyId} is not in this process's key file`,
    );
  }
  const bytes = Buffer.from(wrapped.wrappedKey, 'base64');
  try {
    assert.equal(bytes.length, WRAPPED_BYTES);
    const d = createDecipheriv('id-aes256-wrap', master.key, KW_IV);
    const key = Buffer.concat([d.update(bytes), d.final()]);
    assert.equal(key.length, DATA_KEY_BYTES);
    return key;
  } catch {
    throw new StrataError(
      'ENCRYPTION_AUTH_FAILED',
      `a data key wrapped by master key ${wrapped.keyId} does not unwrap`,
    );
  }
}
