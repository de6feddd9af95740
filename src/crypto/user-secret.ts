// S3 users' secret access keys, wrapped by the master key for the replicated state
// (docs/guides/security.md, "Users"). SigV4 signs with the secret itself, so it must be
// recoverable: it is wrapped, not hashed. As for KMS material (kms-key.ts), AES key wrap has no
// associated data, so the access key id is bound through the wrapping key: HKDF-SHA256 (RFC 5869)
// of the master key with the access key id as `info`. A wrapped secret moved to another key id
// fails AES-KWP's integrity check. The secret is 8-256 bytes, not a multiple of 8, hence the
// padded variant (RFC 5649, "KWP", Node's id-aes256-wrap-pad). Wrapping is deterministic: the
// same secret under the same master key and key id gives the same bytes, which lets the leader
// tell a configured secret unchanged without unwrapping what is stored.
import assert from 'node:assert';
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import type { Keyring, MasterKey } from './master-key.ts';

const HKDF_SALT = Buffer.from('strata user secret wrap v1', 'latin1');
const KWP_IV = Buffer.from('a65959a6', 'hex'); // RFC 5649's alternative initial value
const WRAP_KEY_BYTES = 32;
export const USER_SECRET_BYTES_MAX = 256;

// A secret as the users table keeps it when the cluster has a master key.
export interface SealedSecret {
  masterKeyId: string; // the master key whose derived key wrapped it
  wrappedSecret: string; // base64
}

function wrappingKey(master: MasterKey, accessKeyId: string): Buffer {
  assert(accessKeyId.length > 0, 'a secret is bound to its access key id');
  const info = Buffer.from(accessKeyId, 'utf8');
  return Buffer.from(hkdfSync('sha256', master.key, HKDF_SALT, info, WRAP_KEY_BYTES));
}

export function sealUserSecret(
  master: MasterKey,
  accessKeyId: string,
  secretKey: string,
): SealedSecret {
  const plain = Buffer.from(secretKey, 'utf8');
  assert(plain.length > 0 && plain.length <= USER_SECRET_BYTES_MAX, 'a secret of 1-256 bytes');
  const key = wrappingKey(master, accessKeyId);
  const c = createCipheriv('id-aes256-wrap-pad', key, KWP_IV);
  const wrapped = Buffer.concat([c.update(plain), c.final()]);
  key.fill(0);
  assert(wrapped.length >= plain.length + 8, 'KWP adds at least one 64-bit block');
  return { masterKeyId: master.id, wrappedSecret: wrapped.toString('base64') };
}

// ENCRYPTION_KEY_UNAVAILABLE when the ring lacks the master key; ENCRYPTION_AUTH_FAILED when it
// does not unwrap (altered, or moved to another access key id). Never quotes the secret.
export function unsealUserSecret(ring: Keyring, accessKeyId: string, sealed: SealedSecret): string {
  const master = ring.byId.get(sealed.masterKeyId);
  if (master === undefined)
    throw new StrataError(
      'ENCRYPTION_KEY_UNAVAILABLE',
      `the secret of access key ${accessKeyId} is wrapped by master key ${sealed.masterKeyId}, ` +
        "which is not in this process's key file",
    );
  const key = wrappingKey(master, accessKeyId);
  try {
    const d = createDecipheriv('id-aes256-wrap-pad', key, KWP_IV);
    const bytes = Buffer.from(sealed.wrappedSecret, 'base64');
    const plain = Buffer.concat([d.update(bytes), d.final()]);
    assert(plain.length > 0 && plain.length <= USER_SECRET_BYTES_MAX);
    return plain.toString('utf8');
  } catch {
    throw new StrataError(
      'ENCRYPTION_AUTH_FAILED',
      `the secret of access key ${accessKeyId} does not unwrap under master key ${sealed.masterKeyId}`,
    );
  } finally {
    key.fill(0);
  }
}
