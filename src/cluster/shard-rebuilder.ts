// data.rebuildShard's byte work, on the data server that is to hold the rebuilt shard: read the
// stripe from its peers with the client's hedged stripe reader and code the shard asked for, so
// the repair driver on the metadata leader only plans and commits (as Ceph's OSDs recover among
// themselves). It lives here, not in src/data, because the stripe reader is in src/client, a
// layer above the data service; the data process (data-process.ts) hands it to the service.
//
// The rebuilds of a repair are spread over every surviving server, each its own process. On
// each, the whole rebuild (the k source reads, from its peers' repair ports and its own disks,
// the coding and the new file's checksums) runs on the server's repair thread, at a lower CPU
// priority (repair-thread.ts, repair-service.ts), which also serves its peers' repair reads on
// the repair port; the event loop writes the rebuilt shard (fsynced) and answers.
import type { DataServiceOptions, RebuiltShard } from '../data/data-service.ts';
import type { RebuildShardHeader } from '../data/types.ts';
import type { Logger } from '../observability/logger.ts';
import { RepairThread } from './repair-thread.ts';

export class ShardRebuilder {
  readonly thread: RepairThread;

  constructor(log: Logger) {
    this.thread = new RepairThread(log);
  }

  // The shard's bytes (shardSizeBytes of them), from the stripe's other shards, in a buffer the
  // caller releases once written (a pooled one: src/common/buffer-pool.ts).
  rebuild(header: RebuildShardHeader): Promise<RebuiltShard> {
    return this.thread.rebuild(header);
  }

  // What a data service needs of its rebuilder (DataServiceOptions): the rebuild itself, the
  // repair port, and the check of older peers' repair reads on the repair thread. One place, so
  // that every data service is wired alike.
  serviceHooks(): Pick<
    DataServiceOptions,
    'rebuildShard' | 'verifyRepairRead' | 'startRepairPort'
  > {
    return {
      rebuildShard: (header) => this.rebuild(header),
      verifyRepairRead: (name, header, data, crcs) => this.thread.verify(name, header, data, crcs),
      startRepairPort: (settings) => this.thread.serve(settings),
    };
  }

  async close(): Promise<void> {
    await this.thread.close();
  }
}
