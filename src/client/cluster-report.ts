// The cluster as `strata cluster status` and the web console show it: health (HEALTHY, DEGRADED
// or UNAVAILABLE with reasons), Raft members, data servers and disks with the shards recorded on
// them, and the leader's repair. One function, so both views say the same thing.
import { isStrataError } from '../common/errors.ts';
import type { DiskStatus } from '../data/types.ts';
import { clusterHealth } from '../metadata/health/cluster-health.ts';
import type { RepairProgress } from '../metadata/repair/types.ts';
import type { DiskShardCount } from '../metadata/types.ts';
import type { MetadataClient } from './metadata-client.ts';
import type { StrataClient } from './strata-client.ts';
import type { ClusterStatus } from './types.ts';

export type ClusterReport = Awaited<ReturnType<typeof readClusterReport>>;

export async function readClusterReport(client: StrataClient, metadata: MetadataClient) {
  // A metadata service of an older version keeps no shard counts: shown as unknown (null).
  const counts = await metadata.read('shardCounts').catch((error: unknown) => {
    if (isStrataError(error, 'EINVAL')) return null;
    throw error;
  });
  const status = withRecordedShards(await client.clusterStatus(), counts);
  // Health from the replicated records (the cluster's view, the same from every member).
  const recorded = await metadata.read('dataServers');
  const health = clusterHealth({
    servers: recorded,
    members: status.metadataMembers,
    erasure: status.erasure,
  });
  // The leader's repair progress; an older leader without it is shown as such, not hidden.
  const repair: RepairProgress | { error: string } = await metadata
    .repairProgress()
    .catch((error: unknown) => ({
      error: error instanceof Error ? error.message : String(error),
    }));
  return { health, ...status, repair };
}

// Each server and disk with the shards the metadata records there (the state machine's counts).
function withRecordedShards(status: ClusterStatus, counts: DiskShardCount[] | null) {
  const byDisk = new Map((counts ?? []).map((c) => [`${c.serverId}\n${c.disk}`, c.shards]));
  return {
    ...status,
    dataServers: status.dataServers.map((server) => {
      const reported: DiskStatus[] = server.disks;
      const disks = reported.map((d) => ({
        ...d,
        recordedShards: counts === null ? null : (byDisk.get(`${server.serverId}\n${d.disk}`) ?? 0),
      }));
      const recordedShards =
        counts === null
          ? null
          : counts
              .filter((c) => c.serverId === server.serverId)
              .reduce((sum, c) => sum + c.shards, 0);
      return { ...server, recordedShards, disks };
    }),
  };
}
