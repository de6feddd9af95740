// Which of a heartbeat's disk figures are worth a Raft entry. Heartbeats come every second;
// recording each would grow the log by one entry per server per second. A disk's state change is
// recorded at once; its space only when it moved by a noticeable share of the disk, enough for
// least-loaded placement, which weighs disks by free bytes, to see the difference.
import assert from 'node:assert/strict';
import type { DiskState } from '../placement/types.ts';

export interface RecordedDisk {
  disk: number;
  state?: DiskState;
  diskId?: string; // the identity of the disk the shards recorded here were written to
  capacityBytes?: number;
  freeBytes?: number;
}

export interface ReportedDisk {
  disk: number;
  online: boolean; // the server could stat the disk
  capacityBytes: number;
  freeBytes: number;
  diskId?: string; // its identity file (src/data/shard-store.ts); servers before it send none
}

export interface DiskUpdate {
  disk: number;
  state: DiskState;
  capacityBytes: number;
  freeBytes: number;
  diskId?: string; // present when the record adopts the disk's identity
}

// 1% of the disk, and at least 64 MiB: small enough for placement, rare enough for the log.
export const FREE_BYTES_CHANGE_FRACTION = 0.01;
export const FREE_BYTES_CHANGE_MIN = 64 * 1024 * 1024;

// The updates to record for a server's recorded disks, or [] when nothing changed noticeably.
// Disks the report does not name keep their record (the server re-registers to change its disks);
// reported disks the record does not have are ignored for the same reason.
//
// A disk reported with another identity than the recorded one was replaced (an empty disk at the
// same path): the shards recorded there are gone. While any are recorded (`shardsOn`), the disk
// is failed, so repair rebuilds them elsewhere; once none is left, the record adopts the new
// identity and the disk is up again, empty. The first identity heard for a disk is adopted.
export function diskUpdates(
  recorded: readonly RecordedDisk[],
  reported: readonly ReportedDisk[],
  shardsOn: (disk: number) => number = () => 0,
): DiskUpdate[] {
  const updates: DiskUpdate[] = [];
  for (const disk of recorded) {
    const report = reported.find((r) => r.disk === disk.disk);
    if (report === undefined) continue;
    assert.ok(report.freeBytes >= 0 && report.capacityBytes >= 0, 'disk sizes are >= 0');
    const otherIdentity =
      report.online && report.diskId !== undefined && report.diskId !== disk.diskId;
    const lostShards = otherIdentity && disk.diskId !== undefined && shardsOn(disk.disk) > 0;
    // A failed disk reads as no space; draining is the operator's and survives while online.
    const state: DiskState =
      !report.online || lostShards ? 'failed' : disk.state === 'draining' ? 'draining' : 'up';
    const capacityBytes = report.online ? report.capacityBytes : 0;
    const freeBytes = report.online ? Math.min(report.freeBytes, capacityBytes) : 0;
    const threshold = Math.max(FREE_BYTES_CHANGE_MIN, capacityBytes * FREE_BYTES_CHANGE_FRACTION);
    const adopt = otherIdentity && !lostShards;
    const changed =
      adopt ||
      state !== (disk.state ?? 'up') ||
      capacityBytes !== (disk.capacityBytes ?? 0) ||
      Math.abs(freeBytes - (disk.freeBytes ?? 0)) >= threshold;
    if (changed)
      updates.push({
        disk: disk.disk,
        state,
        capacityBytes,
        freeBytes,
        ...(adopt ? { diskId: report.diskId } : {}),
      });
  }
  return updates;
}
