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
// - Within tolerance: |shards - fair| <= max(FAIR_SHARE_TOLERANCE * fair, 3 * sqrt(fair), 1).
//   10% is the stated goal for a cluster of any size. 3 * sqrt(fair) is three standard
//   deviations of the count that random placement gives a disk (about binomial): below a few
//   hundred shards per disk, placement's own noise would otherwise be "imbalance", and every
//   write would start moves. One shard: counts cannot split evenly.
// - The budgets: the disk furthest outside its tolerance gives one (or takes one) to (from) the
//   disk that ends least (most) loaded relative to its share, one shard at a time, never
//   overturning their order. Each move lowers sum(shards^2 / fair), so it ends; a balanced
//   cluster plans no move.
import assert from 'node:assert/strict';
import { locationKey } from '../placement/domains.ts';
import type { PlacementServer } from '../placement/types.ts';
import type { DiskShardCount } from '../types.ts';

export const FAIR_SHARE_TOLERANCE = 0.1;
const NOISE_DEVIATIONS = 3;
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
  return Math.abs(load.shards - load.fairShards) <= slackOf(load.fairShards);
}

function slackOf(fairShards: number): number {
  const noise = NOISE_DEVIATIONS * Math.sqrt(fairShards);
  return Math.max(FAIR_SHARE_TOLERANCE * fairShards, noise, SLACK_SHARDS);
}

// The shards each disk gives and takes; at most `movesMax` moves (the rest at a later pass).
export function balanceBudget(loads: readonly DiskLoad[], movesMax: number): BalanceBudget {
  assert.ok(Number.isSafeInteger(movesMax) && movesMax >= 0, 'movesMax is a count');
  const give = new Map<string, number>();
  const take = new Map<string, number>();
  const work = loads.filter((l) => l.fairShards > 0).map((l) => ({ ...l }));
  let moves = 0;
  while (moves < movesMax && work.length >= 2) {
    const pair = nextMove(work);
    if (pair === undefined) break;
    const [giver, taker] = pair;
    giver.shards--;
    taker.shards++;
    give.set(giver.key, (give.get(giver.key) ?? 0) + 1);
    take.set(taker.key, (take.get(taker.key) ?? 0) + 1);
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

const ratio = (l: DiskLoad, delta = 0) => (l.shards + delta) / l.fairShards;
const excess = (l: DiskLoad) => Math.abs(l.shards - l.fairShards) - slackOf(l.fairShards);

// The next move: the disk furthest outside its tolerance gives (when over) to the disk that would
// be least loaded after taking one, or takes (when under) from the disk that would be most loaded
// after giving one, unless that overturns their order (the giver would end less loaded than the
// taker: no ping-pong). Undefined when every disk is within tolerance or no move helps.
function nextMove(work: readonly DiskLoad[]): [DiskLoad, DiskLoad] | undefined {
  const outside = work
    .filter((l) => !withinTolerance(l))
    .sort((a, b) => excess(b) - excess(a) || (a.key < b.key ? -1 : 1));
  for (const disk of outside) {
    const over = disk.shards > disk.fairShards;
    let other: DiskLoad | undefined;
    for (const l of work) {
      if (l === disk) continue;
      const better =
        other === undefined ||
        (over ? ratio(l, 1) < ratio(other, 1) : ratio(l, -1) > ratio(other, -1));
      if (better) other = l;
    }
    if (other === undefined) return undefined;
    const [giver, taker] = over ? [disk, other] : [other, disk];
    if (giver.shards > 0 && ratio(giver, -1) >= ratio(taker, 1)) return [giver, taker];
  }
  return undefined;
}
