// A data server's repair work, whole, on its repair thread (repair-thread-worker.ts), at a lower
// CPU priority than everything that serves clients: the reads its peers make of it for their
// rebuilds (served on a port of this thread's own, the "repair port"), and its own rebuilds
// (the k source reads from its peers' repair ports and its own disks, the coding, the new file's
// checksums). The server's event loop keeps its clients' reads and writes, answers
// data.rebuildShard, writes the rebuilt shard (ShardStore.put, fsynced) and names the repair
// port to peers that ask (data.repairAddress).
//
// Why: in benches/repair the foreground GET p99 during a repair was CPU contention on the
// converged host (the data servers' event loops, busy with repair's socket and file work at the
// priority of client work, against the gateway and the metadata members). The thread's nice value
// put only the coding and checksums behind clients; with a data server's whole repair traffic
// there, the kernel runs every client request first, on any host. (Direct reads, socket copies
// and the shard write stay the kernel's work, at this thread's or the thread pool's priority.)
//
// A peer without a repair port (an older version) is read on its service port, as before.

import { isTransportFailure } from '../client/data-pool.ts';
import { ServerHealth } from '../client/server-health.ts';
import { codecFor } from '../client/stripe-codec.ts';
import { readStripeShard, type ShardSource, type StripeReadPool } from '../client/stripe-read.ts';
import { joinAddr, splitAddr } from '../common/advertise.ts';
import { BufferPool, type Leased } from '../common/buffer-pool.ts';
import { isStrataError, StrataError } from '../common/errors.ts';
import {
  DataClient,
  objectHeader,
  type RepairPortSettings,
  readExpectation,
} from '../data/data-service.ts';
import { RepairSlots } from '../data/repair-slots.ts';
import { type EncodedShard, encodeShard } from '../data/shard-file.ts';
import { ShardStore } from '../data/shard-store.ts';
import { DATA_RPC, type GetShardHeader, type RebuildShardHeader } from '../data/types.ts';
import type { Stripe } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { RpcServer } from '../rpc/server.ts';
import type { RpcCallOptions } from '../rpc/types.ts';
import { PeerDiskReads } from './peer-disk-reads.ts';

// A peer that cannot accept a connection this fast is treated as not answering (as DataPool).
const PEER_CONNECT_TIMEOUT_MS = 2_000;
// Connections kept to peers, by address; beyond this the oldest is closed.
const PEER_CONNECTIONS_MAX = 1_024;
// How long a peer's service port may take to name its repair port.
const REPAIR_ADDRESS_TIMEOUT_MS = 2_000;
// How long a peer whose repair port did not answer is read on its service port instead.
const SERVICE_PORT_FALLBACK_MS = 60_000;
// A local source read waits at most this long for its repair slot and disk.
const LOCAL_READ_TIMEOUT_MS = 30_000;

// The repair thread's shard buffers: the k source shards of its rebuilds (its peers' replies, its
// own disk's reads) and the shards its port serves. Plain memory, not shared: they never leave
// this thread (only the coded output goes to the event loop, in the caller's shared buffer), and
// V8 copies shared memory into the erasure kernel's window with relaxed atomics: the coding of a
// 4+2 rebuild took 0.62 CPU-s per GiB from shared inputs against 0.37 from plain ones.
export const sourceBuffers = new BufferPool({ idleBytesMax: 64 * 1024 * 1024 });

export class RepairService {
  readonly port: number;
  private readonly server: RpcServer;
  private readonly store: ShardStore;
  private readonly slots: RepairSlots;
  private readonly log: Logger;
  private readonly serverId: string;
  // Peers' disks on this machine, read here for this server's rebuilds.
  readonly peerDisks: PeerDiskReads;
  private readonly peers = new Map<string, DataClient>(); // by address, oldest first
  // Each peer's repair port, by its service address: learnt from data.repairAddress, the
  // service address itself for a peer without one. Forgotten when it stops answering (a
  // restarted peer listens on a new port).
  private readonly repairAddrs = new Map<string, Promise<string>>();
  private readonly repairAddrsKnown = new Map<string, string>(); // the settled ones
  // Peers whose repair port did not answer though named (a firewall that lets only the service
  // port through, or a restart on another port), until when: read on their service port.
  private readonly serviceOnlyUntil = new Map<string, number>();
  // This server's view of its peers' health, fed by every rebuild's reads: a hung peer is
  // hedged around, then avoided, as a client's reads do.
  readonly health = new ServerHealth();

  private constructor(
    settings: RepairPortSettings,
    server: RpcServer,
    port: number,
    store: ShardStore,
    slots: RepairSlots,
    log: Logger,
    peerDisks: PeerDiskReads,
  ) {
    this.serverId = settings.serverId;
    this.peerDisks = peerDisks;
    this.server = server;
    this.port = port;
    this.store = store;
    this.slots = slots;
    this.log = log;
  }

  static async start(
    settings: RepairPortSettings,
    log: Logger,
    options: { synchronousReads: boolean },
  ): Promise<RepairService> {
    const store = new ShardStore(settings.disks, {
      readsOf: { directReads: settings.directReads, synchronous: options.synchronousReads },
      log,
    });
    const slots = new RepairSlots(settings.disks.length);
    const server = new RpcServer({ name: `repair ${settings.serverId}`, log });
    server.handle(DATA_RPC.getShard, async ({ header, deadlineMs }) => {
      const h = objectHeader<GetShardHeader>(header, DATA_RPC.getShard);
      const { data, release } = await slots.read(h.disk, deadlineMs, () =>
        readSource(store, h, sourceBuffers),
      );
      return { header: {}, body: data, release };
    });
    const bound = await server.listen(settings.host, settings.port);
    log.info('repair port listening', { port: bound.port });
    // A peer's disk on this machine is likely on a file system like this server's own.
    const peerDisks = new PeerDiskReads(log, sourceBuffers, {
      directReads: settings.directReads.every(Boolean),
    });
    return new RepairService(settings, server, bound.port, store, slots, log, peerDisks);
  }

  // Shard `header.shardIndex` of the stripe, coded into `output` (shardSizeBytes long, the
  // caller's), with its file's header and block checksums over it.
  async rebuild(header: RebuildShardHeader, output: Buffer): Promise<EncodedShard> {
    const stripe: Stripe = {
      id: header.stripeId,
      k: header.k,
      m: header.m,
      shardSizeBytes: header.shardSizeBytes,
      dataLengthBytes: header.dataLengthBytes,
      shards: header.sources.map((s) => ({ serverId: s.serverId, disk: s.disk })),
      ...(header.shardVersion === undefined ? {} : { shardVersion: header.shardVersion }),
    };
    const pool = new RebuildSources(this, header.sources);
    const coded = await readStripeShard(pool, stripe, header.shardIndex, this.log, (...task) =>
      Promise.resolve(codeInto(output, ...task)),
    );
    try {
      // Read whole (a move of a readable shard), or coded short (the last data shards of a short
      // stripe) and padded by the reader: its bytes into `output`, zeros after.
      const inPlace =
        coded.data.buffer === output.buffer && coded.data.byteOffset === output.byteOffset;
      if (!inPlace || coded.data.length !== output.length) {
        coded.data.copy(output);
        output.fill(0, coded.data.length);
      }
    } finally {
      coded.release();
    }
    return encodeShard({ stripeId: stripe.id, shardIndex: header.shardIndex }, output);
  }

  // This server's own shards, read here (no socket), waiting for a repair read slot as a
  // peer's read of them does.
  readonly local: ShardSource = {
    getShardLeased: (h: GetShardHeader, options: RpcCallOptions) =>
      this.slots.read(h.disk, Date.now() + (options.timeoutMs ?? LOCAL_READ_TIMEOUT_MS), () =>
        readSource(this.store, h, sourceBuffers),
      ),
    getShard: async (h: GetShardHeader, options: RpcCallOptions) => {
      const leased = await this.local.getShardLeased(h, options);
      try {
        return Buffer.from(leased.data);
      } finally {
        leased.release();
      }
    },
  };

  isSelf(serverId: string): boolean {
    return serverId === this.serverId;
  }

  // The client for a peer's repair port (its service port when it has none).
  async peer(addr: string): Promise<DataClient> {
    const repairAddr = await this.repairAddrOf(addr);
    let client = this.peers.get(repairAddr);
    if (client === undefined) {
      // Replies in pooled buffers, the coded shard's inputs.
      client = new DataClient(repairAddr, {
        connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS,
        replyPool: sourceBuffers,
      });
      this.peers.set(repairAddr, client);
      if (this.peers.size > PEER_CONNECTIONS_MAX) {
        const [oldest, old] = this.peers.entries().next().value as [string, DataClient];
        this.peers.delete(oldest);
        void old.close();
      }
    }
    return client;
  }

  private repairAddrOf(addr: string): Promise<string> {
    if ((this.serviceOnlyUntil.get(addr) ?? 0) > Date.now()) return Promise.resolve(addr);
    this.serviceOnlyUntil.delete(addr);
    let known = this.repairAddrs.get(addr);
    if (known === undefined) {
      known = this.askRepairAddr(addr);
      this.repairAddrs.set(addr, known);
      known.then(
        (repairAddr) => this.repairAddrsKnown.set(addr, repairAddr),
        () => this.repairAddrs.delete(addr),
      );
    }
    return known;
  }

  private async askRepairAddr(addr: string): Promise<string> {
    const service = new DataClient(addr, { connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS });
    try {
      const { port } = await service.repairAddress({ timeoutMs: REPAIR_ADDRESS_TIMEOUT_MS });
      return joinAddr(splitAddr(addr).host, port);
    } catch (error) {
      if (isStrataError(error, 'RPC_NO_METHOD')) return addr; // an older peer: its service port
      throw error;
    } finally {
      void service.close();
    }
  }

  report(
    serverId: string,
    addr: string | undefined,
    latencyMs: number | undefined,
    error?: unknown,
  ) {
    const failed = error !== undefined && isTransportFailure(error);
    // Refused or cut: the peer may have restarted on another repair port, asked again at its
    // next read (a slow answer is only slow).
    const gone =
      isStrataError(error, 'RPC_UNAVAILABLE') || isStrataError(error, 'RPC_CONNECTION_LOST');
    if (gone && addr !== undefined) this.repairPortGone(addr, error);
    const nowMs = Date.now();
    const change = failed
      ? this.health.recordFailure(serverId, nowMs)
      : this.health.recordSuccess(serverId, error === undefined ? latencyMs : undefined);
    if (change === 'avoided')
      this.log.warn('peer data server not answering; rebuilds read around it', { serverId, error });
    else if (change !== undefined) this.log.warn('peer data server answering again', { serverId });
  }

  // A named repair port did not answer: the peer's service port is read for a while (if the
  // peer is down, that fails too, and its health says so), then the port is asked for again.
  private repairPortGone(addr: string, error: unknown): void {
    const repairAddr = this.repairAddrsKnown.get(addr);
    this.repairAddrs.delete(addr);
    this.repairAddrsKnown.delete(addr);
    if (repairAddr === undefined || repairAddr === addr) return;
    this.serviceOnlyUntil.set(addr, Date.now() + SERVICE_PORT_FALLBACK_MS);
    this.log.warn("a peer's repair port did not answer; reading its service port for now", {
      addr,
      repairAddr,
      error,
    });
  }

  async close(): Promise<void> {
    await this.server.close();
    await Promise.all([...this.peers.values()].map((c) => c.close()));
    this.peers.clear();
    await this.peerDisks.close();
    await this.store.close();
  }
}

// A whole-shard source read (or a range, for a short stripe), direct where the disk allows,
// its blocks checked here.
function readSource(store: ShardStore, h: GetShardHeader, pool: BufferPool) {
  const expect = readExpectation(h);
  const blockChecks = h.readerAuthenticates !== true;
  return store.getLeased(h, h.offset ?? undefined, h.length ?? undefined, expect, pool, {
    blockChecks,
    direct: true,
  });
}

function codeInto(
  output: Buffer,
  stripe: Stripe,
  target: number,
  indices: number[],
  inputs: Buffer[],
): Leased {
  if (inputs[0].length > output.length)
    throw new StrataError('INTERNAL', 'a rebuild codes at most the stripe shard size');
  const into = output.subarray(0, inputs[0].length);
  codecFor(stripe.k, stripe.m).codeShard(target, indices, inputs, into);
  return { data: into, release: () => {} };
}

// One rebuild's view of the stripe's servers: the addresses and states the leader sent.
class RebuildSources implements StripeReadPool {
  private readonly service: RepairService;
  private readonly sources: RebuildShardHeader['sources'];
  readonly health: ServerHealth;
  readonly background = true; // the sources serve client reads first

  constructor(service: RepairService, sources: RebuildShardHeader['sources']) {
    this.service = service;
    this.sources = sources;
    this.health = service.health;
  }

  // The leader's description is the view: nothing to refresh.
  refresh(): Promise<void> {
    return Promise.resolve();
  }

  // A shard on this server is read from its disk: no socket write at a source, no reply frame
  // here (a quarter of a rebuild's network bytes with 4+2 when the target holds a shard of the
  // stripe, as every target does on six servers). A peer's shard on a disk of this machine is
  // read there too (peer-disk-reads.ts), and asked of the peer when it cannot be.
  async client(serverId: string): Promise<ShardSource> {
    if (this.service.isSelf(serverId)) return this.service.local;
    const addr = this.addrOf(serverId);
    if (!addr) throw new StrataError('RPC_UNAVAILABLE', `data server ${serverId} has no address`);
    const disks = this.sources.filter((s) => s.serverId === serverId);
    const getShardLeased = async (h: GetShardHeader, options: RpcCallOptions) => {
      const at = disks.find((s) => s.disk === h.disk);
      if (at?.diskPath && at.diskId) {
        const where = { diskPath: at.diskPath, diskId: at.diskId };
        try {
          const here = await this.service.peerDisks.read(serverId, where, h);
          if (here !== undefined) return here;
        } catch {
          // Counted and logged where it failed; the peer is asked.
        }
      }
      return (await this.service.peer(addr)).getShardLeased(h, options);
    };
    return {
      getShardLeased,
      getShard: async (h: GetShardHeader, options: RpcCallOptions) => {
        const leased = await getShardLeased(h, options);
        try {
          return Buffer.from(leased.data);
        } finally {
          leased.release();
        }
      },
    };
  }

  private addrOf(serverId: string): string | undefined {
    return this.sources.find((s) => s.serverId === serverId)?.addr || undefined;
  }

  clusterAvoids(serverId: string): boolean {
    return this.sources.some((s) => s.serverId === serverId && s.avoid);
  }

  prefers(serverId: string): boolean {
    return this.service.isSelf(serverId);
  }

  skipForRead(serverId: string, nowMs: number): boolean {
    return this.clusterAvoids(serverId) || this.health.shouldAvoid(serverId, nowMs);
  }

  report(serverId: string, readLatencyMs: number | undefined, error?: unknown): void {
    this.service.report(serverId, this.addrOf(serverId), readLatencyMs, error);
  }

  reportAbandoned(serverId: string): void {
    const overtaken = new StrataError('RPC_TIMEOUT', 'overtaken');
    this.service.report(serverId, this.addrOf(serverId), undefined, overtaken);
  }
}
