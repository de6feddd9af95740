// The configuration: one typed object, built from defaults, then the TOML file, then STRATA_*
// environment variables, then command-line flags (each later source wins). Every key is listed
// here with its type and check, so an unknown key or a bad value is an error naming the key and
// where it came from. docs/configuration.md documents the same keys.

import { type PlacementStrategy, placementStrategies } from '../metadata/placement/types.ts';

export type Role = 'combined' | 'metadata' | 'data' | 's3';
export const ROLES: readonly Role[] = ['combined', 'metadata', 'data', 's3'];

export interface CredentialConfig {
  access_key: string;
  secret_key: string;
  user: string;
  admin: boolean; // bypasses bucket ownership and policies, like an account's root user
}

export interface StrataConfig {
  node: { id: number; role: Role; data_dir: string };
  metadata: {
    addr: string;
    raft_peers: string[];
    raft_tick_ms: number;
    raft_join: boolean;
    raft_snapshot_log_bytes: number;
    raft_snapshot_chunk_bytes: number;
    raft_election_ticks: number;
    scrub_interval_seconds: number;
    orphan_grace_seconds: number;
    min_free_bytes: number;
    server_down_after_seconds: number;
  };
  data: {
    addr: string;
    disks: string[];
    disk_count: number;
    server_id: string;
    heartbeat_interval_ms: number;
    zone: string;
    rack: string;
    host: string;
    scrub_bytes_per_second: number;
    scrub_pass_interval_seconds: number;
  };
  s3: {
    addr: string;
    region: string;
    virtual_host_domains: string[];
    max_object_size_bytes: number;
    body_idle_timeout_seconds: number;
    auth: { allow_anonymous: boolean; credentials: CredentialConfig[] };
  };
  erasure: { data_shards: number; parity_shards: number; shard_size_bytes: number };
  placement: { strategy: PlacementStrategy };
  repair: { max_concurrent: number; bandwidth_bytes_per_second: number };
  observability: { metrics_addr: string; log_level: 'debug' | 'info' | 'warn' | 'error' };
  console: { addr: string };
}

export const DEFAULT_CONFIG: StrataConfig = {
  node: { id: 1, role: 'combined', data_dir: './strata-data' },
  metadata: {
    addr: '127.0.0.1:9000',
    raft_peers: [],
    raft_tick_ms: 100,
    raft_join: false,
    raft_snapshot_log_bytes: 64 * 1024 * 1024,
    raft_snapshot_chunk_bytes: 1024 * 1024,
    raft_election_ticks: 10,
    scrub_interval_seconds: 600,
    orphan_grace_seconds: 3600,
    // Room kept for the writes a node makes even when refusing clients' (elections, catching up).
    min_free_bytes: 64 * 1024 * 1024,
    // The repair delay: a server silent this long is down and its shards are to be rebuilt
    // (src/metadata/health/liveness.ts); a shorter reboot costs no rebuild.
    server_down_after_seconds: 60,
  },
  // Empty disks: six directories under <data_dir>/disks, so 4+2 has six independent targets.
  // Empty host: the machine's hostname.
  // Scrub: 16 MiB/s reads a 10 TB server in about a week, the pass interval (Ceph deep-scrubs
  // every placement group weekly too), while taking a small share of one disk's bandwidth.
  data: {
    addr: '127.0.0.1:9001',
    disks: [],
    disk_count: 6,
    server_id: '',
    heartbeat_interval_ms: 1000,
    zone: 'default',
    rack: 'default',
    host: '',
    scrub_bytes_per_second: 16 * 1024 * 1024,
    scrub_pass_interval_seconds: 7 * 24 * 3600,
  },
  s3: {
    addr: '127.0.0.1:9002',
    region: 'us-east-1',
    virtual_host_domains: ['localhost'],
    max_object_size_bytes: 5 * 1024 ** 4,
    body_idle_timeout_seconds: 20,
    auth: { allow_anonymous: false, credentials: [] },
  },
  erasure: { data_shards: 4, parity_shards: 2, shard_size_bytes: 1024 * 1024 },
  placement: { strategy: 'spread-domains' },
  // The metadata leader's repair driver: shards rebuilt at once, and the rate of shard bytes it
  // reads and writes (k+1 shards per rebuilt shard), so repair leaves room for clients.
  repair: { max_concurrent: 4, bandwidth_bytes_per_second: 100 * 1024 * 1024 },
  observability: { metrics_addr: '127.0.0.1:9090', log_level: 'info' },
  // Off: the console shows the whole cluster to an administrator's key, so an operator turns it
  // on where it is wanted (and several members on one host would collide on a default port).
  console: { addr: '' },
};

// A check returns an error message, or undefined when the value is acceptable.
export type Check = (value: unknown) => string | undefined;

const isInt =
  (min: number, max: number): Check =>
  (v) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
      ? undefined
      : `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`;

const isString =
  (nonEmpty: boolean): Check =>
  (v) =>
    typeof v === 'string' && (!nonEmpty || v.length > 0)
      ? undefined
      : `expected a ${nonEmpty ? 'non-empty ' : ''}string, got ${JSON.stringify(v)}`;

const isBool: Check = (v) =>
  typeof v === 'boolean' ? undefined : `expected true or false, got ${JSON.stringify(v)}`;

const isOneOf =
  (choices: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && choices.includes(v)
      ? undefined
      : `expected one of ${choices.join(', ')}, got ${JSON.stringify(v)}`;

// A failure-domain label: 1-128 characters without control characters (empty allowed where
// it means "the default").
const isLabel =
  (emptyAllowed: boolean): Check =>
  (v) =>
    typeof v === 'string' &&
    v.length <= 128 &&
    (v.length > 0 ? /^[^\p{Cc}]+$/u.test(v) : emptyAllowed)
      ? undefined
      : `expected a label of ${emptyAllowed ? '0' : '1'}-128 characters without control characters, got ${JSON.stringify(v)}`;

export const isAddress: Check = (v) => {
  if (typeof v !== 'string') return `expected "host:port", got ${JSON.stringify(v)}`;
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  if (!match || Number(match[2]) > 65535) return `expected "host:port", got ${JSON.stringify(v)}`;
  return undefined;
};

const isStringList =
  (each: Check): Check =>
  (v) => {
    if (!Array.isArray(v)) return `expected a list, got ${JSON.stringify(v)}`;
    for (const [i, item] of v.entries()) {
      const problem = each(item);
      if (problem) return `item ${i}: ${problem}`;
    }
    return undefined;
  };

const isCredentialList: Check = (v) => {
  if (!Array.isArray(v)) return `expected a list of { access_key, secret_key, user }`;
  for (const [i, item] of v.entries()) {
    if (typeof item !== 'object' || item === null) return `item ${i}: expected a table`;
    const keys = Object.keys(item);
    const unknown = keys.find((k) => !['access_key', 'secret_key', 'user', 'admin'].includes(k));
    if (unknown) return `item ${i}: unknown key "${unknown}"`;
    const c = item as Record<string, unknown>;
    if (typeof c.access_key !== 'string' || !/^[A-Za-z0-9+/=._-]{3,128}$/.test(c.access_key)) {
      return `item ${i}: access_key must be 3-128 characters of [A-Za-z0-9+/=._-]`;
    }
    if (typeof c.secret_key !== 'string' || c.secret_key.length < 8) {
      return `item ${i}: secret_key must be a string of at least 8 characters`;
    }
    if (c.user !== undefined && (typeof c.user !== 'string' || c.user.length === 0)) {
      return `item ${i}: user must be a non-empty string`;
    }
    if (c.admin !== undefined && typeof c.admin !== 'boolean') {
      return `item ${i}: admin must be true or false`;
    }
  }
  return undefined;
};

// Dotted key -> check. The set of keys is the set of valid keys.
export const CONFIG_KEYS: Record<string, Check> = {
  'node.id': isInt(1, 2 ** 31 - 1),
  'node.role': isOneOf(ROLES),
  'node.data_dir': isString(true),
  'metadata.addr': isAddress,
  'metadata.raft_peers': isStringList(isAddress),
  'metadata.raft_tick_ms': isInt(10, 10_000),
  'metadata.raft_join': isBool,
  'metadata.raft_snapshot_log_bytes': isInt(1024, 64 * 1024 * 1024 * 1024),
  'metadata.raft_snapshot_chunk_bytes': isInt(1024, 16 * 1024 * 1024),
  'metadata.raft_election_ticks': isInt(3, 1_000),
  'metadata.scrub_interval_seconds': isInt(1, 7 * 24 * 3600),
  'metadata.orphan_grace_seconds': isInt(1, 30 * 24 * 3600),
  'metadata.min_free_bytes': isInt(0, 2 ** 50),
  'metadata.server_down_after_seconds': isInt(1, 7 * 24 * 3600),
  'data.addr': isAddress,
  'data.disks': isStringList(isString(true)),
  'data.disk_count': isInt(1, 256),
  'data.server_id': isString(false),
  'data.heartbeat_interval_ms': isInt(100, 60_000),
  'data.zone': isLabel(false),
  'data.rack': isLabel(false),
  'data.host': isLabel(true),
  'data.scrub_bytes_per_second': isInt(0, 2 ** 40),
  'data.scrub_pass_interval_seconds': isInt(1, 365 * 24 * 3600),
  's3.addr': isAddress,
  's3.region': isString(true),
  's3.virtual_host_domains': isStringList(isString(true)),
  's3.max_object_size_bytes': isInt(1, 5 * 1024 ** 4),
  's3.body_idle_timeout_seconds': isInt(1, 3600),
  's3.auth.allow_anonymous': isBool,
  's3.auth.credentials': isCredentialList,
  'erasure.data_shards': isInt(1, 255),
  'erasure.parity_shards': isInt(1, 255),
  'erasure.shard_size_bytes': isInt(4096, 64 * 1024 * 1024),
  'placement.strategy': isOneOf(placementStrategies),
  'repair.max_concurrent': isInt(1, 1_000),
  'repair.bandwidth_bytes_per_second': isInt(1024 * 1024, 2 ** 40),
  'observability.metrics_addr': (v) => (v === '' ? undefined : isAddress(v)),
  'observability.log_level': isOneOf(['debug', 'info', 'warn', 'error']),
  'console.addr': (v) => (v === '' ? undefined : isAddress(v)),
};
