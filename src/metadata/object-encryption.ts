// SSE-S3, SSE-KMS and SSE-C, decided here so that every path obeys them (S3 PUT, multipart,
// copies, POSIX writes through a mount): an object carries `sse` or `sseCustomer` only while every
// stripe it reads from is sealed as it says (Stripe.encryption, docs/guides/security.md
// "Encryption at rest"). Strata never acknowledges encryption that the bytes on disk do not have.
// A stripe's data key is wrapped one of three ways (src/client/stripe-crypt.ts, DataKeyWrapper),
// told apart by its record: a master key id, a KMS key id with `kms`, or an SSE-C key id.
// - AES256 (SSE-S3): every stripe sealed, its data key wrapped by a master key.
// - aws:kms (SSE-KMS): every stripe's data key wrapped under the object's KMS key and context,
//   and the key usable (enabled) when the object is committed.
// - sseCustomer (SSE-C): every stripe's data key wrapped under the object's customer key id;
//   never with `sse` (neither SSE-S3 nor SSE-KMS) nor KMS fields. As on AWS, the request's SSE-C
//   wins over the bucket's default encryption, whatever that default is.
// - no sse, no sseCustomer: no stripe under a KMS key (an object that does not say aws:kms does
//   not stop being readable when a KMS key is disabled) and none under a customer key (nobody
//   could read it).
// - An encrypted object (any of the three) holds no inline extent (docs/architecture/overview.md,
//   "Small files inline"): inline bytes are plaintext in the metadata.
// A bucket's default encryption makes every other new S3 object of the bucket SSE-S3 or
// SSE-KMS; a writer that did not seal as it says is refused, not recorded otherwise.
import assert from 'node:assert';
import { DEFAULT_KMS_ALIAS, KMS_KEY_ID, keyByRef, usableKey } from './ops-kms.ts';
import { fail, type Store } from './store.ts';
import type {
  BucketInfo,
  FileExtent,
  Inode,
  ObjectMeta,
  SseAlgorithm,
  SseCustomer,
  Stripe,
  StripeEncryption,
} from './types.ts';

// SSE-C key ids (src/crypto/customer-key.ts makes them): a salt and a salted check of the key.
export const SSE_C_KEY_ID = /^sse-c:[0-9a-f]{32}:[0-9a-f]{32}$/;

export function isSseAlgorithm(value: unknown): value is SseAlgorithm {
  return value === 'AES256' || value === 'aws:kms';
}

export function isCustomerSealed(stripe: Stripe): boolean {
  return stripe.encryption !== undefined && SSE_C_KEY_ID.test(stripe.encryption.keyId);
}

// Inline bytes (types.ts, InlineExtent) are never sealed: an encrypted object (SSE-S3, SSE-KMS or
// SSE-C) is never inline, since its bytes would sit in plaintext in the metadata. Every test
// below reads an inline extent as "not sealed as it says", and withEncryption names the rule.
export function allSealed(extents: readonly FileExtent[]): boolean {
  return extents.every((extent) => extent.stripe?.encryption !== undefined);
}

function anyInline(extents: readonly FileExtent[]): boolean {
  return extents.some((extent) => extent.inline !== undefined);
}

function refuseInline(extents: readonly FileExtent[], what: string): void {
  if (anyInline(extents))
    fail(
      'EINVAL',
      `${what} is never inline: its bytes would sit in plaintext in the metadata ` +
        '(write it in sealed stripes)',
    );
}

// Sealed under a master key (SSE-S3): neither a KMS key nor a customer's key.
function allUnderMaster(extents: readonly FileExtent[]): boolean {
  return extents.every((e) => {
    const enc = e.stripe?.encryption;
    return enc !== undefined && enc.kms === undefined && !SSE_C_KEY_ID.test(enc.keyId);
  });
}

// Every data key wrapped under KMS key `keyId` (any version) and exactly this context.
export function allUnderKms(
  extents: readonly FileExtent[],
  keyId: string,
  context: string | undefined,
): boolean {
  return extents.every((e) => underKms(e.stripe?.encryption, keyId, context));
}

function underKms(enc: StripeEncryption | undefined, keyId: string, context?: string): boolean {
  return enc?.kms !== undefined && enc.keyId === keyId && enc.kms.context === context;
}

function anyUnderKms(extents: readonly FileExtent[]): boolean {
  return extents.some((e) => e.stripe?.encryption?.kms !== undefined);
}

function isSseCustomer(value: unknown): value is SseCustomer {
  const v = value as SseCustomer;
  return (
    v !== null &&
    typeof v === 'object' &&
    v.algorithm === 'AES256' &&
    typeof v.keyId === 'string' &&
    SSE_C_KEY_ID.test(v.keyId)
  );
}

// SSE-C: an object (or an upload) records a customer key only while every stripe is sealed
// under that very key, and an object that records none has no stripe sealed under one (nobody
// could read it). Both are refused with EINVAL before anything changes.
export function checkCustomerKey(
  object: Pick<ObjectMeta, 'sse' | 'sseCustomer' | 'kmsKeyId' | 'sseContext'>,
  extents: readonly FileExtent[],
): void {
  const customer = object.sseCustomer;
  if (customer === undefined) {
    if (extents.some((extent) => extent.stripe !== undefined && isCustomerSealed(extent.stripe)))
      fail(
        'EINVAL',
        'stripes sealed under a customer-provided key (SSE-C) in an object without one',
      );
    return;
  }
  if (!isSseCustomer(customer)) fail('EINVAL', 'a malformed SSE-C record');
  if (object.sse !== undefined || object.kmsKeyId !== undefined || object.sseContext !== undefined)
    fail('EINVAL', 'an object is SSE-C or SSE-S3 or SSE-KMS, never two of them');
  refuseInline(extents, 'an SSE-C object');
  if (!extents.every((extent) => extent.stripe?.encryption?.keyId === customer.keyId))
    fail('EINVAL', "an SSE-C object's stripes must all be sealed under its customer key");
}

// The object as it is stored: with the bucket's default applied, and refused (EINVAL, or the KMS
// key's code) when it asks for encryption its stripes do not have. An SSE-C object is what it
// asked for: as on AWS, the request's own encryption wins over the bucket's default.
export function withEncryption(
  store: Store,
  bucket: BucketInfo,
  object: ObjectMeta,
  extents: readonly FileExtent[],
): ObjectMeta {
  checkCustomerKey(object, extents);
  if (object.sseCustomer !== undefined) {
    const { bucketKeyEnabled: _b, ...rest } = object; // a KMS setting: nothing for SSE-C
    return rest;
  }
  const sse = object.sse ?? bucket.encryption;
  if (sse === undefined) return withoutKms(object, extents);
  if (!isSseAlgorithm(sse)) fail('EINVAL', `unknown server-side encryption ${String(sse)}`);
  if (sse === 'aws:kms') return withKms(store, bucket, object, extents);
  refuseInline(extents, 'an SSE-S3 object');
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

function withoutKms(object: ObjectMeta, extents: readonly FileExtent[]): ObjectMeta {
  if (anyUnderKms(extents))
    fail('EINVAL', 'an object that is not SSE-KMS cannot hold data sealed under a KMS key');
  const { kmsKeyId: _k, sseContext: _c, bucketKeyEnabled: _b, ...rest } = object;
  return rest;
}

function withKms(
  store: Store,
  bucket: BucketInfo,
  object: ObjectMeta,
  extents: readonly FileExtent[],
): ObjectMeta {
  // The request's key, else the bucket default's, else the cluster's default key.
  const fromBucket = object.sse === undefined;
  const ref =
    object.kmsKeyId ?? (fromBucket ? bucket.encryptionKmsKeyId : undefined) ?? DEFAULT_KMS_ALIAS;
  const key = usableKey(store, ref);
  const context = object.sseContext;
  refuseInline(extents, 'an SSE-KMS object');
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

// A part of an encrypted multipart upload (SSE-S3, SSE-KMS or SSE-C) must be sealed like the
// object it will become; a part of an unencrypted one under neither a KMS nor a customer key.
export function checkPartEncryption(
  store: Store,
  upload: { object: Omit<ObjectMeta, 'etag'> },
  extents: FileExtent[],
) {
  checkCustomerKey(upload.object, extents);
  if (upload.object.sseCustomer !== undefined) return;
  const { sse, kmsKeyId, sseContext } = upload.object;
  if (sse !== undefined) refuseInline(extents, 'a part of an encrypted upload');
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
  extents: readonly FileExtent[],
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

// A lifecycle transition moves an object's bytes, never its encryption: the re-encoded stripes
// are sealed exactly as the object says (SSE-C under its key id, SSE-KMS under its key and
// context, SSE-S3 under a master key), and an object that says none has none under a KMS or a
// customer key. The KMS key's state is not judged here: the runner could read and seal with it.
export function checkKeptEncryption(
  object: ObjectMeta | undefined,
  extents: readonly FileExtent[],
): void {
  const o = object ?? { etag: '', userMeta: {} };
  checkCustomerKey(o, extents);
  if (o.sseCustomer !== undefined) return;
  if (o.sse === undefined) {
    if (anyUnderKms(extents))
      fail('EINVAL', 'an object that is not SSE-KMS cannot hold data sealed under a KMS key');
    return;
  }
  const kept =
    o.sse === 'aws:kms'
      ? o.kmsKeyId !== undefined && allUnderKms(extents, o.kmsKeyId, o.sseContext)
      : allUnderMaster(extents);
  if (!kept) fail('EINVAL', `the re-encoded data is not sealed as the object's ${o.sse} says`);
}

// The key a bucket default names must exist when it is set (its state is checked at each write).
export function checkBucketKmsKey(store: Store, ref: string): string {
  const key = keyByRef(store, ref) ?? fail('KMS_KEY_NOT_FOUND', `no KMS key ${ref}`);
  return key.id;
}

// A POSIX write (a mount, `strata fs put` of a range): never into an SSE-C object, whose key no
// mount has (its new bytes would be sealed under no key the object records), and never stripes
// sealed under a customer key, which only S3 writes with the key.
export function checkPosixWrite(inode: Inode, extents: readonly FileExtent[]): void {
  if (inode.object?.sseCustomer !== undefined)
    fail('EACCES', 'an SSE-C object is written only through S3, with its customer-provided key');
  checkCustomerKey({}, extents);
}
