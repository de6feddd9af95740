// Fair share, pure: from the shard counts per disk (src/metadata/shard-counts.ts) and the
// cluster view, how many shards each disk should give and take so that every live disk holds
// its fair share within a tolerance. The repair scheduler then picks which shards (planRepairs,
// reason 'balance') and where, within those budgets and the domain rule.
//
// - Live disks: up, on an up server, with a reported capacity (a disk not yet reported has no
//   weight). Shards elsewhere (draining, down, failed) belong to repair and drain, not here.
// - A disk's fair share: the live disks' shards in proportion to capacity (shard counts, not
//   bytes: shards of one cluster are about the same size, and counts are what the state machine
//   keeps).
// - Within tolerance: |shards - fair| <= max(FAIR_SHARE_TOLERANCE * fair, 1) (one shard of slack,
//   so small counts, which cannot split evenly, are balanced).
// - The budgets: the most loaded disk (relative to its share) gives one to the least loaded,
//   while one of them is out of tolerance and the move does not overturn their order. Every move
//   lowers the sum of squared deviations, so it ends; a balanced cluster plans no move.
import assert from 'node:assert/strict';
import { locationKey } from '../placement/domains.ts';
import type { PlacementServer } from '../placement/types.ts';
import type { DiskShardCount } from '../types.ts';

export const FAIR_SHARE_TOLERANCE = 0.1;
const SLACK_SHARDS = 1;

export interface DiskLoad {
  key: string; // locationKey of the disk
  serverId: string;
  disk: number;
  shards: number;
  fairShards: number; // not an integer in general
}

export interface BalanceBudget {
  give: Map<string, number>; // disk key -> shards to move off it
  take: Map<string, number>; // disk key -> shards it may receive
  moves: number; // sum of give (= sum of take)
}

export function liveDiskLoads(
  servers: readonly PlacementServer[],
  counts: readonly DiskShardCount[],
): DiskLoad[] {
  const held = new Map(counts.map((c) => [locationKey(c), c.shards]));
  const live = servers
    .filter((s) => s.state === 'up')
    .flatMap((s) =>
      s.disks
        .filter((d) => d.state === 'up' && d.capacityBytes > 0)
        .map((d) => ({ serverId: s.serverId, disk: d.disk, weight: d.capacityBytes })),
    );
  const totalWeight = live.reduce((sum, d) => sum + d.weight, 0);
  const keyed = live.map((d) => ({ ...d, key: locationKey(d) }));
  const total = keyed.reduce((sum, d) => sum + (held.get(d.key) ?? 0), 0);
  return keyed.map(({ key, serverId, disk, weight }) => ({
    key,
    serverId,
    disk,
    shards: held.get(key) ?? 0,
    fairShards: (total * weight) / totalWeight,
  }));
}

export function withinTolerance(load: DiskLoad): boolean {
  const slack = Math.max(FAIR_SHARE_TOLERANCE * load.fairShards, SLACK_SHARDS);
  return Math.abs(load.shards - load.fairShards) <= slack;
}

// The shards each disk gives and takes; at most `movesMax` moves (the rest at a later pass).
export function balanceBudget(loads: readonly DiskLoad[], movesMax: number): BalanceBudget {
  assert.ok(Number.isSafeInteger(movesMax) && movesMax >= 0, 'movesMax is a count');
  const give = new Map<string, number>();
  const take = new Map<string, number>();
  const work = loads.filter((l) => l.fairShards > 0).map((l) => ({ ...l }));
  const ratio = (l: DiskLoad, delta = 0) => (l.shards + delta) / l.fairShards;
  let moves = 0;
  while (moves < movesMax && work.length >= 2) {
    let most = work[0];
    let least = work[0];
    for (const l of work) {
      if (ratio(l) > ratio(most) || (ratio(l) === ratio(most) && l.key < most.key)) most = l;
      if (ratio(l) < ratio(least) || (ratio(l) === ratio(least) && l.key < least.key)) least = l;
    }
    if (withinTolerance(most) && withinTolerance(least)) break;
    // Not overturning the order: the giver stays at least as loaded as the taker (no ping-pong).
    if (most === least || ratio(most, -1) < ratio(least, 1)) break;
    most.shards--;
    least.shards++;
    give.set(most.key, (give.get(most.key) ?? 0) + 1);
    take.set(least.key, (take.get(least.key) ?? 0) + 1);
    moves++;
  }
  // A disk that gave and later took (uneven weights) only nets the difference.
  for (const [key, given] of give) {
    const taken = take.get(key) ?? 0;
    const both = Math.min(given, taken);
    if (both === 0) continue;
    moves -= both;
    setOrDrop(give, key, given - both);
    setOrDrop(take, key, taken - both);
  }
  assert.equal(
    [...give.values()].reduce((a, b) => a + b, 0),
    [...take.values()].reduce((a, b) => a + b, 0),
    'every shard given is taken',
  );
  return { give, take, moves };
}

function setOrDrop(map: Map<string, number>, key: string, value: number): void {
  if (value > 0) map.set(key, value);
  else map.delete(key);
}
