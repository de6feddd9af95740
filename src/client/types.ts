// The one library through which the S3 gateway, the CLI and the FUSE mount read and write.
// Every method fails with a StrataError (src/common/errors.ts); callers map codes to their protocol.

import type { BodyDigests } from '../common/body-digests.ts';
import type { DiskStatus } from '../data/types.ts';
import type { ReplicationConfig } from '../metadata/bucket-replication-types.ts';
import type {
  BucketAttr,
  BucketAttrValue,
  BucketInfo,
  Caller,
  DataServerInfo,
  DirEntry,
  FileLock,
  Inode,
  LifecycleConfig,
  LifecycleTiming,
  ListObjectsQuery,
  ListObjectsResult,
  ListVersionsQuery,
  ListVersionsResult,
  ObjectLockRequest,
  ObjectLockRule,
  ObjectMeta,
  ObjectRead,
  ObjectVersion,
  PartInfo,
  RestoreTier,
  Retention,
  SseAlgorithm,
  StorageClass,
  UploadInfo,
} from '../metadata/types.ts';
import type { LockQuery, LockSpec, RenameAtOptions } from './locks.ts';

// Takes a leased read's parts (in the order they are yielded, none empty) and the function that
// gives their pooled buffers back (src/client/file-reader.ts).
export type LeaseSink = (parts: Buffer[], release: () => void) => void;

// An objectRead that found the version.
export type ObjectReadFound = ObjectRead & { version: ObjectVersion };

export type Body = Buffer | AsyncIterable<Buffer | Uint8Array>;

export interface PutObjectOptions {
  object: Omit<ObjectMeta, 'etag'>;
  caller?: Caller;
  ifMatch?: string;
  ifNoneMatch?: string;
  lock?: ObjectLockRequest; // Object Lock for the new version (absent: the bucket's default)
  replicaVersionId?: string; // bucket replication from another Strata: the source's version id
  // SSE-C: the customer's 256-bit key; the object is sealed under it and the key is not kept.
  customerKey?: Buffer;
  // The bucket's record as the caller read it for this request (absent: read here).
  bucketInfo?: BucketInfo;
  // The body's MD5 and CRC32C, taken by whoever streams it (src/common/body-digests.ts; a
  // gateway's check of the body does); absent: the writer hashes the body itself.
  digests?: BodyDigests;
}

export interface CopyOptions {
  object?: Omit<ObjectMeta, 'etag' | 'checksums' | 'partSizes'>; // REPLACE; absent: COPY
  acl?: string; // ACL of the copy, stored form (src/auth/policy/acl.ts); absent: private
  tags?: Record<string, string>; // the copy's tags (x-amz-tagging-directive REPLACE); absent: the source's
  ifMatch?: string;
  ifNoneMatch?: string;
  copyIfMatch?: string;
  copyIfNoneMatch?: string;
  caller?: Caller;
  lock?: ObjectLockRequest; // the copy's own Object Lock (a copy never takes the source's)
  sse?: SseAlgorithm; // the copy's own SSE-S3 or SSE-KMS (absent: the destination bucket's default)
  kmsKeyId?: string; // SSE-KMS: the key's id, ARN or alias (absent: the default key)
  sseContext?: string; // SSE-KMS: the encryption context, canonical base64 JSON
  bucketKeyEnabled?: boolean;
  customerKey?: Buffer; // SSE-C: the copy's own key (never part of the command)
  sourceCustomerKey?: Buffer; // SSE-C: the source's key, to read it
  storageClass?: StorageClass; // the copy's own class (absent: STANDARD)
}

export interface CompleteOptions {
  // The request's bucket and key: with them, a retry after a success is answered by the object
  // that success made (metadata completeUpload) instead of NO_SUCH_UPLOAD.
  bucket?: string;
  key?: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  checksums?: Record<string, string>;
  partChecksums?: string[];
}

export interface PutObjectResult {
  etag: string; // hex MD5 of the bytes
  size: number;
  inode: Inode;
  versionId?: string; // in a versioned bucket, the version made
}

// What a versioned change answers: the version it made or removed, and whether that is a
// delete marker (both absent in buckets that never had versioning).
export interface VersionChange {
  versionId?: string;
  deleteMarker?: boolean;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface GetObjectResult {
  inode: Inode;
  // Yields the requested bytes in order; each stripe is verified (CRC32C per shard) and rebuilt
  // from any k healthy shards when some are missing or corrupt.
  body: AsyncIterable<Buffer>;
}

export interface ClusterStatus {
  dataServers: Array<
    DataServerInfo & {
      reachable: boolean;
      disks: DiskStatus[];
    }
  >;
  metadata: { addr: string; role: string; inodes?: number };
  // Every member of the metadata Raft cluster, as it reports itself (reachable: false when it
  // did not answer); lagEntries = the leader's commit index minus this member's applied index.
  metadataMembers: Array<{
    nodeId: number;
    addr: string;
    reachable: boolean;
    role?: string;
    term?: number;
    commitIndex?: number;
    appliedIndex?: number;
    lagEntries?: number;
    alarms?: string[]; // e.g. NOSPACE: this member's disk is full and it refuses writes
  }>;
  erasure: { k: number; m: number; stripeSizeBytes: number };
}

export interface FileHandle {
  readonly ino: number;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Buffer): Promise<Inode>;
  truncate(size: number): Promise<Inode>;
  stat(): Promise<Inode>;
}

export interface StrataClientApi {
  // POSIX-shaped, path based (paths are absolute: "/bucket/dir/file").
  stat(path: string): Promise<Inode>;
  lookup(parentIno: number, name: string): Promise<Inode>;
  getattr(ino: number): Promise<Inode>;
  mkdir(
    path: string,
    options?: { mode?: number; recursive?: boolean; caller?: Caller },
  ): Promise<Inode>;
  readdir(path: string): Promise<DirEntry[]>;
  readdirIno(ino: number): Promise<DirEntry[]>; // every entry of a directory, by inode number
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  // Creates or replaces the whole file atomically (readers see the old or the new content).
  writeFile(path: string, body: Body, options?: { mode?: number; caller?: Caller }): Promise<Inode>;
  readFile(path: string, range?: ByteRange): AsyncIterable<Buffer>;
  // Creates an empty file (exclusive: EEXIST if the name exists; otherwise opens what is there).
  create(
    path: string,
    options?: { mode?: number; exclusive?: boolean; caller?: Caller },
  ): Promise<Inode>;
  // A handle on an existing file for reads and writes at offsets (the FUSE mount's open files).
  open(path: string): Promise<FileHandle>;
  // Writes at an offset of an existing file (ino), durable when the promise resolves.
  write(ino: number, offset: number, data: Buffer): Promise<Inode>;
  read(ino: number, offset: number, length: number): Promise<Buffer>;
  truncate(ino: number, size: number): Promise<Inode>;

  // S3-shaped.
  createBucket(
    name: string,
    owner: string,
    options?: { objectLock?: boolean },
  ): Promise<BucketInfo>;
  deleteBucket(name: string): Promise<void>;
  getBucket(name: string): Promise<BucketInfo>; // NO_SUCH_BUCKET
  listBuckets(): Promise<BucketInfo[]>;
  putObject(
    bucket: string,
    key: string,
    body: Body,
    options: PutObjectOptions,
  ): Promise<PutObjectResult>;
  // Whether this process holds a master key, so that writes asking for SSE-S3 can be sealed
  // even while encryption at rest is off ([encryption] key_file).
  sealsOnRequest(): boolean;
  headObject(bucket: string, key: string): Promise<Inode>; // ENOENT when absent, NO_SUCH_BUCKET
  // The current version, or the named one: NO_SUCH_BUCKET, ENOENT (no object, or a delete
  // marker is current: the answer is then a delete marker, not an error), NO_SUCH_VERSION.
  objectVersion(bucket: string, key: string, versionId?: string): Promise<ObjectVersion>;
  // objectVersion with the bucket's record, and with the version's first extents from byte
  // `dataFrom` when asked: one metadata read for a GET or HEAD (same errors).
  readObject(
    bucket: string,
    key: string,
    options?: { versionId?: string; dataFrom?: number },
  ): Promise<ObjectReadFound>;
  // Reads the version's data (objectVersion first: its inode; `from`: that read's version and
  // extents, without reading them again).
  getObject(
    bucket: string,
    key: string,
    range?: ByteRange,
    versionId?: string,
    // customerKey: SSE-C's (CUSTOMER_KEY_*); leases: plain stripes' bytes in pooled buffers,
    // handed there with their releases (src/client/file-reader.ts)
    options?: { customerKey?: Buffer; from?: ObjectReadFound; leases?: LeaseSink },
  ): Promise<GetObjectResult>;
  // bypassGovernance: the caller sent x-amz-bypass-governance-retention and holds
  // s3:BypassGovernanceRetention (the gateway checks both); it lifts GOVERNANCE retention only.
  deleteObject(
    bucket: string,
    key: string,
    versionId?: string,
    options?: { bypassGovernance?: boolean; replicaVersionId?: string },
  ): Promise<VersionChange>;
  // Object Lock (src/metadata/object-lock.ts): the bucket's configuration (enables it; null
  // clears the default rule), a version's retention (null removes it) and legal hold.
  setObjectLockConfig(bucket: string, rule: ObjectLockRule | null): Promise<BucketInfo>;
  // The bucket's lifecycle rules (null removes them), checked by the state machine.
  setBucketLifecycle(bucket: string, config: LifecycleConfig | null): Promise<BucketInfo>;
  setObjectRetention(
    bucket: string,
    key: string,
    retention: Retention | null,
    options?: { versionId?: string; bypassGovernance?: boolean },
  ): Promise<{ versionId?: string }>;
  setObjectLegalHold(
    bucket: string,
    key: string,
    on: boolean,
    versionId?: string,
  ): Promise<{ versionId?: string }>;
  // RestoreObject of an archived version (src/metadata/ops-storage-class.ts).
  restoreObject(
    bucket: string,
    key: string,
    request: {
      versionId?: string;
      days: number;
      tier: RestoreTier;
      delayMs: number;
      timing: LifecycleTiming;
    },
  ): Promise<{ inode: Inode; restore: 'started' | 'extended' }>;
  setObjectTags(
    bucket: string,
    key: string,
    tags: Record<string, string>,
    versionId?: string,
  ): Promise<{ inode: Inode; versionId?: string }>;
  setObjectAcl(bucket: string, key: string, acl: string | null): Promise<Inode>;
  // One of a bucket's sub-resources: its policy (JSON text), tags, ACL (stored form), versioning,
  // default encryption, CORS rules, Block Public Access or Object Ownership; null removes it.
  setBucketAttr(name: string, attr: BucketAttr, value: BucketAttrValue): Promise<BucketInfo>;
  // Bucket replication's configuration (null removes it); versioning must be Enabled.
  setBucketReplication(name: string, config: ReplicationConfig | null): Promise<BucketInfo>;
  // Server-side copy without moving bytes (see the copyObject command).
  copyObject(
    source: { bucket: string; key: string; versionId?: string },
    bucket: string,
    key: string,
    options?: CopyOptions,
  ): Promise<{ inode: Inode; versionId?: string }>;
  listObjects(query: ListObjectsQuery): Promise<ListObjectsResult>;
  listObjectVersions(query: ListVersionsQuery): Promise<ListVersionsResult>;
  createMultipartUpload(
    bucket: string,
    key: string,
    object: Omit<ObjectMeta, 'etag'>,
    owner: string,
    lock?: ObjectLockRequest,
    options?: { customerKey?: Buffer }, // SSE-C: every part must then carry this key
  ): Promise<UploadInfo>;
  // `checksum` is read once the body has been consumed: the part's checksum in the upload's
  // algorithm, computed by the caller while streaming.
  uploadPart(
    uploadId: string,
    partNumber: number,
    body: Body,
    options?: {
      checksum?: () => string | undefined;
      customerKey?: Buffer;
      digests?: BodyDigests; // as PutObjectOptions' digests
    },
  ): Promise<PartInfo>;
  completeMultipartUpload(
    uploadId: string,
    parts: Array<{ partNumber: number; etag: string }>,
    options?: CompleteOptions,
  ): Promise<PutObjectResult>;
  abortMultipartUpload(uploadId: string): Promise<void>;
  listParts(uploadId: string): Promise<PartInfo[]>;
  listMultipartUploads(bucket: string): Promise<UploadInfo[]>;
  getUpload(uploadId: string): Promise<UploadInfo>; // NO_SUCH_UPLOAD

  clusterStatus(): Promise<ClusterStatus>;
  close(): Promise<void>;

  // Mount sessions (FUSE): a mount's locks and unlinked open files live as long as its session,
  // renewed by heartbeats (ESTALE once it has expired or closed). See src/client/locks.ts.
  mountOpen(mountId: string, ttlMs: number, description?: string): Promise<void>;
  mountHeartbeat(mountId: string): Promise<void>;
  mountClose(mountId: string): Promise<void>;
  // F_SETLK / flock: EAGAIN when another owner's lock conflicts (nothing changes then).
  setLock(mountId: string, lock: LockSpec): Promise<void>;
  // F_GETLK: the conflicting lock, or undefined.
  getLock(mountId: string, query: LockQuery): Promise<FileLock | undefined>;
  releaseOrphan(mountId: string, ino: number): Promise<void>; // last handle on an unlinked file
  // Resolves with the directory as changed.
  unlinkAt(
    parentIno: number,
    name: string,
    options?: { keepForMount?: string },
  ): Promise<Inode | undefined>;
  renameAt(
    from: { parent: number; name: string },
    to: { parent: number; name: string },
    options?: RenameAtOptions,
  ): Promise<void>;
}
