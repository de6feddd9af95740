// Encryption at rest in the client: a writer seals a stripe's data before erasure coding it, a
// reader opens the chunks of the range it asked for. Only gateways, mounts and the CLI (the
// clients) hold master keys; data servers, the scrubber and the repair handle sealed shards
// only (docs/guides/security.md, "Encryption at rest", says why the seal sits there).
import assert from 'node:assert';
import { isStrataError, StrataError } from '../common/errors.ts';
import {
  type AtRest,
  ChunkAuthError,
  type KmsSealKey,
  newDataKey,
  openWindow,
  type SealedLayout,
  type StripeKey,
  sealedLayout,
  sealedWindow,
  sealShard,
  unwrapDataKey,
  unwrapDataKeyKms,
  wrapDataKey,
} from '../crypto/index.ts';
import type { Stripe, StripeEncryption } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { encryptedStripes, encryptionAuthFailures } from '../observability/metrics.ts';
import { readStripeRange, type StripeReadPool } from './stripe-read.ts';

// Seals `plain` into the k data shard buffers of a new stripe (zeroed, `layout.sealedShardBytes`
// each; the caller then computes parity over them) and returns what the stripe records. The data
// key is wrapped by the active master key, or for SSE-KMS by the KMS key's wrapping key.
export function sealForWrite(
  atRest: AtRest,
  stripeId: string,
  layout: SealedLayout,
  plain: Buffer,
  shards: Buffer[],
  kms?: KmsSealKey,
): StripeEncryption {
  assert(shards.length >= layout.k, 'a buffer per data shard');
  const key = newDataKey();
  const sk = { stripeId, key, cipher: atRest.cipher };
  for (let i = 0; i < layout.k; i++) sealShard(sk, layout, plain, i, shards[i]);
  const wrapped = wrapDataKey(kms?.wrapping ?? atRest.ring.active, key);
  key.fill(0);
  encryptedStripes.inc({ operation: 'seal' });
  const encryption = { cipher: atRest.cipher, ...wrapped, plainLengthBytes: plain.length };
  if (kms === undefined) return encryption;
  assert.equal(wrapped.keyId, kms.keyId, 'a KMS wrapping key is named by its KMS key');
  const stripeKms =
    kms.context === undefined
      ? { version: kms.version }
      : {
          version: kms.version,
          context: kms.context,
        };
  return { ...encryption, kms: stripeKms };
}

// The stripe's length as its extents see it: the plaintext's.
export function plainLengthOf(stripe: Stripe): number {
  return stripe.encryption?.plainLengthBytes ?? stripe.dataLengthBytes;
}

// [offset, offset + length) of the stripe's plaintext: read as it is from an unencrypted stripe,
// opened chunk by chunk from an encrypted one. A chunk that does not authenticate is never
// returned: its shard is set aside as if absent and the window decoded from the others, as for a
// corrupt shard, at most m times; beyond that the read fails with ENCRYPTION_AUTH_FAILED.
export async function readStripeData(
  pool: StripeReadPool,
  atRest: AtRest | undefined,
  stripe: Stripe,
  at: { offset: number; length: number },
  log?: Logger,
): Promise<Buffer> {
  const { offset, length } = at;
  const enc = stripe.encryption;
  if (enc === undefined) return readStripeRange(pool, stripe, offset, length, log);
  if (length === 0) return Buffer.alloc(0);
  const sk = await stripeKey(atRest, stripe, enc, log);
  const window = sealedWindow(sealedLayout(stripe.k, enc.plainLengthBytes), offset, length);
  const setAside = new Set(stripe.absentShards ?? []);
  let view = stripe;
  try {
    for (;;) {
      const sealed = await readStripeRange(
        pool,
        view,
        window.start,
        window.end - window.start,
        log,
      );
      try {
        const plain = openWindow(sk, window, sealed);
        encryptedStripes.inc({ operation: 'open' });
        return plain;
      } catch (error) {
        if (!(error instanceof ChunkAuthError)) throw error;
        encryptionAuthFailures.inc({ what: 'chunk' });
        const shard = error.place.shardIndex;
        const retry = !setAside.has(shard) && setAside.size < stripe.m;
        log?.error('an encrypted shard failed authentication: not served', {
          stripeId: stripe.id,
          shard,
          decodingFromOthers: retry,
          error,
        });
        if (!retry) throw error;
        setAside.add(shard);
        view = { ...stripe, absentShards: [...setAside].sort((a, b) => a - b) };
      }
    }
  } finally {
    sk.key.fill(0);
  }
}

async function stripeKey(
  atRest: AtRest | undefined,
  stripe: Stripe,
  enc: StripeEncryption,
  log?: Logger,
): Promise<StripeKey> {
  if (atRest === undefined) {
    throw new StrataError(
      'ENCRYPTION_KEY_UNAVAILABLE',
      `stripe ${stripe.id} is encrypted and this process has no key file ([encryption] key_file)`,
    );
  }
  try {
    if (enc.kms === undefined)
      return { stripeId: stripe.id, cipher: enc.cipher, key: unwrapDataKey(atRest.ring, enc) };
    assert(atRest.kms !== undefined, 'a client with master keys reads KMS keys');
    // A disabled key or one pending deletion throws here: nothing is read or served.
    const place = { keyId: enc.keyId, ...enc.kms };
    const wrapping = await atRest.kms.wrappingKey(place);
    try {
      const key = unwrapDataKeyKms(wrapping, enc.wrappedKey);
      return { stripeId: stripe.id, cipher: enc.cipher, key };
    } finally {
      wrapping.key.fill(0);
    }
  } catch (error) {
    if (isStrataError(error, 'ENCRYPTION_AUTH_FAILED')) {
      encryptionAuthFailures.inc({ what: 'data_key' });
      log?.error('an encrypted stripe key failed authentication', { stripeId: stripe.id, error });
    }
    throw error;
  }
}
