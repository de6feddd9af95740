import assert from 'node:assert';
import { StrataError } from '../../common/errors.ts';
import type { ShardLocation } from '../types.ts';
import { rendezvousUnit } from './hash.ts';

// Chooses where the shards of one stripe go: `count` distinct (server, disk) targets, spread over
// as many servers as possible, by rendezvous (highest-random-weight) hashing of the stripe id.
// Pure and deterministic: the same stripe and the same target set give the same placement, and
// adding or removing one target moves only the shards that hashed to it.
export function placeStripe(
  stripeId: string,
  targets: ShardLocation[],
  count: number,
): ShardLocation[] {
  assert(count >= 1, 'a stripe has at least one shard');
  if (targets.length < count) {
    throw new StrataError(
      'NOT_ENOUGH_TARGETS',
      `a stripe needs ${count} distinct disks but the cluster has ${targets.length}`,
    );
  }
  const ranked = targets
    .map((target) => ({ target, score: score(stripeId, target) }))
    .sort((a, b) => b.score - a.score || compareTargets(a.target, b.target));
  const chosen: ShardLocation[] = [];
  const usedServers = new Set<string>();
  // First pass: at most one shard per server, so a server loss costs one shard where possible.
  for (const { target } of ranked) {
    if (chosen.length === count) break;
    if (usedServers.has(target.serverId)) continue;
    usedServers.add(target.serverId);
    chosen.push(target);
  }
  for (const { target } of ranked) {
    if (chosen.length === count) break;
    if (!chosen.includes(target)) chosen.push(target);
  }
  assert.equal(chosen.length, count);
  assert.equal(
    new Set(chosen.map((t) => `${t.serverId}/${t.disk}`)).size,
    count,
    'targets distinct',
  );
  return chosen;
}

function compareTargets(a: ShardLocation, b: ShardLocation): number {
  return a.serverId < b.serverId ? -1 : a.serverId > b.serverId ? 1 : a.disk - b.disk;
}

// The rendezvous score of a disk for a stripe (src/metadata/placement/hash.ts).
function score(stripeId: string, target: ShardLocation): number {
  return rendezvousUnit(stripeId, `${target.serverId}|${target.disk}`);
}
