// The built-in KMS's cryptography (docs/guides/security.md, "SSE-KMS"). A KMS key version is 32
// random bytes of material, kept in the replicated state only wrapped by the cluster's master key
// (AES-KW, as data keys are: data-key.ts). A stripe of an SSE-KMS object has its data key wrapped
// not by the material itself but by a key derived from it with HKDF-SHA256 (RFC 5869), whose
// `info` binds the KMS key id, the version and the encryption context: AES-KW has no associated
// data, and a derived key per context is how the context acts as AAD. A data key unwrapped under
// another key, version or context fails AES-KW's integrity check.
import assert from 'node:assert';
import { hkdfSync, randomBytes } from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import { unwrapDataKey, type WrappedKey, wrapDataKey } from './data-key.ts';
import type { Keyring, MasterKey } from './master-key.ts';

export const KMS_MATERIAL_BYTES = 32;
const HKDF_SALT = Buffer.from('strata kms data key wrap v1', 'latin1');
// AWS's limit for an encryption context (S3: the header's JSON, 8 KiB under KMS's rules); ours
// is smaller because the context rides in every stripe record it seals.
export const CONTEXT_BYTES_MAX = 2048;
const CONTEXT_PAIRS_MAX = 32;

export function newKmsMaterial(): Buffer {
  return randomBytes(KMS_MATERIAL_BYTES);
}

// The material wrapped by the master key, as the key's record keeps it.
export function wrapKmsMaterial(
  master: MasterKey,
  material: Buffer,
): { masterKeyId: string; wrappedMaterial: string } {
  assert.equal(material.length, KMS_MATERIAL_BYTES, '256 bits of KMS key material');
  const wrapped = wrapDataKey(master, material);
  return { masterKeyId: wrapped.keyId, wrappedMaterial: wrapped.wrappedKey };
}

// ENCRYPTION_KEY_UNAVAILABLE when the ring lacks the master key that wrapped it.
export function unwrapKmsMaterial(
  ring: Keyring,
  version: { masterKeyId: string; wrappedMaterial: string },
): Buffer {
  return unwrapDataKey(ring, { keyId: version.masterKeyId, wrappedKey: version.wrappedMaterial });
}

export interface KmsWrapPlace {
  keyId: string; // the KMS key's id (a UUID)
  version: number;
  context?: string; // canonical base64 JSON
}

// The key that wraps data keys of `place`: never stored, derived at each use.
export function kmsWrappingKey(material: Buffer, place: KmsWrapPlace): MasterKey {
  assert.equal(material.length, KMS_MATERIAL_BYTES, '256 bits of KMS key material');
  assert(Number.isSafeInteger(place.version) && place.version >= 1, 'a KMS key version');
  const info = Buffer.from(`${place.keyId}\0${place.version}\0${place.context ?? ''}`, 'utf8');
  const key = Buffer.from(hkdfSync('sha256', material, HKDF_SALT, info, KMS_MATERIAL_BYTES));
  assert.equal(key.length, KMS_MATERIAL_BYTES);
  return { id: place.keyId, key };
}

export function wrapDataKeyKms(wrapping: MasterKey, dataKey: Buffer): WrappedKey {
  return wrapDataKey(wrapping, dataKey);
}

// ENCRYPTION_AUTH_FAILED when it does not unwrap (another key, version or context, or altered).
export function unwrapDataKeyKms(wrapping: MasterKey, wrappedKey: string): Buffer {
  const ring: Keyring = { active: wrapping, byId: new Map([[wrapping.id, wrapping]]) };
  return unwrapDataKey(ring, { keyId: wrapping.id, wrappedKey });
}

// x-amz-server-side-encryption-context: base64 of a JSON object of strings. Returned in one
// canonical form (keys sorted, no spaces), so the same context always derives the same key;
// EINVAL with what was wrong otherwise.
export function canonicalContext(header: string): string {
  const json = Buffer.from(header, 'base64').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new StrataError('EINVAL', 'The encryption context must be base64-encoded JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new StrataError('EINVAL', 'The encryption context must be a JSON object of strings.');
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length > CONTEXT_PAIRS_MAX || entries.some(([, v]) => typeof v !== 'string'))
    throw new StrataError(
      'EINVAL',
      `The encryption context must hold at most ${CONTEXT_PAIRS_MAX} string values.`,
    );
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = Buffer.from(JSON.stringify(Object.fromEntries(entries)), 'utf8').toString(
    'base64',
  );
  if (canonical.length > CONTEXT_BYTES_MAX)
    throw new StrataError(
      'EINVAL',
      `The encryption context is longer than ${CONTEXT_BYTES_MAX} bytes (base64).`,
    );
  return canonical;
}
