// Users and their S3 access keys, in replicated state (docs/guides/security.md, "Users"). A user
// record ('I' + name) holds its keys with their secrets; an index ('k' + access key id) names the
// key's user, so an access key id belongs to one user only. Every change moves the users
// version, which gateways poll to refresh their copy. Key material comes inside the command
// (made by the CLI or read from a configuration): apply never generates it. A secret is stored
// as the command carries it: sealed by the master key when the leader that proposed it has one
// (src/metadata/user-secrets.ts), else as it is; apply never sees a master key.
import assert from 'node:assert';
import * as K from './keys.ts';
import { fail, type Store } from './store.ts';
import type {
  Command,
  ConfigUser,
  SealedSecret,
  StoredAccessKey,
  UserAccessKey,
  UserRecord,
  UserSecretSeal,
  UserSummary,
} from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

// AWS IAM allows two access keys per user, so a rotation can keep the old one while clients move.
export const KEYS_PER_USER_MAX = 2;
// A bound on the table, and so on what every gateway keeps in memory and reads at each change.
export const USERS_MAX = 1_000;
// IAM user names' characters, plus those of access key ids (a configured user_id defaults to
// its access key id).
const USER_NAME = /^[A-Za-z0-9+/=,.@_:-]{1,128}$/;
const ACCESS_KEY_ID = /^[A-Za-z0-9+/=._-]{3,128}$/; // as s3.auth.credentials accepts
const SECRET_KEY = /^[\x20-\x7e]{8,256}$/; // printable ASCII: it is typed into clients
const MASTER_KEY_ID = /^[0-9a-f]{16}$/;
// A 256-byte secret under AES-KWP: 264 bytes, 352 characters of base64.
const WRAPPED_SECRET = /^[A-Za-z0-9+/]{22,352}={0,2}$/;
export const SECRET_SEALS_PER_COMMAND_MAX = 2 * USERS_MAX;

type SecretOf = { secretKey?: string; sealedSecret?: SealedSecret };

export function isSecretKey(secretKey: unknown): secretKey is string {
  return typeof secretKey === 'string' && SECRET_KEY.test(secretKey);
}
export function createUser(store: Store, c: Op<'createUser'>) {
  checkName(c.name);
  if (typeof c.admin !== 'boolean') fail('EINVAL', 'admin is true or false');
  checkKey(c.accessKeyId, c);
  if (userOf(store, c.name) !== undefined) fail('USER_EXISTS', `user ${c.name} exists`);
  if (countUsers(store) >= USERS_MAX) fail('ENOSPC', `at most ${USERS_MAX} users`);
  refuseKeyOfAnother(store, c.accessKeyId, c.name);
  const user: UserRecord = {
    name: c.name,
    admin: c.admin,
    source: 'cli',
    createdAtMs: c.nowMs,
    keys: [{ accessKeyId: c.accessKeyId, ...secretOf(c), createdAtMs: c.nowMs }],
  };
  putUser(store, user, undefined);
  return { ok: true as const, user: summaryOf(user) };
}

export function deleteUser(store: Store, c: Op<'deleteUser'>) {
  checkName(c.name);
  const user = userOf(store, c.name) ?? fail('NO_SUCH_USER', `no user ${c.name}`);
  if (user.source === 'config')
    fail(
      'USER_FROM_CONFIG',
      `user ${c.name} comes from the configuration (s3.auth.credentials, or a server's ` +
        'generated credentials.json): remove it there on every metadata member and restart ' +
        'the leader; it then becomes a CLI user to delete',
    );
  for (const key of user.keys) store.db.removeSync(K.accessKeyKey(key.accessKeyId));
  store.db.removeSync(K.userKey(c.name));
  store.nextCounter(K.USERS_VERSION_COUNTER, 1);
  return { ok: true as const };
}

export function rotateAccessKey(store: Store, c: Op<'rotateAccessKey'>) {
  checkName(c.name);
  checkKey(c.accessKeyId, c);
  if (typeof c.keepOld !== 'boolean') fail('EINVAL', 'keepOld is true or false');
  const user = userOf(store, c.name) ?? fail('NO_SUCH_USER', `no user ${c.name}`);
  if (user.source === 'config')
    fail(
      'USER_FROM_CONFIG',
      `user ${c.name} comes from s3.auth.credentials: change its keys in the configuration`,
    );
  if (user.keys.some((k) => k.accessKeyId === c.accessKeyId))
    fail('ACCESS_KEY_IN_USE', `access key ${c.accessKeyId} is the user's already`);
  refuseKeyOfAnother(store, c.accessKeyId, c.name);
  const kept = c.keepOld ? user.keys : [];
  if (kept.length + 1 > KEYS_PER_USER_MAX)
    fail(
      'ACCESS_KEY_LIMIT',
      `user ${c.name} has ${KEYS_PER_USER_MAX} access keys, the most a user may hold: rotate ` +
        'without keeping the old key',
    );
  const fresh = { accessKeyId: c.accessKeyId, ...secretOf(c), createdAtMs: c.nowMs };
  const next: UserRecord = { ...user, keys: [...kept, fresh] };
  putUser(store, next, user);
  return { ok: true as const, user: summaryOf(next) };
}

// Checks the whole list before it writes: a refusal has changed nothing.
export function syncConfigUsers(store: Store, c: Op<'syncConfigUsers'>) {
  if (!Array.isArray(c.users) || c.users.length > USERS_MAX)
    fail('EINVAL', `syncConfigUsers takes a list of at most ${USERS_MAX} users`);
  if (typeof c.complete !== 'boolean') fail('EINVAL', 'complete is true or false');
  const owners = new Map<string, string>(); // access key id -> user name, within the list
  for (const u of c.users) checkConfigUser(store, u, owners);
  if (new Set(c.users.map((u) => u.name)).size !== c.users.length)
    fail('EINVAL', 'a user appears twice in syncConfigUsers');
  let changed = false;
  for (const u of c.users) changed = syncOne(store, u, c.nowMs) || changed;
  if (c.complete) {
    const named = new Set(c.users.map((u) => u.name));
    for (const user of allUsers(store)) {
      if (user.source !== 'config' || named.has(user.name)) continue;
      putUser(store, { ...user, source: 'cli' }, user);
      changed = true;
    }
  }
  if (countUsers(store) > USERS_MAX) fail('ENOSPC', `at most ${USERS_MAX} users`);
  return { ok: true as const, changed };
}

function checkConfigUser(store: Store, u: ConfigUser, owners: Map<string, string>): void {
  if (u === null || typeof u !== 'object') fail('EINVAL', 'a configured user is an object');
  checkName(u.name);
  if (typeof u.admin !== 'boolean') fail('EINVAL', 'admin is true or false');
  if (!Array.isArray(u.keys) || u.keys.length === 0 || u.keys.length > KEYS_PER_USER_MAX)
    fail(
      'ACCESS_KEY_LIMIT',
      `user ${u.name} has ${Array.isArray(u.keys) ? u.keys.length : 0} access keys in the ` +
        `configuration; a user holds 1 to ${KEYS_PER_USER_MAX}`,
    );
  for (const key of u.keys) {
    checkKey(key.accessKeyId, key);
    const other = owners.get(key.accessKeyId);
    if (other !== undefined)
      fail('ACCESS_KEY_IN_USE', `access key ${key.accessKeyId} is listed for ${other} already`);
    owners.set(key.accessKeyId, u.name);
    refuseKeyOfAnother(store, key.accessKeyId, u.name);
  }
}

// The user as the configuration says: created, or its admin flag and keys set (a key it had
// keeps its creation time; a changed secret replaces the stored one). Returns whether it changed.
function syncOne(store: Store, u: ConfigUser, nowMs: number): boolean {
  const before = userOf(store, u.name);
  const keys: UserAccessKey[] = u.keys.map((k) => ({
    accessKeyId: k.accessKeyId,
    ...secretOf(k),
    createdAtMs:
      before?.keys.find((old) => old.accessKeyId === k.accessKeyId)?.createdAtMs ?? nowMs,
  }));
  const next: UserRecord = {
    name: u.name,
    admin: u.admin,
    source: 'config',
    createdAtMs: before?.createdAtMs ?? nowMs,
    keys,
  };
  if (before !== undefined && sameUser(before, next)) return false;
  putUser(store, next, before);
  return true;
}

function sameUser(a: UserRecord, b: UserRecord): boolean {
  return (
    a.admin === b.admin &&
    a.source === b.source &&
    a.keys.length === b.keys.length &&
    a.keys.every((k, i) => k.accessKeyId === b.keys[i].accessKeyId && sameSecret(k, b.keys[i]))
  );
}

// Sealing is deterministic (src/crypto/user-secret.ts), so a secret sealed again under the same
// master key compares equal; under another master key it does not, and is stored again.
function sameSecret(a: SecretOf, b: SecretOf): boolean {
  if (a.secretKey !== undefined || b.secretKey !== undefined) return a.secretKey === b.secretKey;
  return (
    a.sealedSecret?.masterKeyId === b.sealedSecret?.masterKeyId &&
    a.sealedSecret?.wrappedSecret === b.sealedSecret?.wrappedSecret
  );
}

// The plaintext secrets sealed, or sealed ones re-sealed under another master key. Everything is
// checked before anything is written: a refusal has changed nothing.
export function sealUserSecrets(store: Store, c: Op<'sealUserSecrets'>) {
  const { keys } = c;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > SECRET_SEALS_PER_COMMAND_MAX)
    fail('EINVAL', `sealUserSecrets takes 1 to ${SECRET_SEALS_PER_COMMAND_MAX} secrets`);
  if (c.usersVersion !== usersVersion(store))
    fail('PRECONDITION_FAILED', 'the users changed since their secrets were read: read again');
  const next = new Map<string, UserRecord>(); // user name -> record with its secrets sealed
  let sealed = 0;
  for (const seal of keys) {
    const changed = sealOne(store, next, seal);
    if (changed) sealed++;
  }
  for (const user of next.values()) store.db.putSync(K.userKey(user.name), user);
  return { ok: true as const, sealed };
}

function sealOne(store: Store, next: Map<string, UserRecord>, seal: UserSecretSeal): boolean {
  if (seal === null || typeof seal !== 'object') fail('EINVAL', 'a sealed secret is an object');
  checkKey(seal.accessKeyId, { sealedSecret: seal.sealedSecret });
  const from = seal.fromMasterKeyId;
  if (from !== null && (typeof from !== 'string' || !MASTER_KEY_ID.test(from)))
    fail('EINVAL', 'fromMasterKeyId is a master key id or null');
  const name =
    (store.db.get(K.accessKeyKey(seal.accessKeyId)) as string | undefined) ??
    fail('NO_SUCH_USER', `no access key ${seal.accessKeyId}`);
  const user = next.get(name) ?? userOf(store, name);
  assert(user !== undefined, `access key ${seal.accessKeyId} has its user`);
  const at = user.keys.findIndex((k) => k.accessKeyId === seal.accessKeyId);
  assert(at >= 0, `user ${name} holds access key ${seal.accessKeyId}`);
  const now = user.keys[at];
  if (sameSecret(now, seal)) return false; // a retry of a seal that committed
  const nowFrom = now.sealedSecret?.masterKeyId ?? null;
  if (nowFrom !== from)
    fail(
      'PRECONDITION_FAILED',
      `the secret of access key ${seal.accessKeyId} is ${nowFrom === null ? 'not sealed' : `sealed by ${nowFrom}`}`,
    );
  const key: UserAccessKey = {
    accessKeyId: now.accessKeyId,
    sealedSecret: seal.sealedSecret,
    createdAtMs: now.createdAtMs,
  };
  next.set(name, { ...user, keys: user.keys.map((k, i) => (i === at ? key : k)) });
  return true;
}

// The secret fields a command carries, exactly one of them (checked by checkKey).
function secretOf(c: SecretOf): SecretOf {
  if (c.sealedSecret !== undefined)
    return {
      sealedSecret: {
        masterKeyId: c.sealedSecret.masterKeyId,
        wrappedSecret: c.sealedSecret.wrappedSecret,
      },
    };
  assert(typeof c.secretKey === 'string', 'a secret, sealed or not');
  return { secretKey: c.secretKey };
}

// Writes the record and its key index (dropping the keys `before` had and `next` has not), and
// moves the users version.
function putUser(store: Store, next: UserRecord, before: UserRecord | undefined): void {
  assert(next.keys.length >= 1 && next.keys.length <= KEYS_PER_USER_MAX, 'keys per user');
  assert(before === undefined || before.name === next.name, 'the same user');
  const kept = new Set(next.keys.map((k) => k.accessKeyId));
  for (const key of before?.keys ?? [])
    if (!kept.has(key.accessKeyId)) store.db.removeSync(K.accessKeyKey(key.accessKeyId));
  for (const key of next.keys) {
    const owner = store.db.get(K.accessKeyKey(key.accessKeyId)) as string | undefined;
    assert(owner === undefined || owner === next.name, `key ${key.accessKeyId} has one user`);
    store.db.putSync(K.accessKeyKey(key.accessKeyId), next.name);
  }
  store.db.putSync(K.userKey(next.name), next);
  store.nextCounter(K.USERS_VERSION_COUNTER, 1);
}

function refuseKeyOfAnother(store: Store, accessKeyId: string, name: string): void {
  const owner = store.db.get(K.accessKeyKey(accessKeyId)) as string | undefined;
  if (owner !== undefined && owner !== name)
    fail('ACCESS_KEY_IN_USE', `access key ${accessKeyId} belongs to another user`);
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !USER_NAME.test(name))
    fail('EINVAL', 'a user name is 1-128 characters of A-Z a-z 0-9 + / = , . @ _ : -');
}

// The secret is never quoted in the message: errors reach logs and terminals.
function checkKey(accessKeyId: unknown, secret: SecretOf): void {
  if (typeof accessKeyId !== 'string' || !ACCESS_KEY_ID.test(accessKeyId))
    fail('EINVAL', 'an access key id is 3-128 characters of A-Z a-z 0-9 + / = . _ -');
  const { secretKey, sealedSecret } = secret;
  if ((secretKey === undefined) === (sealedSecret === undefined))
    fail('EINVAL', 'an access key has one secret, sealed or not');
  if (sealedSecret !== undefined) {
    if (
      sealedSecret === null ||
      typeof sealedSecret !== 'object' ||
      typeof sealedSecret.masterKeyId !== 'string' ||
      !MASTER_KEY_ID.test(sealedSecret.masterKeyId) ||
      typeof sealedSecret.wrappedSecret !== 'string' ||
      !WRAPPED_SECRET.test(sealedSecret.wrappedSecret)
    )
      fail('EINVAL', 'a sealed secret is a master key id and a wrapped secret in base64');
    return;
  }
  if (typeof secretKey !== 'string' || !SECRET_KEY.test(secretKey))
    fail('EINVAL', 'a secret key is 8-256 printable ASCII characters');
}

function userOf(store: Store, name: string): UserRecord | undefined {
  return store.db.get(K.userKey(name)) as UserRecord | undefined;
}

function allUsers(store: Store): UserRecord[] {
  const { start, end } = K.userRange();
  const users: UserRecord[] = [];
  for (const { value } of store.db.getRange({ start, end })) users.push(value as UserRecord);
  return users;
}

function countUsers(store: Store): number {
  const { start, end } = K.userRange();
  return store.db.getKeysCount({ start, end });
}

export function userSummary(store: Store, name: string): UserSummary | undefined {
  if (typeof name !== 'string') return undefined;
  const user = userOf(store, name);
  return user === undefined ? undefined : summaryOf(user);
}

export function summaryOf(user: UserRecord): UserSummary {
  return {
    name: user.name,
    admin: user.admin,
    source: user.source,
    createdAtMs: user.createdAtMs,
    accessKeyIds: user.keys.map((k) => k.accessKeyId),
  };
}

// Readers.
export function listUsers(store: Store): UserSummary[] {
  return allUsers(store).slice(0, USERS_MAX).map(summaryOf);
}

export function usersVersion(store: Store): number {
  return (store.db.get(K.counterKey(K.USERS_VERSION_COUNTER)) as number | undefined) ?? 0;
}

export function accessKeys(store: Store): { version: number; keys: StoredAccessKey[] } {
  // Synchronous reads between two applies (on this one thread) see one state, so the version
  // names exactly these keys.
  const keys = allUsers(store).flatMap((u) => u.keys.map((k) => resolved(u, k)));
  return { version: usersVersion(store), keys };
}

export function accessKey(store: Store, accessKeyId: string): StoredAccessKey | undefined {
  const name = store.db.get(K.accessKeyKey(accessKeyId)) as string | undefined;
  if (name === undefined) return undefined;
  const user = userOf(store, name);
  const key = user?.keys.find((k) => k.accessKeyId === accessKeyId);
  assert(user !== undefined && key !== undefined, `access key ${accessKeyId} has its user`);
  return resolved(user, key);
}

function resolved(user: UserRecord, key: UserAccessKey): StoredAccessKey {
  return { accessKeyId: key.accessKeyId, ...secretOf(key), user: user.name, admin: user.admin };
}
