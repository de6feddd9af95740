import assert from 'node:assert';
import type { BufferPool, Leased } from '../common/buffer-pool.ts';
import { isStrataError, StrataError } from '../common/errors.ts';
import type { AtRest } from '../crypto/index.ts';
import { DataClient } from '../data/index.ts';
import {
  boundedLocalRead,
  diskIdentityAt,
  type LocalDiskState,
  type LocalShardRead,
  type LocalShardReads,
} from '../data/local-shard-reads.ts';
import { ClusterMap, placementServers } from '../metadata/placement/index.ts';
import type { DataServerInfo } from '../metadata/types.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { localShardReads, serversAvoided } from '../observability/metrics.ts';
import type { MetadataClient } from './metadata-client.ts';
import { type HealthTransition, ServerHealth } from './server-health.ts';
import type { PlacementView } from './stripe-placement.ts';

// How stale the client's copy of the server records may get: a server recorded down is skipped
// by writes and reads within this much of the record (a read per client every 2 s is cheap).
export const SERVER_LIST_TTL_MS = 2_000;
// A server that cannot accept a connection this fast is treated as not answering (a hung
// process whose listen backlog is full, a host that drops packets); reads hedge around it.
const DATA_CONNECT_TIMEOUT_MS = 2_000;

// Errors that say the server did not answer, as opposed to answering with an error of its own
// (a missing or corrupt shard, a full disk): only these count against its health.
const TRANSPORT_FAILURES = new Set(['RPC_UNAVAILABLE', 'RPC_TIMEOUT', 'RPC_CONNECTION_LOST']);

export function isTransportFailure(error: unknown): boolean {
  return isStrataError(error) && TRANSPORT_FAILURES.has(error.code);
}

// How long a disk found here (or not) is taken as such before its identity file is read again.
const LOCAL_DISK_CHECK_MS = 30_000;
// Local reads in flight on one disk at most (a stripe's data shards are read at once): a disk
// that hangs takes this many thread-pool threads (64 in strata-mount and strata), no more.
const LOCAL_READS_PER_DISK_MAX = 8;
// A local read not done by then is given up for the server's (which a hedge may race), and the
// disk is read through its server until every read left on it has returned.
const LOCAL_READ_TIMEOUT_MS = 1_000;

interface LocalDisk extends LocalDiskState {
  checking: boolean;
}

const suspectAsUp = (servers: DataServerInfo[]) =>
  servers.map((s) => (s.state === 'suspect' ? { ...s, state: 'up' as const } : s));

// Connections to the data servers the metadata service knows, refreshed every few seconds so that
// newly registered servers become targets without a restart, and this client's view of their
// health (server-health.ts), fed by every shard read and write.
export class DataPool {
  private readonly metadata: MetadataClient;
  private readonly clients = new Map<string, { addr: string; client: DataClient }>();
  private servers: DataServerInfo[] = [];
  private epoch = 0; // the placement epoch `servers` were read at
  private map: ClusterMap | undefined; // built from `servers` when first needed
  private mapWithSuspect: ClusterMap | undefined; // the same, servers recorded suspect as up
  private fetchedAtMs = 0;
  // Per pool: the maps of its servers, built from the records fetched at epochFetchedAtMs.
  private readonly poolMaps = new Map<
    string,
    { epochFetchedAtMs: number; map: ClusterMap; mapWithSuspect?: ClusterMap }
  >();
  readonly health: ServerHealth;
  private readonly log: Logger;
  // The client's master keys (encryption at rest), for the stripes it writes and reads.
  readonly atRest: AtRest | undefined;
  // Reads of shards on this machine's disks, when the client was given them (readLocal).
  private readonly localReads: LocalShardReads | undefined;
  private readonly localDisks = new Map<string, LocalDisk>(); // by path and recorded identity

  constructor(
    metadata: MetadataClient,
    options: {
      log?: Logger;
      health?: ServerHealth;
      atRest?: AtRest;
      localReads?: LocalShardReads;
    } = {},
  ) {
    this.metadata = metadata;
    this.atRest = options.atRest;
    this.localReads = options.localReads;
    this.log = options.log ?? silentLogger;
    this.health = options.health ?? new ServerHealth();
  }

  // `maxAgeMs`: how old a copy may be reused (a writer waiting for a record to change asks for
  // fresher than the TTL).
  async refresh(force = false, maxAgeMs = SERVER_LIST_TTL_MS): Promise<DataServerInfo[]> {
    if (!force && Date.now() - this.fetchedAtMs < maxAgeMs && this.servers.length > 0) {
      return this.servers;
    }
    // Reads that find the copy stale at once (a GET's stripes, fetched ahead in parallel) share
    // one metadata read; a forced refresh asks for its own, started after its caller's cause.
    if (force) return this.fetchView();
    this.refreshing ??= this.fetchView().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private refreshing: Promise<DataServerInfo[]> | undefined;

  private async fetchView(): Promise<DataServerInfo[]> {
    // One read for the records and the epoch they belong to (src/metadata/stripe-placement.ts).
    const view = await this.metadata.read('placementView');
    assert(Number.isSafeInteger(view.epoch) && Array.isArray(view.servers), 'a placement view');
    this.servers = view.servers;
    this.epoch = view.epoch;
    this.map = undefined;
    this.mapWithSuspect = undefined;
    this.fetchedAtMs = Date.now();
    // Every disk is looked for here as soon as it is known, not at its first read (a disk that
    // holds only parity of the stripes read so far would be read through its server at first).
    if (this.localReads !== undefined)
      for (const server of this.servers)
        for (const d of server.disks) if (d.diskId !== undefined) this.localDisk(d.path, d.diskId);
    for (const server of this.servers) {
      const known = this.clients.get(server.serverId);
      if (known && known.addr === server.addr) continue;
      if (known) void known.client.close();
      this.clients.set(server.serverId, {
        addr: server.addr,
        client: new DataClient(server.addr, { connectTimeoutMs: DATA_CONNECT_TIMEOUT_MS }),
      });
    }
    return this.servers;
  }

  // The cluster as the replicated records describe it now (refreshed as above), with the
  // recorded placement strategy, for placing new stripes (stripe-placement.ts).
  async placementView(maxAgeMs = SERVER_LIST_TTL_MS, pool?: string): Promise<PlacementView> {
    await this.refresh(false, maxAgeMs);
    const { strategy } = (await this.metadata.config()).placement;
    // A pool's stripes go on its servers only, or on every server when none carries its label
    // (src/metadata/storage-class.ts); the state machine judges them against the same set.
    const inPool = pool === undefined ? [] : this.servers.filter((s) => s.domain?.pool === pool);
    if (inPool.length > 0) return this.poolView(inPool, strategy, pool as string);
    this.map ??= ClusterMap.of(placementServers(this.servers));
    const suspect = this.servers.some((s) => s.state === 'suspect');
    if (suspect && this.mapWithSuspect === undefined) {
      this.mapWithSuspect = ClusterMap.of(placementServers(suspectAsUp(this.servers)));
    }
    return {
      epoch: this.epoch,
      map: this.map,
      strategy,
      ...(suspect ? { mapWithSuspect: this.mapWithSuspect } : {}),
    };
  }

  private poolView(
    servers: DataServerInfo[],
    strategy: PlacementView['strategy'],
    pool: string,
  ): PlacementView {
    let maps = this.poolMaps.get(pool);
    if (maps === undefined || maps.epochFetchedAtMs !== this.fetchedAtMs) {
      const suspect = servers.some((s) => s.state === 'suspect');
      maps = {
        epochFetchedAtMs: this.fetchedAtMs,
        map: ClusterMap.of(placementServers(servers)),
        ...(suspect
          ? { mapWithSuspect: ClusterMap.of(placementServers(suspectAsUp(servers))) }
          : {}),
      };
      this.poolMaps.set(pool, maps);
    }
    const { map, mapWithSuspect } = maps;
    return {
      epoch: this.epoch,
      map,
      strategy,
      pool,
      ...(mapWithSuspect ? { mapWithSuspect } : {}),
    };
  }

  // Servers this client keeps writes away from now: those its own health view avoids. The
  // cluster's states need no filter here: placement takes only servers recorded up.
  avoidedForWrites(): Set<string> {
    const nowMs = Date.now();
    return new Set(
      this.servers.map((s) => s.serverId).filter((id) => this.health.shouldAvoid(id, nowMs)),
    );
  }

  // Whether the cluster records the server as not answering (suspect or down) or gone: reads
  // ask it only when nothing else can answer, without waiting a hedge delay on it first.
  clusterAvoids(serverId: string): boolean {
    const state = this.servers.find((s) => s.serverId === serverId)?.state;
    return state === 'suspect' || state === 'down' || state === 'removed';
  }

  // For reads: skip the server up front when the cluster or this client's health view says so.
  skipForRead(serverId: string, nowMs: number): boolean {
    return this.clusterAvoids(serverId) || this.health.shouldAvoid(serverId, nowMs);
  }

  async client(serverId: string): Promise<DataClient> {
    let entry = this.clients.get(serverId);
    if (!entry) {
      await this.refresh(true);
      entry = this.clients.get(serverId);
    }
    if (!entry)
      throw new StrataError('RPC_UNAVAILABLE', `data server ${serverId} is not registered`);
    return entry.client;
  }

  // A shard range read from the server's disk directory on this machine, without the server
  // (src/data/local-shard-reads.ts), or undefined where it cannot be: no local reads here, the
  // disk not here (its recorded identity is not the one in the directory), failed, or enough
  // local reads in flight. A read that fails (a shard moved or removed, a bad block, a slow or
  // failing disk) is counted and logged, and the caller asks the server instead.
  readLocal(
    serverId: string,
    disk: number,
    read: Omit<LocalShardRead, 'diskPath'>,
    buffers: BufferPool | undefined,
  ): Promise<Leased> | undefined {
    if (this.localReads === undefined) return undefined;
    const server = this.servers.find((s) => s.serverId === serverId);
    const record = server?.disks.find((d) => d.disk === disk);
    if (record?.diskId === undefined || record.state === 'failed') return undefined;
    const here = this.localDisk(record.path, record.diskId);
    if (!here.here || here.stalled || here.inFlight >= LOCAL_READS_PER_DISK_MAX) return undefined;
    const localReads = this.localReads;
    return boundedLocalRead(
      here,
      () => localReads.read({ ...read, diskPath: record.path }, buffers),
      LOCAL_READ_TIMEOUT_MS,
    ).then(
      (leased) => {
        localShardReads.labels('ok').inc();
        return leased;
      },
      (error: unknown) => {
        // The disk's own trouble sends its reads to its server until it is looked at again
        // (boundedLocalRead): one warning, not one per read.
        localShardReads.labels('fallback').inc();
        this.log.warn('local shard read failed; reading it from its server', {
          serverId,
          disk,
          stripeId: read.stripeId,
          shardIndex: read.shardIndex,
          error,
        });
        throw error;
      },
    );
  }

  // The disk directory's local-read state: whether it holds the disk of this identity, as last
  // found (read again in the background when older than LOCAL_DISK_CHECK_MS; never on this
  // thread: a hung disk must not stall it). Not here until the first answer.
  private localDisk(path: string, diskId: string): LocalDisk {
    const key = `${path}\0${diskId}`;
    let known = this.localDisks.get(key);
    if (known === undefined) {
      known = { here: false, checkedAtMs: 0, checking: false, inFlight: 0, stalled: false };
      this.localDisks.set(key, known);
    }
    if (!known.checking && Date.now() - known.checkedAtMs > LOCAL_DISK_CHECK_MS) {
      const entry = known;
      entry.checking = true;
      void diskIdentityAt(path).then((id) => {
        entry.here = id === diskId;
        entry.checkedAtMs = Date.now();
        entry.checking = false;
      });
    }
    return known;
  }

  // Every shard RPC reports its outcome here: `readLatencyMs` for reads that answered,
  // `error` when the call failed.
  report(serverId: string, readLatencyMs: number | undefined, error?: unknown): void {
    if (error === undefined || !isTransportFailure(error)) {
      const latencyMs = error === undefined ? readLatencyMs : undefined;
      this.transition(serverId, this.health.recordSuccess(serverId, latencyMs));
    } else {
      this.transition(serverId, this.health.recordFailure(serverId, Date.now()), error);
    }
  }

  // The server had not answered when the work finished without it (a hedge won, or a write
  // returned at its quorum): as good as a failure for routing, though the RPC may still succeed.
  reportAbandoned(serverId: string): void {
    this.transition(serverId, this.health.recordFailure(serverId, Date.now()));
  }

  private transition(serverId: string, change: HealthTransition, error?: unknown): void {
    if (change === undefined) return;
    serversAvoided.set(this.health.avoidedServers().length);
    if (change === 'avoided') {
      this.log.warn('data server not answering; routing reads and writes around it', {
        serverId,
        error,
      });
    } else {
      this.log.warn('data server answering again', { serverId });
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((e) => e.client.close()));
    this.clients.clear();
    await this.localReads?.close();
  }
}
