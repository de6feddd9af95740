// Bounds the repair work a data server takes on, per disk: the rebuilds writing to it
// (data.rebuildShard) and the reads peers make of it for their rebuilds (getShard marked
// `background`). Client reads are never queued here. A repair's work is spread over every
// surviving server, but without a bound one server can hold many of the leader's tasks at once
// (as target and as source), and a client read on it waits behind all of them in its event loop:
// in benches/repair at 16 tasks, GET p50 went from ~130 ms at rest to ~760 ms during repair.
// Work waits in arrival order; time waiting counts against the caller's deadline.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { Slots } from '../common/slots.ts';

export const REBUILDS_PER_DISK_MAX = 2;
export const REPAIR_READS_PER_DISK_MAX = 4;

export class RepairSlots {
  private readonly rebuilds: Slots[];
  private readonly reads: Slots[];

  constructor(diskCount: number) {
    assert(Number.isInteger(diskCount) && diskCount > 0, 'a data server has disks');
    this.rebuilds = Array.from({ length: diskCount }, () => new Slots(REBUILDS_PER_DISK_MAX));
    this.reads = Array.from({ length: diskCount }, () => new Slots(REPAIR_READS_PER_DISK_MAX));
  }

  rebuild<T>(disk: number, deadlineMs: number, work: () => Promise<T>): Promise<T> {
    return held(this.slotsOf(this.rebuilds, disk), deadlineMs, work);
  }

  read<T>(disk: number, deadlineMs: number, work: () => Promise<T>): Promise<T> {
    return held(this.slotsOf(this.reads, disk), deadlineMs, work);
  }

  private slotsOf(slots: Slots[], disk: number): Slots {
    const found = slots[disk];
    if (found === undefined) throw new StrataError('EINVAL', `no disk ${disk}`);
    return found;
  }
}

async function held<T>(slots: Slots, deadlineMs: number, work: () => Promise<T>): Promise<T> {
  const release = await slots.acquire();
  try {
    // The caller gave up while this waited: its work would only be thrown away.
    if (Date.now() > deadlineMs)
      throw new StrataError('RPC_TIMEOUT', 'repair work waited past its deadline');
    return await work();
  } finally {
    release();
  }
}
