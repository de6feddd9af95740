// The simulated cluster: what is physically there (server processes, disks, shard files) kept
// apart from what is recorded (the replicated server records and each stripe's committed shard
// list). A rebuilt shard exists on its disk before its commit names it; a replaced one stays on
// a dead server's disk after it. Every file write and delete goes through here, and a delete
// checks the rule the whole repair protocol rests on: the committed record no longer names the
// file (the last copy of a shard is never deleted before its replacement is committed).
import assert from 'node:assert/strict';
import {
  type DiskState,
  type FailureDomain,
  liveCandidates,
  locationKey,
  placementServers,
} from '../../../../src/metadata/placement/index.ts';
import { placementView, type RepairStripe } from '../../../../src/metadata/repair/index.ts';
import type { DataServerInfo, ShardLocation } from '../../../../src/metadata/types.ts';

export const DISK_CAPACITY_BYTES = 1024 ** 4;

// running: heartbeats go out, reads and writes are served. hung: the process is alive but
// answers nothing (a stuck disk, a long pause). dead: killed; its disks keep their files.
export type ProcessState = 'running' | 'hung' | 'dead';

export interface SimDisk {
  disk: number;
  failed: boolean; // its files are gone for good
  files: Map<string, number>; // shard key (stripe/index) -> written at (ms)
  usedBytes: number;
}

export interface SimServer {
  serverId: string;
  domain: FailureDomain;
  disks: SimDisk[];
  process: ProcessState;
  permanent: boolean; // dead for good: its disks never come back
  nextHeartbeatMs: number;
  returnAtMs: number | undefined; // a temporary fault ends here
  exempt: boolean; // draining: no further faults (a dead draining server is never detected)
}

export function shardKey(stripeId: string, shardIndex: number): string {
  return `${stripeId}/${shardIndex}`;
}

export class SimCluster {
  readonly servers = new Map<string, SimServer>();
  readonly records = new Map<string, DataServerInfo>(); // the replicated server records
  readonly stripes = new Map<string, RepairStripe>(); // the committed record of each stripe
  readonly sizes = new Map<string, number>(); // shard size of every stripe ever written
  // The placement epoch: moves when a record gains a live disk (notePlacementChange in
  // src/metadata/stripe-placement.ts), which makes the repair driver walk for rebalancing.
  epoch = 0;
  // Stripes committed crowded beyond the strategy's spread (crowdedWrites in
  // src/metadata/stripe-placement.ts): a change of it makes the repair driver walk too.
  crowdedWrites = 0;
  // Shards a degraded write committed without writing them: (shard key)@(location).
  readonly absent = new Set<string>();
  // The state machine's table of absent shards (src/metadata/absent-shards.ts): shard key ->
  // the location its stripe records; listed at commit, dropped when relocateShard moves it.
  readonly absentTable = new Map<string, ShardLocation>();
  readonly #fail: (message: string) => never;
  readonly #note: (message: string) => void;

  constructor(fail: (message: string) => never, note: (message: string) => void) {
    this.#fail = fail;
    this.#note = note;
  }

  addServer(serverId: string, domain: FailureDomain, disks: number, nowMs: number): void {
    assert.ok(!this.servers.has(serverId), `server ${serverId} added twice`);
    this.servers.set(serverId, {
      serverId,
      domain,
      disks: Array.from({ length: disks }, (_, disk) => ({
        disk,
        failed: false,
        files: new Map(),
        usedBytes: 0,
      })),
      process: 'running',
      permanent: false,
      nextHeartbeatMs: nowMs + 1_000,
      returnAtMs: undefined,
      exempt: false,
    });
    // Registration: recorded up with its disks (capacity unknown until the first heartbeat).
    this.#putRecord({
      serverId,
      addr: `${serverId}:0`,
      disks: Array.from({ length: disks }, (_, disk) => ({ disk, path: `/d${disk}` })),
      registeredAtMs: nowMs,
      domain,
      state: 'up',
      stateSinceMs: nowMs,
    });
  }

  server(serverId: string): SimServer {
    const server = this.servers.get(serverId);
    assert.ok(server, `unknown server ${serverId}`);
    return server;
  }

  disk(location: ShardLocation): SimDisk {
    const disk = this.server(location.serverId).disks[location.disk];
    assert.ok(disk, `unknown disk ${location.serverId}/${location.disk}`);
    return disk;
  }

  // Whether a request to this disk is answered now.
  reachable(location: ShardLocation): boolean {
    return this.server(location.serverId).process === 'running' && !this.disk(location).failed;
  }

  // The file can be read now.
  readable(location: ShardLocation, key: string): boolean {
    return this.reachable(location) && this.disk(location).files.has(key);
  }

  // The file exists on a disk that has not failed (its server may be down for now).
  survives(location: ShardLocation, key: string): boolean {
    const disk = this.disk(location);
    return !disk.failed && disk.files.has(key);
  }

  // A shard write at `location`: 'ok', 'unreachable', or 'exists' (the data server refuses to
  // overwrite a shard file: EEXIST).
  writeShard(location: ShardLocation, stripeId: string, index: number, nowMs: number) {
    if (!this.reachable(location)) return 'unreachable' as const;
    const disk = this.disk(location);
    const key = shardKey(stripeId, index);
    if (disk.files.has(key)) return 'exists' as const;
    disk.files.set(key, nowMs);
    this.absent.delete(`${key}@${show(location)}`); // a shard rebuilt where it was absent
    disk.usedBytes += this.sizeOf(stripeId);
    return 'ok' as const;
  }

  // Deletes a shard file; false when the server does not answer. The guard: the committed record
  // must not name this location for this shard (a stripe no longer recorded has no record).
  deleteShard(location: ShardLocation, stripeId: string, index: number, why: string): boolean {
    const named = this.stripes.get(stripeId)?.shards[index];
    if (named?.serverId === location.serverId && named.disk === location.disk) {
      this.#fail(
        `${why}: deleted shard ${shardKey(stripeId, index)} at ${show(location)}, which the ` +
          'committed record still names (the last copy went before its replacement was committed)',
      );
    }
    if (!this.reachable(location)) return false;
    const disk = this.disk(location);
    if (disk.files.delete(shardKey(stripeId, index))) disk.usedBytes -= this.sizeOf(stripeId);
    this.#note(`${why}: deleted ${shardKey(stripeId, index)} at ${show(location)}`);
    return true;
  }

  sizeOf(stripeId: string): number {
    const size = this.sizes.get(stripeId);
    assert.ok(size !== undefined, `unknown stripe ${stripeId}`);
    return size;
  }

  // The records as the metadata leader reads them, converted by the driver's own function.
  view() {
    return placementView([...this.records.values()]);
  }

  setServerState(serverId: string, state: DataServerInfo['state'], nowMs: number): void {
    const record = this.records.get(serverId);
    assert.ok(record, `no record for ${serverId}`);
    this.#putRecord({ ...record, state, stateSinceMs: nowMs });
  }

  setDisk(serverId: string, disk: number, update: Partial<DataServerInfo['disks'][number]>) {
    const record = this.records.get(serverId);
    assert.ok(record, `no record for ${serverId}`);
    const disks = record.disks.map((d) => (d.disk === disk ? { ...d, ...update } : d));
    this.#putRecord({ ...record, disks });
  }

  #putRecord(after: DataServerInfo): void {
    // Live in writers' view or in repair's (an unreported disk counts for writers only), as
    // notePlacementChange in src/metadata/stripe-placement.ts.
    const live = (record: DataServerInfo | undefined) =>
      new Set(
        record
          ? [
              ...liveCandidates(placementServers([record])).map((c) => `w ${locationKey(c)}`),
              ...liveCandidates(placementView([record])).map((c) => `r ${locationKey(c)}`),
            ]
          : [],
      );
    const was = live(this.records.get(after.serverId));
    if ([...live(after)].some((key) => !was.has(key))) this.epoch++;
    this.records.set(after.serverId, after);
  }

  recordedDiskState(location: ShardLocation): DiskState {
    const record = this.records.get(location.serverId);
    return record?.disks.find((d) => d.disk === location.disk)?.state ?? 'up';
  }
}

export function show(location: ShardLocation): string {
  return `${location.serverId}/${location.disk}`;
}
