// Encryption at rest in the client: a writer seals a stripe's data before erasure coding it, a
// reader opens the chunks of the range it asked for. Only gateways, mounts and the CLI (the
// clients) hold master keys; data servers, the scrubber and the repair handle sealed shards
// only (docs/guides/security.md, "Encryption at rest", says why the seal sits there).
import assert from 'node:assert';
import { isStrataError, StrataError } from '../common/errors.ts';
import {
  type AtRest,
  ChunkAuthError,
  type DataCipher,
  isCustomerKeyId,
  type KmsSealKey,
  newDataKey,
  openWindowParts,
  type SealedLayout,
  StripeChunks,
  type StripeKey,
  sealedLayout,
  sealedWindow,
  sealShard,
  unwrapDataKey,
  unwrapDataKeyKms,
  unwrapWithCustomerKey,
  wrapDataKey,
  wrapDataKeyKms,
  wrapWithCustomerKey,
} from '../crypto/index.ts';
import type { Stripe, StripeEncryption } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { encryptedStripes, encryptionAuthFailures } from '../observability/metrics.ts';
import {
  readStripeRangeParts,
  readStripeRangePartsLeased,
  type StripeReadPool,
} from './stripe-read.ts';

// SSE-C: the customer's key for one object (never stored, never logged) and the object's key id
// (src/crypto/customer-key.ts), which every stripe sealed for it records.
export interface CustomerKey {
  key: Buffer;
  keyId: string;
}

// How a new stripe's data key is kept, one of three ways (docs/guides/security.md): wrapped by
// the cluster's active master key (SSE-S3, and the unrequested seal of [encryption]); by a key
// derived from a KMS key version, its id and the encryption context (SSE-KMS: the stripe records
// the version and the context, the state machine checks them against the object); or by a key
// derived from the customer's key (SSE-C: the stripe records only the salted key id). The key id
// a stripe records tells a reader which of the three opens it (stripeKey below).
export type DataKeyWrapKind = 'master' | 'kms' | 'customer';

export interface DataKeyWrapper {
  kind: DataKeyWrapKind;
  cipher: DataCipher;
  // The stripe record's key fields for `dataKey` wrapped this way (the data key is not kept).
  wrap(dataKey: Buffer): Pick<StripeEncryption, 'keyId' | 'wrappedKey' | 'kms'>;
}

export function masterKeyWrapper(atRest: AtRest): DataKeyWrapper {
  return {
    kind: 'master',
    cipher: atRest.cipher,
    wrap: (dataKey) => wrapDataKey(atRest.ring.active, dataKey),
  };
}

// The KMS key's wrapping key is derived once per write (src/client/object-sse.ts) and zeroed by
// its owner after the write (forgetKey).
export function kmsKeyWrapper(atRest: AtRest, kms: KmsSealKey): DataKeyWrapper {
  const place =
    kms.context === undefined
      ? { version: kms.version }
      : { version: kms.version, context: kms.context };
  return {
    kind: 'kms',
    cipher: atRest.cipher,
    wrap: (dataKey) => {
      const wrapped = wrapDataKeyKms(kms.wrapping, dataKey);
      assert.equal(wrapped.keyId, kms.keyId, 'a KMS wrapping key is named by its KMS key');
      return { ...wrapped, kms: place };
    },
  };
}

// The cipher is the cluster's choice when this process has one ([encryption] cipher), else GCM.
export function customerKeyWrapper(customer: CustomerKey, atRest?: AtRest): DataKeyWrapper {
  return {
    kind: 'customer',
    cipher: atRest?.cipher ?? 'aes-256-gcm',
    wrap: (dataKey) => wrapWithCustomerKey(customer.key, customer.keyId, dataKey),
  };
}

// Seals `plain` into the k data shard buffers of a new stripe (zeroed, `layout.sealedShardBytes`
// each; the caller then computes parity over them) and returns what the stripe records.
export function sealForWrite(
  wrapper: DataKeyWrapper,
  stripeId: string,
  layout: SealedLayout,
  plain: Buffer,
  shards: Buffer[],
): StripeEncryption {
  assert(shards.length >= layout.k, 'a buffer per data shard');
  const key = newDataKey();
  const sk = { stripeId, key, cipher: wrapper.cipher };
  const chunks = new StripeChunks(key, wrapper.cipher, stripeId);
  for (let i = 0; i < layout.k; i++) sealShard(sk, layout, plain, i, shards[i], chunks);
  let wrapped: ReturnType<DataKeyWrapper['wrap']>;
  try {
    wrapped = wrapper.wrap(key);
  } finally {
    key.fill(0);
  }
  assert.equal(wrapped.kms !== undefined, wrapper.kind === 'kms', 'KMS fields on KMS stripes only');
  assert.equal(isCustomerKeyId(wrapped.keyId), wrapper.kind === 'customer', 'SSE-C key ids');
  encryptedStripes.inc({ operation: 'seal' });
  return { cipher: wrapper.cipher, ...wrapped, plainLengthBytes: plain.length };
}

// The keys a reader holds: the master keys of its key file (and through them the KMS keys'
// material, atRest.kms), and for an SSE-C object the key its request carried.
export interface ReadKeys {
  atRest: AtRest | undefined;
  customerKey?: Buffer;
}

// The stripe's length as its extents see it: the plaintext's.
export function plainLengthOf(stripe: Stripe): number {
  return stripe.encryption?.plainLengthBytes ?? stripe.dataLengthBytes;
}

// [offset, offset + length) of the stripe's plaintext, in consecutive parts as they came: read as
// it is from an unencrypted stripe (a part per data shard the range touches), opened chunk by
// chunk from an encrypted one (a part per 64 KiB chunk). A streaming reader (a GET) hands the
// parts on as they are: no range-sized buffer to allocate and copy into.
// A chunk's tag authenticates every byte of it, bound to its stripe, shard and chunk index, so
// the data servers are asked not to check the blocks' CRCs as well (readerAuthenticates: a
// CRC32C pass over every byte read, 21.3 to 15.0 CPU ms of a data server per 16 MiB GET). A chunk
// that does not authenticate is never returned: the window is read again with the CRCs checked,
// so a corrupt block is answered SHARD_CORRUPT by its server and decoded around (as for an
// unencrypted stripe) rather than blamed on whichever shard's chunk failed first, which after a
// decode from an unchecked corrupt shard could be another one. A chunk that fails with the CRCs
// checked too has its shard set aside as if absent and the window decoded from the others, at
// most m times; beyond that the read fails with ENCRYPTION_AUTH_FAILED.
export async function readStripeDataParts(
  pool: StripeReadPool,
  keys: ReadKeys,
  stripe: Stripe,
  at: { offset: number; length: number },
  log?: Logger,
): Promise<Buffer[]> {
  const { offset, length } = at;
  const enc = stripe.encryption;
  if (enc === undefined) return readStripeRangeParts(pool, stripe, offset, length, log);
  if (length === 0) return [];
  const sk = await stripeKey(keys, stripe, enc, log);
  const window = sealedWindow(sealedLayout(stripe.k, enc.plainLengthBytes), offset, length);
  const setAside = new Set(stripe.absentShards ?? []);
  let view = stripe;
  let readerAuthenticates = true;
  try {
    for (;;) {
      // In parts, one per shard: no chunk spans two shards, so none is joined before opening.
      // The sealed bytes sit in pooled buffers, given back once opened: the plaintext is in the
      // decipher's own buffers, nothing refers to them after.
      const sealed = await readStripeRangePartsLeased(
        pool,
        view,
        window.start,
        window.end - window.start,
        log,
        { readerAuthenticates },
      );
      try {
        const plain = openWindowParts(sk, window, sealed.parts);
        encryptedStripes.inc({ operation: 'open' });
        return plain;
      } catch (error) {
        if (!(error instanceof ChunkAuthError)) throw error;
        const shard = error.place.shardIndex;
        if (readerAuthenticates) {
          // Counted by what the read with block checks finds: SHARD_CORRUPT at the data server
          // (a block gone bad) or, the CRCs being right, an authentication failure below.
          log?.warn('an encrypted chunk failed authentication: read again with block checks', {
            stripeId: stripe.id,
            shard,
            error,
          });
          readerAuthenticates = false;
          continue;
        }
        encryptionAuthFailures.inc({ what: 'chunk' });
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
      } finally {
        sealed.release();
      }
    }
  } finally {
    sk.key.fill(0);
  }
}

async function stripeKey(
  keys: ReadKeys,
  stripe: Stripe,
  enc: StripeEncryption,
  log?: Logger,
): Promise<StripeKey> {
  if (isCustomerKeyId(enc.keyId)) return customerStripeKey(keys, stripe, enc);
  const { atRest } = keys;
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

// An SSE-C stripe opens only with the customer's key; a mount or the CLI never has it.
function customerStripeKey(keys: ReadKeys, stripe: Stripe, enc: StripeEncryption): StripeKey {
  if (keys.customerKey === undefined) {
    throw new StrataError(
      'CUSTOMER_KEY_REQUIRED',
      `stripe ${stripe.id} is sealed under a customer-provided key (SSE-C): only an S3 request ` +
        'carrying that key can read it',
    );
  }
  const key = unwrapWithCustomerKey(keys.customerKey, enc);
  return { stripeId: stripe.id, cipher: enc.cipher, key };
}
