// Contract of the data service's RPC methods. A shard is named by (stripeId, shardIndex) and lives
// on one disk of one data server. Every shard file carries a CRC32C of its bytes, checked on read.

export interface ShardId {
  stripeId: string; // lowercase hex, 32 chars
  shardIndex: number; // 0 .. k+m-1
}

export interface PutShardHeader extends ShardId {
  disk: number; // index into the server's disk list
}
// body: the shard bytes. Reply header: { sizeBytes: number }. Replies only after the shard file and its
// directory are fsynced.

export interface GetShardHeader extends ShardId {
  disk: number;
  offset?: number; // byte range inside the shard; default whole shard
  length?: number;
}
// Reply body: the bytes. Errors: SHARD_MISSING, SHARD_CORRUPT (CRC mismatch; never returns data).

export interface DeleteShardsHeader {
  shards: Array<ShardId & { disk: number }>;
}
// Reply header: { deleted: number }. Missing shards are not an error (delete is idempotent).

export interface DiskStatus {
  disk: number;
  path: string;
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
  shardCount: number;
  online: boolean;
}

export interface DataServerStatus {
  serverId: string;
  addr: string;
  disks: DiskStatus[];
}

export interface ListShardsHeader {
  disk: number;
  after?: string; // "<stripeId>.<shardIndex>" of the last shard of the previous page
  limit: number; // at most 10,000
  olderThanMs: number; // only shards whose file was last modified before this time
}

export interface ListShardsReply {
  shards: Array<ShardId & { mtimeMs: number }>;
  next?: string; // pass as `after` for the next page; absent on the last page
}

export const DATA_RPC = {
  putShard: 'data.putShard',
  getShard: 'data.getShard',
  deleteShards: 'data.deleteShards',
  status: 'data.status',
  listShards: 'data.listShards',
} as const;
