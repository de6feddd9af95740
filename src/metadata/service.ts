import { join } from 'node:path';
import { StrataError } from '../common/errors.ts';
import { DataClient } from '../data/index.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { metadataApplyLatency, metadataCommands } from '../observability/metrics.ts';
import { RpcServer } from '../rpc/index.ts';
import { OrphanScrubber, type ScrubOptions } from './scrubber.ts';
import { MetadataStateMachine } from './state-machine.ts';
import {
  type ClusterConfig,
  type Command,
  METADATA_RPC,
  type MetadataReader,
  type Stripe,
} from './types.ts';

// Reader functions callable over RPC (an allow-list: the method name comes from the network).
const READ_FNS = new Set<keyof MetadataReader>([
  'getattr',
  'lookup',
  'resolvePath',
  'readdir',
  'extents',
  'getBucket',
  'listBuckets',
  'listObjects',
  'getUpload',
  'listParts',
  'listUploads',
  'dataServers',
  'pendingGc',
  'stripeState',
]);

const GC_INTERVAL_MS = 2_000;
const GC_BATCH_STRIPES = 256;

export interface MetadataServiceOptions {
  host: string;
  port: number;
  dataDir: string;
  cluster: ClusterConfig;
  scrub: ScrubOptions;
  log?: Logger;
}

export interface MetadataService {
  host: string;
  port: number;
  stateMachine: MetadataStateMachine;
  close(): Promise<void>;
}

// The metadata service: the state machine behind an RPC listener, plus the garbage collector
// that deletes the shards of stripes no extent references any more.
export async function startMetadataService(
  options: MetadataServiceOptions,
): Promise<MetadataService> {
  const log = options.log ?? silentLogger;
  const stateMachine = MetadataStateMachine.open(join(options.dataDir, 'metadata'));
  const server = new RpcServer({ name: 'metadata', log });
  server.handle(METADATA_RPC.apply, async ({ header }) => {
    const result = applyTimed(stateMachine, header);
    // Acknowledge only what is on disk; concurrent commands share one flush.
    await stateMachine.flushed();
    return { header: result };
  });
  server.handle(METADATA_RPC.read, async ({ header }) => {
    const { fn, args } = header as { fn: keyof MetadataReader; args: unknown[] };
    if (!READ_FNS.has(fn) || !Array.isArray(args))
      throw new StrataError('EINVAL', `no reader function ${fn}`);
    const reader = stateMachine.reader as unknown as Record<string, (...a: unknown[]) => unknown>;
    return { header: { value: reader[fn](...args) ?? null } };
  });
  server.handle(METADATA_RPC.config, async () => ({ header: options.cluster }));
  const bound = await server.listen(options.host, options.port);
  const gc = new ShardCollector(stateMachine, log);
  const scrubber = new OrphanScrubber(stateMachine, log, options.scrub);
  log.info('metadata service listening', { addr: `${bound.host}:${bound.port}` });
  return {
    host: bound.host,
    port: bound.port,
    stateMachine,
    async close() {
      await scrubber.stop();
      await gc.stop();
      await server.close();
      await stateMachine.close();
    },
  };
}

function applyTimed(stateMachine: MetadataStateMachine, command: Command) {
  const stop = metadataApplyLatency.startTimer({ op: command.op });
  const result = stateMachine.apply(command);
  stop();
  metadataCommands.inc({ op: command.op, code: result.ok ? 'ok' : result.code });
  return result;
}

// Deletes the shards of unreferenced stripes, then records that with a gcDone command, so a
// crash between the two only repeats idempotent deletes.
class ShardCollector {
  private readonly stateMachine: MetadataStateMachine;
  private readonly log: Logger;
  private readonly clients = new Map<string, DataClient>();
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;

  constructor(stateMachine: MetadataStateMachine, log: Logger) {
    this.stateMachine = stateMachine;
    this.log = log;
    this.timer = setInterval(() => {
      this.running ??= this.collect()
        .catch((error) => this.log.warn('shard collection failed', { error }))
        .finally(() => {
          this.running = undefined;
        });
    }, GC_INTERVAL_MS);
    this.timer.unref();
  }

  private async collect(): Promise<void> {
    const stripes = this.stateMachine.reader.pendingGc(GC_BATCH_STRIPES);
    if (stripes.length === 0) return;
    const servers = new Map(
      this.stateMachine.reader.dataServers().map((s) => [s.serverId, s.addr]),
    );
    const done: string[] = [];
    for (const stripe of stripes) {
      if (await this.deleteStripe(stripe, servers)) done.push(stripe.id);
    }
    if (done.length > 0) {
      this.stateMachine.apply({ op: 'gcDone', nowMs: Date.now(), stripeIds: done });
      this.log.debug('collected stripes', { count: done.length });
    }
  }

  private async deleteStripe(stripe: Stripe, servers: Map<string, string>): Promise<boolean> {
    try {
      await Promise.all(
        stripe.shards.map((loc, shardIndex) => {
          const addr = servers.get(loc.serverId);
          if (!addr)
            throw new StrataError('RPC_UNAVAILABLE', `unknown data server ${loc.serverId}`);
          let client = this.clients.get(addr);
          if (!client) {
            client = new DataClient(addr);
            this.clients.set(addr, client);
          }
          return client.deleteShards({
            shards: [{ stripeId: stripe.id, shardIndex, disk: loc.disk }],
          });
        }),
      );
      return true;
    } catch (error) {
      this.log.warn('cannot delete stripe shards yet', { stripeId: stripe.id, error });
      return false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }
}
