// The built-in KMS in replicated state (docs/guides/security.md, "SSE-KMS"). A key record
// ('E' + id) holds its state and one wrapped material per version; an alias index ('e' + alias)
// names the key an alias points to. Material is made and wrapped under the master key by the
// proposer (`strata kms` or, for the default key, a gateway): apply checks shapes and
// preconditions and never sees a master key or material in the clear.
import assert from 'node:assert';
import * as K from './keys.ts';
import { CommandError, fail, type Store } from './store.ts';
import type {
  Command,
  KmsKeyRecord,
  KmsKeySummary,
  KmsKeyVersion,
  KmsMaterialRewrap,
  RelocationOutcome,
} from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

// A bound on the table: every gateway may list it, and `strata kms list-keys` prints it.
export const KMS_KEYS_MAX = 1_000;
// Rotations kept per key: each version stays to unwrap what it wrapped.
export const KMS_KEY_VERSIONS_MAX = 100;
export const KMS_REWRAPS_PER_COMMAND_MAX = 256;
// AWS's default key for S3 (the key SSE-KMS uses when a request names none).
export const DEFAULT_KMS_ALIAS = 'alias/aws/s3';
const DAY_MS = 86_400_000;
// AWS KMS ScheduleKeyDeletion: 7 to 30 days, 30 by default.
const PENDING_DAYS_MIN = 7;
const PENDING_DAYS_MAX = 30;
export const KMS_KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ALIAS = /^alias\/[A-Za-z0-9/_-]{1,250}$/;
const ALIAS_BYTES_MAX = 256;
const MASTER_KEY_ID = /^[0-9a-f]{16}$/;
const WRAPPED = /^[A-Za-z0-9+/]{54}==$/; // 40 bytes: 32 under AES-KW, base64
const DESCRIPTION_MAX = 8192; // AWS's limit
// An encryption context rides in every stripe record it seals (src/crypto/kms-key.ts makes it
// canonical and refuses longer ones with the same bound).
export const KMS_CONTEXT_BYTES_MAX = 2048;

export function createKmsKey(store: Store, c: Op<'createKmsKey'>) {
  checkNewKey(store, c.id, c.masterKeyId, c.wrappedMaterial);
  if (typeof c.description !== 'string' || c.description.length > DESCRIPTION_MAX)
    fail('EINVAL', `a description is a string of at most ${DESCRIPTION_MAX} characters`);
  if (c.alias !== undefined) {
    checkAlias(c.alias);
    if (c.alias.startsWith('alias/aws/'))
      fail('EINVAL', 'aliases under alias/aws/ are reserved for the default key');
    if (store.db.get(K.kmsAliasKey(c.alias)) !== undefined)
      fail('EEXIST', `the alias ${c.alias} names another key`);
  }
  const record = newRecord(c, c.description, c.alias);
  putKey(store, record);
  return { ok: true as const, kmsKey: kmsKeySummary(record) };
}

export function createDefaultKmsKey(store: Store, c: Op<'createDefaultKmsKey'>) {
  const existing = keyByRef(store, DEFAULT_KMS_ALIAS);
  if (existing !== undefined) return { ok: true as const, kmsKey: kmsKeySummary(existing) };
  checkNewKey(store, c.id, c.masterKeyId, c.wrappedMaterial);
  const record = newRecord(c, 'Default key for SSE-KMS (alias/aws/s3)', DEFAULT_KMS_ALIAS);
  putKey(store, record);
  return { ok: true as const, kmsKey: kmsKeySummary(record) };
}

// enable and disable as AWS KMS's EnableKey/DisableKey; schedule-deletion makes the key unusable
// until cancel-deletion, which leaves it Disabled (as AWS). A key pending deletion cannot be
// enabled or disabled (KMSInvalidStateException).
export function setKmsKeyState(store: Store, c: Op<'setKmsKeyState'>) {
  const key = keyOrFail(store, c.key);
  const next: KmsKeyRecord = { ...key };
  const pending = key.state === 'PendingDeletion';
  if (c.action === 'enable' || c.action === 'disable') {
    if (pending) fail('KMS_KEY_INVALID_STATE', `key ${key.id} is pending deletion`);
    next.state = c.action === 'enable' ? 'Enabled' : 'Disabled';
  } else if (c.action === 'schedule-deletion') {
    if (pending) fail('KMS_KEY_INVALID_STATE', `key ${key.id} is pending deletion already`);
    const days = c.pendingWindowDays ?? PENDING_DAYS_MAX;
    if (!Number.isInteger(days) || days < PENDING_DAYS_MIN || days > PENDING_DAYS_MAX)
      fail('EINVAL', `the waiting period is ${PENDING_DAYS_MIN} to ${PENDING_DAYS_MAX} days`);
    next.state = 'PendingDeletion';
    next.deletionDateMs = c.nowMs + days * DAY_MS;
  } else if (c.action === 'cancel-deletion') {
    if (!pending) fail('KMS_KEY_INVALID_STATE', `key ${key.id} is not pending deletion`);
    next.state = 'Disabled';
    delete next.deletionDateMs;
  } else {
    fail('EINVAL', `unknown KMS key action ${String(c.action)}`);
  }
  store.db.putSync(K.kmsKeyKey(key.id), next);
  return { ok: true as const, kmsKey: kmsKeySummary(next) };
}

// A new version: it wraps new data keys from now on; the old ones stay to unwrap.
export function rotateKmsKey(store: Store, c: Op<'rotateKmsKey'>) {
  const key = keyOrFail(store, c.key);
  checkMaterial(c.masterKeyId, c.wrappedMaterial);
  if (key.state !== 'Enabled') fail('KMS_KEY_INVALID_STATE', `key ${key.id} is not enabled`);
  if (key.versions.length >= KMS_KEY_VERSIONS_MAX)
    fail('ENOSPC', `a key keeps at most ${KMS_KEY_VERSIONS_MAX} versions`);
  const last = key.versions[key.versions.length - 1];
  const version: KmsKeyVersion = {
    version: last.version + 1,
    masterKeyId: c.masterKeyId,
    wrappedMaterial: c.wrappedMaterial,
    createdAtMs: c.nowMs,
  };
  const next: KmsKeyRecord = { ...key, versions: [...key.versions, version] };
  store.db.putSync(K.kmsKeyKey(key.id), next);
  return { ok: true as const, kmsKey: kmsKeySummary(next) };
}

// A master key rotation re-wrapped these versions' material: each refused alone unless it is
// still wrapped by `fromMasterKeyId` (or already by `masterKeyId`: a retry).
export function rewrapKmsKeys(store: Store, c: Op<'rewrapKmsKeys'>) {
  const { keys } = c;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > KMS_REWRAPS_PER_COMMAND_MAX)
    fail('EINVAL', `rewrapKmsKeys takes 1 to ${KMS_REWRAPS_PER_COMMAND_MAX} versions`);
  const rewrapped: RelocationOutcome[] = keys.map((r) => {
    try {
      rewrapOne(store, r);
      return { ok: true };
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      return { ok: false, code: error.code, message: error.message };
    }
  });
  assert.equal(rewrapped.length, keys.length, 'one outcome per version');
  return { ok: true as const, rewrapped };
}

function rewrapOne(store: Store, r: KmsMaterialRewrap): void {
  if (r === null || typeof r !== 'object') fail('EINVAL', 'a re-wrapped version is an object');
  checkMaterial(r.masterKeyId, r.wrappedMaterial);
  if (typeof r.fromMasterKeyId !== 'string' || !MASTER_KEY_ID.test(r.fromMasterKeyId))
    fail('EINVAL', 'bad master key id');
  const key = keyOrFail(store, r.keyId);
  const at = key.versions.findIndex((v) => v.version === r.version);
  if (at < 0) fail('KMS_KEY_NOT_FOUND', `key ${key.id} has no version ${r.version}`);
  const now = key.versions[at].masterKeyId;
  if (now === r.masterKeyId) return; // a retry of a rewrap that committed
  if (now !== r.fromMasterKeyId)
    fail('PRECONDITION_FAILED', `key ${key.id} v${r.version} is wrapped by ${now}`);
  const versions = key.versions.map((v, i) =>
    i === at ? { ...v, masterKeyId: r.masterKeyId, wrappedMaterial: r.wrappedMaterial } : v,
  );
  store.db.putSync(K.kmsKeyKey(key.id), { ...key, versions });
}

function newRecord(
  c: { id: string; nowMs: number; masterKeyId: string; wrappedMaterial: string },
  description: string,
  alias: string | undefined,
): KmsKeyRecord {
  const version = {
    version: 1,
    masterKeyId: c.masterKeyId,
    wrappedMaterial: c.wrappedMaterial,
    createdAtMs: c.nowMs,
  };
  const record: KmsKeyRecord = {
    id: c.id,
    description,
    state: 'Enabled',
    createdAtMs: c.nowMs,
    versions: [version],
  };
  if (alias !== undefined) record.alias = alias;
  return record;
}

function checkNewKey(store: Store, id: unknown, masterKeyId: unknown, wrapped: unknown): void {
  if (typeof id !== 'string' || !KMS_KEY_ID.test(id)) fail('EINVAL', 'a KMS key id is a UUID');
  checkMaterial(masterKeyId, wrapped);
  if (store.db.get(K.kmsKeyKey(id as string)) !== undefined) fail('EEXIST', `KMS key ${id} exists`);
  const { start, end } = K.kmsKeyRange();
  if (store.db.getKeysCount({ start, end }) >= KMS_KEYS_MAX)
    fail('ENOSPC', `at most ${KMS_KEYS_MAX} KMS keys`);
}

// The material is never quoted: even wrapped it has no business in logs.
function checkMaterial(masterKeyId: unknown, wrapped: unknown): void {
  if (typeof masterKeyId !== 'string' || !MASTER_KEY_ID.test(masterKeyId))
    fail('EINVAL', 'bad master key id');
  if (typeof wrapped !== 'string' || !WRAPPED.test(wrapped))
    fail('EINVAL', 'the wrapped key material is not 40 bytes of base64');
}

function checkAlias(alias: unknown): asserts alias is string {
  if (typeof alias !== 'string' || !ALIAS.test(alias))
    fail('EINVAL', 'an alias is alias/ then 1-250 characters of A-Z a-z 0-9 / _ -');
}

function putKey(store: Store, record: KmsKeyRecord): void {
  assert(record.versions.length >= 1, 'a key has a version');
  store.db.putSync(K.kmsKeyKey(record.id), record);
  if (record.alias !== undefined) store.db.putSync(K.kmsAliasKey(record.alias), record.id);
}

// A key by id or alias ("alias/NAME"); undefined when there is none.
export function keyByRef(store: Store, ref: string): KmsKeyRecord | undefined {
  // No alias is longer (ALIAS), and a longer LMDB key would not even be looked up.
  if (typeof ref !== 'string' || ref.length > ALIAS_BYTES_MAX) return undefined;
  const id = ref.startsWith('alias/')
    ? (store.db.get(K.kmsAliasKey(ref)) as string | undefined)
    : ref;
  if (id === undefined || !KMS_KEY_ID.test(id)) return undefined;
  return store.db.get(K.kmsKeyKey(id)) as KmsKeyRecord | undefined;
}

function keyOrFail(store: Store, ref: string): KmsKeyRecord {
  return keyByRef(store, ref) ?? fail('KMS_KEY_NOT_FOUND', `no KMS key ${String(ref)}`);
}

// A key new data keys may be wrapped under: KMS_KEY_NOT_FOUND, _DISABLED or _INVALID_STATE.
export function usableKey(store: Store, ref: string): KmsKeyRecord {
  const key = keyOrFail(store, ref);
  if (key.state === 'Disabled') fail('KMS_KEY_DISABLED', `KMS key ${key.id} is disabled`);
  if (key.state === 'PendingDeletion')
    fail('KMS_KEY_INVALID_STATE', `KMS key ${key.id} is pending deletion`);
  return key;
}

export function kmsKeySummary(key: KmsKeyRecord): KmsKeySummary {
  const summary: KmsKeySummary = {
    id: key.id,
    description: key.description,
    state: key.state,
    createdAtMs: key.createdAtMs,
    versions: key.versions.length,
  };
  if (key.alias !== undefined) summary.alias = key.alias;
  if (key.deletionDateMs !== undefined) summary.deletionDateMs = key.deletionDateMs;
  return summary;
}

export function listKmsKeys(store: Store): KmsKeyRecord[] {
  const { start, end } = K.kmsKeyRange();
  const keys: KmsKeyRecord[] = [];
  for (const { value } of store.db.getRange({ start, end, limit: KMS_KEYS_MAX }))
    keys.push(value as KmsKeyRecord);
  return keys;
}
