// A snapshot of the cluster prepared for placement: the live disks, each with its domain at every
// level as a small integer, and the domain rule's inputs. Built once per cluster change (as Ceph
// builds an OSD map epoch), then used for every stripe: placing one stripe allocates little.
import assert from 'node:assert/strict';
import { type DomainRule, domainRule, liveCandidates, serverDomainKey } from './domains.ts';
import {
  type Candidate,
  type DomainLevel,
  domainLevels,
  type FailureDomain,
  type PlacementServer,
} from './types.ts';

export class ClusterMap {
  readonly servers: readonly PlacementServer[];
  readonly candidates: readonly Candidate[];
  // domainIds[level][i]: the domain of candidates[i] at domainLevels[level], numbered from 0.
  readonly domainIds: readonly Int32Array[];
  readonly domainCounts: readonly number[]; // domains per level
  readonly #domainNumbers: ReadonlyArray<Map<string, number>>;
  readonly #rules = new Map<string, DomainRule>();
  readonly #byId: ReadonlyMap<string, PlacementServer>;

  private constructor(servers: readonly PlacementServer[]) {
    this.servers = structuredClone(servers);
    this.candidates = liveCandidates(this.servers);
    this.#byId = new Map(this.servers.map((s) => [s.serverId, s]));
    const numbers = domainLevels.map(() => new Map<string, number>());
    // Servers that are not live still get numbers, so kept shards on them count in their domain.
    for (const server of [...this.servers].sort((a, b) => (a.serverId < b.serverId ? -1 : 1))) {
      domainLevels.forEach((level, l) => {
        const key = serverDomainKey(server, level);
        if (!numbers[l].has(key)) numbers[l].set(key, numbers[l].size);
      });
    }
    this.#domainNumbers = numbers;
    this.domainIds = domainLevels.map((level, l) =>
      Int32Array.from(this.candidates, (c) => numbers[l].get(serverDomainKey(c, level)) ?? -1),
    );
    this.domainCounts = numbers.map((n) => n.size);
    for (const ids of this.domainIds)
      assert.ok(
        ids.every((id) => id >= 0),
        'domains numbered',
      );
  }

  static of(servers: readonly PlacementServer[]): ClusterMap {
    return new ClusterMap(servers);
  }

  // The domain rule for stripes of this width and parity count (cached: few profiles exist).
  rule(width: number, m: number): DomainRule {
    const key = `${width}+${m}`;
    let rule = this.#rules.get(key);
    if (!rule) {
      rule = domainRule(this.candidates, width, m);
      this.#rules.set(key, rule);
    }
    return rule;
  }

  domainId(server: { serverId: string; domain: FailureDomain }, level: DomainLevel): number {
    const key = serverDomainKey(server, level);
    return this.#domainNumbers[domainLevels.indexOf(level)].get(key) ?? -1;
  }

  server(serverId: string): PlacementServer | undefined {
    return this.#byId.get(serverId);
  }
}
