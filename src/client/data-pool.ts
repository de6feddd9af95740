import { isStrataError, StrataError } from '../common/errors.ts';
import { DataClient } from '../data/index.ts';
import type { DataServerInfo, ShardLocation } from '../metadata/types.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { serversAvoided } from '../observability/metrics.ts';
import type { MetadataClient } from './metadata-client.ts';
import { type HealthTransition, ServerHealth } from './server-health.ts';

const SERVER_LIST_TTL_MS = 5_000;
// A server that cannot accept a connection this fast is treated as not answering (a hung
// process whose listen backlog is full, a host that drops packets); reads hedge around it.
const DATA_CONNECT_TIMEOUT_MS = 2_000;

// Errors that say the server did not answer, as opposed to answering with an error of its own
// (a missing or corrupt shard, a full disk): only these count against its health.
const TRANSPORT_FAILURES = new Set(['RPC_UNAVAILABLE', 'RPC_TIMEOUT', 'RPC_CONNECTION_LOST']);

export function isTransportFailure(error: unknown): boolean {
  return isStrataError(error) && TRANSPORT_FAILURES.has(error.code);
}

// Connections to the data servers the metadata service knows, refreshed every few seconds so that
// newly registered servers become targets without a restart, and this client's view of their
// health (server-health.ts), fed by every shard read and write.
export class DataPool {
  private readonly metadata: MetadataClient;
  private readonly clients = new Map<string, { addr: string; client: DataClient }>();
  private servers: DataServerInfo[] = [];
  private fetchedAtMs = 0;
  readonly health: ServerHealth;
  private readonly log: Logger;

  constructor(metadata: MetadataClient, options: { log?: Logger; health?: ServerHealth } = {}) {
    this.metadata = metadata;
    this.log = options.log ?? silentLogger;
    this.health = options.health ?? new ServerHealth();
  }

  async refresh(force = false): Promise<DataServerInfo[]> {
    if (!force && Date.now() - this.fetchedAtMs < SERVER_LIST_TTL_MS && this.servers.length > 0) {
      return this.servers;
    }
    this.servers = await this.metadata.read('dataServers');
    this.fetchedAtMs = Date.now();
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

  async targets(): Promise<ShardLocation[]> {
    const servers = await this.refresh();
    return servers.flatMap((s) => s.disks.map((d) => ({ serverId: s.serverId, disk: d.disk })));
  }

  // The disks of the servers not avoided now, when they are at least `count`; otherwise every
  // disk (the health view must not make a write impossible that the cluster could take).
  async healthyTargets(count: number): Promise<ShardLocation[]> {
    const all = await this.targets();
    const nowMs = Date.now();
    const avoided = new Set(
      [...new Set(all.map((t) => t.serverId))].filter((id) => this.health.shouldAvoid(id, nowMs)),
    );
    const healthy = all.filter((t) => !avoided.has(t.serverId));
    return healthy.length >= count ? healthy : all;
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
  }
}
