// data.rebuildShard's byte work, on the data server that is to hold the rebuilt shard: read the
// stripe from its peers with the client's hedged stripe reader and take the shard asked for, so
// the repair driver on the metadata leader only plans and commits (as Ceph's OSDs recover among
// themselves). It lives here, not in src/data, because the stripe reader is in src/client, a
// layer above the data service; the data process (data-process.ts) hands it to the service.
//
// The rebuilds of a repair are spread over every surviving server, each its own process. Only
// the shard asked for is coded, straight from the k shards read (readStripeShard): no
// stripe-sized buffers, and the reads and the coded shard in pooled shared memory
// (repairBuffers), given back once the shard is written. The coding and the new file's block
// checksums run on the server's repair thread, at a lower CPU priority (repair-thread.ts).
import { isTransportFailure } from '../client/data-pool.ts';
import { ServerHealth } from '../client/server-health.ts';
import { readStripeShard, type ShardSource, type StripeReadPool } from '../client/stripe-read.ts';
import { repairBuffers } from '../common/buffer-pool.ts';
import { StrataError } from '../common/errors.ts';
import {
  DataClient,
  type DataServiceOptions,
  type LocalShards,
  type RebuiltShard,
} from '../data/data-service.ts';
import type { RebuildShardHeader } from '../data/types.ts';
import type { Stripe } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { RepairThread } from './repair-thread.ts';

// A peer that cannot accept a connection this fast is treated as not answering (as DataPool).
const PEER_CONNECT_TIMEOUT_MS = 2_000;
// Connections kept to peers, by address; beyond this the oldest is closed (addresses change only
// when a server moves, so this is a bound, not a working size).
const PEER_CONNECTIONS_MAX = 1_024;

export class ShardRebuilder {
  private readonly log: Logger;
  private readonly peers = new Map<string, DataClient>(); // by address, oldest first
  // This server's view of its peers' health, fed by every rebuild's reads: a hung peer is
  // hedged around, then avoided, as a client's reads do.
  readonly health = new ServerHealth();
  readonly thread: RepairThread;

  constructor(log: Logger) {
    this.log = log;
    this.thread = new RepairThread(log);
  }

  // The shard's bytes (shardSizeBytes of them), from the stripe's other shards, in a buffer the
  // caller releases once written (a pooled one: src/common/buffer-pool.ts). `local`: this
  // server's own shards, read from its disk rather than over the network, and asked first
  // (required, so that a data service wired without it fails to compile rather than sending
  // itself its own shards over loopback).
  async rebuild(header: RebuildShardHeader, local: LocalShards | undefined): Promise<RebuiltShard> {
    const stripe: Stripe = {
      id: header.stripeId,
      k: header.k,
      m: header.m,
      shardSizeBytes: header.shardSizeBytes,
      dataLengthBytes: header.dataLengthBytes,
      shards: header.sources.map((s) => ({ serverId: s.serverId, disk: s.disk })),
      ...(header.shardVersion === undefined ? {} : { shardVersion: header.shardVersion }),
    };
    const pool = new RebuildSources(this, header.sources, local);
    return readStripeShard(pool, stripe, header.shardIndex, this.log, (...task) =>
      this.thread.code(...task),
    );
  }

  // What a data service needs of its rebuilder (DataServiceOptions): the rebuild itself, and
  // the check of its peers' repair reads on the repair thread. One place, so that every data
  // service is wired alike (a standalone one once lost its `local` on the way).
  serviceHooks(): Pick<DataServiceOptions, 'rebuildShard' | 'verifyRepairRead'> {
    return {
      rebuildShard: (header, _deadlineMs, local) => this.rebuild(header, local),
      verifyRepairRead: (name, header, data, crcs) => this.thread.verify(name, header, data, crcs),
    };
  }

  peer(addr: string): DataClient {
    let client = this.peers.get(addr);
    if (client === undefined) {
      // Replies in shared memory: the repair thread codes from them where they are.
      client = new DataClient(addr, {
        connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS,
        replyPool: repairBuffers,
      });
      this.peers.set(addr, client);
      if (this.peers.size > PEER_CONNECTIONS_MAX) {
        const [oldest, old] = this.peers.entries().next().value as [string, DataClient];
        this.peers.delete(oldest);
        void old.close();
      }
    }
    return client;
  }

  report(serverId: string, readLatencyMs: number | undefined, error?: unknown): void {
    const change =
      error !== undefined && isTransportFailure(error)
        ? this.health.recordFailure(serverId, Date.now())
        : this.health.recordSuccess(serverId, error === undefined ? readLatencyMs : undefined);
    if (change === 'avoided')
      this.log.warn('peer data server not answering; rebuilds read around it', { serverId, error });
    else if (change !== undefined) this.log.warn('peer data server answering again', { serverId });
  }

  async close(): Promise<void> {
    await Promise.all([...this.peers.values()].map((c) => c.close()));
    this.peers.clear();
    await this.thread.close();
  }
}

// One rebuild's view of the stripe's servers: the addresses and states the leader sent.
class RebuildSources implements StripeReadPool {
  private readonly rebuilder: ShardRebuilder;
  private readonly sources: RebuildShardHeader['sources'];
  private readonly local: LocalShards | undefined;
  readonly health: ServerHealth;
  readonly background = true; // the sources serve client reads first

  constructor(
    rebuilder: ShardRebuilder,
    sources: RebuildShardHeader['sources'],
    local: LocalShards | undefined,
  ) {
    this.rebuilder = rebuilder;
    this.sources = sources;
    this.local = local;
    this.health = rebuilder.health;
  }

  // The leader's description is the view: nothing to refresh.
  refresh(): Promise<void> {
    return Promise.resolve();
  }

  // A shard on this server is read from its disk: no socket write at a source, no reply frame
  // here (a quarter of a rebuild's network bytes with 4+2 when the target holds a shard of the
  // stripe, as every target does on six servers).
  async client(serverId: string): Promise<ShardSource> {
    if (this.local !== undefined && serverId === this.local.serverId) return this.local;
    const addr = this.sources.find((s) => s.serverId === serverId)?.addr;
    if (!addr) throw new StrataError('RPC_UNAVAILABLE', `data server ${serverId} has no address`);
    return this.rebuilder.peer(addr);
  }

  clusterAvoids(serverId: string): boolean {
    return this.sources.some((s) => s.serverId === serverId && s.avoid);
  }

  prefers(serverId: string): boolean {
    return serverId === this.local?.serverId;
  }

  skipForRead(serverId: string, nowMs: number): boolean {
    return this.clusterAvoids(serverId) || this.health.shouldAvoid(serverId, nowMs);
  }

  report(serverId: string, readLatencyMs: number | undefined, error?: unknown): void {
    this.rebuilder.report(serverId, readLatencyMs, error);
  }

  reportAbandoned(serverId: string): void {
    this.rebuilder.report(serverId, undefined, new StrataError('RPC_TIMEOUT', 'overtaken'));
  }
}
