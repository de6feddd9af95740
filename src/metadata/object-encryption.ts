// SSE-S3 and SSE-C, decided here so that every path obeys it (S3 PUT, multipart, copies, POSIX writes
// through a mount): an object carries `sse` only while every stripe it reads from is sealed
// (Stripe.encryption, docs/guides/security.md "Encryption at rest"). Strata never acknowledges
// encryption that the bytes on disk do not have. A bucket's default encryption makes every new
// S3 object of the bucket SSE-S3; a writer that did not seal is refused, not recorded unencrypted.
import assert from 'node:assert';
import { fail } from './store.ts';
import type {
  BucketInfo,
  Extent,
  Inode,
  ObjectMeta,
  SseAlgorithm,
  SseCustomer,
  Stripe,
} from './types.ts';

// SSE-C key ids (src/crypto/customer-key.ts makes them): a salt and a salted check of the key.
export const SSE_C_KEY_ID = /^sse-c:[0-9a-f]{32}:[0-9a-f]{32}$/;

export function isSseAlgorithm(value: unknown): value is SseAlgorithm {
  return value === 'AES256';
}

export function isCustomerSealed(stripe: Stripe): boolean {
  return stripe.encryption !== undefined && SSE_C_KEY_ID.test(stripe.encryption.keyId);
}

export function allSealed(extents: readonly Extent[]): boolean {
  return extents.every((extent) => extent.stripe.encryption !== undefined);
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
  object: Pick<ObjectMeta, 'sse' | 'sseCustomer'>,
  extents: readonly Extent[],
): void {
  const customer = object.sseCustomer;
  if (customer === undefined) {
    if (extents.some((extent) => isCustomerSealed(extent.stripe)))
      fail(
        'EINVAL',
        'stripes sealed under a customer-provided key (SSE-C) in an object without one',
      );
    return;
  }
  if (!isSseCustomer(customer)) fail('EINVAL', 'a malformed SSE-C record');
  if (object.sse !== undefined) fail('EINVAL', 'an object is SSE-S3 or SSE-C, not both');
  if (!extents.every((extent) => extent.stripe.encryption?.keyId === customer.keyId))
    fail('EINVAL', "an SSE-C object's stripes must all be sealed under its customer key");
}

// The object as it is stored: with the bucket's default applied, and refused (EINVAL) when it
// asks for encryption its stripes do not have. An SSE-C object is what it asked for: as on AWS,
// the request's own encryption wins over the bucket's default.
export function withEncryption(
  bucket: BucketInfo,
  object: ObjectMeta,
  extents: readonly Extent[],
): ObjectMeta {
  checkCustomerKey(object, extents);
  if (object.sseCustomer !== undefined) return object;
  const sse = object.sse ?? bucket.encryption;
  if (sse === undefined) return object;
  if (!isSseAlgorithm(sse)) fail('EINVAL', `unknown server-side encryption ${String(sse)}`);
  if (!allSealed(extents)) {
    fail(
      'EINVAL',
      object.sse === undefined
        ? `bucket ${bucket.name} encrypts every new object (default encryption) and this ` +
            "object's data is not encrypted at rest"
        : 'the object asks for server-side encryption and its data is not encrypted at rest',
    );
  }
  const stored = { ...object, sse };
  assert(stored.sse === 'AES256', 'SSE-S3 is the one algorithm');
  return stored;
}

// A part of an SSE-S3 or SSE-C upload must be sealed like the object it will become.
export function checkPartEncryption(
  upload: { object: Pick<ObjectMeta, 'sse' | 'sseCustomer'> },
  extents: Extent[],
) {
  checkCustomerKey(upload.object, extents);
  if (upload.object.sse !== undefined && !allSealed(extents))
    fail('EINVAL', 'a part of an encrypted multipart upload must be encrypted at rest');
}

// A POSIX write into an SSE-S3 object: the object keeps the flag only while every stripe is
// still sealed (a mount without the key file writes plaintext; the flag then goes, rather than
// claim what is no longer true).
export function afterWrite(
  object: ObjectMeta | undefined,
  extents: readonly Extent[],
): ObjectMeta | undefined {
  if (object?.sse === undefined || allSealed(extents)) return object;
  const { sse: _dropped, ...rest } = object;
  return rest;
}

// A POSIX write (a mount, `strata fs put` of a range): never into an SSE-C object, whose key no
// mount has (its new bytes would be sealed under no key the object records), and never stripes
// sealed under a customer key, which only S3 writes with the key.
export function checkPosixWrite(inode: Inode, extents: readonly Extent[]): void {
  if (inode.object?.sseCustomer !== undefined)
    fail('EACCES', 'an SSE-C object is written only through S3, with its customer-provided key');
  checkCustomerKey({}, extents);
}
