// Contract of the data service's RPC methods. A shard is named by (stripeId, shardIndex) and lives
// on one disk of one data server. Every shard file carries a CRC32C of its bytes, checked on read.

export interface ShardId {
  stripeId: string; // lowercase hex, 32 chars
  shardIndex: number; // 0 .. k+m-1
}

export interface PutShardHeader extends ShardId {
  disk: number; // index into the server's disk list
}
// body: the shard bytes. Reply header: { sizeBytes: number, version: number } (the shard file format
// written; absent from servers older than version 2, which wrote 1). Replies only after the shard
// file and its directory are fsynced.

// data.rebuildShard, sent by the repair driver (on the metadata leader) to the server that is to
// hold the rebuilt shard: this server reads k shards of the stripe from its peers (hedged, parity
// where a data shard is lost), takes shard `shardIndex` of the decoded data and writes it to
// `disk` as putShard does (format 2, fsynced), then reads it back to verify it. So the shard bytes
// pass through the target and the sources only, never through the leader.
export interface RebuildShardHeader extends ShardId {
  disk: number; // the target disk on this server
  k: number;
  m: number;
  shardSizeBytes: number;
  dataLengthBytes: number;
  shardVersion?: number; // as the stripe records it (absent: format 1)
  // The shard is recorded on this disk and listed missing there (a degraded write's absent
  // shard, rebuilt in place): a whole, verified file of it found there is taken as the shard,
  // a torn one replaced. Otherwise any file of it there refuses the rebuild (EEXIST).
  inPlace?: boolean;
  // k+m entries, shard i on sources[i] (the stripe's current record, the lost shard's old place
  // included). `avoid`: the cluster records its server suspect, down or removed, so it is asked
  // only when nothing else is left (as a client's read does). `addr` is empty for a server the
  // leader does not know. `diskPath` and `diskId`: the disk's directory and identity as its
  // server registered them, when known: a target on the same machine reads the shard there
  // itself (src/cluster/peer-disk-reads.ts).
  sources: Array<{
    serverId: string;
    addr: string;
    disk: number;
    avoid: boolean;
    diskPath?: string;
    diskId?: string;
  }>;
}
// Reply header: { sizeBytes, version } as putShard. Errors: EEXIST (a file of that shard is on
// the disk already: never overwritten), NOT_ENOUGH_SHARDS / DATA_DAMAGED (fewer than k sources
// answered), the sources' and the disk's errors otherwise. RPC_NO_METHOD from servers older than
// this method (the driver then rebuilds through itself).

export interface GetShardHeader extends ShardId {
  disk: number;
  offset?: number; // byte range inside the shard; default whole shard
  length?: number;
  // What the stripe's metadata says the shard is, checked against the file's header: its whole
  // length (the stripe's shardSizeBytes) and the format version it was written in.
  shardSizeBytes?: number;
  shardVersion?: number;
  // A read for a peer's rebuild: it waits its turn among the disk's repair reads
  // (src/data/repair-slots.ts), where a client's read never waits.
  background?: boolean;
  // The reader authenticates every byte it uses (an encrypted stripe's sealed chunks, each with
  // its AEAD tag bound to the stripe, shard and chunk: src/crypto/shard-seal.ts), so the blocks'
  // CRCs are not checked on this read: checking both cost a CRC32C pass over every byte of an
  // encrypted GET. The header (identity, length, version) still is. A reader whose bytes do not
  // authenticate reads again without it (src/client/stripe-crypt.ts), so a corrupt block is then
  // answered SHARD_CORRUPT and decoded around as for any stripe. Servers that predate the field
  // ignore it and check the CRCs.
  readerAuthenticates?: boolean;
}
// Reply body: the bytes. Errors: SHARD_MISSING, SHARD_CORRUPT (CRC mismatch, or the file is not the
// shard asked for: another stripe's or index's, another length, an older format; never returns
// data).

export interface DeleteShardsHeader {
  shards: Array<ShardId & { disk: number }>;
  // Only files last written before this time (ms since the epoch) go; a file written since, or
  // being written, stays. A scrubber passes the bound its listing used: a shard it found stale
  // or orphaned and that was then written anew (a repair put it back there) is not its to take.
  olderThanMs?: number;
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
  diskId?: string; // the disk's identity (shard-store.ts), when online
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

// Why the scrubber found a shard corrupt. header: bad magic, header checksum or fields;
// identity: an intact header naming another shard (a file copied or restored to the wrong path);
// checksum: a block's CRC; size: truncated, or longer than its header says; io: the disk
// returned an error reading it.
export type ScrubReason = 'header' | 'identity' | 'checksum' | 'size' | 'io';

// data.scrubFindings takes an empty header. The corrupt shards the background scrubber found
// (src/data/shard-scrubber.ts), for the metadata leader's repair scheduler: each stays listed
// until a pass finds its file healthy or gone, or it is deleted through deleteShards.
export interface ScrubFindingsReply {
  enabled: boolean; // false when data.scrub_bytes_per_second is 0 (kept findings still listed)
  findings: Array<{
    disk: number;
    stripeId: string;
    shardIndex: number;
    reason: ScrubReason;
    detail: string;
    foundAtMs: number;
  }>;
  disks: Array<{
    disk: number;
    passStartedAtMs: number | null; // the running pass
    cursor: string | null; // the running pass's progress: the last shard name it verified
    lastPassStartedAtMs: number | null;
    lastPassCompletedAtMs: number | null;
    // Corrupt shards beyond the list's bound (1024 per disk): the disk has failed as a whole.
    findingsDropped: number;
  }>;
}

export const DATA_RPC = {
  putShard: 'data.putShard',
  rebuildShard: 'data.rebuildShard',
  getShard: 'data.getShard',
  deleteShards: 'data.deleteShards',
  status: 'data.status',
  listShards: 'data.listShards',
  scrubFindings: 'data.scrubFindings',
  repairAddress: 'data.repairAddress',
} as const;
