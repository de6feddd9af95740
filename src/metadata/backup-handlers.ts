// The RPC methods behind `strata cluster backup` (src/metadata/replication/backup-source.ts). Only
// the leader takes a backup, after a ReadIndex round: the copy then holds every write that was
// acknowledged before the request came (a follower's state may lag). A follower refuses with
// RPC_UNAVAILABLE naming the leader; the CLI asks the leader directly, since the chunks of one
// backup must come from the member that holds its copy.
import { StrataError } from '../common/errors.ts';
import type { RpcServer } from '../rpc/index.ts';
import type { BackupSource } from './replication/backup-source.ts';
import { type MetadataReplica, notLeader } from './replication/replica.ts';
import { METADATA_RPC } from './types.ts';

export function handleBackups(server: RpcServer, source: BackupSource, replica: MetadataReplica) {
  server.handle(METADATA_RPC.backupOpen, async () => {
    if (!replica.isLeader) throw notLeader(replica.leaderId);
    await replica.readBarrier();
    return { header: await source.open() };
  });
  server.handle(METADATA_RPC.backupRead, async ({ header }) => {
    const { id, offsetBytes, lengthBytes } = (header ?? {}) as Record<string, unknown>;
    if (
      typeof id !== 'string' ||
      typeof offsetBytes !== 'number' ||
      typeof lengthBytes !== 'number'
    )
      throw new StrataError('EINVAL', 'backupRead takes { id, offsetBytes, lengthBytes }');
    return { header: null, body: await source.read(id, offsetBytes, lengthBytes) };
  });
  server.handle(METADATA_RPC.backupClose, async ({ header }) => {
    const { id } = (header ?? {}) as Record<string, unknown>;
    if (typeof id !== 'string') throw new StrataError('EINVAL', 'backupClose takes { id }');
    await source.close(id);
    return { header: {} };
  });
}
