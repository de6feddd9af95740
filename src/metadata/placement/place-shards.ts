// The placement strategies, one pure function: where the shards of a stripe go, given the cluster.
//
// Every strategy ranks candidate disks by a rendezvous score of (stripe id, disk) and then takes
// disks greedily, skipping any whose domain already holds `rule.cap` shards of the stripe:
// - random: uniform scores; the domain rule is the only spreading.
// - spread-domains: uniform scores, but the next shard always goes to the domain (at the rule's
//   level, then each narrower level down to the host) holding the fewest shards of the stripe, so
//   shards are spread as evenly as the topology allows (CRUSH's "choose across domains" idea).
// - least-loaded: straw2 scores weighted by the disk's free bytes, so emptier disks win more often.
// A disk is scored on its own, so adding or removing one server only changes the rankings that
// involve its disks: for a fixed rule level and cap, the targets that change when a server joins are
// all on that server, and when one leaves, only the targets that were on it change
// (test/metadata/placement/strategies.test.ts checks both).
import assert from 'node:assert/strict';
import { StrataError } from '../../common/errors.ts';
import type { ShardLocation } from '../types.ts';
import { ClusterMap } from './cluster-map.ts';
import { type DomainRule, locationKey } from './domains.ts';
import { rendezvousUnit, straw2Score } from './hash.ts';
import { domainLevels, type PlacementServer, type PlacementStrategy } from './types.ts';

export interface PlaceShardsRequest {
  strategy: PlacementStrategy;
  stripeId: string;
  width: number; // k + m: shards of the whole stripe (the domain rule is about all of them)
  m: number; // parity shards: the most shards one domain may hold
  count: number; // shards to place now: `width` for a new stripe, fewer for a repair
  cluster: ClusterMap | readonly PlacementServer[];
  // Shards of this stripe that stay where they are: they count against their domains' caps.
  kept?: readonly ShardLocation[];
  // Servers that must not receive a shard (none may, whatever their disks).
  avoidServers?: ReadonlySet<string>;
  // Disks that must not receive a shard (locationKey): for a repair, every disk that holds or
  // held a shard of the stripe. Other disks of those servers may, within the domain rule.
  avoidDisks?: ReadonlySet<string>;
}

export function placeShards(request: PlaceShardsRequest): ShardLocation[] {
  const { width, m, count } = request;
  const kept = request.kept ?? [];
  assert.ok(count >= 1 && count + kept.length <= width, `cannot place ${count} of ${width} shards`);
  const map =
    request.cluster instanceof ClusterMap ? request.cluster : ClusterMap.of(request.cluster);
  const rule = map.rule(width, m);
  const ruleLevel = domainLevels.indexOf(rule.level);
  // spread-domains balances at the rule's level and each narrower one; the others only through
  // the cap at the rule's level.
  const firstSpread = request.strategy === 'spread-domains' ? ruleLevel : domainLevels.length;
  const counts = map.domainCounts.map((n) => new Int32Array(n));
  for (const location of kept) {
    const server = map.server(location.serverId);
    if (!server) continue;
    domainLevels.forEach((level, l) => {
      counts[l][map.domainId(server, level)]++;
    });
  }
  const eligible = eligibility(map, kept, request);
  const scores = map.candidates.map((c) =>
    request.strategy === 'least-loaded'
      ? straw2Score(request.stripeId, `${c.serverId}\n${c.disk}`, c.freeBytes)
      : rendezvousUnit(request.stripeId, `${c.serverId}\n${c.disk}`),
  );
  const chosen: ShardLocation[] = [];
  while (chosen.length < count) {
    let best = -1;
    for (let i = 0; i < eligible.length; i++) {
      if (!eligible[i] || counts[ruleLevel][map.domainIds[ruleLevel][i]] >= rule.cap) continue;
      if (best < 0 || before(map, counts, firstSpread, i, best, scores)) best = i;
    }
    if (best < 0) throw notEnoughTargets(request, rule, chosen.length);
    eligible[best] = 0;
    for (let l = 0; l < domainLevels.length; l++) counts[l][map.domainIds[l][best]]++;
    chosen.push({ serverId: map.candidates[best].serverId, disk: map.candidates[best].disk });
  }
  assert.equal(new Set(chosen.map((c) => `${c.serverId}\n${c.disk}`)).size, count, 'distinct');
  return chosen;
}

// 1 for a candidate that may take a shard: not on an avoided server, not an avoided disk, nor a
// disk holding a kept shard. A server holding kept shards may take another on another disk: the
// domain rule's cap (counted with the kept shards) is what limits a server's share, so with 3
// servers and 4+2 a lost disk is rebuilt on another disk of its server (2 shards each again).
function eligibility(
  map: ClusterMap,
  kept: readonly ShardLocation[],
  request: Pick<PlaceShardsRequest, 'avoidServers' | 'avoidDisks'>,
): Uint8Array {
  const avoidServers = request.avoidServers ?? new Set<string>();
  const avoidDisks = new Set(request.avoidDisks ?? []);
  for (const location of kept) avoidDisks.add(locationKey(location));
  return Uint8Array.from(map.candidates, (c) =>
    avoidServers.has(c.serverId) || avoidDisks.has(locationKey(c)) ? 0 : 1,
  );
}

// Whether candidate a goes before b: fewer shards of the stripe in its domains from `firstSpread`
// down to the host, then the higher score, then the lower location (candidates are sorted).
function before(
  map: ClusterMap,
  counts: readonly Int32Array[],
  firstSpread: number,
  a: number,
  b: number,
  scores: readonly number[],
): boolean {
  for (let l = firstSpread; l < domainLevels.length; l++) {
    const loadA = counts[l][map.domainIds[l][a]];
    const loadB = counts[l][map.domainIds[l][b]];
    if (loadA !== loadB) return loadA < loadB;
  }
  return scores[a] > scores[b];
}

function notEnoughTargets(request: PlaceShardsRequest, rule: DomainRule, placed: number) {
  return new StrataError(
    'NOT_ENOUGH_TARGETS',
    `stripe ${request.stripeId} needs ${request.count} more disks of ${request.width} (at most ` +
      `${rule.cap} per ${rule.level}), but only ${placed} live disks could take one`,
  );
}
