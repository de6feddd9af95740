// The cluster as the repair scheduler sees it, from the replicated data server records, and the
// count of shards a stripe is missing (for the degraded-stripes gauge).
import type { PlacementServer } from '../placement/types.ts';
import type { DataServerInfo } from '../types.ts';
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

// Whether anything in the cluster view makes shards lost: a down or removed server, a failed
// disk. When nothing does (and no scrub finding came), no stripe needs a walk to be found.
export function anyLoss(view: readonly PlacementServer[]): boolean {
  return view.some(
    (s) => s.state === 'down' || s.state === 'removed' || s.disks.some((d) => d.state === 'failed'),
  );
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
