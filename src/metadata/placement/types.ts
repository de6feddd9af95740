// The cluster as placement sees it: servers with failure-domain labels, a liveness state and disks.
// This is the shape the metadata state machine will replicate (issue 12); placement only reads it.
import type { ShardLocation } from '../types.ts';

// up: heartbeats arrive. suspect: the failure detector's phi crossed its threshold (readers skip it,
// nothing is rebuilt yet). down: suspect for longer than the repair delay (its shards are rebuilt
// elsewhere). draining: alive, but everything on it is to move off. removed: gone for good.
export type ServerState = 'up' | 'suspect' | 'down' | 'draining' | 'removed';
export type DiskState = 'up' | 'failed' | 'draining';

// Failure domains, widest first. A server's host label is usually its machine; several servers
// may share one (containers on a host), and then one host failure takes all of them.
export interface FailureDomain {
  zone: string;
  rack: string;
  host: string;
  // Not a failure domain: the storage pool the server belongs to (data.pool), which archive
  // storage classes place their stripes in (src/metadata/storage-class.ts).
  pool?: string;
}

export interface PlacementDisk {
  disk: number;
  state: DiskState;
  capacityBytes: number;
  freeBytes: number;
}

export interface PlacementServer {
  serverId: string;
  state: ServerState;
  domain: FailureDomain;
  disks: PlacementDisk[];
}

export type PlacementStrategy = 'random' | 'spread-domains' | 'least-loaded';
export const placementStrategies: readonly PlacementStrategy[] = [
  'random',
  'spread-domains',
  'least-loaded',
];

// The levels at which the domain rule can hold, widest first. `server` is one data server process:
// several may share a host (containers, or every server of a test cluster on one machine with
// the default host label), and a process dies far more often than its machine, so stripes are
// spread over servers when the hosts are too few. Below `server` only disks remain.
export type DomainLevel = 'zone' | 'rack' | 'host' | 'server';
export const domainLevels: readonly DomainLevel[] = ['zone', 'rack', 'host', 'server'];

// One disk a shard could go to, flattened with its server's labels.
export interface Candidate extends ShardLocation {
  domain: FailureDomain;
  freeBytes: number;
}
