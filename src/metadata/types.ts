// Contract of the metadata state machine and service.
//
// The namespace is an inode tree. Root is inode 1; each bucket is a directory directly under root;
// an object key is the path below its bucket. File data is described by extents: byte ranges of
// the file mapped onto byte ranges of erasure-coded stripes. Every mutation is a Command applied by
// a deterministic state machine; the proposer stamps time (nowMs) and any identifiers into the
// command so that apply() uses no clock and no randomness (this is what Raft will replicate).

import type { SealedSecret } from '../crypto/user-secret.ts';
import type {
  ReplicationBacklog,
  ReplicationConfig,
  ReplicationEntry,
  ReplicationStatus,
} from './bucket-replication-types.ts';
import type { ChangesAnswer } from './change-journal.ts';
import type { CorsRule } from './cors-rules.ts';
import type {
  DiskState,
  FailureDomain,
  PlacementStrategy,
  ServerState,
} from './placement/types.ts';

export type { DiskState, FailureDomain, PlacementStrategy, SealedSecret, ServerState };

export const ROOT_INO = 1;

// 'special': a FIFO, socket or device node (POSIX view only: the kernel serves their I/O).
export type InodeType = 'file' | 'dir' | 'symlink' | 'special';
export type SpecialFormat = 'fifo' | 'socket' | 'char' | 'block';

export interface ObjectMeta {
  etag: string; // quoted-less hex MD5, or "<md5-of-md5s>-N" for multipart
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
  userMeta: Record<string, string>; // x-amz-meta-* without the prefix, lowercased names
  checksums?: Record<string, string>; // e.g. { CRC32: base64 }
  tags?: Record<string, string>; // object tags (at most 10)
  partSizes?: number[]; // multipart objects: size of each part, in order
  // The CRC32C of the bytes whose MD5 is `etag`, taken beside it over the bytes the gateway
  // received (single-part writes): a whole-object GET checks it rather than the MD5, at a tenth of
  // the cost (src/client/object-digest.ts). It names the etag it was taken with, so a path that
  // writes a new etag and carries the other fields along leaves a CRC that is never used.
  bytesCrc32c?: { etag: string; crc32c: number };
  acl?: string; // canned ACL other than private, or a JSON grant list (src/auth/policy/acl.ts)
  // Multipart uploads created with x-amz-checksum-algorithm: the algorithm, how the object's
  // checksum was formed, and each part's checksum (base64) in order.
  checksumAlgorithm?: string;
  checksumType?: 'COMPOSITE' | 'FULL_OBJECT';
  partChecksums?: string[];
  // The multipart upload this object was completed from: a retried CompleteMultipartUpload of
  // that upload is answered from the object while it stays (ops-multipart.ts).
  uploadId?: string;
  // SSE-S3: recorded only while every stripe of the object is sealed (object-encryption.ts), so
  // the header S3 echoes never claims encryption the bytes on disk do not have. SSE-KMS
  // ('aws:kms'): every stripe's data key is wrapped by the KMS key `kmsKeyId` (a key id, never an
  // alias), under the encryption context `sseContext` when there is one.
  sse?: SseAlgorithm;
  kmsKeyId?: string;
  sseContext?: string; // canonical base64 JSON (src/crypto/kms-key.ts, canonicalContext)
  bucketKeyEnabled?: boolean; // echoed only (docs/guides/security.md, "SSE-KMS")
  // SSE-C (never with `sse`): every stripe's data key is wrapped under the customer's key, which is never stored;
  // keyId (`sse-c:<salt>:<check>`, src/crypto/customer-key.ts) tells a later key right from
  // wrong. Recorded only while every stripe carries this key id (object-encryption.ts).
  sseCustomer?: SseCustomer;
  // The version's storage class (src/metadata/storage-class.ts); absent: STANDARD. Its stripes
  // are written with the class's policy (PUT) or re-encoded to it (a lifecycle transition).
  storageClass?: StorageClass;
  // An archived version's restore (RestoreObject): readable from readyAtMs until expiresAtMs.
  restore?: RestoreState;
}

// AWS's storage classes that Strata stores (others are refused): STANDARD and STANDARD_IA on the
// cluster's erasure profile, GLACIER and DEEP_ARCHIVE archived (a wider code on the cold pool,
// readable only while restored).
export type StorageClass = 'STANDARD' | 'STANDARD_IA' | 'GLACIER' | 'DEEP_ARCHIVE';
export type RestoreTier = 'Expedited' | 'Standard' | 'Bulk';

export interface RestoreState {
  tier: RestoreTier;
  requestedAtMs: number;
  // The leader's restore runner starts the copy from this time on (the tier's delay); the
  // restore stays ongoing (ongoing-request="true") until the copy is committed.
  readyAtMs: number;
  // Once the copy is committed: readable until this (x-amz-restore's expiry-date), `days`
  // lifecycle days after the commit (or after the request that extended it). Before: a
  // provisional value (readyAtMs + days), only kept for records written before copies.
  expiresAtMs: number;
  days?: number; // the Days asked (absent in records written before copies)
  // The restored copy: an inode with no name (Inode.restoredCopyOf says whose) holding the
  // version's bytes as STANDARD stripes on the default pool (src/metadata/ops-restore.ts).
  copyIno?: number;
}

// The server-side encryptions Strata provides, by S3's names: SSE-S3 and SSE-KMS.
export type SseAlgorithm = 'AES256' | 'aws:kms';

export interface SseCustomer {
  algorithm: 'AES256'; // the only one S3 defines for SSE-C
  keyId: string;
}

export interface Inode {
  ino: number;
  type: InodeType;
  mode: number; // permission bits only (0o7777); the type is in `type`
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;
  xattrs: Record<string, Uint8Array>;
  target?: string; // symlink target
  format?: SpecialFormat; // special files only
  rdev?: number; // device nodes: the device number (Linux new_encode_dev form)
  parent?: number; // directories only: their one parent (for rename's cycle check)
  // A directory created only because an object key needed it (S3 PutObject of a/b/c creates a, a/b).
  // Implicit directories are removed again when an S3 delete leaves them empty and are not listed
  // as "dir/" objects; explicit ones (mkdir, PUT of "dir/") are.
  implicit?: boolean;
  object?: ObjectMeta; // S3 view of a file (absent for files written only through POSIX)
  // A noncurrent version's data (src/metadata/versions.ts): no name, nlink 0, never changed.
  frozen?: boolean;
  // A restored copy of an archived version (RestoreState.copyIno): the version's inode number.
  // It has no name and is freed with its version's restore (src/metadata/restored-copy.ts).
  restoredCopyOf?: number;
}

// One version of a key in a versioned bucket (src/metadata/versions.ts).
export interface VersionRecord {
  versionId: string; // "null", or 14 hex digits from the state's version counter
  ino?: number; // its data: the live file while current, a frozen inode after; none for markers
  deleteMarker?: boolean;
  mtimeMs: number; // when it was made (an object's own times are its inode's)
  // The POSIX save writing this version (a mount's open-for-write of the file): its further
  // writes change this version instead of making new ones.
  saveToken?: string;
  // Object Lock (src/metadata/object-lock.ts): the version cannot be removed while either holds.
  retention?: Retention;
  legalHold?: boolean;
}

// S3 Object Lock. GOVERNANCE: lifted early only with the bypass (header and permission, checked
// by the gateway); COMPLIANCE: never shortened, changed or removed before untilMs, by anyone.
export type RetentionMode = 'GOVERNANCE' | 'COMPLIANCE';
export interface Retention {
  mode: RetentionMode;
  untilMs: number; // the retain-until date, compared with the command's proposer-stamped nowMs
}
// A bucket's default retention for new versions: a mode and exactly one of days or years.
export interface ObjectLockRule {
  mode: RetentionMode;
  days?: number;
  years?: number;
}
// What a write asks for its new version (x-amz-object-lock-* headers); absent parts of the
// retention come from the bucket's default rule.
export interface ObjectLockRequest {
  retention?: Retention;
  legalHold?: boolean;
}

export type VersioningState = 'Enabled' | 'Suspended';

export interface ShardLocation {
  serverId: string;
  disk: number;
}

export interface Stripe {
  id: string; // 32 hex chars, chosen by the writer
  k: number;
  m: number;
  shardSizeBytes: number; // every shard of the stripe has this size; data is zero-padded
  dataLengthBytes: number; // meaningful bytes in the stripe (<= k * shardSizeBytes)
  shards: ShardLocation[]; // length k+m, shard i on shards[i]
  // The oldest shard file format its shards were written in (src/data/shard-file.ts); absent on
  // stripes written before version 2, which means 1. Readers refuse an older-format file there.
  shardVersion?: number;
  // The cluster's placement epoch when the writer read the servers it placed the stripe on
  // (src/metadata/stripe-placement.ts): the domain rule is checked at commit when it is current.
  placementEpoch?: number;
  // Indices of the shards its writer could not write (a degraded write: at least k+1 landed).
  // Each stays recorded at its planned location, where no file is, until a repair rebuilds it;
  // the state machine lists them for repair at the stripe's first reference (absent-shards.ts).
  // Absent on stripes written in full, and on stripes from writers before this field.
  absentShards?: number[];
  // Set on a stripe written with encryption at rest (src/crypto/, docs/guides/security.md):
  // its k data shards are sealed, and shardSizeBytes and dataLengthBytes describe the sealed
  // bytes, which is all the erasure layer, the data servers and the repair see. Extents address
  // the plaintext (plainLengthBytes of it). Absent: the shards hold the data as it is.
  encryption?: StripeEncryption;
  // The storage pool (data.pool label) its shards were placed in, when it was placed on that
  // pool's servers only (an archive class's stripe): placement is judged against that pool.
  pool?: string;
}

export type StripeCipher = 'aes-256-gcm' | 'chacha20-poly1305';

export interface StripeEncryption {
  cipher: StripeCipher;
  // Who wrapped the data key, one of three (src/client/stripe-crypt.ts, DataKeyWrapper): the
  // master key of this id; with `kms`, the KMS key of this id (a UUID); or for SSE-C
  // `sse-c:<salt>:<check>`: the customer's key (src/crypto/customer-key.ts), no master key.
  keyId: string;
  wrappedKey: string; // the stripe's data key, AES-KW wrapped, base64
  plainLengthBytes: number;
  // SSE-KMS: the data key is wrapped by a key derived from version `version` of KMS key `keyId`
  // and the encryption context (src/crypto/kms-key.ts), not by a master key.
  kms?: StripeKms;
}

export interface StripeKms {
  version: number;
  context?: string; // canonical base64 JSON, bound into the wrapping key
}

// A KMS key of the built-in KMS (src/metadata/ops-kms.ts): its material is never in the clear
// here, only wrapped by a master key, one wrapping per version. The last version wraps new data
// keys; the others stay to unwrap what they wrapped.
export type KmsKeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface KmsKeyVersion {
  version: number;
  masterKeyId: string;
  wrappedMaterial: string; // 32 bytes AES-KW wrapped by the master key, base64
  createdAtMs: number;
}

export interface KmsKeyRecord {
  id: string; // a UUID
  alias?: string; // 'alias/NAME'
  description: string;
  state: KmsKeyState;
  createdAtMs: number;
  deletionDateMs?: number; // PendingDeletion: when the waiting period ends
  versions: KmsKeyVersion[];
}

// A version's material re-wrapped under another master key (strata encryption rotate-master-key).
export type KmsKeyAction = 'enable' | 'disable' | 'schedule-deletion' | 'cancel-deletion';

// What `strata kms` shows of a key: everything but the wrapped material.
export interface KmsKeySummary {
  id: string;
  alias?: string;
  description: string;
  state: KmsKeyState;
  createdAtMs: number;
  deletionDateMs?: number;
  versions: number;
}

export interface KmsMaterialRewrap {
  keyId: string;
  version: number;
  fromMasterKeyId: string;
  masterKeyId: string;
  wrappedMaterial: string;
}

// A shard its writer left absent, at the location its stripe records for it (absent-shards.ts).
export interface AbsentShard {
  stripeId: string;
  shardIndex: number;
  location: ShardLocation;
}

// How many shards of referenced stripes one disk holds (src/metadata/shard-counts.ts).
export interface DiskShardCount {
  serverId: string;
  disk: number;
  shards: number;
}

// Where a stripe was found: a file's extent, or an upload's part (relocateShard's precondition).
export type StripeSite =
  | { ino: number; fileOffset: number }
  | { uploadId: string; partNumber: number };

// One shard of a stripe moves from where the repair found it to where it was rebuilt.
export interface Relocation {
  stripeId: string;
  shardIndex: number;
  from: ShardLocation;
  to: ShardLocation;
  at: StripeSite;
  placementEpoch?: number;
}

export type RelocationOutcome = { ok: true } | { ok: false; code: string; message: string };

// A stripe's data key wrapped by another master key (src/metadata/ops-encryption.ts).
export interface StripeKeyRecord {
  keyId: string;
  wrappedKey: string;
}

// One stripe's data key re-wrapped by a master key rotation: where the rotation found the
// stripe, the master key it found wrapping it, and the new wrapping.
export interface StripeKeyRewrap extends StripeKeyRecord {
  stripeId: string;
  at: StripeSite;
  fromKeyId: string;
}

// A page of the walk over referenced stripes (src/metadata/stripe-scan.ts); `next` is absent on
// the last page.
export interface StripeScanPage {
  stripes: Array<{ stripe: Stripe; at: StripeSite }>;
  next?: string;
}

export interface Extent {
  fileOffset: number;
  length: number;
  stripe: Stripe;
  stripeOffset: number; // where this extent's bytes start inside the stripe's data
  inline?: undefined;
}

// Bytes of a small file kept in the replicated metadata itself instead of in stripes
// (docs/architecture/overview.md, "Small files inline"): no shard file, no data server round
// trip. Only within the first `erasure.inlineMaxBytes` of a file, and only while the file is no
// larger than that (the state machine checks both: extent-ops.ts, checkInlineRule).
export interface InlineExtent {
  fileOffset: number;
  length: number;
  inline: Uint8Array; // exactly `length` bytes
  stripe?: undefined;
}

// What a file's extent table holds: stripe extents and, for small files, inline ones.
export type FileExtent = Extent | InlineExtent;

// A data server's disk as the cluster records it. state, capacityBytes and freeBytes come from
// the server's heartbeats (absent only in records written before heartbeats existed; the reader
// fills them in).
export interface DataServerDisk {
  disk: number;
  path: string;
  state?: DiskState;
  capacityBytes?: number; // 0 until the first heartbeat reports it
  freeBytes?: number;
  // The identity of the disk the recorded shards were written to (health/disk-report.ts): a
  // replaced disk reports another one.
  diskId?: string;
}

// A data server as the cluster records it, replicated through Raft, so every gateway and mount
// sees the same view. `state` is written by the metadata leader's failure detector (up, suspect,
// down) or by an operator (draining, removed); see src/metadata/liveness-monitor.ts.
export interface DataServerInfo {
  serverId: string;
  addr: string; // host:port of its RPC listener
  disks: DataServerDisk[];
  registeredAtMs: number;
  domain: FailureDomain; // failure-domain labels, from the server's configuration
  state: ServerState;
  stateSinceMs: number; // when `state` last changed (the leader's clock)
}

// What a data server sends to register: its address, disks and failure-domain labels (absent
// from servers of older versions: the state machine then labels it with its id as host).
export interface DataServerRegistration {
  serverId: string;
  addr: string;
  disks: Array<{ disk: number; path: string }>;
  domain?: FailureDomain;
}

export interface BucketInfo {
  name: string;
  ino: number;
  createdAtMs: number;
  owner: string;
  policy?: string; // bucket policy document, JSON text as the owner put it (validated by the gateway)
  tags?: Record<string, string>; // bucket tags
  // Canned ACL name other than private, or a JSON grant list (src/auth/policy/acl.ts); absent =
  // private (only the owner).
  acl?: string;
  // Block Public Access (S3 PublicAccessBlockConfiguration); absent: nothing is blocked.
  publicAccessBlock?: PublicAccessBlock;
  // S3 Object Ownership; absent: ACLs enabled and every object belongs to the bucket's owner.
  ownership?: ObjectOwnership;
  // S3 versioning: absent while it was never enabled; once Enabled it can only be Suspended.
  versioning?: VersioningState;
  // Object Lock: present once enabled (never disabled; versioning then stays Enabled), with the
  // default retention rule if one is set.
  objectLock?: { rule?: ObjectLockRule };
  // Default encryption (PutBucketEncryption): new objects are SSE-S3 (or SSE-KMS under
  // encryptionKmsKeyId, the default KMS key when absent) whatever their request says.
  encryption?: SseAlgorithm;
  encryptionKmsKeyId?: string;
  encryptionBucketKeyEnabled?: boolean; // echoed only, as on objects
  // CORS rules (src/metadata/cors-rules.ts), in the order the owner put them: the first rule that
  // matches a request answers it.
  cors?: CorsRule[];
  // S3 lifecycle rules (src/metadata/lifecycle/), carried out by the leader's lifecycle runner.
  lifecycle?: LifecycleConfig;
  // Bucket replication (src/metadata/bucket-replication.ts): present while configured.
  replication?: ReplicationConfig;
}

// A rule's filter: every condition given must hold (an empty filter matches every key). Sizes
// are strict bounds, as AWS's ObjectSizeGreaterThan and ObjectSizeLessThan.
export interface LifecycleFilter {
  prefix?: string;
  tags?: Record<string, string>;
  sizeGreaterThanBytes?: number;
  sizeLessThanBytes?: number;
}

// One rule, in the terms of AWS's LifecycleConfiguration (transitions to classes Strata does not
// store are refused by the gateway with 501, so they never get here).
export interface LifecycleRule {
  id: string;
  enabled: boolean;
  filter: LifecycleFilter;
  legacyPrefix?: boolean; // put as a top-level <Prefix> (the old form), answered the same way
  expiration?: { days?: number; dateMs?: number; expiredObjectDeleteMarker?: boolean };
  noncurrentExpiration?: { noncurrentDays: number; newerNoncurrentVersions?: number };
  abortIncompleteUploadDays?: number;
  // Transition and NoncurrentVersionTransition: to an archive class (the leader's transition
  // runner re-encodes the version's data, src/cluster/transition-runner.ts) or to STANDARD_IA
  // (the same policy as STANDARD: only the class is recorded).
  transitions?: LifecycleTransition[];
  noncurrentTransitions?: LifecycleNoncurrentTransition[];
}

// NoncurrentVersionTransition: a noncurrent version moves `noncurrentDays` after it became
// noncurrent, except the `newerNoncurrentVersions` newest noncurrent ones (as AWS).
export interface LifecycleNoncurrentTransition {
  noncurrentDays: number;
  storageClass: StorageClass;
  newerNoncurrentVersions?: number;
}

export interface LifecycleTransition {
  days?: number;
  dateMs?: number;
  storageClass: StorageClass;
}

export interface LifecycleConfig {
  rules: LifecycleRule[];
}

// How long a lifecycle day lasts, stamped into each applyLifecycle command by the runner:
// 86,400,000 ms and rounded to the next midnight UTC (AWS), or shorter and unrounded for tests
// (lifecycle.debug_day_seconds).
export interface LifecycleTiming {
  dayMs: number;
  roundToMidnight: boolean;
}

// A key's versions as lifecycle rules judge them, newest first (src/metadata/lifecycle/facts.ts).
// A key in a bucket that never had versioning has one version, its object.
export interface LifecycleVersionFacts {
  versionId: string;
  deleteMarker: boolean;
  lastModifiedMs: number;
  sizeBytes: number;
  // Its bytes are kept in the metadata (small files inline): it stays STANDARD, never transitioned.
  inline?: boolean;
  // SSE-C: its bytes are readable only with the customer's key, which no transition has (a
  // re-encode reads and seals them again): it stays in its class, never transitioned.
  customerKeyed?: boolean;
  tags?: Record<string, string>;
  retention?: Retention;
  legalHold?: boolean;
  storageClass?: StorageClass; // absent: STANDARD
  objectMeta?: boolean; // the version has S3 object metadata (files written only by POSIX do not)
}

export interface LifecycleKeyFacts {
  key: string;
  versioned: boolean; // the bucket has (or had) versioning
  versions: LifecycleVersionFacts[];
}

// What one applyLifecycle command did.
export interface LifecycleOutcome {
  objectsExpired: number; // current versions expired (removed, or hidden by a delete marker)
  versionsExpired: number; // noncurrent versions and expired delete markers removed for good
  uploadsAborted: number;
  skippedLocked: number; // versions due to go that Object Lock keeps
}

export interface UploadInfo {
  uploadId: string;
  bucket: string;
  key: string;
  initiatedAtMs: number;
  object: Omit<ObjectMeta, 'etag'>;
  owner: string;
  lock?: ObjectLockRequest; // for the version its completion makes
}

export interface PartInfo {
  partNumber: number;
  size: number;
  etag: string;
  lastModifiedMs: number;
  extents: Extent[]; // fileOffset relative to the part's start
  checksum?: string; // base64, in the upload's checksum algorithm
}

// Attributes of the caller, for permission and ownership of what it creates.
export interface Caller {
  uid: number;
  gid: number;
}

export type Command =
  | { op: 'mkdir'; nowMs: number; parent: number; name: string; mode: number; caller: Caller }
  | {
      op: 'create';
      nowMs: number;
      parent: number;
      name: string;
      mode: number;
      caller: Caller;
      exclusive: boolean; // O_EXCL: EEXIST if the name exists; otherwise open the existing file
      saveToken?: string; // in a versioned bucket, the save the new file's version belongs to
    }
  | { op: 'symlink'; nowMs: number; parent: number; name: string; target: string; caller: Caller }
  | {
      op: 'mknod';
      nowMs: number;
      parent: number;
      name: string;
      mode: number;
      format: SpecialFormat;
      rdev: number;
      caller: Caller;
    }
  | { op: 'link'; nowMs: number; ino: number; parent: number; name: string }
  // keepForMount: when this was the file's last link and that mount session exists, the inode and
  // its data survive with nlink 0 as an orphan of the mount (unlink of an open file), until
  // releaseOrphan or the session's end.
  | { op: 'unlink'; nowMs: number; parent: number; name: string; keepForMount?: string }
  | { op: 'rmdir'; nowMs: number; parent: number; name: string }
  | {
      op: 'rename';
      nowMs: number;
      srcParent: number;
      srcName: string;
      dstParent: number;
      dstName: string;
      noReplace?: boolean;
      exchange?: boolean;
      keepReplacedForMount?: string; // as unlink's keepForMount, for a replaced target file
    }
  | {
      op: 'setattr';
      nowMs: number;
      ino: number;
      mode?: number;
      uid?: number;
      gid?: number;
      size?: number; // truncate up (sparse) or down (drops extents past the end)
      atimeMs?: number;
      mtimeMs?: number;
      saveToken?: string; // a size change in a versioned bucket: see write
    }
  | { op: 'setxattr'; nowMs: number; ino: number; name: string; value: Uint8Array }
  | { op: 'removexattr'; nowMs: number; ino: number; name: string }
  // Writes at offsets: each extent replaces whatever covered its range (older extents are split or
  // dropped); size grows to the end of the last extent if that is past it.
  // In a versioned bucket, the first change of a save (a saveToken the current version was not
  // made by, or none) makes a new version; later ones of the same save change it in place.
  // ifCtimeMs, ifInline: applied only while the inode's ctime is still this one and its inline
  // extents are still exactly these (PRECONDITION_FAILED otherwise): a writer moving a file's
  // inline bytes into stripes read them so. The bytes are compared too because two changes can
  // share a millisecond of ctime.
  | {
      op: 'write';
      nowMs: number;
      ino: number;
      extents: FileExtent[];
      saveToken?: string;
      ifCtimeMs?: number;
      ifInline?: InlineExtent[];
    }
  // Deallocates [offset, offset + length) of a file (reads give zeros); the size stays.
  | {
      op: 'punch';
      nowMs: number;
      ino: number;
      offset: number;
      length: number;
      saveToken?: string;
    }
  // objectLock: the bucket is made with Object Lock enabled, and so with versioning Enabled.
  | {
      op: 'createBucket';
      nowMs: number;
      name: string;
      owner: string;
      caller: Caller;
      objectLock?: boolean;
    }
  | { op: 'deleteBucket'; nowMs: number; name: string }
  // Sets (value) or removes (null) one of a bucket's sub-resources. The gateway validates values
  // (policy grammar, tag limits, ACL names); here only their types are checked.
  | {
      op: 'setBucketAttr';
      nowMs: number;
      name: string;
      attr: BucketAttr;
      value: BucketAttrValue;
    }
  // Atomically creates or replaces the file at bucket/key with exactly these extents and size,
  // creating missing parent directories (implicit). Preconditions on the current object: ifMatch
  // (etag must equal) / ifNoneMatch '*' (must not exist) -> PRECONDITION_FAILED.
  | {
      op: 'putObject';
      nowMs: number;
      bucket: string;
      key: string;
      size: number;
      extents: FileExtent[];
      object: ObjectMeta;
      caller: Caller;
      ifMatch?: string;
      ifNoneMatch?: string;
      lock?: ObjectLockRequest;
      // Bucket replication from another Strata cluster: the version keeps its source's id, at
      // the place that id names (versions.ts, replicaPlace), and is marked REPLICA.
      replicaVersionId?: string;
    }
  // Deletes the object (file, or explicit empty directory for keys ending in '/'), then removes
  // implicit parent directories left empty. Deleting a missing key succeeds (S3 semantics). In a
  // versioned bucket it makes a delete marker; with versionId it removes that version for good
  // (the next one becomes current).
  // A version under retention or legal hold is not removed (OBJECT_LOCKED); bypassGovernance
  // (the gateway checked header and permission) lifts GOVERNANCE retention only.
  | {
      op: 'deleteObject';
      nowMs: number;
      bucket: string;
      key: string;
      versionId?: string;
      bypassGovernance?: boolean;
      // A replicated delete marker (without versionId): it keeps its source's id (REPLICA).
      replicaVersionId?: string;
    }
  // Object Lock (src/metadata/object-lock.ts). setObjectLockConfig enables it on a bucket with
  // versioning Enabled and sets (or, with null, clears) the default retention rule.
  | { op: 'setObjectLockConfig'; nowMs: number; name: string; rule: ObjectLockRule | null }
  // A bucket's lifecycle rules (null removes them), checked as AWS checks them
  // (src/metadata/lifecycle/validate.ts).
  | { op: 'setBucketLifecycle'; nowMs: number; name: string; config: LifecycleConfig | null }
  // Carries out what the bucket's lifecycle rules decide at nowMs for one key (its current
  // version, noncurrent versions, expired delete marker) or one multipart upload. The decision
  // is taken again here on the state as it is (src/metadata/lifecycle/decide.ts), so a runner's
  // stale view never removes what the rules keep, and a locked version is skipped and counted.
  // Result: `lifecycle`.
  | {
      op: 'applyLifecycle';
      nowMs: number;
      bucket: string;
      key?: string;
      uploadId?: string;
      timing: LifecycleTiming;
    }
  // RestoreObject on an archived version (src/metadata/ops-storage-class.ts): readable from
  // nowMs + delayMs (the tier's delay, stamped by the gateway) for `days` lifecycle days.
  // INVALID_OBJECT_STATE unless archived; RESTORE_IN_PROGRESS while one is ongoing; a completed
  // one not yet expired is extended (result restore: 'extended'; otherwise 'started').
  | {
      op: 'restoreObject';
      nowMs: number;
      bucket: string;
      key: string;
      versionId?: string;
      days: number;
      tier: RestoreTier;
      delayMs: number;
      timing: LifecycleTiming;
    }
  // A lifecycle transition's commit (src/metadata/ops-storage-class.ts): the version's data,
  // re-encoded into `extents` under the class's policy by the leader's transition runner,
  // replaces its extents, if the version is still the file `ino` with exactly the extents the
  // runner read (`fromStripeIds`, in order) and the rules still move it to that class at nowMs
  // (PRECONDITION_FAILED otherwise: the runner deletes the new stripes). The old stripes lose
  // this reference only here, so their shards are collected only after the commit.
  | {
      op: 'transitionObject';
      nowMs: number;
      bucket: string;
      key: string;
      versionId: string;
      ino: number;
      fromStripeIds: string[];
      storageClass: StorageClass;
      extents: Extent[];
      timing: LifecycleTiming;
      // A class of the version's own policy (STANDARD to STANDARD_IA): only the class changes,
      // `extents` is empty and the version keeps its stripes.
      relabel?: boolean;
    }
  // The restore runner's commit of a restored copy (src/metadata/ops-restore.ts): `extents`,
  // the version's bytes re-encoded as STANDARD stripes, become the copy reads use, if the
  // version is still the file `ino` with exactly the archived stripes read (`fromStripeIds`)
  // and still wants that restore (requested at `requestedAtMs`, no copy yet); its expiry is
  // `days` lifecycle days from nowMs. PRECONDITION_FAILED otherwise (the runner deletes the
  // new stripes).
  | {
      op: 'commitRestoredCopy';
      nowMs: number;
      ino: number;
      requestedAtMs: number;
      fromStripeIds: string[];
      extents: Extent[];
      timing: LifecycleTiming;
    }
  // The end of a restore whose copy has expired at nowMs: the copy's stripes lose their
  // references (queued for collection after this commit) and the restore record goes.
  // PRECONDITION_FAILED when the file `ino` has no such expired copy.
  | {
      op: 'expireRestoredCopy';
      nowMs: number;
      ino: number;
    }
  // A version's retention (null: removed); weakening GOVERNANCE needs bypassGovernance,
  // weakening COMPLIANCE is refused to everyone.
  | {
      op: 'setObjectRetention';
      nowMs: number;
      bucket: string;
      key: string;
      versionId?: string;
      retention: Retention | null;
      bypassGovernance?: boolean;
    }
  | {
      op: 'setObjectLegalHold';
      nowMs: number;
      bucket: string;
      key: string;
      versionId?: string;
      on: boolean;
    }
  // Replaces the object's tag set (empty: removes it). Tags do not change the ETag or mtime.
  | {
      op: 'setObjectTags';
      nowMs: number;
      bucket: string;
      key: string;
      tags: Record<string, string>;
      versionId?: string;
    }
  // Sets the object's ACL (a canned name or a JSON grant list; null: private). Like tags, it
  // changes neither ETag nor mtime. Refused while the bucket is BucketOwnerEnforced.
  | { op: 'setObjectAcl'; nowMs: number; bucket: string; key: string; acl: string | null }
  // Copies an object without copying its bytes: the destination gets the source's extents (one
  // more reference on each stripe), the source's ETag and checksums, and either the source's
  // metadata or, when `object` is given (REPLACE), that. A copy onto itself only replaces the
  // metadata. ifMatch/ifNoneMatch apply to the destination, copyIf* to the source.
  | {
      op: 'copyObject';
      nowMs: number;
      srcBucket: string;
      srcKey: string;
      srcVersionId?: string; // a version of the source (a restore copies one onto its own key)
      bucket: string;
      key: string;
      object?: Omit<ObjectMeta, 'etag' | 'checksums' | 'partSizes'>;
      acl?: string; // ACL of the copy, stored form (absent: private)
      tags?: Record<string, string>; // replaces the tags (absent: the source's)
      caller: Caller;
      ifMatch?: string;
      ifNoneMatch?: string;
      copyIfMatch?: string;
      copyIfNoneMatch?: string;
      lock?: ObjectLockRequest; // the copy's own (a copy never takes the source's)
      sse?: SseAlgorithm; // the copy's own encryption (a copy never takes the source's)
      storageClass?: StorageClass; // the copy's own class (absent: STANDARD)
      kmsKeyId?: string; // with sse aws:kms: the copy's KMS key and context
      sseContext?: string;
      bucketKeyEnabled?: boolean;
      // SSE-C (never with `sse`): the copy's own customer key id (the source's when both use the same key, so the
      // stripes are shared; else the rewritten stripes' own).
      sseCustomer?: SseCustomer;
      // The source's bytes written again, sealed (src/client/sealed-copy.ts), for an SSE-S3 copy
      // of plaintext: committed instead of the source's stripes if the source is still the
      // file that was read (same inode and ctime), PRECONDITION_FAILED otherwise.
      rewritten?: { srcIno: number; srcCtimeMs: number; size: number; extents: Extent[] };
    }
  | {
      op: 'createUpload';
      nowMs: number;
      uploadId: string;
      bucket: string;
      key: string;
      object: Omit<ObjectMeta, 'etag'>;
      owner: string;
      lock?: ObjectLockRequest;
    }
  | {
      op: 'putPart';
      nowMs: number;
      uploadId: string;
      partNumber: number;
      size: number;
      etag: string;
      extents: Extent[];
      checksum?: string; // base64, in the upload's checksum algorithm
    }
  // Concatenates the listed parts (extents shifted, no data copied) into the object, as putObject.
  // Checks order (INVALID_PART_ORDER), existence and etag (INVALID_PART), minimum part size for
  // all but the last (ENTITY_TOO_SMALL, minPartSizeBytes). A retry after success (the upload is
  // gone, and bucket/key still hold the object it made with this etag) succeeds with that object
  // and changes nothing; otherwise a missing upload is NO_SUCH_UPLOAD.
  | {
      op: 'completeUpload';
      nowMs: number;
      uploadId: string;
      bucket?: string; // the request's bucket and key, for recognising a retry
      key?: string;
      parts: Array<{ partNumber: number; etag: string }>;
      etag: string; // computed by the proposer from the part etags
      // The object's checksum ({ CRC32: "<base64>-N" } or full-object) and the parts' checksums,
      // computed by the proposer from the stored parts (which the etag check pins).
      checksums?: Record<string, string>;
      partChecksums?: string[];
      minPartSizeBytes: number;
      caller: Caller;
      ifMatch?: string;
      ifNoneMatch?: string;
    }
  | { op: 'abortUpload'; nowMs: number; uploadId: string }
  // Bucket replication (src/metadata/bucket-replication.ts): the configuration (null removes
  // it; versioning must be Enabled), and the leader's runner's outcome for a queued version.
  | { op: 'setBucketReplication'; nowMs: number; name: string; config: ReplicationConfig | null }
  | {
      op: 'settleReplication';
      nowMs: number;
      seq: number;
      versionId: string; // the entry's, checked: a stale proposal changes nothing
      // refused: the destination cannot take this metadata change (its version ids are its
      // own and the version is not its current one): the entry goes, the version is FAILED.
      outcome: 'completed' | 'gone' | 'failed' | 'refused';
      retryAtMs?: number; // failed: when to send again
    }
  // Creates or updates a data server's record. A server registering again (a restart) keeps its
  // state: only its heartbeats make the leader's detector bring it back up.
  | { op: 'registerDataServer'; nowMs: number; server: DataServerRegistration }
  // A change of a data server's state (src/metadata/ops-cluster.ts), proposed by the leader's
  // failure detector when its verdict changes. ifState: applied only while the recorded state is
  // this one (PRECONDITION_FAILED otherwise), so a stale verdict never overwrites a newer one.
  | {
      op: 'setServerState';
      nowMs: number;
      serverId: string;
      state: ServerState;
      ifState?: ServerState;
    }
  // Disk health and space from a server's heartbeats, recorded when they change noticeably.
  | {
      op: 'setDiskStatus';
      nowMs: number;
      serverId: string;
      disks: Array<{
        disk: number;
        state: DiskState;
        capacityBytes: number;
        freeBytes: number;
        diskId?: string; // adopt this identity (only while the disk records no shard)
      }>;
    }
  // The cluster's one configuration (erasure profile, placement strategy), set by the first
  // leader from its own configuration. Only the first one counts: once set, this changes nothing
  // and answers the recorded one (result `clusterConfig`).
  | { op: 'initClusterConfig'; nowMs: number; config: ClusterConfig }
  // The metadata address of a Raft member (null: forget it), so every replica can reach every
  // member, including ones added after it started.
  | { op: 'setMember'; nowMs: number; nodeId: number; addr: string | null }
  // A repair rebuilt shard `shardIndex` of the stripe at `to`: the stripe records `to` instead of
  // `from` (src/metadata/ops-repair.ts). PRECONDITION_FAILED unless the stripe is still referenced,
  // still at `at`, and still records `from` for that shard: a stale or duplicate commit changes
  // nothing.
  // `placementEpoch`: the epoch the planner read with the server records; when it is still the
  // current one, the move must also keep the domain rule (the target's domain holds at most m
  // shards of the stripe after it). Commands without it (older leaders) are not judged by it.
  | ({ op: 'relocateShard'; nowMs: number } & Relocation)
  // Several relocations in one Raft entry and one transaction (the repair driver's group commit):
  // each judged as relocateShard judges one, in order, on the state the ones before it left; a
  // refused one changes nothing and does not stop the others. At most RELOCATIONS_PER_COMMAND_MAX
  // (ops-repair.ts). Result: `relocations`, one outcome per move, in order.
  | { op: 'relocateShards'; nowMs: number; moves: Relocation[] }
  // A master key rotation re-wrapped these stripes' data keys (src/metadata/ops-encryption.ts):
  // each is refused alone (PRECONDITION_FAILED) unless the stripe is still referenced, at `at`,
  // and wrapped by `fromKeyId` (or already by `keyId`: a retry). The data is not touched.
  | { op: 'rewrapStripeKeys'; nowMs: number; keys: StripeKeyRewrap[] }
  // The garbage collector deleted these stripes' shards; forget them.
  | { op: 'gcDone'; nowMs: number; stripeIds: string[] }
  // The scrubber found shard files of these stripes on disk. Each one no extent references and no
  // collection has queued is marked as an orphan (result: `marked`); from then on any command
  // that would reference it fails with EIO, so its shards can be deleted safely.
  | { op: 'markOrphans'; nowMs: number; stripeIds: string[] }
  // Mount sessions (src/metadata/ops-mounts.ts): a FUSE mount's locks and open-but-unlinked
  // files live as long as its session, renewed by heartbeats and ended by mountClose or by
  // expireMounts once lastSeenMs + ttlMs < nowMs.
  // user: the user whose mount it is, stamped by the leader for a user's connection
  // (src/metadata/namespace-access.ts); absent: an operator's mount.
  | {
      op: 'mountOpen';
      nowMs: number;
      mountId: string;
      ttlMs: number;
      description?: string;
      user?: string;
    }
  | { op: 'mountHeartbeat'; nowMs: number; mountId: string }
  | { op: 'mountClose'; nowMs: number; mountId: string }
  | { op: 'expireMounts'; nowMs: number }
  | { op: 'releaseOrphan'; nowMs: number; mountId: string; ino: number }
  // Write-behind namespace changes (src/metadata/ops-delegation.ts): a mount asks for a directory,
  // whose entries then change only through its dirBatch commands until it gives it back
  // (releaseDirs) or its session ends. `inodes`: the size of a new range of inode numbers to
  // reserve for the mount's creates (0: none; the mount asks before it runs out).
  | { op: 'delegateDir'; nowMs: number; mountId: string; dir: number; inodes: number }
  | { op: 'releaseDirs'; nowMs: number; mountId: string; dirs: number[] }
  // A new range of `inodes` numbers for the mount's creates, without a directory.
  | { op: 'reserveInodes'; nowMs: number; mountId: string; inodes: number }
  // The mount's changes in its delegated directories, in the order it made them: all applied, or
  // none (the failure names the first op that failed). `batch`: the mount's count of its batches
  // from 1; one numbered at or below the last applied is not applied again (a retry whatever its
  // client session).
  | { op: 'dirBatch'; nowMs: number; mountId: string; batch: number; ops: DirBatchOp[] }
  // A POSIX byte-range lock (fcntl F_SETLK) or a flock, cluster-wide (src/metadata/ops-locks.ts).
  // EAGAIN on conflict, changing nothing.
  // Users and their S3 access keys (src/metadata/ops-users.ts). Key material is made by the
  // proposer (the CLI) and carried here: apply never generates it.
  | {
      op: 'createUser';
      nowMs: number;
      name: string;
      admin: boolean;
      accessKeyId: string;
      // One of the two: sealed by the leader when it has a master key (never in the Raft log in
      // the clear then), as it came otherwise (docs/guides/security.md, "Users").
      secretKey?: string;
      sealedSecret?: SealedSecret;
    }
  // USER_FROM_CONFIG for a user the configuration declares: it is removed there.
  | { op: 'deleteUser'; nowMs: number; name: string }
  // Adds a key to the user; without keepOld every other key of the user goes.
  | {
      op: 'rotateAccessKey';
      nowMs: number;
      name: string;
      accessKeyId: string;
      secretKey?: string; // or sealedSecret, as createUser
      sealedSecret?: SealedSecret;
      keepOld: boolean;
    }
  // The configuration's credentials (s3.auth.credentials, or the generated pair): each user is
  // created or brought in step (admin flag, exactly these keys, changed secrets). complete: the
  // list is a leader's whole configuration, so config users missing from it become CLI users
  // (deletable with `strata user delete`; their keys keep working until then).
  | { op: 'syncConfigUsers'; nowMs: number; users: ConfigUser[]; complete: boolean }
  // Secrets sealed (a leader with a master key sealing the plaintext ones, once) or re-sealed
  // under another master key (`strata encryption rotate-master-key`). Refused whole when the
  // users version moved since the proposer read the secrets (a change may have replaced one);
  // it does not move the version itself: no secret changes.
  | { op: 'sealUserSecrets'; nowMs: number; usersVersion: number; keys: UserSecretSeal[] }
  // The built-in KMS (src/metadata/ops-kms.ts). Key material is made and wrapped by the proposer
  // (the CLI, or a gateway for the default key), which holds the master key: apply never sees it.
  | {
      op: 'createKmsKey';
      nowMs: number;
      id: string;
      alias?: string;
      description: string;
      masterKeyId: string;
      wrappedMaterial: string;
    }
  // The cluster's default key (alias/aws/s3), made on first use: answered with the key that has
  // the alias when there is one already (two gateways racing make one key).
  | {
      op: 'createDefaultKmsKey';
      nowMs: number;
      id: string;
      masterKeyId: string;
      wrappedMaterial: string;
    }
  | {
      op: 'setKmsKeyState';
      nowMs: number;
      key: string; // id or alias
      action: KmsKeyAction;
      pendingWindowDays?: number; // schedule-deletion: 7 to 30 (AWS), default 30
    }
  | {
      op: 'rotateKmsKey';
      nowMs: number;
      key: string;
      masterKeyId: string;
      wrappedMaterial: string;
    }
  | { op: 'rewrapKmsKeys'; nowMs: number; keys: KmsMaterialRewrap[] }
  | {
      op: 'setLock';
      nowMs: number;
      mountId: string;
      ino: number;
      owner: string; // the lock owner within the mount (FUSE lock_owner, decimal)
      kind: LockKind;
      type: LockType | 'unlock';
      start: number;
      end: number; // inclusive; LOCK_END_MAX: to the end of the file
      pid: number;
    };

export type CommandOp = Command['op'];

export type UserSource = 'config' | 'cli';

// The secret is recoverable, since SigV4 signs with it (docs/guides/security.md, "Users"):
// sealed by the master key when the cluster has one, else as it is. Exactly one of the two.
export interface UserAccessKey {
  accessKeyId: string;
  secretKey?: string;
  sealedSecret?: SealedSecret;
  createdAtMs: number;
}

// One secret of sealUserSecrets: from plaintext (fromMasterKeyId null) or from the secret sealed
// by fromMasterKeyId, to `sealedSecret`.
export interface UserSecretSeal {
  accessKeyId: string;
  fromMasterKeyId: string | null;
  sealedSecret: SealedSecret;
}

// A user as the state records it ('I' + name).
export interface UserRecord {
  name: string;
  admin: boolean;
  source: UserSource;
  createdAtMs: number;
  keys: UserAccessKey[]; // 1 or 2, as AWS IAM allows
}

// One user of the configuration, as syncConfigUsers carries it.
export interface ConfigUser {
  name: string;
  admin: boolean;
  keys: Array<{ accessKeyId: string; secretKey?: string; sealedSecret?: SealedSecret }>;
}

// A user as `strata user list` shows it: never a secret.
export interface UserSummary {
  name: string;
  admin: boolean;
  source: UserSource;
  createdAtMs: number;
  accessKeyIds: string[];
}

// What a gateway resolves a request's access key with (meta.userKeys only): the leader unseals
// the secret before it answers.
export interface ResolvedAccessKey {
  accessKeyId: string;
  secretKey: string;
  user: string;
  admin: boolean;
}

// An access key as the state holds it: its secret possibly sealed (read on the leader only).
export interface StoredAccessKey {
  accessKeyId: string;
  secretKey?: string;
  sealedSecret?: SealedSecret;
  user: string;
  admin: boolean;
}

export type BucketAttr =
  | 'policy'
  | 'tags'
  | 'acl'
  | 'versioning'
  | 'encryption'
  | 'cors'
  | 'publicAccessBlock'
  | 'ownership';

export type BucketAttrValue =
  | string
  | Record<string, string>
  | CorsRule[]
  | PublicAccessBlock
  | null;

// The four Block Public Access switches, as AWS names them.
export interface PublicAccessBlock {
  blockPublicAcls: boolean;
  ignorePublicAcls: boolean;
  blockPublicPolicy: boolean;
  restrictPublicBuckets: boolean;
}
export const PUBLIC_ACCESS_BLOCK_FIELDS = [
  'blockPublicAcls',
  'ignorePublicAcls',
  'blockPublicPolicy',
  'restrictPublicBuckets',
] as const;

// ObjectWriter is not among them: Strata records no object owner other than the bucket's owner
// (the gateway refuses it with 501).
export const OBJECT_OWNERSHIPS = ['BucketOwnerEnforced', 'BucketOwnerPreferred'] as const;
export type ObjectOwnership = (typeof OBJECT_OWNERSHIPS)[number];

export type LockKind = 'posix' | 'flock';
export type LockType = 'read' | 'write';
// The end of a lock that runs to the end of the file, however long it grows.
export const LOCK_END_MAX = Number.MAX_SAFE_INTEGER;

export interface FileObjectLock {
  retention?: Retention;
  legalHold?: boolean;
  saveToken?: string; // the save that made the version (still writable by it while unsealed)
}

export interface FileLock {
  mountId: string;
  owner: string;
  kind: LockKind;
  type: LockType;
  start: number;
  end: number; // inclusive
  pid: number;
}

// One change of a dirBatch: a create or mkdir carries the inode number the mount chose from its
// range and the time it answered at; its attributes are exactly those newInode gives.
export type DirBatchOp =
  | {
      op: 'create' | 'mkdir';
      nowMs: number;
      parent: number;
      name: string;
      mode: number;
      caller: Caller;
      ino: number;
    }
  | { op: 'unlink'; nowMs: number; parent: number; name: string; keepForMount?: string }
  // A rename of a non-directory within the directory (a target file it replaces may be kept
  // for the mount, as unlink's keepForMount).
  | {
      op: 'rename';
      nowMs: number;
      parent: number;
      name: string;
      newName: string;
      keepReplacedForMount?: string;
    };

// Inode numbers reserved for a mount: `next` up to, not including, `end`.
export interface InodeRange {
  next: number;
  end: number;
}

// A mount's reserved inode numbers, ranges it uses in order (a create from one drops those before
// it), and the number of its last dirBatch applied.
export interface ReservedInodes {
  ranges: InodeRange[];
  lastBatch?: number;
}

export interface MountSession {
  mountId: string;
  ttlMs: number;
  lastSeenMs: number;
  openedAtMs: number;
  description?: string;
  user?: string; // a user's mount: only that user's connections use the session
}

// What apply() returns. Errors are values: { ok: false, code, message } with a StrataErrorCode.
export type CommandResult =
  | {
      ok: true;
      inode?: Inode;
      // Namespace changes (create, mkdir, mknod, symlink, link, unlink): the directory as changed.
      parent?: Inode;
      bucket?: BucketInfo;
      replacedInode?: Inode;
      marked?: string[];
      expired?: string[]; // expireMounts: the sessions it ended
      clusterConfig?: ClusterConfig; // initClusterConfig: the configuration in force
      relocations?: RelocationOutcome[]; // relocateShards: one per move, in order
      rewrapped?: RelocationOutcome[]; // rewrapStripeKeys: one per key, in order
      versionId?: string; // versioned buckets: the version made (or removed, by deleteObject)
      deleteMarker?: boolean; // deleteObject: the version made or removed is a delete marker
      lifecycle?: LifecycleOutcome; // applyLifecycle: what it did
      restore?: 'started' | 'extended'; // restoreObject
      user?: UserSummary; // createUser, rotateAccessKey: the user as it is now
      kmsKey?: KmsKeySummary; // the KMS key commands: the key as it is now
      changed?: boolean; // syncConfigUsers: whether the table changed
      // delegateDir: whether the directory is the mount's now, and its reserved inode numbers.
      delegated?: boolean;
      reserved?: InodeRange[];
      // dirBatch (added by the service, not stored): directories of the mount another client is
      // waiting for.
      recalled?: number[];
    }
  | {
      ok: false;
      code: string;
      message: string;
      delegatedDir?: number; // EDELEGATED: the directory delegated to another mount
      failedOp?: number; // dirBatch: the index of the op that failed
    };

export interface DirEntry {
  name: string;
  ino: number;
  type: InodeType;
}

export interface ListObjectsQuery {
  bucket: string;
  prefix: string;
  delimiter?: string;
  startAfter?: string; // exclusive; continuation tokens and markers map onto this
  maxKeys: number; // 0..1000
}

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModifiedMs: number;
  isDirMarker: boolean; // an explicit directory listed as "dir/"
  storageClass?: StorageClass; // absent: STANDARD
}

export interface ListVersionsQuery {
  bucket: string;
  prefix: string;
  delimiter?: string;
  keyMarker?: string; // versions of keys after this one (or of this one, older than the next)
  versionIdMarker?: string; // with keyMarker: the versions of keyMarker older than this one
  maxKeys: number; // 0..1000
}

export interface ListedVersion {
  key: string;
  versionId: string;
  isLatest: boolean;
  deleteMarker: boolean;
  lastModifiedMs: number;
  size: number;
  etag: string;
  isDirMarker: boolean;
  storageClass?: StorageClass; // absent: STANDARD
}

export interface ListVersionsResult {
  versions: ListedVersion[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string; // absent when the page ended on a common prefix
}

// One version of an object as GET, HEAD and tagging see it.
export interface ObjectVersion {
  versionId: string;
  isLatest: boolean;
  deleteMarker: boolean;
  lastModifiedMs: number;
  inode?: Inode; // its data (absent for a delete marker)
  versioned: boolean; // the bucket has (or had) versioning: responses name the version
  retention?: Retention; // Object Lock, as recorded (a retention may have passed its date)
  legalHold?: boolean;
  replicationStatus?: ReplicationStatus; // bucket replication took the version
}

// Extents of a file overlapping [offset, offset + length), in order: one read window of it.
export interface ExtentWindow {
  offset: number;
  length: number;
  extents: FileExtent[];
}

// What a GET or HEAD needs, from one read of one state: the bucket (its lifecycle rules, for
// x-amz-expiration), the version the request names (undefined: no such key or version) and,
// when asked, the version's first extents from `dataFrom`, so a small object is served without
// another metadata read (a GET made ten reads before; each waits for the read barrier).
export interface ObjectRead {
  bucket: BucketInfo;
  version?: ObjectVersion;
  extents?: ExtentWindow;
}

export interface ListObjectsResult {
  objects: ListedObject[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextStartAfter?: string; // last key or common prefix returned, when truncated
}

// Reads. Today served from the local LMDB; with Raft, linearizable reads go through ReadIndex.
export interface MetadataReader {
  // The directory delegated to a mount that this read of the reader would look into, if any
  // (src/metadata/delegated-reads.ts): the service refuses it until the mount gives it back.
  delegatedDirOfRead(fn: string, args: unknown[], mountId?: string): number | undefined;
  delegation(dir: number): { mountId: string; grantedMs: number } | undefined;
  getattr(ino: number): Inode | undefined;
  getattrMany(inos: number[]): Array<Inode | null>; // at most 1,000; null where there is none
  // Names and inodes changed by commands after index `since`, but those of the client session
  // `exceptSession`; `index`: the next `since`. A mount's change feed (change-journal.ts).
  namespaceChanges(since: number, exceptSession?: string): ChangesAnswer;
  lookup(parent: number, name: string): Inode | undefined;
  resolvePath(path: string): Inode | undefined; // "/bucket/a/b"
  readdir(ino: number, afterName: string | undefined, limit: number): DirEntry[];
  // Overlapping, in order. An archived version with a restored copy reads the copy's extents,
  // unless `archived` asks for the archive's own (the runners that re-encode it).
  extents(ino: number, offset: number, length: number, archived?: boolean): FileExtent[];
  // Files with a restore recorded (src/metadata/ops-restore.ts), by inode number from `afterIno`:
  // the restore runner's work list. At most `limit` (1,000) per call.
  pendingRestores(afterIno: number, limit: number): Inode[];
  getBucket(name: string): BucketInfo | undefined;
  listBuckets(): BucketInfo[];
  // The regular files below each directory, at any depth, and their bytes (at most 1,000
  // directories; src/metadata/dir-usage.ts): a bucket's object count and size without a listing.
  directoryUsage(inos: number[]): Array<{ files: number; bytes: number }>;
  listObjects(query: ListObjectsQuery): ListObjectsResult;
  listObjectVersions(query: ListVersionsQuery): ListVersionsResult;
  // The current version (no versionId) or the named one; undefined when there is none.
  objectVersion(bucket: string, key: string, versionId?: string): ObjectVersion | undefined;
  // The bucket, objectVersion's answer and (dataFrom: a byte offset; null: none) the version's
  // extents in one window from there; undefined when there is no such bucket.
  objectRead(
    bucket: string,
    key: string,
    versionId: string | undefined,
    dataFrom: number | null,
  ): ObjectRead | undefined;
  // The Object Lock of the version a live file holds (its key's current version), when its
  // bucket has Object Lock: what the mount checks at open for writing, to refuse early.
  fileLock(ino: number): FileObjectLock | undefined;
  getUpload(uploadId: string): UploadInfo | undefined;
  listParts(uploadId: string): PartInfo[];
  listUploads(bucket: string): UploadInfo[];
  dataServers(): DataServerInfo[];
  // The server records with the placement epoch they were read at, in one read (writers place
  // stripes with these and record the epoch in each stripe).
  // `crowdedWrites`: stripes committed with more shards in one domain than the strategy's spread
  // (src/metadata/stripe-placement.ts); absent from members before it.
  placementView(): { epoch: number; servers: DataServerInfo[]; crowdedWrites?: number };
  dataServer(serverId: string): DataServerInfo | undefined;
  // The cluster's configuration, once the first leader has recorded it.
  clusterConfig(): ClusterConfig | undefined;
  members(): Array<{ nodeId: number; addr: string }>;
  pendingGc(limit: number): Stripe[];
  // Shards of referenced stripes per disk (every disk holding one, or one server's), at the
  // stripes' current locations: drain progress and load (src/metadata/shard-counts.ts).
  shardCounts(serverId?: string): DiskShardCount[];
  // Shards writers left absent and no repair has rebuilt yet: the first `limit` (at most 10,000)
  // in stripe id order, and how many there are (src/metadata/absent-shards.ts).
  absentShards(limit: number): { shards: AbsentShard[]; count: number };
  // Every referenced stripe, a page at a time (the repair driver's walk); see StripeScanPage.
  scanStripes(cursor: string | undefined, limit: number): StripeScanPage;
  // The stripe's shard locations as a repair recorded them (relocateShard); undefined if no
  // shard of it was ever moved.
  relocatedShards(stripeId: string): ShardLocation[] | undefined;
  // Whether any extent or part references the stripe, or its deletion is queued already.
  stripeState(stripeId: string): 'referenced' | 'collecting' | 'unknown';
  // F_GETLK: the first lock that would conflict with this one, if any.
  getLock(
    ino: number,
    mountId: string,
    owner: string,
    kind: LockKind,
    type: LockType,
    start: number,
    end: number,
  ): FileLock | undefined;
  locks(ino: number): FileLock[];
  mounts(): MountSession[];
  orphans(mountId: string): number[]; // inodes kept alive for the mount (unlinked while open)
  // A key's versions as the lifecycle rules see them (undefined: no bucket, or no version).
  // Read locally by the leader's lifecycle runner, over RPC by its transition runner.
  lifecycleFacts(bucket: string, key: string): LifecycleKeyFacts | undefined;
  // Bucket replication's queue: its first `limit` entries (at most 1,000) in the order the
  // writes were applied, and its size (src/metadata/bucket-replication.ts).
  replicationQueue(limit: number): ReplicationEntry[];
  replicationBacklog(): ReplicationBacklog;
  // Users (never their secrets), by name; at most USERS_MAX.
  listUsers(): UserSummary[];
  // Every access key with its secret and the version of the users table it was read at: only
  // served to gateways and consoles (meta.userKeys), never through meta.read.
  accessKeys(): { version: number; keys: StoredAccessKey[] };
  accessKey(accessKeyId: string): StoredAccessKey | undefined;
  usersVersion(): number; // moves on every change of the users table
  user(name: string): UserSummary | undefined;
  // Where an inode's names are: bucket and path below it (a file hard-linked across buckets is
  // in each; the root and an inode with no name are in none); at most `linkLimit` links are
  // followed, each at most `depthMax` directories up, and `complete` says whether that was all
  // (src/metadata/links.ts). Read locally by the metadata service to authorize a user's calls
  // (src/metadata/namespace-access.ts); not served over RPC.
  namesOfInode(
    ino: number,
    linkLimit: number,
    depthMax: number,
  ): { names: Array<{ bucket: string; path: string }>; complete: boolean };
  // A mount session, and whether it keeps `ino` as an orphan (unlinked while open): read locally
  // to authorize a user's calls on its own mount's files; not served over RPC.
  mountSession(mountId: string): MountSession | undefined;
  keepsOrphan(mountId: string, ino: number): boolean;
  // The built-in KMS: a key by id or alias (its material wrapped), and every key (at most
  // KMS_KEYS_MAX).
  kmsKey(ref: string): KmsKeyRecord | undefined;
  listKmsKeys(): KmsKeyRecord[];
}

// Cluster-wide settings the metadata service hands to every client, so that all writers agree.
// Kept in replicated state (initClusterConfig): every member answers the same. Each stripe
// records its own k, m and shard size, so a stripe stays readable whatever this says later.
// The hard maximum of erasure.inlineMaxBytes: one command carries at most this many inline bytes,
// which keeps Raft entries (and a file's share of snapshots) bounded.
export const INLINE_MAX_BYTES_LIMIT = 256 * 1024;

export interface ClusterConfig {
  // inlineMaxBytes: files up to this size may keep their bytes inline (InlineExtent); absent in
  // configurations recorded before it existed, which means 0 (never).
  erasure: { k: number; m: number; shardSizeBytes: number; inlineMaxBytes?: number };
  placement: { strategy: PlacementStrategy };
  // The archive classes' policies (src/metadata/storage-class.ts); absent in configurations
  // recorded before storage classes: those classes then use the erasure profile on every server.
  storageClasses?: {
    GLACIER: StoragePolicy;
    DEEP_ARCHIVE: StoragePolicy;
  };
}

// How a storage class stores its stripes: a code, and the pool of servers (data.pool label)
// they go on (absent: every server).
export interface StoragePolicy {
  k: number;
  m: number;
  pool?: string;
}

// A follower that forwarded meta.apply or meta.read adds the leader's address to the answer under
// this name; MetadataClient takes it off and sends its next calls to that member when it is one of
// its addresses (older clients see one extra field and ignore it).
export const LEADER_HINT_FIELD = 'leaderAddr';

export const METADATA_RPC = {
  apply: 'meta.apply', // header: Command -> CommandResult
  read: 'meta.read', // header: { fn: keyof MetadataReader, args: unknown[] } -> { value }
  config: 'meta.config', // header: {} -> ClusterConfig
  members: 'meta.members', // header: {} -> { leaderId, members: [{ nodeId, addr }] }
  // A data server's heartbeat (src/cluster/heartbeat.ts), answered by the leader:
  // HeartbeatReport -> {}; ENOENT when the server is not registered (it registers again).
  heartbeat: 'meta.heartbeat',
  // The leader's repair progress: {} -> RepairProgress (src/metadata/repair/types.ts).
  repair: 'meta.repair',
  // `strata cluster backup` (src/metadata/backup-handlers.ts), answered by the leader only:
  // backupOpen {} -> BackupInfo & { id }; backupRead { id, offsetBytes, lengthBytes } -> body;
  // backupClose { id } -> {} (the member removes its copy).
  backupOpen: 'meta.backupOpen',
  backupRead: 'meta.backupRead',
  backupClose: 'meta.backupClose',
  // Users (src/metadata/user-handlers.ts). userApply (admin): a createUser, deleteUser or
  // rotateAccessKey command -> CommandResult; userList (admin): {} -> UserSummary[];
  // userKeys (gateways, consoles): { sinceVersion? } -> { version, keys? } (keys only when the
  // version moved); userSync (gateways): { users: ConfigUser[] } -> CommandResult.
  userApply: 'meta.userApply',
  userList: 'meta.userList',
  userKeys: 'meta.userKeys',
  userSync: 'meta.userSync',
  // A connection logs in as a user (src/metadata/user-login.ts): { step: 'challenge' } ->
  // { nonce }, then { step: 'prove', accessKeyId, proof, clientNonce? } -> { user, admin }.
  login: 'meta.login',
} as const;
