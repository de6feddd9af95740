// The placement invariant as a pure check, for the state machine to assert on every committed
// stripe and for tests: k+m distinct targets on known disks, and the domain rule (no domain at the
// rule's level holds more than m shards) whenever the cluster has enough domains.
import type { ShardLocation } from '../types.ts';
import { ClusterMap } from './cluster-map.ts';
import { locationKey, serverDomainKey } from './domains.ts';
import type { PlacementServer } from './types.ts';

export type PlacementViolationCode =
  | 'WRONG_WIDTH'
  | 'DUPLICATE_TARGET'
  | 'UNKNOWN_TARGET'
  | 'NOT_LIVE'
  | 'DOMAIN_OVERLOADED';

export interface PlacementViolation {
  code: PlacementViolationCode;
  message: string;
}

export interface PlacedStripe {
  id: string;
  k: number;
  m: number;
  shards: readonly ShardLocation[];
}

export interface CheckPlacementOptions {
  // A stripe about to be written must be on live disks only; a committed one may have shards on
  // servers that have failed since (repair's business, not a placement error).
  requireLive?: boolean;
}

// The rule's level depends on the cluster, so check a stripe against the view it was placed under:
// a server joining between placement and commit can widen the level (see docs/architecture/healing.md).
// `cluster`: a ClusterMap when many stripes are checked against one view (it caches the rule).
export function checkPlacement(
  stripe: PlacedStripe,
  cluster: ClusterMap | readonly PlacementServer[],
  options: CheckPlacementOptions = {},
): PlacementViolation[] {
  const map = cluster instanceof ClusterMap ? cluster : ClusterMap.of(cluster);
  const violations: PlacementViolation[] = [];
  const width = stripe.k + stripe.m;
  if (stripe.shards.length !== width) {
    violations.push({
      code: 'WRONG_WIDTH',
      message: `stripe ${stripe.id} has ${stripe.shards.length} shards, expected k+m = ${width}`,
    });
  }
  const seen = new Set<string>();
  const liveKeys = options.requireLive ? new Set(map.candidates.map(locationKey)) : undefined;
  stripe.shards.forEach((location, index) => {
    const key = locationKey(location);
    if (seen.has(key)) violations.push(violation('DUPLICATE_TARGET', stripe, index, location));
    seen.add(key);
    const server = map.server(location.serverId);
    if (!server?.disks.some((d) => d.disk === location.disk)) {
      violations.push(violation('UNKNOWN_TARGET', stripe, index, location));
    } else if (liveKeys !== undefined && !liveKeys.has(key)) {
      violations.push(violation('NOT_LIVE', stripe, index, location));
    }
  });
  const rule = map.rule(width, stripe.m);
  if (!rule.enforced) return violations;
  const perDomain = new Map<string, number>();
  for (const location of stripe.shards) {
    const server = map.server(location.serverId);
    if (!server) continue;
    const key = serverDomainKey(server, rule.level);
    perDomain.set(key, (perDomain.get(key) ?? 0) + 1);
  }
  for (const [key, shards] of perDomain) {
    if (shards <= stripe.m) continue;
    violations.push({
      code: 'DOMAIN_OVERLOADED',
      message:
        `stripe ${stripe.id} has ${shards} shards in ${rule.level} ${key.replaceAll('\n', '/')}, ` +
        `more than m = ${stripe.m}`,
    });
  }
  return violations;
}

function violation(
  code: PlacementViolationCode,
  stripe: PlacedStripe,
  index: number,
  location: ShardLocation,
): PlacementViolation {
  const where = `${location.serverId} disk ${location.disk}`;
  const what = {
    WRONG_WIDTH: 'has the wrong width',
    DUPLICATE_TARGET: 'shares its target with another shard',
    UNKNOWN_TARGET: 'is on a server or disk the cluster does not know',
    NOT_LIVE: 'is on a server or disk that is not live',
    DOMAIN_OVERLOADED: 'overloads its domain',
  }[code];
  return { code, message: `stripe ${stripe.id} shard ${index} (${where}) ${what}` };
}
