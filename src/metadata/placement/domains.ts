// Failure domains and the domain rule: no domain holds more than m shards of a stripe whenever the
// cluster has enough domains for that, at the widest level (zone, rack, host) that has them. With
// 3 hosts and 4+2 coding that is 2 shards per host, so losing any one host loses at most m shards.
import assert from 'node:assert/strict';
import type { ShardLocation } from '../types.ts';
import type { Candidate, DomainLevel, FailureDomain, PlacementServer } from './types.ts';
import { domainLevels } from './types.ts';

// Disks that may receive a new shard: the server is up, the disk is up and has room. Suspect,
// down, draining and removed servers never receive one, nor failed or draining disks.
export function liveCandidates(servers: readonly PlacementServer[]): Candidate[] {
  const candidates: Candidate[] = [];
  for (const server of servers) {
    if (server.state !== 'up') continue;
    for (const disk of server.disks) {
      if (disk.state !== 'up' || disk.freeBytes <= 0) continue;
      candidates.push({
        serverId: server.serverId,
        disk: disk.disk,
        domain: server.domain,
        freeBytes: disk.freeBytes,
      });
    }
  }
  // Sorted so that every caller sees the same order whatever order the servers came in.
  candidates.sort(compareLocations);
  return candidates;
}

export function compareLocations(a: ShardLocation, b: ShardLocation): number {
  if (a.serverId !== b.serverId) return a.serverId < b.serverId ? -1 : 1;
  return a.disk - b.disk;
}

export function locationKey(location: ShardLocation): string {
  return `${location.serverId}\n${location.disk}`;
}

// A domain is named by its whole path, so rack "r1" of zone "a" and of zone "b" are different.
export function domainKey(domain: FailureDomain, level: Exclude<DomainLevel, 'server'>): string {
  if (level === 'zone') return domain.zone;
  if (level === 'rack') return `${domain.zone}\n${domain.rack}`;
  return `${domain.zone}\n${domain.rack}\n${domain.host}`;
}

// The domain of a server (or of one of its disks) at any level, the server's own included.
export function serverDomainKey(
  server: { serverId: string; domain: FailureDomain },
  level: DomainLevel,
): string {
  if (level !== 'server') return domainKey(server.domain, level);
  return `${domainKey(server.domain, 'host')}\n${server.serverId}`;
}

// The smallest per-domain cap that lets `width` shards fit, each domain holding at most one shard
// per disk: water-filling, which is also what an even spread reaches. Infinity if they cannot fit.
export function minimalCap(domainSizes: readonly number[], width: number): number {
  assert.ok(width >= 1, `a stripe has at least one shard, got ${width}`);
  const total = domainSizes.reduce((sum, size) => sum + size, 0);
  if (total < width) return Number.POSITIVE_INFINITY;
  for (let cap = Math.ceil(width / domainSizes.length); ; cap++) {
    const fits = domainSizes.reduce((sum, size) => sum + Math.min(cap, size), 0);
    if (fits >= width) return cap;
  }
}

export interface DomainRule {
  level: DomainLevel;
  cap: number; // most shards of one stripe a domain at `level` may hold
  enforced: boolean; // false: too few domains for the rule; `cap` is then only the best spread
}

// The rule for a stripe of `width` shards with `m` parity shards over these candidates: the widest
// level whose domains can hold the stripe with at most m shards each. When no level can (one
// server, or two with 4+2), the server level with the smallest cap that fits: as spread as it gets.
export function domainRule(candidates: readonly Candidate[], width: number, m: number): DomainRule {
  assert.ok(m >= 0 && m < width, `parity count ${m} must be below the width ${width}`);
  for (const level of domainLevels) {
    const cap = minimalCap(domainSizes(candidates, level), width);
    if (cap <= m) return { level, cap: m, enforced: true };
  }
  const cap = minimalCap(domainSizes(candidates, 'server'), width);
  return { level: 'server', cap, enforced: false };
}

// Live disks per domain at the level (a domain holds at most one shard of a stripe per disk).
export function domainSizes(candidates: readonly Candidate[], level: DomainLevel): number[] {
  const sizes = new Map<string, number>();
  for (const c of candidates) {
    const key = serverDomainKey(c, level);
    sizes.set(key, (sizes.get(key) ?? 0) + 1);
  }
  return [...sizes.values()];
}
