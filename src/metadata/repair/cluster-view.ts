// The cluster as the repair scheduler sees it, from the replicated data server records, and the
// count of shards a stripe is missing (for the degraded-stripes gauge).
import type { PlacementServer } from '../placement/types.ts';
import type { DataServerInfo, DiskShardCount } from '../types.ts';
import { conditionOf } from './scheduler.ts';
import type { RepairStripe, ScrubFinding } from './types.ts';

export function placementView(servers: readonly DataServerInfo[]): PlacementServer[] {
  return servers.map((s) => ({
    serverId: s.serverId,
    state: s.state,
    domain: s.domain,
    disks: s.disks.map((d) => ({
      disk: d.disk,
      state: d.state ?? 'up',
      capacityBytes: d.capacityBytes ?? 0,
      freeBytes: d.freeBytes ?? 0,
    })),
  }));
}

// Whether a server or disk whose shards must be rebuilt or moved (down, removed, draining, a
// failed or draining disk) holds any, by the state machine's shard counts: when none does (and no
// scrub finding came), no stripe needs a walk to be found. A down server that holds nothing (all
// rebuilt already) no longer makes every pass walk.
export function workHeld(
  view: readonly PlacementServer[],
  counts: readonly DiskShardCount[],
): boolean {
  const servers = new Map(view.map((s) => [s.serverId, s]));
  return counts.some((c) => {
    if (c.shards === 0) return false;
    const server = servers.get(c.serverId);
    const disk = server?.disks.find((d) => d.disk === c.disk);
    // Shards on a server or disk the records do not know are lost as far as repair can tell.
    if (server === undefined || disk === undefined) return true;
    return server.state !== 'up' && server.state !== 'suspect' ? true : disk.state !== 'up';
  });
}

// Shards of the stripe that cannot be read now (lost or on a suspect server).
export function missingShards(
  stripe: RepairStripe,
  servers: ReadonlyMap<string, PlacementServer>,
  findings: ReadonlySet<string>,
): number {
  let missing = 0;
  stripe.shards.forEach((location, i) => {
    const condition = conditionOf(location, servers, findings.has(`${stripe.id}/${i}`));
    if (condition === 'lost' || condition === 'unavailable') missing++;
  });
  return missing;
}

export function findingKeys(findings: readonly ScrubFinding[]): Set<string> {
  return new Set(findings.map((f) => `${f.stripeId}/${f.shardIndex}`));
}
