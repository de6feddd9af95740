// Probes for a polling `until` over what the cluster records about its data servers, for tests
// and benches that start real ones and kill them.
import type { MetadataClient } from '../../src/client/metadata-client.ts';
import type { DataServerInfo } from '../../src/metadata/types.ts';

// The record of every data server once `count` are up with their disks reported (free bytes
// known, so placement can choose them), else undefined.
export function serversUp(
  metadata: MetadataClient,
  count: number,
): () => Promise<DataServerInfo[] | undefined> {
  return async () => {
    const list = await metadata.read('dataServers');
    const ready = list.filter((s) => s.state === 'up' && s.disks.every((d) => d.freeBytes));
    return ready.length === count ? list : undefined;
  };
}

// True once the cluster records `serverId` down, else undefined.
export function recordedDown(
  metadata: MetadataClient,
  serverId: string,
): () => Promise<true | undefined> {
  return async () => {
    const list = await metadata.read('dataServers');
    return list.find((s) => s.serverId === serverId)?.state === 'down' ? true : undefined;
  };
}
