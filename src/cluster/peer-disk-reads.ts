// A rebuild's source reads straight from a peer's disk when that disk is on this machine (HDFS's
// short-circuit reads, as a gateway's local reads: src/data/local-shard-reads.ts). Over the
// repair port, a source shard is read at the peer, written into a loopback socket, read out of
// it here and copied into a pooled buffer, by two event loops or repair threads; read here, it
// goes from the disk into the buffer, verified as the peer verifies it (the header's identity,
// length and version, every block's CRC32C unless the reader authenticates), on this repair
// thread at its CPU and I/O class. On one host running several data servers (a small cluster, a
// test rig) that was most of a rebuilt byte's CPU (docs/architecture/healing.md).
//
// A disk is read here only when its directory holds the identity the cluster records for it
// (looked at again every DISK_CHECK_MS, never on the read's path): a disk replaced under the
// same path, another host's path that happens to exist here, or one this process may not read is
// read through its server. Any failed read goes to the server too, which then sees the trouble
// itself (a corrupt shard it reports and repair rebuilds, a disk error it counts); an error that
// is the disk's, not the shard's, sends every read of that disk to its server until it is looked
// at again.
import type { BufferPool, Leased } from '../common/buffer-pool.ts';
import { Slots } from '../common/slots.ts';
import { readExpectation } from '../data/data-service.ts';
import { diskIdentityAt } from '../data/local-shard-reads.ts';
import { REPAIR_READS_PER_DISK_MAX } from '../data/repair-slots.ts';
import { ShardStore } from '../data/shard-store.ts';
import type { GetShardHeader } from '../data/types.ts';
import type { Logger } from '../observability/logger.ts';
import { repairPeerDiskReads } from '../observability/metrics.ts';

// How long a disk's identity check holds: a disk replaced under its path is read through its
// server again within this long (and every read is verified meanwhile).
const DISK_CHECK_MS = 10_000;
// Peer disks kept (each a read-only store): more than a host's disks; beyond, the oldest goes.
const PEER_DISKS_MAX = 256;

interface PeerDisk {
  here: boolean; // its directory holds the recorded identity, as last looked at
  checkedAtMs: number;
  checking: boolean;
  store: ShardStore; // over this one disk, read only
  slots: Slots; // this server's reads of it at once, as a peer bounds its repair reads
}

export class PeerDiskReads {
  private readonly disks = new Map<string, PeerDisk>(); // by path and identity, oldest first
  private readonly log: Logger;
  private readonly options: { synchronous: boolean; directReads: boolean };
  private readonly pool: BufferPool;

  // `synchronous`: direct reads on the calling thread (the repair thread's I/O class), as the
  // server's own disks are read here. `directReads`: whether to try reading past the page cache
  // (a disk that refuses is read through it from then on: ShardStore).
  constructor(
    log: Logger,
    pool: BufferPool,
    options: { synchronous: boolean; directReads: boolean },
  ) {
    this.log = log;
    this.pool = pool;
    this.options = options;
  }

  // The shard read from the disk at `diskPath` (recorded with identity `diskId`), or undefined
  // when that disk is not known to be here: the caller asks its server. Rejects as the server's
  // read would; the caller then asks the server all the same.
  read(
    serverId: string,
    at: { diskPath: string; diskId: string },
    h: GetShardHeader,
  ): Promise<Leased> | undefined {
    const disk = this.diskAt(at.diskPath, at.diskId);
    if (!disk.here) return undefined;
    return this.readFrom(disk, serverId, at.diskPath, h);
  }

  private async readFrom(
    disk: PeerDisk,
    serverId: string,
    diskPath: string,
    h: GetShardHeader,
  ): Promise<Leased> {
    const release = await disk.slots.acquire();
    try {
      const expect = readExpectation(h);
      const blockChecks = h.readerAuthenticates !== true;
      const address = { stripeId: h.stripeId, shardIndex: h.shardIndex, disk: 0 };
      const offset = h.offset ?? undefined;
      const length = h.length ?? undefined;
      const leased = await disk.store.getLeased(address, offset, length, expect, this.pool, {
        blockChecks,
        direct: true,
      });
      repairPeerDiskReads.inc({ result: 'ok' });
      return leased;
    } catch (error) {
      repairPeerDiskReads.inc({ result: 'fallback' });
      // A shard's own trouble (moved away, a bad block) says nothing of its disk.
      const code = (error as { code?: unknown }).code;
      if (code !== 'SHARD_MISSING' && code !== 'SHARD_CORRUPT') {
        disk.here = false;
        disk.checkedAtMs = Date.now();
      }
      this.log.warn("a peer's shard not read from its disk here; asking the peer", {
        serverId,
        diskPath,
        stripeId: h.stripeId,
        shardIndex: h.shardIndex,
        error,
      });
      throw error;
    } finally {
      release();
    }
  }

  // The disk's entry, its identity looked at again in the background once DISK_CHECK_MS old
  // (not here until the first look answers).
  private diskAt(diskPath: string, diskId: string): PeerDisk {
    const key = `${diskPath}\0${diskId}`;
    let disk = this.disks.get(key);
    if (disk === undefined) {
      disk = {
        here: false,
        checkedAtMs: 0,
        checking: false,
        store: new ShardStore([diskPath], {
          readsOf: {
            directReads: [this.options.directReads],
            synchronous: this.options.synchronous,
          },
          log: this.log,
        }),
        slots: new Slots(REPAIR_READS_PER_DISK_MAX),
      };
      this.disks.set(key, disk);
      if (this.disks.size > PEER_DISKS_MAX) {
        const [oldestKey, oldest] = this.disks.entries().next().value as [string, PeerDisk];
        this.disks.delete(oldestKey);
        void oldest.store.close();
      }
    }
    if (!disk.checking && Date.now() - disk.checkedAtMs > DISK_CHECK_MS) {
      const entry = disk;
      entry.checking = true;
      void diskIdentityAt(diskPath).then((id) => {
        entry.here = id === diskId;
        entry.checkedAtMs = Date.now();
        entry.checking = false;
      });
    }
    return disk;
  }

  async close(): Promise<void> {
    await Promise.all([...this.disks.values()].map((d) => d.store.close()));
    this.disks.clear();
  }
}
