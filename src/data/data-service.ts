import assert from 'node:assert';
import {
  type BufferPool,
  type Leased,
  repairBuffers,
  shardBuffers,
} from '../common/buffer-pool.ts';
import { isStrataError, StrataError } from '../common/errors.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { RpcClient } from '../rpc/client.ts';
import { RpcServer } from '../rpc/server.ts';
import type { RpcCallOptions } from '../rpc/types.ts';
import { RepairSlots } from './repair-slots.ts';
import { startRepairYield } from './repair-yield-loop.ts';
import type { EncodedShard } from './shard-file.ts';
import { ShardScrubber } from './shard-scrubber.ts';
import type { BlockVerifier, ShardAddress } from './shard-store.ts';
import { ShardStore } from './shard-store.ts';
import { putShardBodies } from './staged-bodies.ts';
import {
  DATA_RPC,
  type DataServerStatus,
  type DeleteShardsHeader,
  type GetShardHeader,
  type ListShardsHeader,
  type ListShardsReply,
  type PutShardHeader,
  type RebuildShardHeader,
  type ScrubFindingsReply,
} from './types.ts';

const DELETE_BATCH_MAX = 4096;
const LIST_LIMIT_MAX = 10_000;

export interface DataServiceOptions {
  serverId: string;
  host: string;
  port: number;
  disks: string[];
  log?: Logger;
  // Background verification of every shard (data.scrub_*): bytes read per second, 0 for none,
  // and the least time between the starts of two passes over a disk.
  scrub?: { bytesPerSecond: number; passIntervalMs: number };
  // Reads and decodes the shard a data.rebuildShard asks for from the stripe's other shards, by
  // the deadline (ms since epoch). It needs the client's stripe reader, a layer above this one,
  // so it is handed in (src/cluster/shard-rebuilder.ts); without it the method is not offered
  // and callers get RPC_NO_METHOD.
  rebuildShard?: RebuildShard;
  // Verifies the blocks of a peer's repair read (getShard `background`, whole shard) in place of
  // the store's own check: on the repair thread, at a lower CPU priority than client reads'
  // (src/cluster/repair-thread.ts). Such reads then go into repairBuffers (shared memory).
  // (Peers read from this server's repair port when it has one: this is for those that do not.)
  verifyRepairRead?: BlockVerifier;
  // Starts the repair port over this service's disks once it listens (src/cluster/
  // repair-service.ts: peers' repair reads and this server's rebuilds, on the repair thread)
  // and resolves with its port, which data.repairAddress names to peers. Without it the
  // method is not offered, and peers read on the service port.
  startRepairPort?: (settings: RepairPortSettings) => Promise<number>;
  repairPort?: number; // data.repair_port: the repair port's number (0 or absent: any free one)
  repairIoClass?: RepairIoClass; // data.repair_io_class (absent: idle)
  repairCpuClass?: RepairCpuClass; // data.repair_cpu_class (absent: idle)
}

// The I/O scheduling class of the repair thread's disk reads (data.repair_io_class).
export type RepairIoClass = 'idle' | 'best-effort';
// The CPU scheduling class of the repair thread (data.repair_cpu_class): SCHED_IDLE guarded
// against starvation, or nice 10 throughout (src/cluster/repair-cpu-class.ts).
export type RepairCpuClass = 'idle' | 'nice';

export interface RepairPortSettings {
  serverId: string;
  host: string;
  port: number; // 0: any free one
  ioClass: RepairIoClass;
  cpuClass: RepairCpuClass;
  disks: string[];
  directReads: boolean[];
}

// The shard in a buffer the service releases once it is written (or refused).
export type RebuildShard = (
  header: RebuildShardHeader,
  deadlineMs: number,
) => Promise<RebuiltShard>;

// `encoded`: the file's header and block checksums over `data`, when the rebuild computed them
// (shard-file.ts encodeShard); otherwise the write does. `staging`: the aligned file-sized buffer
// `data` was coded into, at SHARD_DATA_AT (ShardStore.put writes it direct, without a copy).
export type RebuiltShard = Leased & { encoded?: EncodedShard; staging?: Buffer };

export interface DataService {
  server: RpcServer;
  host: string;
  port: number;
  store: ShardStore;
  scrubber: ShardScrubber;
  close(): Promise<void>;
}

export async function startDataService(options: DataServiceOptions): Promise<DataService> {
  const log = options.log ?? silentLogger;
  const store = new ShardStore(options.disks, { log: log.child({ component: 'shards' }) });
  const scrubber = new ShardScrubber({
    store,
    bytesPerSecond: options.scrub?.bytesPerSecond ?? 0,
    passIntervalMs: options.scrub?.passIntervalMs ?? 7 * 24 * 3600 * 1000,
    log: log.child({ component: 'scrub' }),
  });
  // putShard, the one handler given a body, has written or copied it before it answers. Its
  // body is read where its file's direct write takes it from (staged-bodies.ts).
  const server = new RpcServer({
    name: `data ${options.serverId}`,
    log,
    requestBodyPool: putShardBodies,
  });
  const repairSlots = new RepairSlots(options.disks.length);
  // Repair yields to this server's clients (repair-yield.ts): its server-wide bounds shrink while
  // client reads here wait on a lagging event loop.
  const repairYield = startRepairYield(repairSlots, log.child({ component: 'repair-yield' }));
  server.handle(DATA_RPC.putShard, async ({ header, body }) => {
    const h = objectHeader<PutShardHeader>(header, DATA_RPC.putShard);
    if (!body) throw new StrataError('EINVAL', 'putShard without a body');
    return { header: await store.put(h, body, undefined, putShardBodies.fileFor(body)) };
  });
  // A getShard as the handler serves it; `deadlineMs` bounds a background read's wait.
  const readShard = (
    h: GetShardHeader,
    deadlineMs: number,
    pool: BufferPool = shardBuffers,
  ): Promise<Leased> => {
    const expect = readExpectation(h);
    // A whole shard is read into a pooled buffer, given back once the reply is written.
    const blockChecks = h.readerAuthenticates !== true;
    const read = () =>
      store.getLeased(h, h.offset ?? undefined, h.length ?? undefined, expect, pool, {
        blockChecks,
      });
    // A peer's rebuild waits its turn behind other repair reads; a client's read never does.
    if (h.background !== true) {
      repairYield.noteClientRead();
      return read();
    }
    // Read past the page cache where the disk allows (ShardStore's `direct`): a repair reads
    // each shard once, cold, and the kernel's copy out of the cache was its largest cost.
    const offset = h.offset ?? undefined;
    const length = h.length ?? undefined;
    const verify = options.verifyRepairRead;
    return repairSlots.read(h.disk, deadlineMs, () =>
      verify === undefined
        ? store.getLeased(h, offset, length, expect, pool, { blockChecks, direct: true })
        : store.getLeased(h, offset, length, expect, repairBuffers, {
            blockChecks,
            verify,
            direct: true,
          }),
    );
  };
  const rebuild = options.rebuildShard;
  if (rebuild !== undefined) {
    const rebuildAndWrite = async (
      h: RebuildShardHeader,
      at: { stripeId: string; shardIndex: number; disk: number },
      deadlineMs: number,
    ) => {
      const shard = await rebuild(h, deadlineMs);
      try {
        // The caller has given up: a file written now would only refuse its retry (EEXIST).
        if (Date.now() > deadlineMs)
          throw new StrataError('RPC_TIMEOUT', `shard ${h.stripeId}.${h.shardIndex} rebuilt late`);
        assert(shard.data.length === h.shardSizeBytes, 'a rebuilt shard has the stripe shard size');
        // Written as putShard writes a client's shard: block CRCs computed from this buffer, the
        // file and its directory fsynced before the answer. No read-back: it read the page cache
        // just written from this same buffer (never the disk), and compared it with that buffer,
        // so it could not catch a wrong decode or a bad sector, only a kernel copy gone wrong,
        // which the block CRCs catch at every later read (getShard, the scrubber) as they do for
        // any client shard. It cost a sixth of the rebuild's shard reads and CRC32C
        // (docs/architecture/healing.md, "Repair performance").
        return await store.put(at, shard.data, shard.encoded, shard.staging);
      } finally {
        shard.release();
      }
    };
    // A shard rebuilt where its record names it (`inPlace`: listed missing there, as a degraded
    // write's absent shard is) may find a file of it after all: its writer's late write, landed
    // after the stripe was committed without it. Whole and verified (its header names it, its
    // length is the stripe's, every block's CRC holds), that file is the shard, answered as if
    // written now. Cut short (a crash mid-write) it is no copy of anything: deleted, and the
    // shard rebuilt. One still being written is refused EEXIST, for a later pass: read whole
    // before its fsync, it would be answered as durable when it is not yet.
    const foundInPlace = async (h: RebuildShardHeader, at: ShardAddress) => {
      if (store.isBeingWritten(store.pathOf(at)))
        throw new StrataError('EEXIST', `shard ${h.stripeId}.${h.shardIndex} is being written`);
      const expect = readExpectation(h);
      try {
        const data = await store.get(at, undefined, undefined, expect);
        log.info('a missing shard found whole where it is recorded', { shard: at });
        return { sizeBytes: data.length, version: expect.minVersion ?? 1 };
      } catch (error) {
        if (isStrataError(error, 'SHARD_MISSING')) return undefined; // gone since: rebuilt
        if (!isStrataError(error, 'SHARD_CORRUPT')) throw error;
        if (store.isBeingWritten(store.pathOf(at)))
          throw new StrataError('EEXIST', `shard ${h.stripeId}.${h.shardIndex} is being written`);
        log.warn('a torn file of a missing shard deleted before its rebuild', { shard: at, error });
        await store.delete(at);
        return undefined;
      }
    };
    server.handle(DATA_RPC.rebuildShard, async ({ header, deadlineMs }) => {
      const h = rebuildHeader(objectHeader<RebuildShardHeader>(header, DATA_RPC.rebuildShard));
      const at = { stripeId: h.stripeId, shardIndex: h.shardIndex, disk: h.disk };
      // Refused before reading k shards for a write that put() would refuse anyway; put()
      // still refuses atomically (open 'wx') if one appears meanwhile.
      if (await store.exists(at)) {
        if (h.inPlace !== true)
          throw new StrataError(
            'EEXIST',
            `shard ${h.stripeId}.${h.shardIndex} is on disk ${h.disk}`,
          );
        const found = await foundInPlace(h, at);
        if (found !== undefined) return { header: found };
      }
      return repairSlots.rebuild(h.disk, deadlineMs, async () => {
        const written = await rebuildAndWrite(h, at, deadlineMs);
        return { header: written };
      });
    });
  }
  server.handle(DATA_RPC.getShard, async ({ header, deadlineMs }) => {
    const h = objectHeader<GetShardHeader>(header, DATA_RPC.getShard);
    const { data, release } = await readShard(h, deadlineMs);
    return { header: {}, body: data, release };
  });
  server.handle(DATA_RPC.deleteShards, async ({ header }) => {
    const h = objectHeader<DeleteShardsHeader>(header, DATA_RPC.deleteShards);
    const { shards } = h;
    if (!Array.isArray(shards) || shards.length > DELETE_BATCH_MAX) {
      throw new StrataError('EINVAL', `deleteShards takes a list of at most ${DELETE_BATCH_MAX}`);
    }
    const olderThanMs = h.olderThanMs ?? undefined;
    if (olderThanMs !== undefined && !Number.isFinite(olderThanMs))
      throw new StrataError('EINVAL', 'deleteShards olderThanMs must be a time in ms');
    let deleted = 0;
    for (const shard of shards) {
      if (await store.delete(shard, olderThanMs)) deleted++;
      scrubber.forget(shard.disk, shard);
    }
    return { header: { deleted } };
  });
  server.handle(DATA_RPC.listShards, async ({ header }) => {
    const h = objectHeader<ListShardsHeader>(header, DATA_RPC.listShards);
    if (!Number.isInteger(h.limit) || h.limit < 1 || h.limit > LIST_LIMIT_MAX) {
      throw new StrataError('EINVAL', `listShards limit must be 1..${LIST_LIMIT_MAX}`);
    }
    const reply: ListShardsReply = await store.list(
      h.disk,
      h.after ?? undefined,
      h.limit,
      h.olderThanMs,
    );
    return { header: reply };
  });
  server.handle(DATA_RPC.scrubFindings, async ({ header }) => {
    objectHeader(header, DATA_RPC.scrubFindings);
    return { header: scrubber.findings() satisfies ScrubFindingsReply };
  });
  // The repair port, started once this service listens (below): peers ask for it before they
  // read this server's shards for their rebuilds. Asked again each time, so a repair thread
  // started afresh (its port another) is named as it is now.
  let repairPortSettings: RepairPortSettings | undefined;
  const startRepairPort = options.startRepairPort;
  if (startRepairPort !== undefined) {
    server.handle(DATA_RPC.repairAddress, async () => {
      if (repairPortSettings === undefined)
        throw new StrataError('RPC_UNAVAILABLE', 'the repair port is not started yet');
      return { header: { port: await startRepairPort(repairPortSettings) } };
    });
  }
  let addr = '';
  server.handle(DATA_RPC.status, async () => ({
    header: {
      serverId: options.serverId,
      addr,
      disks: await store.status(),
    } satisfies DataServerStatus,
  }));
  const bound = await server.listen(options.host, options.port);
  addr = bound.host.includes(':') ? `[${bound.host}]:${bound.port}` : `${bound.host}:${bound.port}`;
  log.info('data service listening', { addr, disks: options.disks });
  if (startRepairPort !== undefined) {
    repairPortSettings = {
      serverId: options.serverId,
      host: bound.host,
      port: options.repairPort ?? 0,
      ioClass: options.repairIoClass ?? 'idle',
      cpuClass: options.repairCpuClass ?? 'idle',
      disks: options.disks,
      directReads: store.directReads,
    };
    try {
      await startRepairPort(repairPortSettings);
    } catch (error) {
      await server.close();
      await store.close();
      throw error;
    }
  }
  scrubber.start();
  return {
    server,
    host: bound.host,
    port: bound.port,
    store,
    scrubber,
    async close() {
      repairYield.close();
      await scrubber.close();
      await server.close();
      await store.close();
    },
  };
}

// What a getShard header asks of the shard's file (its data length and least version).
export function readExpectation(h: GetShardHeader) {
  return {
    dataLength: optionalCount(h.shardSizeBytes, 'shardSizeBytes'),
    minVersion: optionalCount(h.shardVersion, 'shardVersion'),
  };
}

// Headers come from the network: anything but an object is the caller's mistake, not INTERNAL.
export function objectHeader<H>(header: unknown, method: string): H {
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new StrataError('EINVAL', `${method} takes an object header, got ${typeof header}`);
  }
  return header as H;
}

const SHARD_INDEX_MAX = 255; // shard names carry at most three digits (SHARD_NAME)

// A rebuild's description comes from the network: checked whole before any byte is read.
function rebuildHeader(h: RebuildShardHeader): RebuildShardHeader {
  const count = (value: unknown, name: string, min: number): number => {
    if (!Number.isSafeInteger(value) || (value as number) < min)
      throw new StrataError('EINVAL', `rebuildShard ${name} must be >= ${min}, got ${value}`);
    return value as number;
  };
  const k = count(h.k, 'k', 1);
  const m = count(h.m, 'm', 0);
  if (k + m > SHARD_INDEX_MAX + 1) throw new StrataError('EINVAL', `rebuildShard k+m ${k + m}`);
  const index = count(h.shardIndex, 'shardIndex', 0);
  if (index >= k + m) throw new StrataError('EINVAL', `rebuildShard index ${index} of ${k}+${m}`);
  const size = count(h.shardSizeBytes, 'shardSizeBytes', 1);
  const length = count(h.dataLengthBytes, 'dataLengthBytes', 1);
  if (length > k * size)
    throw new StrataError('EINVAL', `rebuildShard ${length} data bytes exceed ${k} x ${size}`);
  optionalCount(h.shardVersion, 'shardVersion');
  if (h.inPlace !== undefined && h.inPlace !== null && typeof h.inPlace !== 'boolean')
    throw new StrataError('EINVAL', `rebuildShard inPlace must be a boolean, got ${h.inPlace}`);
  const sources = h.sources;
  const valid = (s: (typeof sources)[number]) =>
    s !== null &&
    typeof s === 'object' &&
    typeof s.serverId === 'string' &&
    typeof s.addr === 'string' &&
    typeof s.avoid === 'boolean' &&
    Number.isSafeInteger(s.disk) &&
    (s.diskPath === undefined || s.diskPath === null || typeof s.diskPath === 'string') &&
    (s.diskId === undefined || s.diskId === null || typeof s.diskId === 'string');
  if (!Array.isArray(sources) || sources.length !== k + m || !sources.every(valid))
    throw new StrataError('EINVAL', `rebuildShard takes k+m = ${k + m} source locations`);
  return h;
}

function noRelease(): void {}

function optionalCount(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 0)
    throw new StrataError('EINVAL', `${name} must be a whole number, got ${String(value)}`);
  return value as number;
}

// Typed calls to one data server.
export class DataClient {
  private readonly rpc: RpcClient;

  constructor(addr: string, options: ConstructorParameters<typeof RpcClient>[1] = {}) {
    this.rpc = new RpcClient(addr, options);
  }

  // `options.timeoutMs`: callers that can route around a slow server (hedged reads, writes
  // that commit at their quorum) wait much less than the RPC default.
  async putShard(
    header: PutShardHeader,
    body: Buffer,
    options: RpcCallOptions = {},
  ): Promise<{ sizeBytes: number; version?: number }> {
    const reply = await this.rpc.call<{ sizeBytes: number; version?: number }>(
      DATA_RPC.putShard,
      header,
      body,
      options,
    );
    return reply.header;
  }

  // The target rebuilds the shard from its peers (data.rebuildShard); `options.timeoutMs` must
  // cover k shard reads, the decode and a durable write.
  async rebuildShard(
    header: RebuildShardHeader,
    options: RpcCallOptions = {},
  ): Promise<{ sizeBytes: number; version: number }> {
    const reply = await this.rpc.call<{ sizeBytes: number; version: number }>(
      DATA_RPC.rebuildShard,
      header,
      undefined,
      options,
    );
    return reply.header;
  }

  async getShard(header: GetShardHeader, options: RpcCallOptions = {}): Promise<Buffer> {
    const reply = await this.rpc.call(DATA_RPC.getShard, header, undefined, options);
    return reply.body ?? Buffer.alloc(0);
  }

  // As getShard, a large body read into a buffer of the process's pool (shardBuffers): the
  // caller releases it once it no longer reads it.
  async getShardLeased(header: GetShardHeader, options: RpcCallOptions = {}): Promise<Leased> {
    const reply = await this.rpc.call(DATA_RPC.getShard, header, undefined, {
      ...options,
      leaseReply: true,
    });
    return { data: reply.body ?? Buffer.alloc(0), release: reply.release ?? noRelease };
  }

  // The port of the server's repair port (on the host this client dialled), where its peers
  // read its shards for their rebuilds; RPC_NO_METHOD from a server without one.
  async repairAddress(options: RpcCallOptions = {}): Promise<{ port: number }> {
    const reply = await this.rpc.call<{ port: number }>(
      DATA_RPC.repairAddress,
      {},
      undefined,
      options,
    );
    const { port } = reply.header;
    if (!Number.isInteger(port) || port < 1 || port > 65_535)
      throw new StrataError('RPC_BAD_FRAME', `data.repairAddress answered port ${String(port)}`);
    return { port };
  }

  async deleteShards(
    header: DeleteShardsHeader,
    options: RpcCallOptions = {},
  ): Promise<{ deleted: number }> {
    return (
      await this.rpc.call<{ deleted: number }>(DATA_RPC.deleteShards, header, undefined, options)
    ).header;
  }

  async listShards(header: ListShardsHeader): Promise<ListShardsReply> {
    return (await this.rpc.call<ListShardsReply>(DATA_RPC.listShards, header)).header;
  }

  async scrubFindings(timeoutMs?: number): Promise<ScrubFindingsReply> {
    const options = timeoutMs === undefined ? undefined : { timeoutMs };
    return (await this.rpc.call<ScrubFindingsReply>(DATA_RPC.scrubFindings, {}, undefined, options))
      .header;
  }

  async status(): Promise<DataServerStatus> {
    return (
      await this.rpc.call<DataServerStatus>(DATA_RPC.status, {}, undefined, { timeoutMs: 5_000 })
    ).header;
  }

  close(): Promise<void> {
    return this.rpc.close();
  }
}
