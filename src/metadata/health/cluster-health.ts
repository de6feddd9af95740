// The one-word health of a cluster, as `ceph -s` gives it, with the reasons: a pure function of
// the replicated server states and what the metadata members report of themselves.
// - UNAVAILABLE: no metadata leader, or too few live disks for any write to succeed.
// - DEGRADED: serving, with less redundancy or fewer members than configured: a server suspect
//   or down, a failed disk, a metadata member unreachable or in an alarm, or fewer live disks
//   than a full stripe needs.
// - HEALTHY: none of these.
import type { DiskState, ServerState } from '../placement/types.ts';

export type HealthStatus = 'HEALTHY' | 'DEGRADED' | 'UNAVAILABLE';

export interface ClusterHealth {
  status: HealthStatus;
  reasons: string[]; // empty when HEALTHY
}

export interface HealthInput {
  servers: ReadonlyArray<{
    serverId: string;
    state: ServerState;
    disks: ReadonlyArray<{ disk: number; state?: DiskState }>;
  }>;
  members: ReadonlyArray<{
    nodeId: number;
    reachable: boolean;
    role?: string;
    alarms?: readonly string[];
  }>;
  erasure: { k: number; m: number };
}

export function clusterHealth(input: HealthInput): ClusterHealth {
  const { k, m } = input.erasure;
  const unavailable: string[] = [];
  const degraded: string[] = [];
  if (!input.members.some((member) => member.reachable && member.role === 'leader'))
    unavailable.push('no metadata leader');
  for (const member of input.members) {
    if (!member.reachable) degraded.push(`metadata member ${member.nodeId} unreachable`);
    else if (member.alarms?.length)
      degraded.push(`metadata member ${member.nodeId} alarm ${member.alarms.join(',')}`);
  }
  const servers = input.servers.filter((s) => s.state !== 'removed');
  for (const state of ['suspect', 'down'] as const) {
    const ids = servers.filter((s) => s.state === state).map((s) => s.serverId);
    if (ids.length > 0) degraded.push(`${ids.length} data server(s) ${state}: ${ids.join(', ')}`);
  }
  for (const server of servers) {
    const failed = server.disks.filter((d) => d.state === 'failed').map((d) => d.disk);
    if (failed.length > 0)
      degraded.push(`data server ${server.serverId} disk(s) failed: ${failed}`);
  }
  // Live: a disk that is up on a server that is up (draining servers take no new shards).
  const liveDisks = servers
    .filter((s) => s.state === 'up')
    .reduce((n, s) => n + s.disks.filter((d) => (d.state ?? 'up') === 'up').length, 0);
  // A write stores a stripe once k+1 of its k+m shards are written, all of them when m = 1
  // (writeQuorum in src/client/stripe-io.ts).
  const writeQuorum = Math.min(k + m, k + 1);
  if (liveDisks < writeQuorum)
    unavailable.push(`${liveDisks} live disk(s); a write needs at least ${writeQuorum}`);
  else if (liveDisks < k + m)
    degraded.push(`${liveDisks} live disk(s); a full stripe needs k+m = ${k + m}`);
  if (unavailable.length > 0)
    return { status: 'UNAVAILABLE', reasons: [...unavailable, ...degraded] };
  if (degraded.length > 0) return { status: 'DEGRADED', reasons: degraded };
  return { status: 'HEALTHY', reasons: [] };
}
