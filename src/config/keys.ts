// Every configuration key: its check, its command-line flag if it has one, and what it means.
// This table is the configuration reference: docs/guides/configuration.md's key table is
// generated from it (npm run docs:config) and a test fails when the two differ.

import { DATA_CIPHERS } from '../crypto/shard-seal.ts';
import { placementStrategies } from '../metadata/placement/types.ts';
import { INLINE_MAX_BYTES_LIMIT } from '../metadata/types.ts';
import { LOG_LEVELS } from '../observability/logger.ts';
import {
  type Check,
  isAddress,
  isBool,
  isCredentialList,
  isInt,
  isLabel,
  isOneOf,
  isOptionalAddress,
  isReplicationTargetList,
  isString,
  isStringList,
} from './checks.ts';
import { ROLES } from './schema.ts';

export interface KeySpec {
  key: string; // dotted: section(s), then the key
  check: Check;
  flag?: string; // without the leading dashes
  doc: string; // Markdown, one paragraph
}

// STRATA_<SECTION>_<KEY>: the dotted key in capitals with `_` for `.`, e.g.
// STRATA_METADATA_BIND_ADDR, STRATA_S3_AUTH_ALLOW_ANONYMOUS.
export function envName(key: string): string {
  return `STRATA_${key.replaceAll('.', '_').toUpperCase()}`;
}

// Short names the design gives besides the rule (STRATA_NODE_ID is the rule's own name).
export const EXTRA_ENV: Readonly<Record<string, string>> = {
  STRATA_LOG_LEVEL: 'observability.log_level',
};

const seeOps = (section: string) => `(docs/guides/operations.md, "${section}")`;

export const KEYS: readonly KeySpec[] = [
  {
    key: 'node.id',
    check: isInt(1, 2 ** 31 - 1),
    flag: 'node-id',
    doc: "this node's id, 1 to 2^31-1; the Raft member id of a metadata node (distinct per member, fixed for a data directory)",
  },
  {
    key: 'node.role',
    check: isOneOf(ROLES),
    flag: 'role',
    doc: '`combined` (metadata + data + S3), `metadata`, `data` or `s3`',
  },
  {
    key: 'storage.data_dir',
    check: isString(true),
    flag: 'data-dir',
    doc: "the node's directory: the default disks (`<data_dir>/disks`), generated keys, and the metadata unless `metadata_dir` is set",
  },
  {
    key: 'storage.metadata_dir',
    check: isString(false),
    flag: 'metadata-dir',
    doc: "where a metadata member keeps its Raft log, state machine (LMDB) and snapshots, e.g. on a faster disk than the data's; empty: `data_dir`. Moving it later means moving those files (`metadata*`, `raft-log/`, `snapshots/`) with the node stopped",
  },
  {
    key: 'metadata.bind_addr',
    check: isAddress,
    flag: 'metadata-addr',
    doc: 'the metadata listener; for roles `data` and `s3`, where the metadata service is (give the other members in `raft_peers`)',
  },
  {
    key: 'metadata.advertise_addr',
    check: isOptionalAddress,
    flag: 'metadata-advertise-addr',
    doc: "the address other members and clients are told to reach this member at (its Raft peer address, shown by `strata cluster status`). Empty: `bind_addr`, with a wildcard host (`0.0.0.0`, `[::]`) replaced by this machine's hostname. Port 0 here means the port actually bound. Set it when the bind address is not what others can reach (a wildcard, NAT, a container's own address)",
  },
  {
    key: 'metadata.raft_peers',
    check: isStringList(isAddress),
    flag: 'raft-peers',
    doc: 'metadata addresses (`host:port`, host names allowed, resolved at each connection attempt) of the other members of a new Raft cluster. Empty: a cluster of one. On first start a node waits until every peer answers, logging each peer that does not yet (with the reason, such as a name that does not resolve) at every retry; it learns their node ids, and all form one cluster; afterwards membership lives in the Raft log. For roles `data` and `s3`, more metadata addresses to fail over to',
  },
  {
    key: 'metadata.raft_join',
    check: isBool,
    flag: 'raft-join',
    doc: 'a new metadata node that waits to be added to a running cluster with `strata cluster add-node`',
  },
  {
    key: 'metadata.raft_tick_ms',
    check: isInt(10, 10_000),
    doc: 'Raft clock tick; heartbeats go every tick',
  },
  {
    key: 'metadata.raft_election_ticks',
    check: isInt(3, 1_000),
    doc: "election timeout in ticks (randomised in [t, 2t)): with the defaults a leader's loss is noticed after 1–2 s",
  },
  {
    key: 'metadata.raft_snapshot_log_bytes',
    check: isInt(1024, 64 * 1024 * 1024 * 1024),
    doc: 'when the Raft log after the last snapshot holds this many bytes of entries (times 1 + a per-member offset of up to 50%, so members do not snapshot together; a busy leader waits up to twice as long), the state machine is copied to a snapshot file off the event loop and the log before it dropped; followers too far behind receive the snapshot',
  },
  {
    key: 'metadata.raft_snapshot_chunk_bytes',
    check: isInt(1024, 16 * 1024 * 1024),
    doc: 'InstallSnapshot chunk size: the leader reads one chunk from its snapshot file per round trip and the follower writes it to disk as it arrives (1 KiB to 16 MiB)',
  },
  {
    key: 'metadata.boot_id_file',
    check: isString(false),
    doc: 'the kernel\'s boot id, new at every boot: a member whose state (written without syncs, the Raft log being the durable record) was last written in an earlier boot and not closed cleanly rebuilds it from its last snapshot file and the log, as a power loss or kernel crash may have corrupted it (docs/architecture/raft.md, "Power loss"); empty turns the check off, and a file that cannot be read refuses the start',
  },
  {
    key: 'metadata.scrub_interval_seconds',
    check: isInt(1, 7 * 24 * 3600),
    doc: 'how often the metadata service scans the data servers for orphan shards (left by writes that crashed before committing)',
  },
  {
    key: 'metadata.orphan_grace_seconds',
    check: isInt(1, 30 * 24 * 3600),
    doc: 'orphan shards younger than this are left alone: their write may still be in flight',
  },
  {
    key: 'metadata.min_free_bytes',
    check: isInt(0, 2 ** 50),
    doc: `below this many free bytes on the metadata disk the node raises the NOSPACE alarm: writes refused (S3 507, ENOSPC), reads served, cleared by itself once this much is free ${seeOps('A full metadata disk')}; 0 turns the free-space check off (then only a write failing with ENOSPC raises it)`,
  },
  {
    key: 'metadata.server_down_after_seconds',
    check: isInt(1, 7 * 24 * 3600),
    doc: 'the repair delay: a data server whose heartbeats stopped is `suspect` after about 4.6 s (phi accrual, threshold 8) and `down` once silent this long (its shards are then to be rebuilt; a shorter reboot costs no rebuild). See docs/architecture/healing.md',
  },
  {
    key: 'data.bind_addr',
    check: isAddress,
    flag: 'data-addr',
    doc: 'the data service listener',
  },
  {
    key: 'data.advertise_addr',
    check: isOptionalAddress,
    flag: 'data-advertise-addr',
    doc: 'the address this data server registers, which clients and other servers connect to and `strata cluster status` shows. Empty: `bind_addr`, with a wildcard host replaced by the hostname; port 0 means the port bound',
  },
  {
    key: 'data.repair_port',
    check: isInt(0, 65_535),
    doc: 'the repair port: where this data server\'s peers read its shards for their rebuilds, served by its repair thread at a lower CPU priority than client traffic (docs/architecture/healing.md, "Repair performance"); on the bound host of `bind_addr`, at the advertised address\'s host. 0: any free port, told to peers when they ask. Between hosts, open it as the service port (or set it to a port the firewall admits); a peer that cannot reach it reads the service port instead',
  },
  {
    key: 'data.repair_io_class',
    check: isOneOf(['idle', 'best-effort']),
    doc: "the Linux I/O scheduling class of the repair thread's disk reads (its peers' repair reads of this server and its rebuilds' own): `idle` (ionice -c 3) lets the disk serve client reads first where the device's scheduler honours classes (mq-deadline, bfq; `none` ignores them), and a repair read waits at most the scheduler's aging time (mq-deadline: 10 s) behind them; `best-effort` reads as client reads do. Needs util-linux's `ionice`; without it, best-effort, logged",
  },
  {
    key: 'data.repair_cpu_class',
    check: isOneOf(['idle', 'nice']),
    doc: "the CPU scheduling class of the repair thread (its rebuilds' coding and checksums, and its peers' repair reads of this server): `idle` (SCHED_IDLE, set with util-linux's `chrt`) runs it only on a CPU no other thread wants, so client work on a busy machine is never delayed by it, and a guard puts it back at nice 10 for 30 s whenever it has been starved for 3 s (docs/architecture/healing.md, \"Repair performance\"); `nice` keeps it at nice 10 throughout. Without `chrt`, or without the kernel's schedstat the guard reads, nice 10, logged",
  },
  {
    key: 'data.disks',
    check: isStringList(isString(true)),
    flag: 'disks',
    doc: 'disk directories (flag and variable: a comma list); empty means `disk_count` directories `<data_dir>/disks/d<i>`',
  },
  {
    key: 'data.disk_count',
    check: isInt(1, 256),
    doc: 'how many default disk directories (six, so 4+2 has six independent targets)',
  },
  {
    key: 'data.server_id',
    check: isString(false),
    doc: "the data server's id; empty means `data-<node.id>`",
  },
  {
    key: 'data.heartbeat_interval_ms',
    check: isInt(100, 60_000),
    doc: "how often the data server sends a heartbeat (its disks' capacity, free bytes and health) to the metadata leader, 100 to 60000",
  },
  {
    key: 'data.zone',
    check: isLabel(false),
    doc: 'failure-domain label: the zone (site, data centre) the server is in; registered with the server',
  },
  { key: 'data.rack', check: isLabel(false), doc: 'failure-domain label: the rack' },
  {
    key: 'data.host',
    check: isLabel(true),
    doc: 'failure-domain label: the machine; empty means its hostname. Servers sharing a machine should share this label',
  },
  {
    key: 'data.pool',
    check: isLabel(true),
    doc: 'storage pool label of this server, registered with it: archive storage classes (GLACIER, DEEP_ARCHIVE) place their stripes on the servers labelled `storage_classes.cold_pool`, and on every server when none is (docs/guides/data-protection.md, "Storage classes"). Empty: no pool',
  },
  {
    key: 'data.scrub_bytes_per_second',
    check: isInt(0, 2 ** 40),
    doc: `background scrub rate of this data server (all its disks together, one at a time): every shard file is read whole and its header, identity and block checksums verified at no more than this many bytes per second (16 MiB/s reads 10 TB in about a week); \`0\` turns the scrub off. Corrupt shards are listed by the \`data.scrubFindings\` RPC, logged and counted ${seeOps('Scrubbing')}`,
  },
  {
    key: 'data.scrub_pass_interval_seconds',
    check: isInt(1, 365 * 24 * 3600),
    doc: "a disk's next scrub pass starts this long after its last one started (one week, as Ceph's deep scrub); a pass that takes longer is followed at once by the next",
  },
  { key: 's3.bind_addr', check: isAddress, flag: 's3-addr', doc: 'the S3 gateway listener' },
  {
    key: 's3.region',
    check: isString(true),
    flag: 'region',
    doc: 'the region requests must be signed for, returned by GetBucketLocation',
  },
  {
    key: 's3.virtual_host_domains',
    check: isStringList(isString(true)),
    doc: '`Host: BUCKET.<domain>` selects virtual-host-style addressing',
  },
  {
    key: 's3.max_object_size_bytes',
    check: isInt(1, 5 * 1024 ** 4),
    doc: 'larger PUTs fail with `EntityTooLarge` (default 5 TiB)',
  },
  {
    key: 's3.body_idle_timeout_seconds',
    check: isInt(1, 3600),
    doc: 'a request body from which no byte arrives for this long fails with `400 RequestTimeout` and the connection is closed (as AWS does after about 20 s); the request line and headers must arrive within 70 s',
  },
  {
    key: 's3.tls_cert',
    check: isString(false),
    doc: 'the S3 listener\'s certificate (PEM, the full chain): with `tls_key` the gateway serves HTTPS only. Read at start (a bad file stops the start) and again on SIGHUP, which replaces the certificate for new connections without closing the listener; a bad file at a reload is logged, counted in `strata_s3_tls_reloads_total{outcome="failed"}` and the previous certificate stays (docs/guides/security.md, "HTTPS for S3"). Empty: plain HTTP',
  },
  {
    key: 's3.tls_key',
    check: isString(false),
    doc: 'the private key of `tls_cert` (PEM; refused when readable by all users)',
  },
  {
    key: 's3.sse_c_over_http',
    check: isBool,
    doc: 'accept SSE-C requests (`x-amz-server-side-encryption-customer-key`, which carries the encryption key itself) over plain HTTP from loopback peers (127.0.0.0/8, ::1): a TLS-terminating proxy on the same host, or tests. Off, and from any other peer, SSE-C over plain HTTP is refused with `400 InvalidRequest`, as AWS refuses it (docs/guides/security.md, "SSE-C")',
  },
  {
    key: 's3.auth.allow_anonymous',
    check: isBool,
    doc: 'accept unsigned requests as the anonymous principal. They are then authorized like any other caller, so they can do only what a bucket policy (`Principal: "*"`) or a canned ACL (`public-read`, ...) allows. `false` refuses every unsigned request before any policy is read, like S3\'s Block Public Access',
  },
  {
    key: 's3.auth.credentials',
    check: isCredentialList,
    doc: 'list of `{ access_key_id, secret_key, user_id, admin }` (variable: a TOML inline array). `user_id` (default: the access key id) owns the buckets it creates and is the name bucket policies grant to; `admin = true` (default `false`) may do anything to every bucket, like an account\'s root user. Empty: one administrator pair is generated on first start and kept in `<data_dir>/credentials.json` (mode 0600). Entries sharing a `user_id` are one user with up to two keys; an access key id appears once. These users are applied to the cluster\'s replicated users table when a metadata member starts to lead (keep them the same on every member); more users with `strata user create` (docs/guides/security.md, "Users")',
  },
  {
    key: 'erasure_coding.data_shards',
    check: isInt(1, 255),
    doc: 'k: data shards per stripe',
  },
  {
    key: 'erasure_coding.parity_shards',
    check: isInt(1, 255),
    doc: 'm: parity shards per stripe (k + m ≤ 256; the cluster needs k + m disks)',
  },
  {
    key: 'erasure_coding.shard_size_bytes',
    check: isInt(4096, 64 * 1024 * 1024),
    doc: 'shard size of a full stripe; a stripe holds k × this of file data',
  },
  {
    key: 'erasure_coding.inline_max_bytes',
    check: isInt(0, INLINE_MAX_BYTES_LIMIT),
    doc: 'objects and files up to this size keep their bytes in the replicated metadata instead of in stripes: one Raft commit and no shard files (docs/architecture/overview.md, "Small files inline"). At most 262144 (256 KiB, which bounds Raft entries); `0` turns it off. Never used for SSE-S3 objects or while `encryption.enabled` is on (the bytes would sit in plaintext in the metadata), nor for multipart uploads. Recorded in the cluster like the erasure profile: the first leader\'s value holds',
  },
  {
    key: 'placement.strategy',
    check: isOneOf(placementStrategies),
    doc: 'how shards are placed: `random`, `spread-domains` (over zones, racks, hosts) or `least-loaded` (by free bytes); see docs/architecture/healing.md. Recorded in the cluster; every writer places new stripes with the recorded one',
  },
  {
    key: 'repair.max_concurrent',
    check: isInt(1, 1_000),
    doc: `shards the metadata leader's repair rebuilds at once ${seeOps('Repair')}`,
  },
  {
    key: 'repair.bandwidth_bytes_per_second',
    check: isInt(1024 * 1024, 2 ** 40),
    doc: 'shard bytes repair reads and writes per second (k+1 shards per rebuilt shard), so that it leaves room for clients',
  },
  {
    key: 'lifecycle.debug_day_seconds',
    check: isInt(0, 86_400),
    doc: 'for tests only (as Ceph\'s `rgw_lc_debug_interval`): a lifecycle "day" lasts this many seconds, and due times are not rounded to midnight UTC, so rules with `Days` act within seconds (docs/guides/data-protection.md, "Lifecycle"). Read by the metadata leader\'s lifecycle runner and by the S3 gateway (`x-amz-expiration`); give every node the same value. `0` (the default): a day is 24 hours',
  },
  {
    key: 'lifecycle.restore_delay_seconds_expedited',
    check: isInt(0, 7 * 86_400),
    doc: 'how long a RestoreObject of tier `Expedited` waits (`x-amz-restore: ongoing-request="true"`) before the metadata leader starts its temporary copy; the object is readable once the copy is committed. Read by the S3 gateway',
  },
  {
    key: 'lifecycle.restore_delay_seconds_standard',
    check: isInt(0, 7 * 86_400),
    doc: 'the same for tier `Standard` (the default tier)',
  },
  {
    key: 'lifecycle.restore_delay_seconds_bulk',
    check: isInt(0, 7 * 86_400),
    doc: 'the same for tier `Bulk`',
  },
  {
    key: 'storage_classes.glacier_data_shards',
    check: isInt(1, 255),
    doc: 'k of the GLACIER storage class\'s erasure code. Recorded in the cluster with the erasure profile by the first leader (later changes are reported, not used); docs/guides/data-protection.md, "Storage classes"',
  },
  {
    key: 'storage_classes.glacier_parity_shards',
    check: isInt(1, 255),
    doc: 'm of the GLACIER code (k + m ≤ 256 and the cold pool needs k + m disks)',
  },
  {
    key: 'storage_classes.deep_archive_data_shards',
    check: isInt(1, 255),
    doc: "k of the DEEP_ARCHIVE storage class's code (recorded as the GLACIER one)",
  },
  {
    key: 'storage_classes.deep_archive_parity_shards',
    check: isInt(1, 255),
    doc: 'm of the DEEP_ARCHIVE code',
  },
  {
    key: 'storage_classes.cold_pool',
    check: isLabel(false),
    doc: 'the `data.pool` label whose servers hold GLACIER and DEEP_ARCHIVE stripes (recorded in the cluster); when no registered server carries it, those stripes go on every server',
  },
  {
    key: 'encryption.enabled',
    check: isBool,
    doc: 'encryption at rest: every new stripe gets its own data key, wrapped by the master key of `encryption.key_file`, and its data shards are sealed before erasure coding, so the data directories hold no plaintext (docs/guides/security.md, "Encryption at rest"). Read by the S3 gateway (`combined` and `s3` roles), and by metadata members (`combined` and `metadata` roles), which then store the secret keys of S3 users sealed by the master key (docs/guides/security.md, "Users"). Stripes written before stay readable, and so do encrypted stripes after it is turned off, while the key file is there',
  },
  {
    key: 'encryption.cipher',
    check: isOneOf(DATA_CIPHERS),
    doc: '`aes-256-gcm` (uses AES-NI) or `chacha20-poly1305` (faster without it), for new stripes; each stripe records its own',
  },
  {
    key: 'encryption.key_file',
    check: isString(false),
    doc: 'the master key file (mode 0600, refused otherwise): base64 keys, one per line, the first wraps new data keys. Empty: `<data_dir>/master.key`. A `combined` node creates it at the first start with encryption on; an `s3` gateway or a `metadata` member refuses to start without it (every gateway and metadata member needs a copy of the same file). Back it up apart from the data: without it the data cannot be read. `strata encryption rotate-master-key` replaces the key',
  },
  {
    key: 'observability.metrics_addr',
    check: isOptionalAddress,
    flag: 'metrics-addr',
    doc: 'Prometheus `/metrics` listener; `""` turns it off. Each role exports its own metrics (docs/guides/operations.md, "Metrics")',
  },
  {
    key: 'observability.log_level',
    check: isOneOf(LOG_LEVELS),
    flag: 'log-level',
    doc: '`trace`, `debug`, `info`, `warn` or `error`; logs are JSON lines on stderr',
  },
  {
    key: 'console.addr',
    check: isOptionalAddress,
    doc: "the web console's listener on a metadata member (`combined` or `metadata` role): a read-only dashboard of the cluster's health, servers, disks, repair, Raft members and buckets, after login with an administrator's S3 key pair (docs/guides/operations.md, \"Web console\"). Empty (the default) turns it off: it shows the whole cluster, so it is turned on where it is wanted",
  },
  {
    key: 'tls.ca',
    check: isString(false),
    doc: "the cluster CA certificate (PEM) that signed every member's certificate (`strata cluster certs init`). With `cert` and `key`, every internal connection is TLS 1.3, both ends authenticated (docs/guides/security.md). Empty: no TLS, and internal RPC binds to loopback only, authenticated by the cluster token",
  },
  {
    key: 'tls.cert',
    check: isString(false),
    doc: "this process's certificate (PEM), issued by `strata cluster certs issue NAME --role ROLE`; its role (`metadata`, `data`, `gateway`, `mount`, `admin`) decides which internal calls it may make",
  },
  {
    key: 'tls.key',
    check: isString(false),
    doc: "the certificate's private key (PEM, mode 0600)",
  },
  {
    key: 'tls.token_file',
    check: isString(false),
    doc: 'without TLS: the cluster token, a secret every process on this machine presents on each internal connection. Empty: `<data_dir>/cluster.token`, created (0600) by the first server that starts. Processes with different data directories (a cluster on one machine) share one file through this key',
  },
  {
    key: 'replication.targets',
    check: isReplicationTargetList,
    doc: "bucket replication's remote S3 endpoints, `[[replication.targets]]` tables of `{ name, endpoint, region, access_key_id, secret_key, buckets, strata }` (variable: a TOML inline array). `buckets` lists the destination buckets reached through the target; a replication rule names one as `arn:aws:s3:::BUCKET`. `strata = true` (default `false`): the target is another Strata cluster, and each version keeps its id there (`x-strata-replica-version-id`; the keys need `s3:ReplicateObject` and `s3:ReplicateDelete`). The metadata leader sends with these keys; the secret is never logged (docs/guides/replication.md). Every node of a cluster needs the same list",
  },
];

export const KEY_SPECS: ReadonlyMap<string, KeySpec> = new Map(KEYS.map((k) => [k.key, k]));
