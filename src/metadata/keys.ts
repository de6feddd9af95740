// Binary LMDB keys whose byte order we define: a one-byte table tag, then big-endian integers and
// UTF-8 strings, so that range scans walk directories and files in exactly S3 key order.
import assert from 'node:assert';

export const TAG = {
  inode: 0x69, // 'i' + ino
  dirent: 0x64, // 'd' + parent ino + sort name
  extent: 0x78, // 'x' + ino + file offset
  ref: 0x72, // 'r' + stripe id
  gc: 0x67, // 'g' + stripe id
  bucket: 0x62, // 'b' + name
  upload: 0x75, // 'u' + upload id
  part: 0x70, // 'p' + upload id + 0x00 + part number
  server: 0x73, // 's' + server id
  counter: 0x63, // 'c' + name
  applied: 0x61, // 'a'
  orphan: 0x6f, // 'o' + stripe id: shards deleted by the scrubber, never to be referenced
  session: 0x71, // 'q' + session id + 0x00 + seq: the result of a client's command (exactly once)
  member: 0x6d, // 'm' + node id: the metadata address of a member of the Raft cluster
  mount: 0x4d, // 'M' + mount id: a mount session
  lock: 0x6c, // 'l' + ino: every lock on the inode, one list
  mountLock: 0x4c, // 'L' + mount id + 0x00 + ino: the mount holds locks on the inode
  mountOrphan: 0x4f, // 'O' + mount id + 0x00 + ino: an unlinked inode kept for the mount
  sessionActive: 0x53, // 'S' + session id: log time of the session's last command
  sessionIdle: 0x51, // 'Q' + log time + session id: sessions by last activity (for expiry)
  logTime: 0x54, // 'T': the log's time, the highest leader stamp applied (Raft diss. §6.3)
  clusterConfig: 0x4b, // 'K': the cluster's configuration (erasure profile, placement strategy)
  // 'R' + stripe id: the stripe's shard locations after a repair moved one (relocateShard). The
  // extents that point into the stripe keep the locations it was written with; this wins.
  stripeShards: 0x52,
  // 'W' + stripe id: the stripe's data key as a master key rotation re-wrapped it
  // (rewrapStripeKeys, src/metadata/ops-encryption.ts); wins over the one its extents carry.
  stripeKey: 0x57,
  // 'H' + server id + 0x00 + disk: how many shards of referenced stripes the disk holds (at the
  // stripes' current locations; src/metadata/shard-counts.ts).
  shardCount: 0x48,
  // 'h': present once the shard counts are maintained (set when the state is created, or after
  // they were rebuilt from an older state that had none).
  shardCountsReady: 0x68,
  // 'A' + stripe id + 0x00 + shard index: a shard its writer left absent (a degraded write), at
  // the location the stripe records for it, until a repair rebuilds it or the stripe goes
  // (src/metadata/absent-shards.ts).
  absentShard: 0x41,
  // 'V' + bucket ino + key + 0x00 + u64 (VERSION_SEQ_MAX - seq): the versions of a key in a
  // versioned bucket, newest first, keys in UTF-8 binary order (src/metadata/versions.ts).
  version: 0x56,
  // 'N' + bucket ino + key: the version key suffix of the key's "null" version, if it has one.
  nullVersion: 0x4e,
  // 'P' + child ino + parent ino + name: every directory entry seen from the child, so a file
  // or directory finds its path (src/metadata/links.ts).
  link: 0x50,
  // 'j': present once the link index is maintained (rebuilt once from the entries otherwise).
  linksReady: 0x6a,
  // 'U' + directory ino: the files below the directory, at any depth, and their bytes
  // (src/metadata/dir-usage.ts); absent while both are zero.
  dirUsage: 0x55,
  // 'n': present once the directory usage is maintained (rebuilt once from the entries otherwise).
  dirUsageReady: 0x6e,
  // 'Y' + u64 seq: a version waiting to be sent to its bucket's replication destination
  // (src/metadata/bucket-replication.ts), in the order the writes were applied.
  replicationQueue: 0x59,
  // 'y' + bucket ino + key + 0x00 + version id: the version's replication status.
  replicationStatus: 0x79,
  // 'I' + user name: an S3 user, its admin flag, where it comes from and its access keys with
  // their secrets (src/metadata/ops-users.ts).
  user: 0x49,
  // 'k' + access key id: the name of the user the key belongs to (unique across users).
  accessKey: 0x6b,
  // 'E' + KMS key id: a key of the built-in KMS, its material wrapped by a master key, one
  // wrapping per version (src/metadata/ops-kms.ts).
  kmsKey: 0x45,
  // 'e' + alias ("alias/NAME"): the id of the KMS key the alias names (unique).
  kmsAlias: 0x65,
  // 'Z' + ino: a file with a restore recorded (RestoreState), kept by Store.putInode and
  // removeInode: the restore runner's work list (src/metadata/ops-restore.ts).
  restore: 0x5a,
  // 'D' + directory ino: the directory is delegated to a mount session, which alone changes its
  // entries until it gives it back (src/metadata/delegations.ts).
  delegation: 0x44,
  // 'G' + mount id: the inode numbers reserved for the mount's creates in delegated directories.
  mountInodes: 0x47,
} as const;

// Big-endian u64 through two u32 halves: the BigInt read and write cost 5-10 us each in V8
// (an allocation and a conversion), and every command builds and reads several keys.
const TWO_TO_32 = 2 ** 32;

function u64(value: number): Buffer {
  return writeU64(Buffer.allocUnsafe(8), value, 0);
}

function writeU64(b: Buffer, value: number, offset: number): Buffer {
  assert(Number.isSafeInteger(value) && value >= 0, `key integer ${value}`);
  b.writeUInt32BE(Math.floor(value / TWO_TO_32), offset);
  b.writeUInt32BE(value >>> 0, offset + 4);
  return b;
}

// The u64 at `offset` of a key, as a number (rounded like Number(bigint) past 2^53).
export const readU64 = (key: Buffer, offset: number): number =>
  key.readUInt32BE(offset) * TWO_TO_32 + key.readUInt32BE(offset + 4);

const tag = (t: number) => Buffer.of(t);

export const inodeKey = (ino: number) => {
  const key = Buffer.allocUnsafe(9);
  key[0] = TAG.inode;
  return writeU64(key, ino, 1);
};

// The longest name of a directory entry (POSIX NAME_MAX; also the longest segment of a key), and
// so the longest sort name ("name/"). Lookups by longer names, which come from clients (a prefix
// or a marker of any length), are answered without building a key: LMDB keys have a size limit.
export const NAME_BYTES_MAX = 255;
export const SORT_NAME_BYTES_MAX = NAME_BYTES_MAX + 1;

// Directories sort as "name/" so a walk in key order is S3 key order ("a-b" < "a/" < "a0").
export const sortNameOf = (name: string, isDir: boolean) => (isDir ? `${name}/` : name);
export const direntKey = (parent: number, sortName: string) => {
  const name = Buffer.from(sortName, 'utf8');
  assert(name.length <= SORT_NAME_BYTES_MAX, `sort name of ${name.length} bytes`);
  return Buffer.concat([tag(TAG.dirent), u64(parent), name]);
};
// Where a range scan of a directory starts for entries sorting after `fromSortName`, which may be
// longer than any name: its first SORT_NAME_BYTES_MAX + 1 bytes sort the same way against every
// possible entry (an entry is at most SORT_NAME_BYTES_MAX bytes, so the bytes after never decide).
export const direntStartKey = (parent: number, fromSortName: string) => {
  const from = Buffer.from(fromSortName, 'utf8');
  const cut = from.subarray(0, SORT_NAME_BYTES_MAX + 1);
  return Buffer.concat([tag(TAG.dirent), u64(parent), cut]);
};
export const direntPrefix = (parent: number) => Buffer.concat([tag(TAG.dirent), u64(parent)]);
export const direntPrefixEnd = (parent: number) =>
  Buffer.concat([tag(TAG.dirent), u64(parent + 1)]);
export const sortNameFromKey = (key: Buffer) => key.subarray(9).toString('utf8');

export const restoreKey = (ino: number) => Buffer.concat([tag(TAG.restore), u64(ino)]);
export const restorePrefixEnd = () => tag(TAG.restore + 1);
export const inoFromRestoreKey = (key: Buffer) => readU64(key, 1);

export const extentKey = (ino: number, offset: number) =>
  Buffer.concat([tag(TAG.extent), u64(ino), u64(offset)]);
export const extentPrefix = (ino: number) => Buffer.concat([tag(TAG.extent), u64(ino)]);
export const extentPrefixEnd = (ino: number) => Buffer.concat([tag(TAG.extent), u64(ino + 1)]);
export const extentOffsetFromKey = (key: Buffer) => readU64(key, 9);

export const refKey = (stripeId: string) =>
  Buffer.concat([tag(TAG.ref), Buffer.from(stripeId, 'latin1')]);
export const gcKey = (stripeId: string) =>
  Buffer.concat([tag(TAG.gc), Buffer.from(stripeId, 'latin1')]);
export const orphanKey = (stripeId: string) =>
  Buffer.concat([tag(TAG.orphan), Buffer.from(stripeId, 'latin1')]);
export const stripeShardsKey = (stripeId: string) =>
  Buffer.concat([tag(TAG.stripeShards), Buffer.from(stripeId, 'latin1')]);
export const stripeKeyKey = (stripeId: string) =>
  Buffer.concat([tag(TAG.stripeKey), Buffer.from(stripeId, 'latin1')]);
export const shardCountKey = (serverId: string, disk: number) => {
  assert(Number.isInteger(disk) && disk >= 0 && disk < 2 ** 32, `disk number ${disk}`);
  const d = Buffer.allocUnsafe(4);
  d.writeUInt32BE(disk);
  return Buffer.concat([tag(TAG.shardCount), Buffer.from(serverId, 'utf8'), Buffer.of(0), d]);
};
// Server ids hold no control characters (ops-cluster.ts), so 0x00 ends the id in the key.
export const shardCountRange = (serverId?: string) =>
  serverId === undefined
    ? { start: tag(TAG.shardCount), end: tag(TAG.shardCount + 1) }
    : {
        start: Buffer.concat([tag(TAG.shardCount), Buffer.from(serverId, 'utf8'), Buffer.of(0)]),
        end: Buffer.concat([tag(TAG.shardCount), Buffer.from(serverId, 'utf8'), Buffer.of(1)]),
      };
export const shardCountFromKey = (key: Buffer) => ({
  serverId: key.subarray(1, key.length - 5).toString('utf8'),
  disk: key.readUInt32BE(key.length - 4),
});
export const shardCountsReadyKey = () => tag(TAG.shardCountsReady);
// Stripe ids are hex, so 0x00 ends the id in the key and one stripe's entries are one range.
export const absentShardKey = (stripeId: string, shardIndex: number) => {
  assert(Number.isInteger(shardIndex) && shardIndex >= 0 && shardIndex < 256, 'a shard index');
  return Buffer.concat([absentShardPrefix(stripeId), Buffer.of(shardIndex)]);
};
export const absentShardPrefix = (stripeId: string) =>
  Buffer.concat([tag(TAG.absentShard), Buffer.from(stripeId, 'latin1'), Buffer.of(0)]);
export const absentShardRange = (stripeId?: string) =>
  stripeId === undefined
    ? { start: tag(TAG.absentShard), end: tag(TAG.absentShard + 1) }
    : {
        start: absentShardPrefix(stripeId),
        end: Buffer.concat([tag(TAG.absentShard), Buffer.from(stripeId, 'latin1'), Buffer.of(1)]),
      };
export const absentShardFromKey = (key: Buffer) => ({
  stripeId: key.subarray(1, key.length - 2).toString('latin1'),
  shardIndex: key[key.length - 1],
});
export const gcPrefix = () => tag(TAG.gc);
export const gcPrefixEnd = () => tag(TAG.gc + 1);

export const bucketKey = (name: string) =>
  Buffer.concat([tag(TAG.bucket), Buffer.from(name, 'utf8')]);
export const bucketPrefix = () => tag(TAG.bucket);
export const bucketPrefixEnd = () => tag(TAG.bucket + 1);

export const uploadKey = (id: string) => Buffer.concat([tag(TAG.upload), Buffer.from(id, 'utf8')]);
export const uploadPrefix = () => tag(TAG.upload);
export const uploadPrefixEnd = () => tag(TAG.upload + 1);

export const partKey = (id: string, partNumber: number) => {
  const n = Buffer.allocUnsafe(4);
  n.writeUInt32BE(partNumber);
  return Buffer.concat([tag(TAG.part), Buffer.from(id, 'utf8'), Buffer.of(0), n]);
};
export const partPrefix = (id: string) =>
  Buffer.concat([tag(TAG.part), Buffer.from(id, 'utf8'), Buffer.of(0)]);
export const partPrefixEnd = (id: string) =>
  Buffer.concat([tag(TAG.part), Buffer.from(id, 'utf8'), Buffer.of(1)]);

export const serverKey = (id: string) => Buffer.concat([tag(TAG.server), Buffer.from(id, 'utf8')]);
export const serverPrefix = () => tag(TAG.server);
export const serverPrefixEnd = () => tag(TAG.server + 1);

export const clusterConfigKey = () => tag(TAG.clusterConfig);

export const counterKey = (name: string) =>
  Buffer.concat([tag(TAG.counter), Buffer.from(name, 'utf8')]);
export const appliedKey = () => tag(TAG.applied);

export const sessionPrefix = (sessionId: string) =>
  Buffer.concat([tag(TAG.session), Buffer.from(sessionId, 'utf8'), Buffer.of(0)]);
export const sessionKey = (sessionId: string, seq: number) =>
  Buffer.concat([sessionPrefix(sessionId), u64(seq)]);

export const sessionActiveKey = (sessionId: string) =>
  Buffer.concat([tag(TAG.sessionActive), Buffer.from(sessionId, 'utf8')]);
export const sessionIdleKey = (lastActiveMs: number, sessionId: string) =>
  Buffer.concat([tag(TAG.sessionIdle), u64(lastActiveMs), Buffer.from(sessionId, 'utf8')]);
export const sessionIdlePrefix = () => tag(TAG.sessionIdle);
// Every session idle key of a time before `ms` sorts before this.
export const sessionIdleBefore = (ms: number) =>
  Buffer.concat([tag(TAG.sessionIdle), u64(Math.max(0, ms))]);
export const sessionIdFromIdleKey = (key: Buffer) => key.subarray(9).toString('utf8');
export const logTimeKey = () => tag(TAG.logTime);

export const memberKey = (nodeId: number) => Buffer.concat([tag(TAG.member), u64(nodeId)]);
export const memberPrefix = () => tag(TAG.member);
export const memberPrefixEnd = () => tag(TAG.member + 1);

export const mountKey = (mountId: string) =>
  Buffer.concat([tag(TAG.mount), Buffer.from(mountId, 'utf8')]);
export const mountPrefix = () => tag(TAG.mount);
export const delegationKey = (dir: number) => Buffer.concat([tag(TAG.delegation), u64(dir)]);
export const delegationPrefix = () => tag(TAG.delegation);
export const delegationPrefixEnd = () => tag(TAG.delegation + 1);
export const dirFromDelegationKey = (key: Buffer) => readU64(key, 1);
export const mountInodesKey = (mountId: string) =>
  Buffer.concat([tag(TAG.mountInodes), Buffer.from(mountId, 'utf8')]);
export const mountPrefixEnd = () => tag(TAG.mount + 1);

export const lockKey = (ino: number) => Buffer.concat([tag(TAG.lock), u64(ino)]);

// Per-mount indexes ('L', 'O'): mount id, NUL (mount ids contain none), then the inode.
const mountIndexPrefix = (t: number, mountId: string) =>
  Buffer.concat([tag(t), Buffer.from(mountId, 'utf8'), Buffer.of(0)]);
const mountIndexPrefixEnd = (t: number, mountId: string) =>
  Buffer.concat([tag(t), Buffer.from(mountId, 'utf8'), Buffer.of(1)]);
export const mountLockKey = (mountId: string, ino: number) =>
  Buffer.concat([mountIndexPrefix(TAG.mountLock, mountId), u64(ino)]);
export const mountLockRange = (mountId: string) => ({
  start: mountIndexPrefix(TAG.mountLock, mountId),
  end: mountIndexPrefixEnd(TAG.mountLock, mountId),
});
export const mountOrphanKey = (mountId: string, ino: number) =>
  Buffer.concat([mountIndexPrefix(TAG.mountOrphan, mountId), u64(ino)]);
export const mountOrphanRange = (mountId: string) => ({
  start: mountIndexPrefix(TAG.mountOrphan, mountId),
  end: mountIndexPrefixEnd(TAG.mountOrphan, mountId),
});
// The inode at the end of a per-mount index key.
export const inoFromMountIndexKey = (key: Buffer) => readU64(key, key.length - 8);

// Versions: keys never contain NUL (object-path.ts), so 0x00 ends the key and one key's versions
// are one range, newest first (the suffix is the sequence inverted).
export const versionKeyPrefix = (bucketIno: number, key: string) =>
  Buffer.concat([tag(TAG.version), u64(bucketIno), Buffer.from(key, 'utf8'), Buffer.of(0)]);
export const versionKey = (bucketIno: number, key: string, inverted: number) =>
  Buffer.concat([versionKeyPrefix(bucketIno, key), u64(inverted)]);
export const versionKeyRange = (bucketIno: number, key: string) => ({
  start: versionKeyPrefix(bucketIno, key),
  end: Buffer.concat([tag(TAG.version), u64(bucketIno), Buffer.from(key, 'utf8'), Buffer.of(1)]),
});
// Every version key of a bucket whose object key starts with `keyPrefix`.
export const versionPrefixRange = (bucketIno: number, keyPrefix: string) => ({
  start: Buffer.concat([tag(TAG.version), u64(bucketIno), Buffer.from(keyPrefix, 'utf8')]),
  end: Buffer.concat([
    tag(TAG.version),
    u64(bucketIno),
    Buffer.from(keyPrefix, 'utf8'),
    Buffer.of(0xff),
  ]),
});
export const versionKeyParts = (key: Buffer) => ({
  key: key.subarray(9, key.length - 9).toString('utf8'),
  inverted: readU64(key, key.length - 8),
});
export const nullVersionKey = (bucketIno: number, key: string) =>
  Buffer.concat([tag(TAG.nullVersion), u64(bucketIno), Buffer.from(key, 'utf8')]);

export const linkKey = (child: number, parent: number, name: string) =>
  Buffer.concat([tag(TAG.link), u64(child), u64(parent), Buffer.from(name, 'utf8')]);
export const linkRange = (child: number) => ({
  start: Buffer.concat([tag(TAG.link), u64(child)]),
  end: Buffer.concat([tag(TAG.link), u64(child + 1)]),
});
export const linkFromKey = (key: Buffer) => ({
  parent: readU64(key, 9),
  name: key.subarray(17).toString('utf8'),
});
export const linksReadyKey = () => tag(TAG.linksReady);
export const dirUsageKey = (ino: number) => Buffer.concat([tag(TAG.dirUsage), u64(ino)]);
export const dirUsageRange = () => ({ start: tag(TAG.dirUsage), end: tag(TAG.dirUsage + 1) });
export const dirUsageReadyKey = () => tag(TAG.dirUsageReady);

export const replicationQueueKey = (seq: number) =>
  Buffer.concat([tag(TAG.replicationQueue), u64(seq)]);
export const replicationQueueRange = () => ({
  start: tag(TAG.replicationQueue),
  end: tag(TAG.replicationQueue + 1),
});
// Keys never contain NUL (object-path.ts), so 0x00 ends the key and one key's statuses are one
// range; version ids are "null" or hex.
const replicationStatusPrefix = (bucketIno: number, key: string) =>
  Buffer.concat([
    tag(TAG.replicationStatus),
    u64(bucketIno),
    Buffer.from(key, 'utf8'),
    Buffer.of(0),
  ]);
export const replicationStatusKey = (bucketIno: number, key: string, versionId: string) =>
  Buffer.concat([replicationStatusPrefix(bucketIno, key), Buffer.from(versionId, 'latin1')]);
export const replicationStatusRange = (bucketIno: number, key: string) => ({
  start: replicationStatusPrefix(bucketIno, key),
  end: Buffer.concat([
    tag(TAG.replicationStatus),
    u64(bucketIno),
    Buffer.from(key, 'utf8'),
    Buffer.of(1),
  ]),
});
export const userKey = (name: string) => Buffer.concat([tag(TAG.user), Buffer.from(name, 'utf8')]);
export const userRange = () => ({ start: tag(TAG.user), end: tag(TAG.user + 1) });
export const accessKeyKey = (accessKeyId: string) =>
  Buffer.concat([tag(TAG.accessKey), Buffer.from(accessKeyId, 'utf8')]);
// Counts every change of the users table: gateways refresh their copy when it moves.
export const USERS_VERSION_COUNTER = 'users';
export const kmsKeyKey = (id: string) => Buffer.concat([tag(TAG.kmsKey), Buffer.from(id, 'utf8')]);
export const kmsKeyRange = () => ({ start: tag(TAG.kmsKey), end: tag(TAG.kmsKey + 1) });
export const kmsAliasKey = (alias: string) =>
  Buffer.concat([tag(TAG.kmsAlias), Buffer.from(alias, 'utf8')]);
