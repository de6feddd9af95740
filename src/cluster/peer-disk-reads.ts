// A rebuild's source reads straight from a peer's disk when that disk is on this machine (HDFS's
// short-circuit reads, as a gateway's local reads: src/data/local-shard-reads.ts). Over the
// repair port, a source shard is read at the peer, written into a loopback socket, read out of
// it here and copied into a pooled buffer, by two repair threads; read here, it goes from the
// disk into the buffer (direct where this server's own disks are), verified as the peer
// verifies it (the header's identity, length and version, every block's CRC32C unless the
// reader authenticates). On one host running several data servers (a small cluster, a test
// rig) that was about a third of a rebuilt byte's CPU (docs/architecture/healing.md).
//
// A disk is read here only when its directory holds the identity the cluster records for it
// (looked at before its first read here, waiting at most a second, then again every
// DISK_CHECK_MS in the background): a disk replaced under the
// same path, another host's path that happens to exist here, or one this process may not read is
// read through its server. Any failed read goes to the server too, which then sees the trouble
// itself (a corrupt shard it reports and repair rebuilds, a disk error it counts); an error that
// is the disk's, not the shard's, sends every read of that disk to its server until it is looked
// at again, and a read past its time every read until those in flight have returned.
import type { BufferPool, Leased } from '../common/buffer-pool.ts';
import { readExpectation } from '../data/data-service.ts';
import {
  boundedLocalRead,
  diskIdentityAt,
  type LocalDiskState,
} from '../data/local-shard-reads.ts';
import { REPAIR_READS_PER_DISK_MAX } from '../data/repair-slots.ts';
import { ShardStore } from '../data/shard-store.ts';
import type { GetShardHeader } from '../data/types.ts';
import type { Logger } from '../observability/logger.ts';
import { repairPeerDiskReads } from '../observability/metrics.ts';

// How long a disk's identity check holds: a disk replaced under its path is read through its
// server again within this long (and every read is verified meanwhile).
const DISK_CHECK_MS = 10_000;
// A read not done by then is given up for the peer's (which hedges as any repair read does),
// and the disk is read through its server until every read left on it has returned.
export const PEER_DISK_READ_TIMEOUT_MS = 2_000;
// How long the first read of a disk waits for the first look at its identity.
const FIRST_LOOK_WAIT_MS = 1_000;
// Peer disks kept (each a read-only store): more than a host's disks; beyond, the oldest goes.
const PEER_DISKS_MAX = 256;

interface PeerDisk extends LocalDiskState {
  checking: Promise<void> | undefined; // a look in progress
  store: ShardStore; // over this one disk, read only
}

export class PeerDiskReads {
  private readonly disks = new Map<string, PeerDisk>(); // by path and identity, oldest first
  private readonly log: Logger;
  private readonly directReads: boolean;
  private readonly pool: BufferPool;

  // `directReads`: whether to try reading past the page cache (a disk that refuses is read
  // through it from then on: ShardStore).
  constructor(log: Logger, pool: BufferPool, options: { directReads: boolean }) {
    this.log = log;
    this.pool = pool;
    this.directReads = options.directReads;
  }

  // The shard read from the disk at `diskPath` (recorded with identity `diskId`), or undefined
  // when that disk is not known to be here, is stalled or has REPAIR_READS_PER_DISK_MAX reads
  // in flight: the caller asks its server. Rejects as the server's read would, or after
  // PEER_DISK_READ_TIMEOUT_MS; the caller then asks the server all the same.
  async read(
    serverId: string,
    at: { diskPath: string; diskId: string },
    h: GetShardHeader,
  ): Promise<Leased | undefined> {
    const disk = await this.diskAt(at.diskPath, at.diskId);
    if (!disk.here || disk.stalled || disk.inFlight >= REPAIR_READS_PER_DISK_MAX) return undefined;
    return this.readFrom(disk, serverId, at.diskPath, h);
  }

  // In the thread pool, never on this thread: a disk that hangs must not stall this thread (its
  // rebuilds, the repair port it serves), only the pool threads reading that disk, at most
  // REPAIR_READS_PER_DISK_MAX of the process's 64. (This server's own disks are read on this
  // thread at its I/O class: a hang there is its own, and its peers read around it.)
  private async readFrom(
    disk: PeerDisk,
    serverId: string,
    diskPath: string,
    h: GetShardHeader,
  ): Promise<Leased> {
    const address = { stripeId: h.stripeId, shardIndex: h.shardIndex, disk: 0 };
    const checks = { blockChecks: h.readerAuthenticates !== true, direct: true };
    const expect = readExpectation(h);
    const { offset, length } = { offset: h.offset ?? undefined, length: h.length ?? undefined };
    try {
      const leased = await boundedLocalRead(
        disk,
        () => disk.store.getLeased(address, offset, length, expect, this.pool, checks),
        PEER_DISK_READ_TIMEOUT_MS,
      );
      repairPeerDiskReads.inc({ result: 'ok' });
      return leased;
    } catch (error) {
      repairPeerDiskReads.inc({ result: 'fallback' });
      this.log.warn("a peer's shard not read from its disk here; asking the peer", {
        serverId,
        diskPath,
        stripeId: h.stripeId,
        shardIndex: h.shardIndex,
        error,
      });
      throw error;
    }
  }

  // The disk's entry. Its first look is waited for (at most FIRST_LOOK_WAIT_MS: a disk that
  // does not answer is not read here), later ones are made in the background once the last is
  // DISK_CHECK_MS old.
  private async diskAt(diskPath: string, diskId: string): Promise<PeerDisk> {
    const key = `${diskPath}\0${diskId}`;
    let disk = this.disks.get(key);
    if (disk === undefined) {
      disk = {
        here: false,
        checkedAtMs: 0,
        checking: undefined,
        store: new ShardStore([diskPath], {
          readsOf: { directReads: [this.directReads] },
          log: this.log,
        }),
        inFlight: 0,
        stalled: false,
      };
      this.disks.set(key, disk);
      if (this.disks.size > PEER_DISKS_MAX) {
        const [oldestKey, oldest] = this.disks.entries().next().value as [string, PeerDisk];
        this.disks.delete(oldestKey);
        void oldest.store.close();
      }
    }
    const entry = disk;
    if (entry.checking === undefined && Date.now() - entry.checkedAtMs > DISK_CHECK_MS) {
      entry.checking = diskIdentityAt(diskPath).then((id) => {
        entry.here = id === diskId;
        entry.checkedAtMs = Date.now();
        entry.checking = undefined;
      });
    }
    if (entry.checkedAtMs === 0 && entry.checking !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, FIRST_LOOK_WAIT_MS);
      });
      await Promise.race([entry.checking, waited]);
      clearTimeout(timer);
    }
    return disk;
  }

  async close(): Promise<void> {
    await Promise.all([...this.disks.values()].map((d) => d.store.close()));
    this.disks.clear();
  }
}
