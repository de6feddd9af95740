import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Registry } from 'prom-client';
import { storedPolicyEvaluator } from '../auth/policy/stored.ts';
import { AccessKeyDirectory } from '../client/access-keys.ts';
import { MetadataClient } from '../client/metadata-client.ts';
import { StrataClient } from '../client/strata-client.ts';
import { advertisedAddr, joinAddr, splitAddr } from '../common/advertise.ts';
import { StrataError } from '../common/errors.ts';
import { ensurePrivateDir } from '../common/private-dir.ts';
import { credentialsPath, loadOrCreateCredentials } from '../config/credentials.ts';
import type { CredentialConfig, Role, StrataConfig } from '../config/schema.ts';
import { loadAtRest } from '../crypto/index.ts';
import { startDataService } from '../data/index.ts';
import { AWS_TIMING } from '../metadata/lifecycle/decide.ts';
import { startMetadataService } from '../metadata/service.ts';
import type { ClusterConfig, LifecycleTiming } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import {
  metricsRegistry,
  monitorEventLoopStalls,
  ROLE_METRICS,
  s3AccessKeyRefreshes,
} from '../observability/metrics.ts';
import { startMetricsServer } from '../observability/metrics-server.ts';
import {
  type PeerRole,
  processRpcSecurity,
  type RpcSecurity,
  serializeSecurity,
  setProcessRpcSecurity,
} from '../rpc/security.ts';
import { rpcSecurityFromConfig } from '../rpc/security-config.ts';
import { createS3Gateway } from '../s3/index.ts';
import type { S3TlsFiles } from '../s3/tls.ts';
import { BucketReplicationRunner } from './bucket-replication-runner.ts';
import { configUsersOf, syncGatewayUsers } from './config-users.ts';
import {
  aggregatedMetrics,
  type DataChild,
  forkDataService,
  type MetricSource,
} from './data-child.ts';
import { prepareDataDir } from './data-dir.ts';
import { startHeartbeats } from './heartbeat.ts';
import { registerDataServer } from './registration.ts';
import { RepairDriver } from './repair-driver.ts';
import { RestoreRunner } from './restore-runner.ts';
import { ScrubFindingsSource } from './scrub-findings.ts';
import { ShardRebuilder } from './shard-rebuilder.ts';
import { TransitionRunner } from './transition-runner.ts';

export interface RunningNode {
  dataChild?: DataChild;
  repairThread?: MetricSource; // a data role's (a combined node's is its data child's)
  metadataAddr?: string;
  metadataAdvertised?: string; // what the other members and `cluster status` see
  dataAddr?: string;
  dataAdvertised?: string;
  dataDisks?: string[];
  s3Endpoint?: string;
  metricsUrl?: string;
  consoleUrl?: string;
  credentials: CredentialConfig[];
  generatedCredentials: boolean; // made at this start (the first): the only time it is shown
  credentialsPath?: string; // where the generated pair is kept, when it is in use
  close(): Promise<void>;
}

export { splitAddr };

// The role a node claims on internal RPC without TLS (with TLS its certificate says).
const PEER_ROLE: Record<Role, PeerRole> = {
  combined: 'metadata',
  metadata: 'metadata',
  data: 'data',
  s3: 'gateway',
};

// A lifecycle day: AWS's (24 h, due times rounded to midnight UTC), or a test's seconds.
function lifecycleTiming(config: StrataConfig): LifecycleTiming {
  const seconds = config.lifecycle.debug_day_seconds;
  return seconds === 0 ? AWS_TIMING : { dayMs: seconds * 1000, roundToMidnight: false };
}

// The archive classes' policies this member records if it is the first leader.
function storageClassPolicies(config: StrataConfig): ClusterConfig['storageClasses'] {
  const c = config.storage_classes;
  const pool = c.cold_pool;
  return {
    GLACIER: { k: c.glacier_data_shards, m: c.glacier_parity_shards, pool },
    DEEP_ARCHIVE: { k: c.deep_archive_data_shards, m: c.deep_archive_parity_shards, pool },
  };
}

// Starts the services of one node for its role; `combined` runs metadata, data and S3 together.
export async function startNode(config: StrataConfig, log: Logger): Promise<RunningNode> {
  const role = config.node.role;
  const dataDir = resolve(config.storage.data_dir);
  prepareDataDir(dataDir, 'storage.data_dir');
  // Before any listener or client: internal RPC never runs without it (docs/guides/security.md).
  setProcessRpcSecurity(
    rpcSecurityFromConfig(config, { role: PEER_ROLE[role], createToken: true }),
  );
  const closers: Array<() => Promise<void>> = [];
  const node: RunningNode = {
    credentials: config.s3.auth.credentials,
    generatedCredentials: false,
    async close() {
      for (const close of closers.reverse())
        await close().catch((error) => log.warn('close failed', { error }));
    },
  };
  try {
    let metadataAddr = config.metadata.bind_addr;
    if (role === 'combined' || role === 'metadata') {
      const { host, port } = splitAddr(config.metadata.bind_addr);
      const metadataDir = config.storage.metadata_dir
        ? resolve(config.storage.metadata_dir)
        : dataDir;
      if (metadataDir !== dataDir) prepareDataDir(metadataDir, 'storage.metadata_dir');
      // Made once the service listens (it talks to it); leadership may come before that.
      let repair: RepairDriver | undefined;
      let replication: BucketReplicationRunner | undefined;
      let transitions: ArchiveRunners | undefined;
      let leading = false;
      const service = await startMetadataService({
        host,
        port,
        advertiseAddr: config.metadata.advertise_addr,
        dataDir: metadataDir,
        raft: {
          nodeId: config.node.id,
          peers: config.metadata.raft_peers,
          join: config.metadata.raft_join,
          snapshotLogBytes: config.metadata.raft_snapshot_log_bytes,
          snapshotChunkBytes: config.metadata.raft_snapshot_chunk_bytes,
          tickMs: config.metadata.raft_tick_ms,
          electionTimeoutTicks: config.metadata.raft_election_ticks,
          bootIdFile: config.metadata.boot_id_file,
        },
        cluster: {
          erasure: {
            k: config.erasure_coding.data_shards,
            m: config.erasure_coding.parity_shards,
            shardSizeBytes: config.erasure_coding.shard_size_bytes,
            inlineMaxBytes: config.erasure_coding.inline_max_bytes,
          },
          placement: { strategy: config.placement.strategy },
          storageClasses: storageClassPolicies(config),
        },
        scrub: {
          intervalMs: config.metadata.scrub_interval_seconds * 1000,
          orphanGraceMs: config.metadata.orphan_grace_seconds * 1000,
        },
        minFreeBytes: config.metadata.min_free_bytes,
        serverDownAfterMs: config.metadata.server_down_after_seconds * 1000,
        lifecycleTiming: lifecycleTiming(config),
        // The gateway's policy evaluator, for the calls of users' mounts and CLI sessions.
        bucketPolicy: storedPolicyEvaluator(),
        onLeadership: (isLeader) => {
          leading = isLeader;
          repair?.leadership(isLeader);
          replication?.leadership(isLeader);
          transitions?.leadership(isLeader);
        },
        repairProgress: () => repair?.progress(),
        configUsers: configUsersOf(leaderCredentials(config, dataDir, node)),
        masterKeys: metadataMasterKeys(config, dataDir, log),
        log: log.child({ service: 'metadata' }),
      });
      closers.push(() => service.close());
      metadataAddr = joinAddr(service.host, service.port);
      node.metadataAddr = metadataAddr;
      node.metadataAdvertised = advertisedAddr(config.metadata.advertise_addr, service, hostname());
      repair = startRepair(config, [metadataAddr, ...config.metadata.raft_peers], closers, log);
      repair.leadership(leading);
      replication = startReplication(
        config,
        dataDir,
        [metadataAddr, ...config.metadata.raft_peers],
        closers,
        log,
      );
      replication?.leadership(leading);
      const peers = [metadataAddr, ...config.metadata.raft_peers];
      transitions = startTransitions(config, dataDir, peers, closers, log);
      transitions.leadership(leading);
    }
    // The data service and the gateway may talk to any member of the metadata cluster: its own
    // address first, then the other members, so they fail over when one stops.
    const metadataAddrs = [metadataAddr, ...config.metadata.raft_peers].join(',');
    if (role === 'combined' || role === 'data')
      await startData(config, dataDir, metadataAddrs, node, closers, log);
    if (role === 'combined' || role === 's3')
      await startS3(config, dataDir, metadataAddrs, node, closers, log);
    if (config.observability.metrics_addr !== '') {
      const { host, port } = splitAddr(config.observability.metrics_addr);
      const children = [node.dataChild, node.repairThread].filter((c) => c !== undefined);
      const registry = roleRegistry(role, log);
      const metrics = await startMetricsServer(host, port, () =>
        aggregatedMetrics(registry, children),
      );
      closers.push(() => new Promise((done) => metrics.server.close(() => done())));
      node.metricsUrl = `http://${host}:${metrics.port}/metrics`;
    }
    if (config.console.addr !== '' && (role === 'combined' || role === 'metadata'))
      await startConsoleOf(config, dataDir, metadataAddr, node, closers, log);
    return node;
  } catch (error) {
    await node.close();
    throw error;
  }
}

// The metrics of the services this process runs; a combined node's data service is its child's.
// A stall over the goal is logged with the collections that ran in it (loop-stall.ts), so a
// benchmark's or an operator's report of one can be told a GC pause or a handler.
function roleRegistry(role: Role, log: Logger): Registry {
  if (role === 'combined' || role === 'metadata')
    monitorEventLoopStalls((report) =>
      log.warn('event loop stalled', {
        ownMs: Math.round(report.ownMs),
        cpuMs: Math.round(report.cpuMs),
        runQueueWaitMs:
          report.runQueueWaitMs === undefined ? undefined : Math.round(report.runQueueWaitMs),
        gcPauses: report.gcPauses,
      }),
    );
  if (role === 'combined') return metricsRegistry([...ROLE_METRICS.metadata, ...ROLE_METRICS.s3]);
  return metricsRegistry(ROLE_METRICS[role]);
}

// The node's S3 key pairs: the configured ones or, when there are none, the pair generated under
// the data directory at the first start (someone must be able to administer the buckets, even on
// a server open to anonymous reads). Loaded once and shared by the gateway and the console.
function credentialsOf(
  config: StrataConfig,
  dataDir: string,
  node: RunningNode,
): CredentialConfig[] {
  const configured = config.s3.auth.credentials;
  if (configured.length > 0) return configured;
  if (node.credentialsPath === undefined) {
    const { credential, created } = loadOrCreateCredentials(dataDir);
    node.credentials = [credential];
    node.generatedCredentials = created;
    node.credentialsPath = credentialsPath(dataDir);
  }
  return node.credentials;
}

// The credentials a metadata member applies to the users table when it leads: its configured
// ones, or the pair generated under its data directory when it serves S3 or a console (a
// metadata-only member without a console has none to add).
function leaderCredentials(
  config: StrataConfig,
  dataDir: string,
  node: RunningNode,
): CredentialConfig[] {
  if (config.node.role === 'combined' || config.console.addr !== '')
    return credentialsOf(config, dataDir, node);
  return config.s3.auth.credentials;
}

// The web console of a metadata member. Its logins are the administrators' S3 key pairs: the
// configured ones, or the pair generated under the data directory (shared with a combined node's
// gateway; on a metadata-only member made here and printed at the first start, as a gateway's).
async function startConsoleOf(
  config: StrataConfig,
  dataDir: string,
  metadataAddr: string,
  node: RunningNode,
  closers: Array<() => Promise<void>>,
  log: Logger,
): Promise<void> {
  const admins = credentialsOf(config, dataDir, node).filter((c) => c.admin);
  if (admins.length === 0)
    throw new StrataError(
      'CONFIG_INVALID',
      'console.addr is set but no credential in s3.auth.credentials is an administrator ' +
        '(admin = true): nobody could log in to the console',
    );
  const { host, port } = splitAddr(config.console.addr);
  const { startConsole } = await import('../console/server.ts');
  const metadataAddrs = [metadataAddr, ...config.metadata.raft_peers];
  const keys = await startAccessKeys(metadataAddrs, closers, log.child({ service: 'console' }));
  const running = await startConsole({
    host,
    port,
    metadataAddrs,
    // Administrators of the users table log in; a deleted key's sessions end with it.
    credentials: (accessKey) => {
      const known = keys.find(accessKey);
      return known?.admin ? known : undefined;
    },
    log: log.child({ service: 'console' }),
  });
  closers.push(() => running.close());
  node.consoleUrl = running.url;
}

// The repair driver of this metadata member; it works only while the member leads.
function startRepair(
  config: StrataConfig,
  metadataAddrs: string[],
  closers: Array<() => Promise<void>>,
  log: Logger,
): RepairDriver {
  const metadata = new MetadataClient(metadataAddrs);
  const repairLog = log.child({ service: 'repair' });
  const findings = new ScrubFindingsSource(metadata, repairLog);
  const driver = new RepairDriver({
    metadata,
    log: repairLog,
    maxConcurrent: config.repair.max_concurrent,
    bandwidthBytesPerSecond: config.repair.bandwidth_bytes_per_second,
    findings: () => findings.collect(),
  });
  // The driver's stop waits for its pass in flight, whose metadata calls retry for up to 30 s
  // while no member leads (this one stopping after its peers): closing the clients at once fails
  // them, so a stop never waits on members that are gone (see closeAfterStop).
  closers.push(() => closeAfterStop(driver.stop(), [findings, metadata]));
  return driver;
}

// Stops a leader-only background task whose stop waits for its pass in flight: the stop has
// begun (no new pass starts), then its clients close, which fails the calls that pass is making
// instead of letting them retry until their deadline. A stopped member's pass ends the way a
// crash would end it (every pass is safe to repeat); a pass that is not stuck has finished its
// call by then or fails it and logs the failure. Without this a metadata member stopped after its
// peers sometimes did not exit within 20 s of SIGTERM (its repair pass retried a read for 30 s).
async function closeAfterStop(
  stopping: Promise<unknown>,
  clients: Array<{ close(): Promise<void> }>,
): Promise<void> {
  // One Promise.all: a stop that fails while the clients close is still handled.
  await Promise.all([stopping, ...clients.map((c) => c.close())]);
}

// Bucket replication's sender on this metadata member, when targets are configured; it works
// only while the member leads. It reads objects as a gateway does (the same key file).
function startReplication(
  config: StrataConfig,
  dataDir: string,
  metadataAddrs: string[],
  closers: Array<() => Promise<void>>,
  log: Logger,
): BucketReplicationRunner | undefined {
  if (config.replication.targets.length === 0) return undefined;
  const keyFile = resolve(config.encryption.key_file || join(dataDir, 'master.key'));
  const createKeyFile = config.node.role === 'combined';
  const { atRest } = loadAtRest({ ...config.encryption, keyFile, createKeyFile });
  const replicationLog = log.child({ service: 'replication' });
  const metadata = new MetadataClient(metadataAddrs);
  const client = new StrataClient({ metadataAddrs, log: replicationLog, atRest });
  const runner = new BucketReplicationRunner({
    metadata,
    client,
    log: replicationLog,
    targets: config.replication.targets.map((t) => ({
      name: t.name,
      endpoint: t.endpoint,
      region: t.region,
      accessKeyId: t.access_key_id,
      secretKey: t.secret_key,
      buckets: t.buckets,
      strata: t.strata ?? false,
    })),
  });
  closers.push(() => closeAfterStop(runner.stop(), [client, metadata]));
  return runner;
}

interface ArchiveRunners {
  leadership(isLeader: boolean): void;
}

// The lifecycle transition runner and the restore runner of this metadata member; they work only
// while the member leads. They read and write objects as a gateway does (the same key file, for
// sealed stripes).
function startTransitions(
  config: StrataConfig,
  dataDir: string,
  metadataAddrs: string[],
  closers: Array<() => Promise<void>>,
  log: Logger,
): ArchiveRunners {
  const keyFile = resolve(config.encryption.key_file || join(dataDir, 'master.key'));
  const createKeyFile = config.node.role === 'combined';
  const { atRest } = loadAtRest({ ...config.encryption, keyFile, createKeyFile });
  const transitionLog = log.child({ service: 'lifecycle', component: 'transitions' });
  const metadata = new MetadataClient(metadataAddrs);
  const client = new StrataClient({ metadataAddrs, log: transitionLog, atRest });
  const runner = new TransitionRunner({
    metadata,
    client,
    timing: lifecycleTiming(config),
    log: transitionLog,
  });
  const restores = new RestoreRunner({
    metadata,
    client,
    timing: lifecycleTiming(config),
    log: log.child({ service: 'lifecycle', component: 'restores' }),
  });
  closers.push(() =>
    closeAfterStop(Promise.all([runner.stop(), restores.stop()]), [client, metadata]),
  );
  return {
    leadership(isLeader: boolean) {
      runner.leadership(isLeader);
      restores.leadership(isLeader);
    },
  };
}

async function startData(
  config: StrataConfig,
  dataDir: string,
  metadataAddr: string,
  node: RunningNode,
  closers: Array<() => Promise<void>>,
  log: Logger,
): Promise<void> {
  const disks =
    config.data.disks.length > 0
      ? config.data.disks.map((d) => resolve(d))
      : Array.from({ length: config.data.disk_count }, (_, i) =>
          resolve(dataDir, 'disks', `d${i}`),
        );
  if (config.data.disks.length === 0) ensurePrivateDir(resolve(dataDir, 'disks'));
  const serverId = config.data.server_id || `data-${config.node.id}`;
  const { host, port } = splitAddr(config.data.bind_addr);
  node.dataDisks = disks;
  const domain = {
    zone: config.data.zone,
    rack: config.data.rack,
    host: config.data.host || hostname(),
    ...(config.data.pool !== '' ? { pool: config.data.pool } : {}),
  };
  const heartbeatIntervalMs = config.data.heartbeat_interval_ms;
  const scrub = {
    bytesPerSecond: config.data.scrub_bytes_per_second,
    passIntervalMs: config.data.scrub_pass_interval_seconds * 1000,
  };
  if (config.node.role === 'combined') {
    // Its own process, so a single node uses a second core for checksums and disk I/O.
    const logLevel = config.observability.log_level;
    const settings = {
      serverId,
      host,
      port,
      advertiseAddr: config.data.advertise_addr,
      repairPort: config.data.repair_port,
      repairIoClass: config.data.repair_io_class,
      repairCpuClass: config.data.repair_cpu_class,
      disks,
      scrub,
      metadataAddr,
      logLevel,
      nodeId: config.node.id,
      domain,
      heartbeatIntervalMs,
      security: serializeSecurity(dataChildSecurity(processRpcSecurity())),
    };
    const child = await forkDataService(settings, log, (code) => {
      log.error('the data service process exited; stopping this node', { code });
      process.exit(1);
    });
    closers.push(() => child.close());
    node.dataChild = child;
    node.dataAddr = child.addr;
    node.dataAdvertised = child.advertised;
    return;
  }
  const rebuilder = new ShardRebuilder(log.child({ service: 'data', component: 'rebuild' }));
  const service = await startDataService({
    serverId,
    host,
    port,
    repairPort: config.data.repair_port,
    repairIoClass: config.data.repair_io_class,
    repairCpuClass: config.data.repair_cpu_class,
    disks,
    scrub,
    log: log.child({ service: 'data' }),
    // As a combined node's data process: this role once dropped the rebuild's `local`, so a
    // standalone data server sent itself a quarter of a rebuild's shard bytes through its own
    // socket (benches/repair runs data servers so).
    ...rebuilder.serviceHooks(),
  });
  closers.push(() => service.close().then(() => rebuilder.close()));
  node.repairThread = rebuilder.thread;
  node.dataAddr = joinAddr(service.host, service.port);
  node.dataAdvertised = advertisedAddr(config.data.advertise_addr, service, hostname());
  const layout = disks.map((path, disk) => ({ disk, path }));
  const registration = { serverId, addr: node.dataAdvertised, disks: layout, domain };
  const register = () => registerDataServer(metadataAddr, registration, log);
  await register();
  const heartbeats = startHeartbeats({
    metadataAddrs: metadataAddr.split(','),
    serverId,
    intervalMs: heartbeatIntervalMs,
    disks: () => service.store.status(),
    register,
    log: log.child({ service: 'heartbeat' }),
  });
  closers.push(() => heartbeats.stop());
}

async function startS3(
  config: StrataConfig,
  dataDir: string,
  metadataAddr: string,
  node: RunningNode,
  closers: Array<() => Promise<void>>,
  log: Logger,
): Promise<void> {
  const credentials = credentialsOf(config, dataDir, node);
  const keyFile = resolve(config.encryption.key_file || join(dataDir, 'master.key'));
  const createKeyFile = config.node.role === 'combined';
  const { atRest, createdKeyFile } = loadAtRest({ ...config.encryption, keyFile, createKeyFile });
  if (createdKeyFile)
    log.warn('created the master key file: back it up apart from the data', { keyFile });
  const client = new StrataClient({
    metadataAddrs: metadataAddr.split(','),
    log: log.child({ service: 'client' }),
    maxObjectSizeBytes: config.s3.max_object_size_bytes,
    atRest,
  });
  closers.push(() => client.close());
  const addrs = metadataAddr.split(',');
  const users = configUsersOf(credentials);
  const syncClient = new MetadataClient(addrs);
  let stopped = false;
  closers.push(() => {
    stopped = true;
    return syncClient.close();
  });
  const s3Log = log.child({ service: 's3' });
  await syncGatewayUsers(
    (u) => syncClient.syncUsers(u),
    users,
    s3Log,
    () => stopped,
  );
  const keys = await startAccessKeys(addrs, closers, s3Log, (ok) =>
    s3AccessKeyRefreshes.inc({ result: ok ? 'ok' : 'failed' }),
  );
  const gateway = createS3Gateway({
    client,
    region: config.s3.region,
    virtualHostDomains: config.s3.virtual_host_domains,
    maxObjectSizeBytes: config.s3.max_object_size_bytes,
    bodyIdleTimeoutMs: config.s3.body_idle_timeout_seconds * 1000,
    tls: s3TlsFiles(config),
    sseCustomerOverHttp: config.s3.sse_c_over_http,
    lifecycleTiming: lifecycleTiming(config),
    restoreDelayMs: {
      Expedited: config.lifecycle.restore_delay_seconds_expedited * 1000,
      Standard: config.lifecycle.restore_delay_seconds_standard * 1000,
      Bulk: config.lifecycle.restore_delay_seconds_bulk * 1000,
    },
    replicationBuckets: config.replication.targets.flatMap((t) => t.buckets),
    log: log.child({ service: 's3' }),
    auth: {
      region: config.s3.region,
      allowAnonymous: config.s3.auth.allow_anonymous,
      maxClockSkewMs: 15 * 60 * 1000,
      // Keys resolve through the cluster's users only (the configured ones are among them).
      credentials: [],
      resolver: keys,
    },
  });
  const { host, port } = splitAddr(config.s3.bind_addr);
  const bound = await gateway.listen(host, port);
  closers.push(() => gateway.close());
  if (gateway.scheme === 'https') {
    // SIGHUP re-reads the certificate (a renewal); without HTTPS it keeps Node's default.
    const reload = () => gateway.reloadTls();
    process.on('SIGHUP', reload);
    closers.push(async () => {
      process.off('SIGHUP', reload);
    });
  }
  const hostText = bound.host.includes(':') ? `[${bound.host}]` : bound.host;
  node.s3Endpoint = `${gateway.scheme}://${hostText}:${bound.port}`;
}

function s3TlsFiles(config: StrataConfig): S3TlsFiles | undefined {
  const { tls_cert, tls_key } = config.s3;
  if (tls_cert === '') return undefined;
  return { certPath: resolve(tls_cert), keyPath: resolve(tls_key) };
}

// The users' access keys, refreshed from the metadata cluster (src/client/access-keys.ts).
async function startAccessKeys(
  metadataAddrs: string[],
  closers: Array<() => Promise<void>>,
  log: Logger,
  onRefresh?: (ok: boolean) => void,
): Promise<AccessKeyDirectory> {
  const metadata = new MetadataClient(metadataAddrs, { timeoutMs: 1_500 });
  const keys = new AccessKeyDirectory(metadata, { log, onRefresh });
  closers.push(async () => {
    keys.close();
    await metadata.close();
  });
  await keys.start();
  return keys;
}

// A combined node's data process is a data server: with the token it claims that role; with TLS
// it presents the node's certificate.
function dataChildSecurity(security: RpcSecurity): RpcSecurity {
  return security.mode === 'token' ? { ...security, role: 'data' } : security;
}

// A metadata member's master keys, for the users' secrets (docs/guides/security.md, "Users"):
// with encryption at rest on it needs the key file (a combined node makes it at the first start,
// a metadata member of a cluster refuses to start without it: any member may lead, and the
// leader seals and unseals the secrets); with it off, the file if there is one, to unseal what
// was sealed while it was on.
function metadataMasterKeys(config: StrataConfig, dataDir: string, log: Logger) {
  const keyFile = resolve(config.encryption.key_file || join(dataDir, 'master.key'));
  const createKeyFile = config.node.role === 'combined';
  const { atRest, createdKeyFile } = loadAtRest({ ...config.encryption, keyFile, createKeyFile });
  if (createdKeyFile)
    log.warn('created the master key file: back it up apart from the data', { keyFile });
  return { ring: atRest?.ring, keyFile, sealNew: atRest?.sealNew ?? false };
}
