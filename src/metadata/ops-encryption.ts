// A master key rotation's command: stripes' data keys re-wrapped under the new master key
// (docs/guides/security.md, "Encryption at rest"). The wrapped key is recorded once per stripe
// (Store.currentStripe overlays it, as it does a repair's relocations), so every extent, copy,
// version and part sharing the stripe sees it; the sealed shards are not touched. The state
// machine never sees a master key or a data key in the clear: it checks shapes and preconditions.
import assert from 'node:assert';
import { STRIPE_ID } from './extent-ops.ts';
import { stripeAt } from './ops-repair.ts';
import { CommandError, fail, type Store } from './store.ts';
import type { Command, RelocationOutcome, StripeKeyRewrap } from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

// Like relocateShards: one Raft entry stays small (a key is ~150 bytes).
export const REWRAPS_PER_COMMAND_MAX = 256;
const KEY_ID = /^[0-9a-f]{16}$/;
const WRAPPED_KEY = /^[A-Za-z0-9+/]{54}==$/; // 40 bytes: a 32-byte key under AES-KW, base64

export function rewrapStripeKeys(store: Store, c: Op<'rewrapStripeKeys'>) {
  const { keys } = c;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > REWRAPS_PER_COMMAND_MAX)
    fail('EINVAL', `rewrapStripeKeys takes 1 to ${REWRAPS_PER_COMMAND_MAX} keys`);
  const rewrapped: RelocationOutcome[] = keys.map((key) => {
    try {
      rewrap(store, key);
      return { ok: true };
    } catch (error) {
      if (!(error instanceof CommandError)) throw error; // a broken invariant: stop the replica
      return { ok: false, code: error.code, message: error.message };
    }
  });
  assert.equal(rewrapped.length, keys.length, 'one outcome per key');
  return { ok: true as const, rewrapped };
}

// Checks everything before it writes: a refusal has changed nothing.
function rewrap(store: Store, r: StripeKeyRewrap): void {
  if (r === null || typeof r !== 'object') fail('EINVAL', 'a re-wrapped key is an object');
  if (typeof r.stripeId !== 'string' || !STRIPE_ID.test(r.stripeId))
    fail('EINVAL', `bad stripe id ${String(r.stripeId)}`);
  if (typeof r.keyId !== 'string' || !KEY_ID.test(r.keyId)) fail('EINVAL', 'bad master key id');
  if (typeof r.fromKeyId !== 'string' || !KEY_ID.test(r.fromKeyId))
    fail('EINVAL', 'bad master key id');
  if (typeof r.wrappedKey !== 'string' || !WRAPPED_KEY.test(r.wrappedKey))
    fail('EINVAL', 'bad wrapped key');
  const stripe = stripeAt(store, r.stripeId, r.at);
  if (store.refCount(r.stripeId) === 0)
    fail('PRECONDITION_FAILED', `stripe ${r.stripeId} is no longer referenced`);
  const current = store.currentStripe(stripe).encryption;
  if (current === undefined) fail('EINVAL', `stripe ${r.stripeId} is not encrypted`);
  // SSE-KMS: the data key is under a KMS key, whose material a rotation re-wraps instead.
  if (current?.kms !== undefined) fail('EINVAL', `stripe ${r.stripeId} is under a KMS key`);
  const now = current?.keyId;
  if (now === r.keyId) return; // a retry of a rewrap that committed
  if (now !== r.fromKeyId)
    fail(
      'PRECONDITION_FAILED',
      `stripe ${r.stripeId}'s key is wrapped by ${now}, not ${r.fromKeyId}`,
    );
  store.setStripeKey(r.stripeId, { keyId: r.keyId, wrappedKey: r.wrappedKey });
}
