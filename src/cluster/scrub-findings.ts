// Feeds the repair driver the data servers' scrub findings (data.scrubFindings): each server
// recorded up is asked for the shard files its background scrub found corrupt, and each finding
// is located (server, disk) so the driver counts it only while the stripe still records it there.
import type { MetadataClient } from '../client/metadata-client.ts';
import { DataClient } from '../data/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { LocatedFinding } from './repair-driver.ts';

// A hung server must not hold the repair pass: its findings wait for the next one.
const FINDINGS_TIMEOUT_MS = 5_000;

export class ScrubFindingsSource {
  private readonly metadata: MetadataClient;
  private readonly log: Logger;
  private readonly clients = new Map<string, DataClient>(); // by address

  constructor(metadata: MetadataClient, log: Logger) {
    this.metadata = metadata;
    this.log = log;
  }

  async collect(): Promise<LocatedFinding[]> {
    const servers = (await this.metadata.read('dataServers')).filter((s) => s.state === 'up');
    const replies = await Promise.allSettled(
      servers.map(async (server) => {
        const reply = await this.client(server.addr).scrubFindings(FINDINGS_TIMEOUT_MS);
        return reply.findings.map(
          (f): LocatedFinding => ({
            stripeId: f.stripeId,
            shardIndex: f.shardIndex,
            problem: 'corrupt',
            location: { serverId: server.serverId, disk: f.disk },
          }),
        );
      }),
    );
    return replies.flatMap((reply, i) => {
      if (reply.status === 'fulfilled') return reply.value;
      this.log.warn('could not read a data server scrub findings', {
        serverId: servers[i].serverId,
        error: reply.reason,
      });
      return [];
    });
  }

  private client(addr: string): DataClient {
    let client = this.clients.get(addr);
    if (!client) {
      client = new DataClient(addr);
      this.clients.set(addr, client);
    }
    return client;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}
