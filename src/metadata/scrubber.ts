import { DataClient } from '../data/data-service.ts';
import type { Logger } from '../observability/logger.ts';
import { orphanShards, staleShards } from '../observability/metrics.ts';
import { mayDeleteShard } from './repair/phases.ts';
import type { Command, CommandResult, MetadataReader } from './types.ts';

const LIST_PAGE = 1000;

export interface ScrubOptions {
  intervalMs: number;
  // Shards younger than this are never touched: they may belong to a write still in progress
  // (a single PUT is at most 5 GiB; its stripes commit when it ends).
  orphanGraceMs: number;
}

// Finds shard files that no stripe of the namespace knows (left by writes that crashed before
// their metadata committed) and deletes them. Runs beside the garbage collector in the metadata
// service, one data server and disk at a time, a page at a time.
// What the background workers need of the metadata service: its reader, a way to commit a
// command through Raft, and whether this node leads (only the leader runs them).
export interface MetadataCommitter {
  reader: MetadataReader;
  apply(command: Command): Promise<CommandResult>;
  isLeader(): boolean;
}

export class OrphanScrubber {
  private readonly stateMachine: MetadataCommitter;
  private readonly log: Logger;
  private readonly options: ScrubOptions;
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(stateMachine: MetadataCommitter, log: Logger, options: ScrubOptions) {
    this.stateMachine = stateMachine;
    this.log = log;
    this.options = options;
    this.timer = setInterval(() => {
      if (!stateMachine.isLeader()) return;
      this.running ??= this.scrub()
        .then(() => undefined)
        .catch((error) => this.log.warn('orphan scrub failed', { error }))
        .finally(() => {
          this.running = undefined;
        });
    }, options.intervalMs);
    this.timer.unref();
  }

  async scrub(): Promise<number> {
    let deleted = 0;
    for (const server of this.stateMachine.reader.dataServers()) {
      // A server that does not answer heartbeats would fail the whole scrub: the others first.
      if (server.state !== 'up' && server.state !== 'draining') continue;
      const client = new DataClient(server.addr);
      try {
        for (const { disk } of server.disks)
          deleted += await this.scrubDisk(client, server.serverId, disk);
      } catch (error) {
        this.log.warn('scrub of a data server failed', { serverId: server.serverId, error });
      } finally {
        await client.close();
      }
    }
    if (deleted > 0) this.log.info('deleted orphan shards', { count: deleted });
    return deleted;
  }

  private async scrubDisk(client: DataClient, serverId: string, disk: number): Promise<number> {
    let deleted = 0;
    let after: string | undefined;
    const olderThanMs = Date.now() - this.options.orphanGraceMs;
    do {
      if (this.stopped) return deleted;
      const page = await client.listShards({ disk, after, limit: LIST_PAGE, olderThanMs });
      const candidates = page.shards.filter(
        (s) => this.stateMachine.reader.stripeState(s.stripeId) === 'unknown',
      );
      // Mark first, in one command: a write that commits later fails instead of pointing at
      // shards this scrub is about to delete.
      const stripeIds = [...new Set(candidates.map((s) => s.stripeId))];
      const result =
        stripeIds.length > 0
          ? await this.stateMachine.apply({ op: 'markOrphans', nowMs: Date.now(), stripeIds })
          : undefined;
      const marked = new Set(result?.ok ? (result.marked ?? []) : []);
      const orphans = candidates.filter((s) => marked.has(s.stripeId));
      if (orphans.length > 0) {
        const shards = orphans.map((s) => ({ ...s, disk }));
        const gone = (await client.deleteShards({ shards, olderThanMs })).deleted;
        orphanShards.inc(gone);
        deleted += gone;
      }
      deleted += await this.deleteStale(client, serverId, disk, page.shards, olderThanMs);
      after = page.next;
    } while (after !== undefined);
    return deleted;
  }

  // Shards of referenced stripes at a location a repair moved them away from: the server was
  // down when its shard was rebuilt elsewhere, and is back. mayDeleteShard is the guard: the
  // committed record must name another location for that shard.
  private async deleteStale(
    client: DataClient,
    serverId: string,
    disk: number,
    shards: ReadonlyArray<{ stripeId: string; shardIndex: number }>,
    olderThanMs: number,
  ): Promise<number> {
    const here = { serverId, disk };
    const reader = this.stateMachine.reader;
    const stale = shards.filter((s) => {
      const relocated = reader.relocatedShards(s.stripeId);
      if (relocated === undefined || reader.stripeState(s.stripeId) !== 'referenced') return false;
      const record = { id: s.stripeId, k: 0, m: 0, shardSizeBytes: 0, shards: relocated };
      return mayDeleteShard(record, s.shardIndex, here);
    });
    if (stale.length === 0) return 0;
    // Only the files the listing saw (older than its bound): one written here since, by a
    // repair that put the shard back after this filter read the record, stays.
    const doomed = stale.map((s) => ({ ...s, disk }));
    const gone = (await client.deleteShards({ shards: doomed, olderThanMs })).deleted;
    staleShards.inc(gone);
    this.log.info('deleted stale shards', { serverId, disk, count: gone });
    return gone;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
