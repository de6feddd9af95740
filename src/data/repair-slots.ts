// Bounds the repair work a data server takes on: per disk, the rebuilds writing to it
// (data.rebuildShard) and the reads peers make of it for their rebuilds (getShard marked
// `background`); and, over the whole server, both as its clients allow (repair-yield.ts: the
// level halves while client reads here wait on a lagging event loop, and grows back by one per
// window). Client reads are never queued here. A repair's work is spread over every surviving
// server, but without a bound one server can hold many of the leader's tasks at once (as target
// and as source), and a client read on it waits behind all of them in its event loop: in
// benches/repair at 16 tasks, GET p50 went from ~130 ms at rest to ~760 ms during repair.
// Work waits in arrival order; time waiting counts against the caller's deadline.
//
// No deadlock: a rebuild holds its slots while it waits for its sources' reads at other servers,
// but a read holds its slots only while it reads its own disk, never waiting on anything else.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { Slots } from '../common/slots.ts';

export const REBUILDS_PER_DISK_MAX = 2;
export const REPAIR_READS_PER_DISK_MAX = 4;
// Over the whole server, at yield level L: L rebuilds and READS_PER_LEVEL x L repair reads.
// A rebuild reads k shards from k servers, so each server serves about as many repair reads as
// it runs rebuilds; twice that keeps the sources from being the narrower pipe.
export const READS_PER_LEVEL = 2;

export class RepairSlots {
  // The highest yield level: every disk's rebuild bound (nothing held back by clients).
  readonly levelMax: number;
  private readonly rebuilds: Slots[];
  private readonly reads: Slots[];
  private readonly serverRebuilds: Slots;
  private readonly serverReads: Slots;
  private level: number;

  constructor(diskCount: number) {
    assert(Number.isInteger(diskCount) && diskCount > 0, 'a data server has disks');
    this.rebuilds = Array.from({ length: diskCount }, () => new Slots(REBUILDS_PER_DISK_MAX));
    this.reads = Array.from({ length: diskCount }, () => new Slots(REPAIR_READS_PER_DISK_MAX));
    this.levelMax = diskCount * REBUILDS_PER_DISK_MAX;
    this.level = this.levelMax;
    this.serverRebuilds = new Slots(this.level);
    this.serverReads = new Slots(READS_PER_LEVEL * this.level);
  }

  rebuild<T>(disk: number, deadlineMs: number, work: () => Promise<T>): Promise<T> {
    return held([this.slotsOf(this.rebuilds, disk), this.serverRebuilds], deadlineMs, work);
  }

  read<T>(disk: number, deadlineMs: number, work: () => Promise<T>): Promise<T> {
    return held([this.slotsOf(this.reads, disk), this.serverReads], deadlineMs, work);
  }

  // Repair work running here now (for the yield's quiet baseline).
  get busy(): boolean {
    return this.serverRebuilds.inUse > 0 || this.serverReads.inUse > 0;
  }

  get yieldLevel(): number {
    return this.level;
  }

  // The server-wide bounds at yield level `level` (1 to levelMax).
  setYieldLevel(level: number): void {
    assert(Number.isInteger(level) && level >= 1 && level <= this.levelMax, `level ${level}`);
    this.level = level;
    this.serverRebuilds.resize(level);
    this.serverReads.resize(READS_PER_LEVEL * level);
  }

  private slotsOf(slots: Slots[], disk: number): Slots {
    const found = slots[disk];
    if (found === undefined) throw new StrataError('EINVAL', `no disk ${disk}`);
    return found;
  }
}

// Takes the slots in order (the disk's, then the server's: always the same order, so two works
// never wait on each other's), runs the work, gives them back.
async function held<T>(slots: Slots[], deadlineMs: number, work: () => Promise<T>): Promise<T> {
  const releases: Array<() => void> = [];
  try {
    for (const s of slots) releases.push(await s.acquire());
    // The caller gave up while this waited: its work would only be thrown away.
    if (Date.now() > deadlineMs)
      throw new StrataError('RPC_TIMEOUT', 'repair work waited past its deadline');
    return await work();
  } finally {
    for (const release of releases.reverse()) release();
  }
}
