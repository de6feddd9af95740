// Extent bookkeeping inside a write transaction: replacing byte ranges of a file and keeping the
// reference count of every stripe, so a stripe's shards are queued for deletion exactly when no
// extent or part points into it any more. Inline extents (types.ts, InlineExtent) hold their
// bytes and reference nothing.
import assert from 'node:assert';
import { clearAbsentShards, recordAbsentShards } from './absent-shards.ts';
import { SSE_C_KEY_ID } from './object-encryption.ts';
import { clusterConfig } from './ops-cluster.ts';
import { KMS_CONTEXT_BYTES_MAX, KMS_KEY_ID } from './ops-kms.ts';
import { fail, type Store } from './store.ts';
import { checkNewStripe } from './stripe-placement.ts';
import type { FileExtent, Inode, Stripe, StripeKms } from './types.ts';

// Stripe ids are hex (32 chars from the writer); ASCII keeps their latin1 table keys unique.
export const STRIPE_ID = /^[0-9a-f]{1,64}$/;
const EXTENTS_PER_COMMAND_MAX = 100_000;

// The cluster's inline threshold, from replicated state (so every member judges alike): a file
// may hold inline bytes only within its first this many bytes and while no larger.
export function inlineLimit(store: Store): number {
  return clusterConfig(store)?.erasure.inlineMaxBytes ?? 0;
}

// Extents come from clients: a malformed one is the command's error, not a broken invariant.
// `sizeBytes`: when given, every extent must end within it. `inlineMaxBytes`: inline extents
// end within it, and carry at most that many bytes together (Raft entries stay bounded); 0
// (stripe extents only, as multipart parts are) refuses them.
export function checkExtents(extents: FileExtent[], sizeBytes?: number, inlineMaxBytes = 0): void {
  if (!Array.isArray(extents) || extents.length > EXTENTS_PER_COMMAND_MAX)
    fail('EINVAL', `at most ${EXTENTS_PER_COMMAND_MAX} extents per command`);
  let inlineBytes = 0;
  for (const e of extents) {
    if (e?.inline !== undefined) {
      checkInlineExtent(e, inlineMaxBytes);
      inlineBytes += e.length;
      if (inlineBytes > inlineMaxBytes)
        fail('INLINE_LIMIT', `more than ${inlineMaxBytes} inline bytes in one command`);
      if (sizeBytes !== undefined && e.fileOffset + e.length > sizeBytes)
        fail('EINVAL', `an extent reaches ${e.fileOffset + e.length}, past the size ${sizeBytes}`);
      continue;
    }
    const s = e?.stripe;
    const valid =
      Number.isSafeInteger(e.fileOffset) &&
      e.fileOffset >= 0 &&
      Number.isSafeInteger(e.length) &&
      e.length > 0 &&
      Number.isSafeInteger(e.stripeOffset) &&
      e.stripeOffset >= 0 &&
      typeof s?.id === 'string' &&
      STRIPE_ID.test(s.id) &&
      Number.isSafeInteger(s.dataLengthBytes) &&
      e.stripeOffset + e.length <= s.dataLengthBytes &&
      Number.isSafeInteger(e.fileOffset + e.length) &&
      validAbsentShards(s.absentShards) &&
      validEncryption(s, e.stripeOffset + e.length);
    if (!valid) fail('EINVAL', `bad extent at file offset ${e?.fileOffset}`);
    if (sizeBytes !== undefined && e.fileOffset + e.length > sizeBytes)
      fail('EINVAL', `an extent reaches ${e.fileOffset + e.length}, past the size ${sizeBytes}`);
  }
}

function checkInlineExtent(e: FileExtent, inlineMaxBytes: number): void {
  const valid =
    e.inline instanceof Uint8Array &&
    Number.isSafeInteger(e.fileOffset) &&
    e.fileOffset >= 0 &&
    Number.isSafeInteger(e.length) &&
    e.length > 0 &&
    e.inline.length === e.length &&
    e.stripe === undefined;
  if (!valid) fail('EINVAL', `bad inline extent at file offset ${e?.fileOffset}`);
  if (e.fileOffset + e.length > inlineMaxBytes)
    fail('INLINE_LIMIT', `inline bytes reach ${e.fileOffset + e.length}, past ${inlineMaxBytes}`);
}

// The rule that keeps inline bytes small, checked after every command that changes a file's
// size or extents: a file larger than the threshold holds no inline extent (its writer moved
// them into stripes first). Inline extents lie within [0, threshold) (checkExtents), so only
// that range is looked at.
export function checkInlineRule(store: Store, inode: Inode): void {
  const limit = inlineLimit(store);
  if (inode.type !== 'file' || inode.size <= limit) return;
  for (const e of store.extents(inode.ino, 0, Math.max(limit, 1))) {
    if (e.inline !== undefined)
      fail('INLINE_LIMIT', `file ${inode.ino} of ${inode.size} bytes would keep inline bytes`);
  }
}

// The shape only (a list of shard indices), on every extent: the store reads it on stripes
// already referenced too (Store.currentStripe). The first reference checks it against the stripe
// (recordAbsentShards).
function validAbsentShards(absent: unknown): boolean {
  if (absent === undefined) return true;
  return (
    Array.isArray(absent) &&
    absent.length <= 256 &&
    absent.every((i) => Number.isInteger(i) && i >= 0 && i < 256)
  );
}

// A sealed stripe's record (src/crypto/, docs/guides/security.md): a known cipher, a master key
// id, a KMS key id with version and context, or an SSE-C key id (the three ways a data key is
// wrapped), a wrapped key of the right shapes, and extents within its plaintext, which fits in
// the sealed bytes.
const CIPHERS: readonly string[] = ['aes-256-gcm', 'chacha20-poly1305'];
function validEncryption(s: Stripe, extentEnd: number): boolean {
  const enc = s.encryption;
  if (enc === undefined) return true;
  return (
    enc !== null &&
    typeof enc === 'object' &&
    CIPHERS.includes(enc.cipher) &&
    typeof enc.keyId === 'string' &&
    (enc.kms === undefined
      ? /^[0-9a-f]{16}$/.test(enc.keyId) || SSE_C_KEY_ID.test(enc.keyId)
      : validKms(enc.keyId, enc.kms)) &&
    typeof enc.wrappedKey === 'string' &&
    /^[A-Za-z0-9+/]{54}==$/.test(enc.wrappedKey) &&
    Number.isSafeInteger(enc.plainLengthBytes) &&
    enc.plainLengthBytes > 0 &&
    enc.plainLengthBytes <= s.dataLengthBytes &&
    extentEnd <= enc.plainLengthBytes
  );
}

function validKms(keyId: string, kms: StripeKms): boolean {
  return (
    kms !== null &&
    typeof kms === 'object' &&
    KMS_KEY_ID.test(keyId) &&
    Number.isSafeInteger(kms.version) &&
    kms.version >= 1 &&
    (kms.context === undefined ||
      (typeof kms.context === 'string' && kms.context.length <= KMS_CONTEXT_BYTES_MAX))
  );
}

export function addRef(store: Store, stripe: Stripe, delta: number): void {
  const before = store.refCount(stripe.id);
  // A new reference to a stripe the scrubber already took: its shards are (being) deleted.
  if (delta > 0 && before === 0 && store.isOrphan(stripe.id)) {
    fail(
      'EIO',
      `stripe ${stripe.id} was written too long ago and collected as an orphan; write again`,
    );
  }
  // Nor to one queued for collection: the collector may be deleting its shards right now.
  if (delta > 0 && before === 0 && store.isQueuedForCollection(stripe.id)) {
    fail('EIO', `stripe ${stripe.id} is being collected; write again`);
  }
  // The first reference commits the stripe: its locations must keep the placement invariant,
  // and the shards its writer left absent are listed for repair.
  if (delta > 0 && before === 0) {
    checkNewStripe(store, stripe);
    recordAbsentShards(store, stripe);
  }
  if (delta === 0) return;
  const count = before + delta;
  assert(count >= 0, `stripe ${stripe.id} reference count below zero`);
  store.setRefCount(stripe, count);
  if (count === 0) clearAbsentShards(store, stripe.id);
}

// Removes [start, end) from the file's extents: extents inside go, extents across an edge are
// trimmed, an extent across both edges becomes two (both keep the same stripe).
export function punch(store: Store, ino: number, start: number, end: number): void {
  if (end <= start) return;
  for (const extent of store.extents(ino, start, end - start)) {
    const extentEnd = extent.fileOffset + extent.length;
    assert(extentEnd > start && extent.fileOffset < end, 'an overlapping extent');
    const keepLeft = extent.fileOffset < start;
    const keepRight = extentEnd > end;
    if (keepLeft) {
      store.putExtent(ino, slice(extent, extent.fileOffset, start));
    } else {
      store.removeExtent(ino, extent.fileOffset);
    }
    if (keepRight) store.putExtent(ino, slice(extent, end, extentEnd));
    if (extent.stripe !== undefined)
      addRef(store, extent.stripe, (keepLeft ? 1 : 0) + (keepRight ? 1 : 0) - 1);
  }
}

// The part [from, to) of an extent (file offsets within it): the same stripe further in, or a
// copy of those inline bytes.
function slice(extent: FileExtent, from: number, to: number): FileExtent {
  assert(from >= extent.fileOffset && to <= extent.fileOffset + extent.length && from < to);
  const skip = from - extent.fileOffset;
  if (extent.inline !== undefined) {
    const inline = new Uint8Array(extent.inline.subarray(skip, skip + (to - from)));
    return { fileOffset: from, length: to - from, inline };
  }
  return {
    fileOffset: from,
    length: to - from,
    stripe: extent.stripe,
    stripeOffset: extent.stripeOffset + skip,
  };
}

// Writes extents (checked by checkExtents) over whatever covered their ranges; returns the end of
// the last byte written. `refsHeld`: the extents already hold one reference each (multipart parts
// moving into their object).
export function writeExtents(
  store: Store,
  ino: number,
  extents: FileExtent[],
  refsHeld = false,
): number {
  let end = 0;
  for (const extent of extents) {
    assert(extent.length > 0 && extent.fileOffset >= 0, 'extent has a positive length');
    assert(extent.inline === undefined || extent.inline.length === extent.length);
    // The new reference first: a rewrite from the stripe being replaced keeps it alive.
    if (!refsHeld && extent.stripe !== undefined) addRef(store, extent.stripe, 1);
    punch(store, ino, extent.fileOffset, extent.fileOffset + extent.length);
    // Inline extents are stored as exactly their three fields, whatever else a client sent.
    const { fileOffset, length, inline } = extent;
    store.putExtent(ino, inline === undefined ? extent : { fileOffset, length, inline });
    end = Math.max(end, extent.fileOffset + extent.length);
  }
  return end;
}

// Takes every extent off the file without releasing its references (the caller releases them,
// after it has added whatever replaces them).
export function removeAllExtents(store: Store, ino: number): FileExtent[] {
  const removed = store.allExtents(ino);
  for (const extent of removed) store.removeExtent(ino, extent.fileOffset);
  return removed;
}

export function releaseAll(store: Store, ino: number): void {
  releaseExtents(store, removeAllExtents(store, ino));
}

export function releaseExtents(store: Store, extents: FileExtent[]): void {
  for (const extent of extents) if (extent.stripe !== undefined) addRef(store, extent.stripe, -1);
}
