// Prometheus metrics; every name starts with `strata_`. Each metric belongs to the part of Strata
// that sets it, in that part's registry, and a process serves the registries of the roles it
// runs (ROLE_METRICS): a gateway shows no `strata_raft_term 0`, a data server no S3 counters.
import { isMainThread } from 'node:worker_threads';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { shardBuffers } from '../common/buffer-pool.ts';
import { Counter, Histogram } from './hot-metrics.ts';
import { type StallReport, startStallMonitor } from './loop-stall.ts';

export type MetricGroup = 'process' | 'rpc' | 'metadata' | 'data' | 'client' | 's3' | 'fuse';

const processMetrics = new Registry();
const rpcMetrics = new Registry(); // internal RPC servers: metadata members and data servers
const metadataMetrics = new Registry(); // metadata members: Raft, state machine, leader's jobs
const dataMetrics = new Registry(); // data servers
const clientMetrics = new Registry(); // the client library: gateways, mounts, repair, rebuilds
const s3Metrics = new Registry();
const fuseMetrics = new Registry();
// On the main thread only: worker threads (the repair thread, coding and hashing pools) export
// no process metrics, and the event-loop lag histogram's 10 ms timer woke each of them 100 times
// a second for nothing (a repair thread at the idle CPU class then queued for a CPU each time).
if (isMainThread) collectDefaultMetrics({ register: processMetrics, prefix: 'strata_process_' });

// Stalls this process caused (loop-stall.ts): unlike the lag above, the time a loaded host kept
// the loop thread waiting for a CPU does not count. Each scrape reads and restarts the maxima,
// like prom-client's lag histogram. Only metadata members run the monitor (issue 11's stall goal
// is theirs): its 10 ms ticks cost 1-3% of a core per process, measured on an idle one, which a
// gateway, data server or mount should not pay. Elsewhere the two metrics have no samples.
// `onStall` hears of each counted stall (the first caller's; one monitor per process).
let stallMonitor: ReturnType<typeof startStallMonitor> | undefined;
export function monitorEventLoopStalls(onStall?: (report: StallReport) => void): void {
  stallMonitor ??= startStallMonitor({ onStall });
}
new Gauge({
  name: 'strata_process_eventloop_stall_max_seconds',
  help: 'Longest event-loop delay since the last scrape that the process caused (delay minus the time the loop thread waited for a CPU; by="own"), and the most CPU time the loop thread spent between two 10 ms ticks (by="cpu")',
  labelNames: ['by'] as const,
  registers: [processMetrics],
  aggregator: 'max',
  collect() {
    if (stallMonitor === undefined) return;
    const { ownMaxMs, busyMaxMs } = stallMonitor.fold.take();
    this.set({ by: 'own' }, ownMaxMs / 1000);
    this.set({ by: 'cpu' }, busyMaxMs / 1000);
  },
});
let stallsReported = 0;
new Counter({
  name: 'strata_process_eventloop_stalls_total',
  help: 'Event-loop delays of more than 50 ms that the process caused (by="own" above)',
  registers: [processMetrics],
  collect() {
    if (stallMonitor === undefined) return;
    const total = stallMonitor.fold.stallsTotal;
    this.inc(total - stallsReported);
    stallsReported = total;
  },
});

// The process's pool of shard-sized buffers (src/common/buffer-pool.ts, shardBuffers): reuse
// spares the collector (external memory counts towards V8's limits), and buffers handed out that
// keep growing in number are a holder that never gives them back.
const acquiredCounted = { idle: 0, new: 0 };
new Counter({
  name: 'strata_process_shard_buffers_acquired_total',
  help: 'Pooled shard-sized buffers handed out, from="idle" (reused) or from="new" (allocated)',
  labelNames: ['from'] as const,
  registers: [processMetrics],
  collect() {
    const { reused, allocated } = shardBuffers.counts;
    this.inc({ from: 'idle' }, reused - acquiredCounted.idle);
    this.inc({ from: 'new' }, allocated - acquiredCounted.new);
    acquiredCounted.idle = reused;
    acquiredCounted.new = allocated;
  },
});
new Gauge({
  name: 'strata_process_shard_buffers_out',
  help: 'Pooled shard-sized buffers handed out and not given back yet',
  registers: [processMetrics],
  collect() {
    this.set(shardBuffers.counts.out);
  },
});

// A metric defined elsewhere registers in its part's registry: `registers: [METRIC_GROUPS.x]`.
export const METRIC_GROUPS: Readonly<Record<MetricGroup, Registry>> = {
  process: processMetrics,
  rpc: rpcMetrics,
  metadata: metadataMetrics,
  data: dataMetrics,
  client: clientMetrics,
  s3: s3Metrics,
  fuse: fuseMetrics,
};

// What each kind of process exports. A combined node serves metadata and s3 from its own
// process and data from its data process, summed into one page.
export const ROLE_METRICS = {
  metadata: ['process', 'rpc', 'metadata', 'client'],
  data: ['process', 'rpc', 'data', 'client'],
  s3: ['process', 's3', 'client'],
  mount: ['process', 'fuse', 'client'],
} as const satisfies Record<string, readonly MetricGroup[]>;

// One registry over the given groups (each metric once, whichever roles share its group).
export function metricsRegistry(groups: Iterable<MetricGroup>): Registry {
  return Registry.merge([...new Set(groups)].map((g) => METRIC_GROUPS[g]));
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const LATENCY_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export const rpcRequests = new Counter({
  name: 'strata_rpc_requests_total',
  help: 'Internal RPC requests served, by method and outcome code',
  labelNames: ['method', 'code'] as const,
  registers: [rpcMetrics],
});

export const rpcLatency = new Histogram({
  name: 'strata_rpc_request_duration_seconds',
  help: 'Internal RPC request handling time, by method',
  labelNames: ['method'] as const,
  buckets: LATENCY_BUCKETS_S,
  registers: [rpcMetrics],
});

export const shardBytes = new Counter({
  name: 'strata_data_shard_bytes_total',
  help: 'Shard bytes written and read by this data server',
  labelNames: ['direction'] as const,
  registers: [dataMetrics],
});

// The design's two data-server counters: shard reads and writes this server completed (a read
// verified, a write durable). Failed reads are in strata_data_shard_errors_total.
// The data server's repair yield level (src/data/repair-yield.ts): rebuilds it runs at once, 1
// while its clients' reads wait on a lagging event loop, up to 2 per disk when they do not.
export const repairThreadSchedIdle = new Gauge({
  name: 'strata_data_repair_thread_sched_idle',
  help: 'Whether the repair thread runs at the idle CPU class (1) or at its nice value (0)',
  registers: [dataMetrics],
});

export const repairThreadStarved = new Counter({
  name: 'strata_data_repair_thread_starved_total',
  help: 'Times the repair thread was starved at the idle CPU class and put back at its nice value',
  registers: [dataMetrics],
});

export const repairPeerDiskReads = new Counter({
  name: 'strata_data_repair_peer_disk_reads_total',
  help: "Rebuild source reads from a peer's disk on this machine without the peer, by result (ok; fallback: read from the peer instead)",
  labelNames: ['result'] as const,
  registers: [dataMetrics],
});

export const repairYieldLevel = new Gauge({
  name: 'strata_data_repair_yield_level',
  help: 'Repair rebuilds this data server admits at once, as its clients allow (1 to 2 per disk)',
  registers: [dataMetrics],
});

export const dataReads = new Counter({
  name: 'strata_data_reads_total',
  help: 'Shard reads completed (checksums verified) by this data server',
  registers: [dataMetrics],
});

// Shard reads by whether their file was open already (src/data/read-handles.ts).
export const shardReadHandles = new Counter({
  name: 'strata_data_read_handles_total',
  help: 'Shard reads by whether the shard file was opened for them or its open handle reused',
  labelNames: ['outcome'] as const,
  registers: [dataMetrics],
});

// Shard reads done on the event loop's thread rather than the thread pool (src/data/shard-store.ts,
// readInline).
export const shardReadsInline = new Counter({
  name: 'strata_data_reads_inline_total',
  help: 'Shard reads done on the data server event loop thread (small, with no other read in flight)',
  registers: [dataMetrics],
});

export const dataWrites = new Counter({
  name: 'strata_data_writes_total',
  help: 'Shard writes made durable (file and directory fsynced) by this data server',
  registers: [dataMetrics],
});

// Shard writes to a disk that takes direct writes that went through the page cache instead,
// because the staging slab had no room at that moment (src/data/direct-staging.ts).
export const dataWritesUnstaged = new Counter({
  name: 'strata_data_writes_unstaged_total',
  help: 'Shard writes to a direct-write disk that went through the page cache: no room in the staging slab',
  registers: [dataMetrics],
});

// Shard reads whose blocks' CRCs were left to the reader: it authenticates every byte itself
// (an encrypted stripe's sealed chunks, GetShardHeader.readerAuthenticates in src/data/types.ts).
export const shardReadsUnchecked = new Counter({
  name: 'strata_data_reads_reader_authenticated_total',
  help: 'Shard reads served without checking block CRCs, the reader authenticating every byte (encrypted stripes)',
  registers: [dataMetrics],
});

export const shardErrors = new Counter({
  name: 'strata_data_shard_errors_total',
  help: 'Shard reads that failed verification or found no shard, by code',
  labelNames: ['code'] as const,
  registers: [dataMetrics],
});

export const diskFreeBytes = new Gauge({
  name: 'strata_data_disk_free_bytes',
  help: 'Free bytes on each data disk',
  labelNames: ['disk'] as const,
  registers: [dataMetrics],
});

// With the free bytes, what "nearly full" is measured against (alert rules divide the two).
export const diskTotalBytes = new Gauge({
  name: 'strata_data_disk_total_bytes',
  help: 'Size of each data disk (its file system), in bytes',
  labelNames: ['disk'] as const,
  registers: [dataMetrics],
});

export const diskDirectWrites = new Gauge({
  name: 'strata_data_disk_direct_writes',
  help: '1 when shard writes to each data disk go direct (O_DIRECT, past the page cache), 0 when through it',
  labelNames: ['disk'] as const,
  registers: [dataMetrics],
});

export const diskOnline = new Gauge({
  name: 'strata_data_disk_online',
  help: '1 while each data disk answers (statfs succeeds), 0 once it does not',
  labelNames: ['disk'] as const,
  registers: [dataMetrics],
});

// The data server's background scrubber (src/data/shard-scrubber.ts).
export const scrubBytes = new Counter({
  name: 'strata_data_scrub_bytes_total',
  help: 'Shard file bytes read and verified by the background scrubber',
  registers: [dataMetrics],
});

export const scrubCorruptShards = new Counter({
  name: 'strata_data_scrub_corrupt_shards_total',
  help: 'Shards the scrubber found corrupt (each once while it stays corrupt), by reason',
  labelNames: ['reason'] as const,
  registers: [dataMetrics],
});

export const scrubErrors = new Counter({
  name: 'strata_data_scrub_errors_total',
  help: 'Scrub passes of a disk abandoned because its shard directories could not be listed',
  registers: [dataMetrics],
});

export const scrubLastPassCompleted = new Gauge({
  name: 'strata_data_scrub_last_pass_completed_timestamp_seconds',
  help: 'Unix time at which the scrubber last finished verifying every shard of a disk',
  labelNames: ['disk'] as const,
  registers: [dataMetrics],
});

export const metadataCommands = new Counter({
  name: 'strata_metadata_commands_total',
  help: 'Metadata commands applied, by op and result code',
  labelNames: ['op', 'code'] as const,
  registers: [metadataMetrics],
});

// Reads the leader answered, by reader function (an allow-list of about forty): what a client
// operation costs in read barriers (a GET or HEAD is one objectRead).
export const metadataReads = new Counter({
  name: 'strata_metadata_reads_total',
  help: 'Metadata reads answered by the leader, by reader function',
  labelNames: ['fn'] as const,
  registers: [metadataMetrics],
});

// Directories delegated to a mount that another client's call met (EDELEGATED, src/metadata/
// recalls.ts): the leader asked the mount for each, and the caller retried.
export const metadataDelegationRecalls = new Counter({
  name: 'strata_metadata_delegation_recalls_total',
  help: 'Calls refused because they touch a directory delegated to a mount (the mount is asked to give it back; the caller retries), by kind (command, read)',
  labelNames: ['kind'] as const,
  registers: [metadataMetrics],
});

// Calls of mounts and `strata fs` sessions logged in as users that the leader refused
// (src/metadata/namespace-access.ts), by kind (command, read) and by what refused them: an
// explicit Deny of a bucket policy, or no grant (not the owner, no policy Allow, no ACL grant).
export const userAccessRefusals = new Counter({
  name: 'strata_user_access_refusals_total',
  help: 'Calls of mounts and CLI sessions logged in as users refused (EACCES), by kind and by (policy: a bucket policy Deny; grant: nothing grants it)',
  labelNames: ['kind', 'by'] as const,
  registers: [metadataMetrics],
});

export const metadataApplyLatency = new Histogram({
  name: 'strata_metadata_apply_duration_seconds',
  help: 'Time to apply one metadata command durably',
  labelNames: ['op'] as const,
  buckets: LATENCY_BUCKETS_S,
  registers: [metadataMetrics],
});

export const raftTerm = new Gauge({
  name: 'strata_raft_term',
  help: 'Current Raft term of this metadata node',
  registers: [metadataMetrics],
});

export const raftCommit = new Gauge({
  name: 'strata_raft_commit_index',
  help: 'Highest Raft log index known committed on this metadata node',
  registers: [metadataMetrics],
});

export const raftApplied = new Gauge({
  name: 'strata_raft_applied_index',
  help: 'Highest Raft log index applied to the metadata state machine on this node',
  registers: [metadataMetrics],
});

export const raftIsLeader = new Gauge({
  name: 'strata_raft_is_leader',
  help: '1 when this metadata node is the Raft leader',
  registers: [metadataMetrics],
});

export const metadataNoSpaceAlarm = new Gauge({
  name: 'strata_metadata_nospace_alarm',
  help: '1 while the metadata disk is full (NOSPACE alarm: writes refused, reads served)',
  registers: [metadataMetrics],
});

export const raftLeaderChanges = new Counter({
  name: 'strata_raft_leader_changes_total',
  help: 'Times this metadata node saw the leader or its own role change',
  registers: [metadataMetrics],
});

// Users' sealed secrets this metadata member could not unseal when it resolved the access keys
// for gateways and consoles (it lacks the key file, or the master key that sealed them): each
// such key is left out, so its requests get InvalidAccessKeyId. Counted per key each time the
// leader resolves the keys (a gateway's first fetch, and its fetches after the users changed).
export const userSecretUnsealFailures = new Counter({
  name: 'strata_user_secret_unseal_failures_total',
  help: "Users' sealed secrets this metadata member could not unseal (no key file, or not the key that sealed them)",
  registers: [metadataMetrics],
});

// Snapshots this metadata member took of its own state (compacting its log) or installed from
// its leader: how often the state machine is copied, and whether a follower fell behind one.
export const metadataSnapshots = new Counter({
  name: 'strata_metadata_snapshots_total',
  help:
    'Metadata snapshots, by origin: taken (own state copied, log compacted), installed (received ' +
    'from the leader), or overtaken (a copy given up: a received snapshot passed it)',
  labelNames: ['origin'] as const,
  registers: [metadataMetrics],
});

// Starts at which a metadata member found its state written without syncs before a reboot and
// not closed cleanly (a power loss or kernel crash may have corrupted it) and rebuilt it from
// its last snapshot file and the Raft log (src/metadata/replication/state-boot.ts).
export const metadataStateRebuilds = new Counter({
  name: 'strata_metadata_state_rebuilds_total',
  help:
    'Starts at which this metadata member rebuilt its state from its last snapshot and the Raft ' +
    'log: the state was written without syncs before a reboot and not closed cleanly',
  registers: [metadataMetrics],
});

// A gateway's refreshes of its copy of the users' access keys (src/client/access-keys.ts): while
// they fail for more than 2 s, signed requests get 503.
export const s3AccessKeyRefreshes = new Counter({
  name: 'strata_s3_access_key_refreshes_total',
  help: "Refreshes of the gateway's copy of the users' access keys, by result (ok, failed)",
  labelNames: ['result'] as const,
  registers: [s3Metrics],
});

export const s3Requests = new Counter({
  name: 'strata_s3_requests_total',
  help: 'S3 requests, by operation and HTTP status',
  labelNames: ['operation', 'status'] as const,
  registers: [s3Metrics],
});

// Requests refused because a header asked for a behaviour Strata does not provide (the rows of
// src/s3/request-headers.ts, so the label set is bounded): which features clients expect.
export const s3RefusedRequests = new Counter({
  name: 'strata_s3_refused_requests_total',
  help: 'S3 requests refused for a header or parameter asking for an unprovided behaviour',
  labelNames: ['header'] as const,
  registers: [s3Metrics],
});

// SIGHUP reloads of the S3 gateway's certificate and key (src/s3/tls.ts): a failed one leaves
// the old certificate serving until it expires, so it wants an alert.
export const s3TlsReloads = new Counter({
  name: 'strata_s3_tls_reloads_total',
  help: 'Reloads of the S3 HTTPS certificate on SIGHUP, by outcome (reloaded or failed)',
  labelNames: ['outcome'] as const,
  registers: [s3Metrics],
});

export const s3Latency = new Histogram({
  name: 'strata_s3_request_duration_seconds',
  help: 'S3 request time until the response ends, by operation',
  labelNames: ['operation'] as const,
  buckets: LATENCY_BUCKETS_S,
  registers: [s3Metrics],
});

export const s3Bytes = new Counter({
  name: 'strata_s3_bytes_total',
  help: 'Object bytes received and sent by the S3 gateway',
  labelNames: ['direction'] as const,
  registers: [s3Metrics],
});

// S3 Select: bytes read from objects (scanned), after decompression (processed) and sent back as
// records (returned), the Stats figures of each finished query.
export const s3SelectBytes = new Counter({
  name: 'strata_s3_select_bytes_total',
  help: 'S3 Select bytes scanned, processed (decompressed) and returned, by stage',
  labelNames: ['stage'] as const,
  registers: [s3Metrics],
});

export const erasureStripes = new Counter({
  name: 'strata_erasure_stripes_total',
  help: 'Stripes encoded, decoded and reconstructed by the client library',
  labelNames: ['operation'] as const,
  registers: [clientMetrics],
});

export const writePlacementWaits = new Counter({
  name: 'strata_client_write_placement_waits_total',
  help: 'Stripe writes below their quorum that waited for the server records to offer a target',
  labelNames: ['outcome'] as const,
  registers: [clientMetrics],
});

export const dataDamagedReads = new Counter({
  name: 'strata_data_damaged_reads_total',
  help: 'Reads refused because the data is damaged: a stripe lost beyond parity, or an MD5 mismatch',
  labelNames: ['reason'] as const,
  registers: [clientMetrics],
});

export const encryptionAuthFailures = new Counter({
  name: 'strata_client_encryption_auth_failures_total',
  help: 'Reads of encrypted stripes refused because a chunk or a wrapped data key failed authentication',
  labelNames: ['what'] as const,
  registers: [clientMetrics],
});

export const encryptedStripes = new Counter({
  name: 'strata_client_encrypted_stripes_total',
  help: 'Stripes this client sealed (write) and opened (read) with encryption at rest',
  labelNames: ['operation'] as const,
  registers: [clientMetrics],
});

// Small files kept in the metadata (docs/architecture/overview.md, "Small files inline").
export const inlineWrites = new Counter({
  name: 'strata_inline_writes_total',
  help: 'Writes committed with their bytes inline in the metadata (no stripe), by view',
  labelNames: ['view'] as const,
  registers: [clientMetrics],
});

// Shard reads of a mount or gateway straight from a data server's disk on the same machine
// (src/data/local-shard-reads.ts): ok, or given up for the server's RPC (fallback).
export const localShardReads = new Counter({
  name: 'strata_local_shard_reads_total',
  help: 'Shard reads from a data server disk on this machine without the server, by result (ok; fallback: read from the server instead)',
  labelNames: ['result'] as const,
  registers: [clientMetrics],
});

export const inlineReads = new Counter({
  name: 'strata_inline_reads_total',
  help: 'Reads served from inline bytes that came with the extents (no data server asked)',
  registers: [clientMetrics],
});

export const inlineSpills = new Counter({
  name: 'strata_inline_spills_total',
  help: 'Files whose inline bytes were moved into stripes as they grew past the threshold',
  registers: [clientMetrics],
});

export const orphanShards = new Counter({
  name: 'strata_metadata_orphan_shards_deleted_total',
  help: 'Shard files no stripe referenced (left by crashed writes), deleted by the scrubber',
  registers: [metadataMetrics],
});

export const staleShards = new Counter({
  name: 'strata_metadata_stale_shards_deleted_total',
  help: 'Shards left where a repair moved them from (a server back after its shards were rebuilt)',
  registers: [metadataMetrics],
});

export const fuseRequests = new Counter({
  name: 'strata_fuse_requests_total',
  help: 'FUSE requests answered by this mount, by operation and errno (0: success)',
  labelNames: ['op', 'errno'] as const,
  registers: [fuseMetrics],
});

export const fuseLatency = new Histogram({
  name: 'strata_fuse_request_duration_seconds',
  help: 'Time from reading a FUSE request to writing its reply, by operation',
  labelNames: ['op'] as const,
  buckets: LATENCY_BUCKETS_S,
  registers: [fuseMetrics],
});

// Time the mount's event loop polled for the next request instead of sleeping
// (src/fuse/busy-poll.ts): the CPU that --busy-poll-us costs.
export const fuseBusyPollSeconds = new Counter({
  name: 'strata_fuse_busy_poll_seconds_total',
  help: 'Seconds the mount polled for its next request instead of sleeping (--busy-poll-us)',
  registers: [fuseMetrics],
});

export const fuseBusyPollBackoffs = new Counter({
  name: 'strata_fuse_busy_poll_backoffs_total',
  help: 'Times polling stopped for 500 ms because tasks on the machine waited for a CPU while it polled',
  registers: [fuseMetrics],
});

export const fuseBytes = new Counter({
  name: 'strata_fuse_bytes_total',
  help: 'File bytes read and written through the mount',
  labelNames: ['direction'] as const,
  registers: [fuseMetrics],
});

export const fuseDirtyBytes = new Gauge({
  name: 'strata_fuse_dirty_bytes',
  help: 'Bytes written through the mount and not yet committed',
  registers: [fuseMetrics],
});

// Directory listings a mount read for its leases (src/fuse/dir-leases.ts): with the entries'
// attributes or without (a directory whose lookups only missed, as one being filled by creates),
// and how the read ended (ok; too_big: over the lease's entry limit; error: logged at warn).
export const fuseLeaseListings = new Counter({
  name: 'strata_fuse_lease_listings_total',
  help: 'Directory listings read for leases, by whether attributes were read and outcome',
  labelNames: ['attributes', 'outcome'] as const,
  registers: [fuseMetrics],
});

export const fuseInvalidations = new Counter({
  name: 'strata_fuse_invalidations_total',
  help: 'Files whose kernel-cached pages were dropped because another client changed them',
  registers: [fuseMetrics],
});

export const fuseFeedInvalidations = new Counter({
  name: 'strata_fuse_feed_invalidations_total',
  help: "Kernel-cached names (entry) and attributes (attr) dropped because another client's change was reported",
  labelNames: ['kind'] as const,
  registers: [fuseMetrics],
});

export const fuseFeedFailures = new Counter({
  name: 'strata_fuse_feed_failures_total',
  help: "Questions to the metadata service about other clients' changes that failed (logged at warn once per run of failures)",
  registers: [fuseMetrics],
});

export const fuseFeedDrops = new Counter({
  name: 'strata_fuse_feed_drops_total',
  help: 'Times every long-cached name and attribute was dropped, by reason (stale: no answer from the service in time; reset: changes no longer known; lost: changes answered behind were refused)',
  labelNames: ['reason'] as const,
  registers: [fuseMetrics],
});

// Read when scraped, from the mount's change feed (src/fuse/change-feed.ts).
let feedHeldSource: (() => { entry: number; attr: number }) | undefined;
export function reportFeedHeld(source: () => { entry: number; attr: number }): void {
  feedHeldSource = source;
}
new Gauge({
  name: 'strata_fuse_feed_held',
  help: 'Names (entry) and attributes (attr) the kernel may keep for the long validity',
  labelNames: ['kind'] as const,
  registers: [fuseMetrics],
  collect() {
    if (feedHeldSource === undefined) return;
    const held = feedHeldSource();
    this.set({ kind: 'entry' }, held.entry);
    this.set({ kind: 'attr' }, held.attr);
  },
});

export const fuseWriteErrors = new Counter({
  name: 'strata_fuse_write_errors_total',
  help: 'Batches of writes through the mount that could not be stored (their bytes are lost)',
  registers: [fuseMetrics],
});

// Creates and unlinks answered behind that the cluster refused (src/client/write-behind.ts): lost
// without a crash of the mount (its session expired while it was cut off).
export const fuseNamespaceChangesLost = new Counter({
  name: 'strata_fuse_namespace_changes_lost_total',
  help: 'Creates and unlinks this mount answered before they were applied and that the cluster then refused (lost)',
  registers: [fuseMetrics],
});

// Directories delegated to this mount (src/client/write-behind.ts): their creates and unlinks are
// answered by the mount and sent to the cluster behind.
export const fuseHeldDirectories = new Gauge({
  name: 'strata_fuse_held_directories',
  help: 'Directories this mount holds: creates and unlinks there are answered before the cluster applies them',
  registers: [fuseMetrics],
});

// The client library's routing around slow and dead data servers (src/client/server-health.ts).
export const hedgedShardReads = new Counter({
  name: 'strata_client_hedged_reads_total',
  help: 'Extra shard reads issued because a shard read took longer than the hedge delay',
  registers: [clientMetrics],
});

// A read that failed on shards moved away under it (a repair or a rebalance committed a new place
// and deleted the old file while the read held the old record): read again from the new record.
export const stripeReadsRetriedMoved = new Counter({
  name: 'strata_client_moved_stripe_rereads_total',
  help: 'Stripe reads done again from a fresh stripe record, after shards moved during the read',
  registers: [clientMetrics],
});

export const hedgeWins = new Counter({
  name: 'strata_client_hedge_wins_total',
  help: 'Stripe reads finished with a hedged shard read while the slow read was still unanswered',
  registers: [clientMetrics],
});

export const serversAvoided = new Gauge({
  name: 'strata_client_servers_avoided',
  help: 'Data servers this client routes around after repeated failures to answer',
  registers: [clientMetrics],
});

// Cluster membership as the replicated state records it, set by every metadata member
// (src/metadata/cluster-gauges.ts). The two names come from the design.
export const clusterNodesTotal = new Gauge({
  name: 'strata_cluster_nodes_total',
  help: 'Data servers registered and not removed',
  registers: [metadataMetrics],
});

export const clusterNodesOnline = new Gauge({
  name: 'strata_cluster_nodes_online',
  help: 'Data servers up or draining (their heartbeats arrive)',
  registers: [metadataMetrics],
});

export const clusterServerState = new Gauge({
  name: 'strata_cluster_server_state',
  help: '1 for the state each data server is in (up, suspect, down, draining, removed), else 0',
  labelNames: ['server', 'state'] as const,
  registers: [metadataMetrics],
});

export const dataHeartbeatFailures = new Counter({
  name: 'strata_data_heartbeat_failures_total',
  help: 'Heartbeats of this data server that reached no metadata leader, by error code',
  labelNames: ['code'] as const,
  registers: [dataMetrics],
});

// The metadata leader's bucket replication runner (src/cluster/bucket-replication-runner.ts).
export const replicationPending = new Gauge({
  name: 'strata_replication_pending',
  help: 'Object versions queued for bucket replication (FAILED ones, still retried, included)',
  registers: [metadataMetrics],
});

export const replicationBytes = new Counter({
  name: 'strata_replication_bytes_total',
  help: 'Object bytes bucket replication sent to destinations',
  registers: [metadataMetrics],
});

export const replicationFailures = new Counter({
  name: 'strata_replication_failures_total',
  help: 'Failed sends of bucket replication (each one is retried with backoff)',
  registers: [metadataMetrics],
});

export const replicationLag = new Gauge({
  name: 'strata_replication_lag_seconds',
  help: 'Age of the oldest version still queued for bucket replication (0 when none is)',
  registers: [metadataMetrics],
});

// The metadata leader's repair driver (src/cluster/repair-driver.ts).
export const repairQueueLength = new Gauge({
  name: 'strata_repair_queue_length',
  help: 'Shards the last repair plan found to rebuild: tasks running plus shards waiting',
  registers: [metadataMetrics],
});

export const repairBytes = new Counter({
  name: 'strata_repair_bytes_total',
  help: 'Bytes of rebuilt shards written by repair',
  registers: [metadataMetrics],
});

export const repairTasks = new Counter({
  name: 'strata_repair_tasks_total',
  help: 'Repair tasks ended, by outcome (done, failed, refused: the record had moved on)',
  labelNames: ['outcome'] as const,
  registers: [metadataMetrics],
});

export const rebalanceMoves = new Counter({
  name: 'strata_rebalance_moves_total',
  help: 'Shards moved to restore the domain rule or even out disks (fair share), by outcome',
  labelNames: ['outcome'] as const,
  registers: [metadataMetrics],
});

export const rebalanceBytes = new Counter({
  name: 'strata_rebalance_bytes_total',
  help: 'Bytes of shards written by rebalancing moves (domain rule and fair share)',
  registers: [metadataMetrics],
});

export const balanceDisksOutside = new Gauge({
  name: 'strata_balance_disks_outside',
  help: 'Live disks outside the fair-share tolerance at the repair leader last pass',
  registers: [metadataMetrics],
});

export const absentShardsGauge = new Gauge({
  name: 'strata_absent_shards',
  help: 'Shards degraded writes left absent and repair has not rebuilt yet, at the last pass',
  registers: [metadataMetrics],
});

export const degradedStripes = new Gauge({
  name: 'strata_degraded_stripes',
  help: 'Stripes with shards lost or unavailable at the last complete repair pass, by count',
  labelNames: ['missing'] as const,
  registers: [metadataMetrics],
});

// The metadata leader's lifecycle runner (src/metadata/lifecycle/runner.ts).
export const lifecycleObjectsExpired = new Counter({
  name: 'strata_lifecycle_objects_expired_total',
  help: 'Current object versions expired by lifecycle rules (removed, or hidden by a delete marker)',
  registers: [metadataMetrics],
});

export const lifecycleVersionsExpired = new Counter({
  name: 'strata_lifecycle_versions_expired_total',
  help: 'Noncurrent versions and expired delete markers removed for good by lifecycle rules',
  registers: [metadataMetrics],
});

export const lifecycleUploadsAborted = new Counter({
  name: 'strata_lifecycle_uploads_aborted_total',
  help: 'Incomplete multipart uploads aborted by lifecycle rules',
  registers: [metadataMetrics],
});

export const lifecycleSkippedLocked = new Counter({
  name: 'strata_lifecycle_skipped_locked_total',
  help: 'Times a version due to expire was kept because Object Lock holds it (once per pass)',
  registers: [metadataMetrics],
});

export const lifecycleErrors = new Counter({
  name: 'strata_lifecycle_errors_total',
  help: 'Lifecycle commands that failed, and runner passes that stopped on an error',
  registers: [metadataMetrics],
});

// Lifecycle transitions (src/cluster/transition-runner.ts, on the metadata leader): versions
// re-encoded under an archive class's policy, and the shard bytes on disk before and after.
export const lifecycleTransitions = new Counter({
  name: 'strata_lifecycle_transitions_total',
  help: 'Versions a lifecycle transition re-encoded, by storage class and outcome (committed, refused: the version changed or the rules no longer move it, failed)',
  labelNames: ['storage_class', 'outcome'],
  registers: [metadataMetrics],
});

export const lifecycleTransitionShardBytes = new Counter({
  name: 'strata_lifecycle_transition_shard_bytes_total',
  help: 'Shard bytes on disk of the versions transitions committed, before (side="before") and after (side="after") the re-encode',
  labelNames: ['side'],
  registers: [metadataMetrics],
});

// The leader's restore runner (src/cluster/restore-runner.ts): temporary copies of archived
// versions made, and expired ones released.
export const restoreCopies = new Counter({
  name: 'strata_restore_copies_total',
  help: 'Restored copies of archived versions the restore runner made, by outcome (committed, refused: the version changed or no longer waits for it, failed)',
  labelNames: ['outcome'],
  registers: [metadataMetrics],
});

export const restoreCopiesExpired = new Counter({
  name: 'strata_restore_copies_expired_total',
  help: 'Restored copies released after their Days (their stripes queued for collection)',
  registers: [metadataMetrics],
});

// RestoreObject on the S3 gateway, by tier and outcome (started, extended, in_progress: 409,
// invalid_state: 403 on a version that is not archived).
export const restoreRequests = new Counter({
  name: 'strata_restore_requests_total',
  help: 'RestoreObject requests by tier and outcome (started, extended, in_progress, invalid_state)',
  labelNames: ['tier', 'outcome'],
  registers: [s3Metrics],
});

// GETs of archived versions refused because no restore is complete (InvalidObjectState; the
// mount counts its EACCES in strata_fuse_requests_total).
export const restoreReadsRefused = new Counter({
  name: 'strata_restore_reads_refused_total',
  help: 'GETs of archived (GLACIER, DEEP_ARCHIVE) versions refused because they are not restored',
  registers: [s3Metrics],
});

// The metadata leader's background passes (src/cluster/leader-passes.ts): restores, lifecycle
// transitions and bucket replication. A failed pass is retried at the next tick.
export const leaderPassFailures = new Counter({
  name: 'strata_leader_pass_failures_total',
  help: 'Passes of a leader-only background task that failed (retried at its next tick), by task',
  labelNames: ['task'] as const,
  registers: [metadataMetrics],
});
