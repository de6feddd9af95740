// SSE-S3, decided here so that every path obeys it (S3 PUT, multipart, copies, POSIX writes
// through a mount): an object carries `sse` only while every stripe it reads from is sealed
// (Stripe.encryption, docs/guides/security.md "Encryption at rest"). Strata never acknowledges
// encryption that the bytes on disk do not have. A bucket's default encryption makes every new
// S3 object of the bucket SSE-S3; a writer that did not seal is refused, not recorded unencrypted.
import assert from 'node:assert';
import { fail } from './store.ts';
import type { BucketInfo, FileExtent, ObjectMeta, SseAlgorithm } from './types.ts';

export function isSseAlgorithm(value: unknown): value is SseAlgorithm {
  return value === 'AES256';
}

// Inline bytes (types.ts, InlineExtent) are never sealed: an SSE-S3 object is never inline.
export function allSealed(extents: readonly FileExtent[]): boolean {
  return extents.every((extent) => extent.stripe?.encryption !== undefined);
}

// The object as it is stored: with the bucket's default applied, and refused (EINVAL) when it
// asks for encryption its stripes do not have.
export function withEncryption(
  bucket: BucketInfo,
  object: ObjectMeta,
  extents: readonly FileExtent[],
): ObjectMeta {
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

// A part of an SSE-S3 upload must be sealed like the object it will become.
export function checkPartEncryption(
  upload: { object: { sse?: SseAlgorithm } },
  extents: FileExtent[],
) {
  if (upload.object.sse !== undefined && !allSealed(extents))
    fail('EINVAL', 'a part of an encrypted multipart upload must be encrypted at rest');
}

// A POSIX write into an SSE-S3 object: the object keeps the flag only while every stripe is
// still sealed (a mount without the key file writes plaintext; the flag then goes, rather than
// claim what is no longer true).
export function afterWrite(
  object: ObjectMeta | undefined,
  extents: readonly FileExtent[],
): ObjectMeta | undefined {
  if (object?.sse === undefined || allSealed(extents)) return object;
  const { sse: _dropped, ...rest } = object;
  return rest;
}
