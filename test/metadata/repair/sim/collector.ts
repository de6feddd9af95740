// The orphan scrubber (src/metadata/scrubber.ts) over the simulated disks: on each server recorded
// up or draining that answers, every file older than the grace is deleted when no stripe is
// recorded for it (a write that failed) or when its stripe's record names another location for
// that shard (stale: replaced while its server was down). mayDeleteShard is the guard, as there.
import { mayDeleteShard } from '../../../../src/metadata/repair/index.ts';
import type { SimCluster } from './cluster.ts';

export interface CollectorStats {
  orphans: number;
  stale: number;
}

export function collect(
  cluster: SimCluster,
  nowMs: number,
  orphanGraceMs: number,
  stats: CollectorStats,
): void {
  for (const record of cluster.records.values()) {
    if (record.state !== 'up' && record.state !== 'draining') continue;
    const server = cluster.server(record.serverId);
    if (server.process !== 'running') continue; // the listing fails; the next run tries again
    for (const disk of server.disks) {
      if (disk.failed) continue;
      const here = { serverId: record.serverId, disk: disk.disk };
      for (const [key, writtenAtMs] of [...disk.files]) {
        if (nowMs - writtenAtMs < orphanGraceMs) continue;
        const [stripeId, index] = splitKey(key);
        const stripe = cluster.stripes.get(stripeId);
        if (stripe === undefined) {
          cluster.deleteShard(here, stripeId, index, 'orphan');
          stats.orphans++;
        } else if (mayDeleteShard(stripe, index, here)) {
          cluster.deleteShard(here, stripeId, index, 'stale');
          stats.stale++;
        }
      }
    }
  }
}

function splitKey(key: string): [string, number] {
  const slash = key.lastIndexOf('/');
  return [key.slice(0, slash), Number(key.slice(slash + 1))];
}
