// SSE-S3 and SSE-KMS, decided here so that every path obeys them (S3 PUT, multipart, copies,
// POSIX writes through a mount): an object carries `sse` only while every stripe it reads from is
// sealed as it says (Stripe.encryption, docs/guides/security.md "Encryption at rest"). Strata
// never acknowledges encryption that the bytes on disk do not have.
// - AES256 (SSE-S3): every stripe sealed, its data key wrapped by a master key.
// - aws:kms (SSE-KMS): every stripe's data key wrapped under the object's KMS key and context,
//   and the key usable (enabled) when the object is committed.
// - no sse: no stripe under a KMS key (an object that does not say aws:kms does not stop being
//   readable when a KMS key is disabled).
// A bucket's default encryption makes every new S3 object of the bucket SSE-S3 or SSE-KMS; a
// writer that did not seal as it says is refused, not recorded otherwise.
import assert from 'node:assert';
import { DEFAULT_KMS_ALIAS, KMS_KEY_ID, keyByRef, usableKey } from './ops-kms.ts';
import { fail, type Store } from './store.ts';
import type { BucketInfo, Extent, ObjectMeta, SseAlgorithm, StripeEncryption } from './types.ts';

export function isSseAlgorithm(value: unknown): value is SseAlgorithm {
  return value === 'AES256' || value === 'aws:kms';
}

export function allSealed(extents: readonly Extent[]): boolean {
  return extents.every((extent) => extent.stripe.encryption !== undefined);
}

// Sealed under a master key (SSE-S3), not a KMS key.
function allUnderMaster(extents: readonly Extent[]): boolean {
  return extents.every((e) => e.stripe.encryption !== undefined && !e.stripe.encryption.kms);
}

// Every data key wrapped under KMS key `keyId` (any version) and exactly this context.
export function allUnderKms(
  extents: readonly Extent[],
  keyId: string,
  context: string | undefined,
): boolean {
  return extents.every((e) => underKms(e.stripe.encryption, keyId, context));
}

function underKms(enc: StripeEncryption | undefined, keyId: string, context?: string): boolean {
  return enc?.kms !== undefined && enc.keyId === keyId && enc.kms.context === context;
}

function anyUnderKms(extents: readonly Extent[]): boolean {
  return extents.some((e) => e.stripe.encryption?.kms !== undefined);
}

// The object as it is stored: with the bucket's default applied, and refused (EINVAL, or the KMS
// key's code) when it asks for encryption its stripes do not have.
export function withEncryption(
  store: Store,
  bucket: BucketInfo,
  object: ObjectMeta,
  extents: readonly Extent[],
): ObjectMeta {
  const sse = object.sse ?? bucket.encryption;
  if (sse === undefined) return withoutKms(object, extents);
  if (!isSseAlgorithm(sse)) fail('EINVAL', `unknown server-side encryption ${String(sse)}`);
  if (sse === 'aws:kms') return withKms(store, bucket, object, extents);
  if (!allUnderMaster(extents)) {
    fail(
      'EINVAL',
      object.sse === undefined
        ? `bucket ${bucket.name} encrypts every new object (default encryption) and this ` +
            "object's data is not encrypted at rest under the master key"
        : 'the object asks for SSE-S3 and its data is not encrypted at rest under the master key',
    );
  }
  const { kmsKeyId: _k, sseContext: _c, bucketKeyEnabled: _b, ...rest } = object;
  const stored = { ...rest, sse };
  assert(stored.sse === 'AES256', 'SSE-S3');
  return stored;
}

function withoutKms(object: ObjectMeta, extents: readonly Extent[]): ObjectMeta {
  if (anyUnderKms(extents))
    fail('EINVAL', 'an object that is not SSE-KMS cannot hold data sealed under a KMS key');
  const { kmsKeyId: _k, sseContext: _c, bucketKeyEnabled: _b, ...rest } = object;
  return rest;
}

function withKms(
  store: Store,
  bucket: BucketInfo,
  object: ObjectMeta,
  extents: readonly Extent[],
): ObjectMeta {
  // The request's key, else the bucket default's, else the cluster's default key.
  const fromBucket = object.sse === undefined;
  const ref =
    object.kmsKeyId ?? (fromBucket ? bucket.encryptionKmsKeyId : undefined) ?? DEFAULT_KMS_ALIAS;
  const key = usableKey(store, ref);
  const context = object.sseContext;
  if (!allUnderKms(extents, key.id, context))
    fail(
      'EINVAL',
      fromBucket
        ? `bucket ${bucket.name} encrypts every new object under KMS key ${key.id} and this ` +
            "object's data is not sealed under it"
        : `the object asks for SSE-KMS under key ${key.id} and its data is not sealed under it ` +
            '(with this encryption context)',
    );
  const stored: ObjectMeta = { ...object, sse: 'aws:kms', kmsKeyId: key.id };
  if (context === undefined) delete stored.sseContext;
  if (stored.bucketKeyEnabled !== true) delete stored.bucketKeyEnabled;
  assert(KMS_KEY_ID.test(key.id), 'objects name KMS keys by id');
  return stored;
}

// A part of an encrypted multipart upload must be sealed like the object it will become.
export function checkPartEncryption(
  store: Store,
  upload: { object: Omit<ObjectMeta, 'etag'> },
  extents: Extent[],
) {
  const { sse, kmsKeyId, sseContext } = upload.object;
  if (sse === undefined) {
    if (anyUnderKms(extents))
      fail('EINVAL', 'a part of an upload that is not SSE-KMS cannot be sealed under a KMS key');
    return;
  }
  if (sse === 'aws:kms') {
    const key = usableKey(store, kmsKeyId ?? DEFAULT_KMS_ALIAS);
    if (!allUnderKms(extents, key.id, sseContext))
      fail('EINVAL', `a part of an SSE-KMS upload must be sealed under KMS key ${key.id}`);
    return;
  }
  if (!allUnderMaster(extents))
    fail('EINVAL', 'a part of an encrypted multipart upload must be encrypted at rest');
}

// A POSIX write into an encrypted object: the object keeps its flag only while every stripe is
// still sealed as it says. A mount seals new stripes under the master key (SSE-S3), so an
// SSE-KMS file written through a mount becomes SSE-S3 when all of it is sealed, and loses the
// flag when some of it is not (a mount without the key file writes plaintext).
export function afterWrite(
  object: ObjectMeta | undefined,
  extents: readonly Extent[],
): ObjectMeta | undefined {
  if (object?.sse === undefined) return object;
  if (object.sse === 'aws:kms' && object.kmsKeyId !== undefined) {
    if (allUnderKms(extents, object.kmsKeyId, object.sseContext)) return object;
  } else if (object.sse === 'AES256' && allUnderMaster(extents)) {
    return object;
  }
  const { sse: _dropped, kmsKeyId: _k, sseContext: _c, bucketKeyEnabled: _b, ...rest } = object;
  return allUnderMaster(extents) ? { ...rest, sse: 'AES256' } : rest;
}

// The key a bucket default names must exist when it is set (its state is checked at each write).
export function checkBucketKmsKey(store: Store, ref: string): string {
  const key = keyByRef(store, ref) ?? fail('KMS_KEY_NOT_FOUND', `no KMS key ${ref}`);
  return key.id;
}
