import { StrataError } from '../common/errors.ts';
import { DataClient } from '../data/index.ts';
import type { DataServerInfo, ShardLocation } from '../metadata/types.ts';
import type { MetadataClient } from './metadata-client.ts';

const SERVER_LIST_TTL_MS = 5_000;

// Connections to the data servers the metadata service knows, refreshed every few seconds so that
// newly registered servers become targets without a restart.
export class DataPool {
  private readonly metadata: MetadataClient;
  private readonly clients = new Map<string, { addr: string; client: DataClient }>();
  private servers: DataServerInfo[] = [];
  private fetchedAtMs = 0;

  constructor(metadata: MetadataClient) {
    this.metadata = metadata;
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
      this.clients.set(server.serverId, { addr: server.addr, client: new DataClient(server.addr) });
    }
    return this.servers;
  }

  async targets(): Promise<ShardLocation[]> {
    const servers = await this.refresh();
    return servers.flatMap((s) => s.disks.map((d) => ({ serverId: s.serverId, disk: d.disk })));
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

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((e) => e.client.close()));
    this.clients.clear();
  }
}
