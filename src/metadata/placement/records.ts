// The replicated server records (DataServerInfo) as placement sees them. One conversion, used by
// the writers that place stripes and by the state machine that checks them, so both judge the
// same cluster.
import type { DataServerInfo } from '../types.ts';
import type { PlacementServer } from './types.ts';

// A disk registered but not reported by a heartbeat yet (capacity 0) has unknown free space. It
// still takes shards, at the smallest weight: a data server is registered a moment before its
// first heartbeat, and a cluster that just started must take writes (a disk reported full, with
// capacity and no free bytes, takes none).
const UNREPORTED_FREE_BYTES = 1;

export function placementServers(records: readonly DataServerInfo[]): PlacementServer[] {
  return records.map((record) => ({
    serverId: record.serverId,
    state: record.state ?? 'up',
    domain: record.domain,
    disks: record.disks.map((d) => {
      const capacityBytes = d.capacityBytes ?? 0;
      return {
        disk: d.disk,
        state: d.state ?? 'up',
        capacityBytes,
        freeBytes: capacityBytes === 0 ? UNREPORTED_FREE_BYTES : (d.freeBytes ?? 0),
      };
    }),
  }));
}
