// Value checks for configuration keys. A check returns what is wrong, or undefined when the value
// is acceptable; its `kind` says how a flag or environment variable (always a string) becomes a
// value of the right type before the check runs.

export type ValueKind = 'int' | 'string' | 'bool' | 'list' | 'credentials' | 'tables';

export interface Check {
  kind: ValueKind;
  test(value: unknown): string | undefined;
}

const show = (v: unknown) => JSON.stringify(v);

export const isInt = (min: number, max: number): Check => ({
  kind: 'int',
  test: (v) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
      ? undefined
      : `expected an integer from ${min} to ${max}, got ${show(v)}`,
});

export const isString = (nonEmpty: boolean): Check => ({
  kind: 'string',
  test: (v) =>
    typeof v === 'string' && (!nonEmpty || v.length > 0)
      ? undefined
      : `expected a ${nonEmpty ? 'non-empty ' : ''}string, got ${show(v)}`,
});

export const isBool: Check = {
  kind: 'bool',
  test: (v) => (typeof v === 'boolean' ? undefined : `expected true or false, got ${show(v)}`),
};

export const isOneOf = (choices: readonly string[]): Check => ({
  kind: 'string',
  test: (v) =>
    typeof v === 'string' && choices.includes(v)
      ? undefined
      : `expected one of ${choices.join(', ')}, got ${show(v)}`,
});

// A failure-domain label: 1-128 characters without control characters (empty allowed where it
// means "the default").
export const isLabel = (emptyAllowed: boolean): Check => ({
  kind: 'string',
  test: (v) =>
    typeof v === 'string' &&
    v.length <= 128 &&
    (v.length > 0 ? /^[^\p{Cc}]+$/u.test(v) : emptyAllowed)
      ? undefined
      : `expected a label of ${emptyAllowed ? '0' : '1'}-128 characters without control ` +
        `characters, got ${show(v)}`,
});

// host:port, the host an IPv4 address, a bracketed IPv6 address or a DNS name (resolved when
// used, not here: a peer's name may not resolve until its machine is up).
export function addressProblem(v: unknown): string | undefined {
  if (typeof v !== 'string') return `expected "host:port", got ${show(v)}`;
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  if (!match || Number(match[2]) > 65535) return `expected "host:port", got ${show(v)}`;
  return undefined;
}

export const isAddress: Check = { kind: 'string', test: addressProblem };

// An address, or "" for "not set" (the key's documentation says what "" means).
export const isOptionalAddress: Check = {
  kind: 'string',
  test: (v) => (v === '' ? undefined : addressProblem(v)),
};

export const isStringList = (each: Check): Check => ({
  kind: 'list',
  test: (v) => {
    if (!Array.isArray(v)) return `expected a list, got ${show(v)}`;
    for (const [i, item] of v.entries()) {
      const problem = each.test(item);
      if (problem) return `item ${i}: ${problem}`;
    }
    return undefined;
  },
});

const CREDENTIAL_KEYS = ['access_key_id', 'secret_key', 'user_id', 'admin'];

// Runs after the deprecated names (access_key, user) were renamed, so it sees only these.
export const isCredentialList: Check = {
  kind: 'credentials',
  test: (v) => {
    if (!Array.isArray(v)) return 'expected a list of { access_key_id, secret_key, user_id }';
    for (const [i, item] of v.entries()) {
      const problem = credentialProblem(item);
      if (problem) return `item ${i}: ${problem}`;
    }
    return usersProblem(v as Array<{ access_key_id: string; user_id?: string }>);
  },
};

// The rules of the cluster's users table (src/metadata/ops-users.ts), checked at load so that a
// configuration the leader would refuse stops the server with the reason instead.
const KEYS_PER_USER_MAX = 2;
function usersProblem(list: Array<{ access_key_id: string; user_id?: string }>) {
  const keys = new Set<string>();
  const perUser = new Map<string, number>();
  for (const c of list) {
    if (keys.has(c.access_key_id)) return `access_key_id ${c.access_key_id} is listed twice`;
    keys.add(c.access_key_id);
    const user = c.user_id ?? c.access_key_id;
    const count = (perUser.get(user) ?? 0) + 1;
    if (count > KEYS_PER_USER_MAX)
      return `user_id ${user} has more than ${KEYS_PER_USER_MAX} access keys (AWS IAM's limit)`;
    perUser.set(user, count);
  }
  return undefined;
}

function credentialProblem(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'expected a table';
  const unknown = Object.keys(item).find((k) => !CREDENTIAL_KEYS.includes(k));
  if (unknown) return `unknown key "${unknown}" (valid: ${CREDENTIAL_KEYS.join(', ')})`;
  const c = item as Record<string, unknown>;
  if (typeof c.access_key_id !== 'string' || !/^[A-Za-z0-9+/=._-]{3,128}$/.test(c.access_key_id))
    return 'access_key_id must be 3-128 characters of A-Z a-z 0-9 + / = . _ -';
  if (typeof c.secret_key !== 'string' || !/^[\x20-\x7e]{8,256}$/.test(c.secret_key))
    return 'secret_key must be 8-256 printable ASCII characters';
  if (
    c.user_id !== undefined &&
    (typeof c.user_id !== 'string' || !/^[A-Za-z0-9+/=,.@_:-]{1,128}$/.test(c.user_id))
  )
    return 'user_id must be 1-128 characters of A-Z a-z 0-9 + / = , . @ _ : -';
  if (c.admin !== undefined && typeof c.admin !== 'boolean') return 'admin must be true or false';
  return undefined;
}

const TARGET_KEYS = [
  'name',
  'endpoint',
  'region',
  'access_key_id',
  'secret_key',
  'buckets',
  'strata',
];

// Bucket replication's targets ([[replication.targets]]). Problems never show the secret key.
export const isReplicationTargetList: Check = {
  kind: 'tables',
  test: (v) => {
    if (!Array.isArray(v)) return `expected a list of { ${TARGET_KEYS.join(', ')} }`;
    const names = new Set<string>();
    const buckets = new Set<string>();
    for (const [i, item] of v.entries()) {
      const problem = targetProblem(item);
      if (problem) return `item ${i}: ${problem}`;
      const target = item as { name: string; buckets: string[] };
      if (names.has(target.name)) return `item ${i}: the name "${target.name}" appears twice`;
      names.add(target.name);
      for (const bucket of target.buckets) {
        if (buckets.has(bucket)) return `item ${i}: bucket "${bucket}" is served by two targets`;
        buckets.add(bucket);
      }
    }
    return undefined;
  },
};

function targetProblem(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'expected a table';
  const unknown = Object.keys(item).find((k) => !TARGET_KEYS.includes(k));
  if (unknown) return `unknown key "${unknown}" (valid: ${TARGET_KEYS.join(', ')})`;
  const t = item as Record<string, unknown>;
  if (typeof t.name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(t.name))
    return 'name must be 1-64 characters of A-Z a-z 0-9 . _ -';
  if (typeof t.endpoint !== 'string' || !/^https?:\/\/[^\s/]+\/?$/.test(t.endpoint))
    return `endpoint must be an http:// or https:// URL without a path, got ${show(t.endpoint)}`;
  if (typeof t.region !== 'string' || t.region.length === 0) return 'region must be a string';
  if (typeof t.access_key_id !== 'string' || t.access_key_id.length === 0)
    return 'access_key_id must be a non-empty string';
  if (typeof t.secret_key !== 'string' || t.secret_key.length === 0)
    return 'secret_key must be a non-empty string';
  const buckets = t.buckets;
  if (!Array.isArray(buckets) || buckets.length === 0)
    return 'buckets must list the destination buckets the target serves';
  if (!buckets.every((b) => typeof b === 'string' && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(b)))
    return 'buckets must be S3 bucket names';
  if (t.strata !== undefined && typeof t.strata !== 'boolean')
    return 'strata must be true or false';
  return undefined;
}
