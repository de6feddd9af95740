// The cluster gauges from the replicated server records, so every metadata member (leader or
// not) reports the same figures.
import {
  clusterNodesOnline,
  clusterNodesTotal,
  clusterServerState,
} from '../observability/metrics.ts';
import { SERVER_STATES } from './ops-cluster.ts';
import type { DataServerInfo } from './types.ts';

export function setClusterGauges(servers: readonly DataServerInfo[]): void {
  const counted = servers.filter((s) => s.state !== 'removed');
  clusterNodesTotal.set(counted.length);
  clusterNodesOnline.set(counted.filter((s) => s.state === 'up' || s.state === 'draining').length);
  // Reset first: a server whose record is gone must not keep reporting its last state.
  clusterServerState.reset();
  for (const server of servers)
    for (const state of SERVER_STATES)
      clusterServerState.set({ server: server.serverId, state }, server.state === state ? 1 : 0);
}
