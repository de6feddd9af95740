// The configuration: one typed object, built from defaults, then the TOML file, then STRATA_*
// environment variables, then command-line flags (each later source wins). Every key is listed
// in KEYS (src/config/keys.ts) with its check, flag and documentation: that list is the set of
// valid keys and the source of docs/guides/configuration.md (npm run docs:config).

import type { DataCipher } from '../crypto/shard-seal.ts';
import type { PlacementStrategy } from '../metadata/placement/types.ts';
import type { LogLevel } from '../observability/logger.ts';

export type Role = 'combined' | 'metadata' | 'data' | 's3';
export const ROLES: readonly Role[] = ['combined', 'metadata', 'data', 's3'];

export interface CredentialConfig {
  access_key_id: string;
  secret_key: string;
  user_id: string;
  admin: boolean; // bypasses bucket ownership and policies, like an account's root user
}

// A remote S3 endpoint bucket replication sends to (src/cluster/bucket-replication-runner.ts).
// `buckets`: the destination buckets reached through it, which rules name by ARN.
export interface ReplicationTargetConfig {
  name: string;
  endpoint: string;
  region: string;
  access_key_id: string;
  secret_key: string;
  buckets: string[];
  strata?: boolean; // another Strata cluster: versions keep their ids there (default false)
}

export interface StrataConfig {
  node: { id: number; role: Role };
  storage: { data_dir: string; metadata_dir: string };
  metadata: {
    bind_addr: string;
    advertise_addr: string;
    raft_peers: string[];
    raft_tick_ms: number;
    raft_join: boolean;
    raft_snapshot_log_bytes: number;
    raft_snapshot_chunk_bytes: number;
    boot_id_file: string;
    raft_election_ticks: number;
    scrub_interval_seconds: number;
    orphan_grace_seconds: number;
    min_free_bytes: number;
    server_down_after_seconds: number;
  };
  data: {
    bind_addr: string;
    advertise_addr: string;
    repair_port: number;
    repair_io_class: 'idle' | 'best-effort';
    repair_cpu_class: 'idle' | 'nice';
    disks: string[];
    disk_count: number;
    server_id: string;
    heartbeat_interval_ms: number;
    zone: string;
    rack: string;
    host: string;
    pool: string;
    scrub_bytes_per_second: number;
    scrub_pass_interval_seconds: number;
  };
  s3: {
    bind_addr: string;
    region: string;
    virtual_host_domains: string[];
    max_object_size_bytes: number;
    body_idle_timeout_seconds: number;
    tls_cert: string;
    tls_key: string;
    sse_c_over_http: boolean;
    auth: { allow_anonymous: boolean; credentials: CredentialConfig[] };
  };
  erasure_coding: {
    data_shards: number;
    parity_shards: number;
    shard_size_bytes: number;
    inline_max_bytes: number;
  };
  placement: { strategy: PlacementStrategy };
  repair: { max_concurrent: number; bandwidth_bytes_per_second: number };
  lifecycle: {
    debug_day_seconds: number;
    restore_delay_seconds_expedited: number;
    restore_delay_seconds_standard: number;
    restore_delay_seconds_bulk: number;
  };
  storage_classes: {
    glacier_data_shards: number;
    glacier_parity_shards: number;
    deep_archive_data_shards: number;
    deep_archive_parity_shards: number;
    cold_pool: string;
  };
  encryption: { enabled: boolean; cipher: DataCipher; key_file: string };
  observability: { metrics_addr: string; log_level: LogLevel };
  console: { addr: string };
  tls: { ca: string; cert: string; key: string; token_file: string };
  replication: { targets: ReplicationTargetConfig[] };
}

export const DEFAULT_CONFIG: StrataConfig = {
  node: { id: 1, role: 'combined' },
  // Empty metadata_dir: the metadata lives under data_dir, as before the key existed.
  storage: { data_dir: './strata-data', metadata_dir: '' },
  metadata: {
    bind_addr: '127.0.0.1:9000',
    advertise_addr: '',
    raft_peers: [],
    raft_tick_ms: 100,
    raft_join: false,
    raft_snapshot_log_bytes: 64 * 1024 * 1024,
    raft_snapshot_chunk_bytes: 1024 * 1024,
    boot_id_file: '/proc/sys/kernel/random/boot_id',
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
    bind_addr: '127.0.0.1:9001',
    advertise_addr: '',
    repair_port: 0,
    repair_io_class: 'idle',
    repair_cpu_class: 'idle',
    disks: [],
    disk_count: 6,
    server_id: '',
    heartbeat_interval_ms: 1000,
    zone: 'default',
    rack: 'default',
    host: '',
    // Empty: in no pool (the STANDARD class's servers; archive classes use them too when no
    // server is in their pool).
    pool: '',
    scrub_bytes_per_second: 16 * 1024 * 1024,
    scrub_pass_interval_seconds: 7 * 24 * 3600,
  },
  s3: {
    bind_addr: '127.0.0.1:9002',
    region: 'us-east-1',
    virtual_host_domains: ['localhost'],
    max_object_size_bytes: 5 * 1024 ** 4,
    body_idle_timeout_seconds: 20,
    // Empty: plain HTTP (a proxy in front terminates TLS, or the gateway stays on loopback).
    tls_cert: '',
    tls_key: '',
    // SSE-C keys travel only over HTTPS, as on AWS; true lets loopback peers send them in clear.
    sse_c_over_http: false,
    auth: { allow_anonymous: false, credentials: [] },
  },
  // 64 KiB inline: a small object costs one Raft commit instead of k + m shard fsyncs (MinIO
  // inlines under 128 KiB); the Raft entry stays small next to the 1 MiB shards.
  erasure_coding: {
    data_shards: 4,
    parity_shards: 2,
    shard_size_bytes: 1024 * 1024,
    inline_max_bytes: 64 * 1024,
  },
  placement: { strategy: 'spread-domains' },
  // The metadata leader's repair driver: shards rebuilt at once, and the rate of shard bytes it
  // reads and writes (k+1 shards per rebuilt shard), so repair leaves room for clients.
  repair: { max_concurrent: 4, bandwidth_bytes_per_second: 100 * 1024 * 1024 },
  // 0: a lifecycle day is a day, rounded to midnight UTC as AWS does; tests make it seconds.
  // Restore delays: AWS quotes 1-5 minutes (Expedited), 3-5 hours (Standard) and 5-12 hours
  // (Bulk) for GLACIER; Strata's restore has no tape to wait for, so the delay is only the promise
  // the tier makes, kept short by default and seconds in tests.
  lifecycle: {
    debug_day_seconds: 0,
    restore_delay_seconds_expedited: 60,
    restore_delay_seconds_standard: 3 * 3600,
    restore_delay_seconds_bulk: 5 * 3600,
  },
  // Archive classes: wider codes (less overhead: 8+3 stores 1.375 bytes per byte, 10+4 1.4,
  // against 1.5 for 4+2) on servers labelled `data.pool = "cold"`, or on every server when none is.
  storage_classes: {
    glacier_data_shards: 8,
    glacier_parity_shards: 3,
    deep_archive_data_shards: 10,
    deep_archive_parity_shards: 4,
    cold_pool: 'cold',
  },
  // Off: encryption at rest costs CPU on every read and write, and a lost key file loses the
  // data. Empty key_file: <data_dir>/master.key, created at the first start with it on.
  encryption: { enabled: false, cipher: 'aes-256-gcm', key_file: '' },
  observability: { metrics_addr: '127.0.0.1:9090', log_level: 'info' },
  // Off: the console shows the whole cluster to an administrator's key, so an operator turns it
  // on where it is wanted (and several members on one host would collide on a default port).
  console: { addr: '' },
  // Empty: no TLS; internal RPC stays on loopback with the cluster token (docs/guides/security.md).
  tls: { ca: '', cert: '', key: '', token_file: '' },
  // None: buckets can be given a replication configuration only once a target serves them.
  replication: { targets: [] },
};

// The value at a dotted key of a configuration object.
export function valueAt(config: StrataConfig, key: string): unknown {
  let node: unknown = config;
  for (const part of key.split('.')) node = (node as Record<string, unknown>)[part];
  return node;
}

export function setValueAt(config: StrataConfig, key: string, value: unknown): void {
  const path = key.split('.');
  let node = config as unknown as Record<string, unknown>;
  for (const part of path.slice(0, -1)) node = node[part] as Record<string, unknown>;
  node[path[path.length - 1]] = value;
}
