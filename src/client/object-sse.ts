// What a new object's (or upload's, or copy's) encryption is, decided once per write: the
// request's SSE-C (which wins over a bucket default, as on AWS), else the request's SSE-S3 or
// SSE-KMS, else the bucket's default, else none; and for SSE-KMS the KMS key
// resolved to its id (an ARN or alias becomes the id; none named: the bucket default's key, else
// the cluster's default key) with its newest version's wrapping key. The state machine checks
// the result against the stripes (src/metadata/object-encryption.ts).
import { StrataError } from '../common/errors.ts';
import { isCustomerKeyId, type KmsSealKey } from '../crypto/index.ts';
import type { BucketInfo, ObjectMeta, SseCustomer, StripeEncryption } from '../metadata/types.ts';
import type { KmsKeys } from './kms-keys.ts';
import type { CustomerKey } from './stripe-crypt.ts';

export type SseFields = Pick<
  ObjectMeta,
  'sse' | 'kmsKeyId' | 'sseContext' | 'bucketKeyEnabled' | 'sseCustomer'
>;

// One of the three ways a stripe's data key is wrapped (stripe-crypt.ts, DataKeyWrapper), or none.
export interface SseTarget {
  fields: SseFields; // exactly what the object records
  seal: boolean;
  kms?: KmsSealKey; // SSE-KMS
  customer?: CustomerKey; // SSE-C
  // Whether a stripe sealed this way may be shared as it is by a copy (otherwise rewritten).
  matches(enc: StripeEncryption | undefined): boolean;
}

// Sealed under a master key: neither a KMS key's stripe nor a customer's.
function underMasterKey(enc: StripeEncryption): boolean {
  return enc.kms === undefined && !isCustomerKeyId(enc.keyId);
}

const PLAIN: SseTarget = {
  fields: {},
  seal: false,
  matches: (enc) => enc === undefined || underMasterKey(enc),
};
const SSE_S3: SseTarget = {
  fields: { sse: 'AES256' },
  seal: true,
  matches: (enc) => enc !== undefined && underMasterKey(enc),
};

// SSE-C under `record` (a new one, src/client/customer-key.ts): only that key id's stripes match.
export function customerTarget(record: SseCustomer, seal: CustomerKey): SseTarget {
  return {
    fields: { sseCustomer: record },
    seal: true,
    customer: seal,
    matches: (enc) => enc !== undefined && enc.keyId === record.keyId,
  };
}

export async function sseTarget(
  kms: KmsKeys | undefined,
  bucket: BucketInfo,
  requested: SseFields,
): Promise<SseTarget> {
  const sse = requested.sse ?? bucket.encryption;
  if (sse === undefined) return PLAIN;
  if (sse === 'AES256') return SSE_S3;
  if (kms === undefined)
    throw new StrataError(
      'ENCRYPTION_KEY_UNAVAILABLE',
      'SSE-KMS needs the master key file on this process ([encryption] key_file)',
    );
  const fromRequest = requested.sse !== undefined;
  const ref = fromRequest ? requested.kmsKeyId : bucket.encryptionKmsKeyId;
  const context = fromRequest ? requested.sseContext : undefined;
  const key = await kms.sealKey(ref, context);
  const fields: SseFields = { sse: 'aws:kms', kmsKeyId: key.keyId };
  if (context !== undefined) fields.sseContext = context;
  const bucketKey = fromRequest ? requested.bucketKeyEnabled : bucket.encryptionBucketKeyEnabled;
  if (bucketKey === true) fields.bucketKeyEnabled = true;
  return {
    fields,
    seal: true,
    kms: key,
    matches: (enc) =>
      enc?.kms !== undefined && enc.keyId === key.keyId && enc.kms.context === context,
  };
}

// The object's metadata with the target's encryption fields and none other.
export function withSse<T extends SseFields>(object: T, target: SseTarget): T {
  const {
    sse: _s,
    kmsKeyId: _k,
    sseContext: _c,
    bucketKeyEnabled: _b,
    sseCustomer: _sc,
    ...rest
  } = object;
  return { ...rest, ...target.fields } as T;
}

// The wrapping key is not kept past the write that used it.
export function forgetKey(target: SseTarget): void {
  target.kms?.wrapping.key.fill(0);
}
