// Bucket replication (S3 PutBucketReplication), as the state machine records it: the bucket's
// configuration, the replicated queue of versions to send, and each version's status. The queue
// and the statuses live in src/metadata/bucket-replication.ts; the sender is
// src/cluster/bucket-replication-runner.ts. (src/metadata/replication/ is Raft's log
// replication, unrelated.)

// What x-amz-replication-status says of a source version (PENDING, COMPLETED, FAILED), or of a
// version another Strata cluster replicated here (REPLICA).
export type ReplicationStatus = 'PENDING' | 'COMPLETED' | 'FAILED' | 'REPLICA';

// How a rule's filter was written, so GetBucketReplication answers the shape it was given:
// V1 is the rule-level <Prefix> of the first schema (no <Filter>), the others name <Filter>'s one
// child (Empty: <Filter/>, every object).
export type ReplicationFilterShape = 'V1' | 'Empty' | 'Prefix' | 'Tag' | 'And';

export interface ReplicationRule {
  id: string;
  priority: number; // higher wins when several rules match a key
  enabled: boolean;
  shape: ReplicationFilterShape;
  prefix: string; // "" matches every key
  tags: Array<{ key: string; value: string }>; // every one must be on the object
  deleteMarkers: boolean; // DeleteMarkerReplication Enabled (V1: always)
  destinationBucket: string; // from the ARN arn:aws:s3:::NAME
}

export interface ReplicationConfig {
  // Kept and answered as given: Strata sends with the configured target's keys, not a role.
  role: string;
  rules: ReplicationRule[];
}

// One version to send to the destination, in the queue by sequence number (enqueue order).
export interface ReplicationEntry {
  seq: number;
  bucket: string;
  bucketIno: number;
  key: string;
  versionId: string;
  deleteMarker: boolean;
  ruleId: string;
  destinationBucket: string;
  enqueuedAtMs: number;
  attempts: number; // failed sends so far
  nextAttemptAtMs: number; // not sent before this (leader's clock, stamped in commands)
  status: 'PENDING' | 'FAILED';
  // A metadata-only entry (src/metadata/bucket-replication-changes.ts): the version was sent
  // already and these of its properties changed since; the runner sends their current values
  // with PutObjectTagging / DeleteObjectTagging, PutObjectRetention, PutObjectLegalHold.
  // Absent: the version itself (or its delete marker) is sent.
  metadata?: ReplicationMetadataChange[];
  // Metadata entries: the version was the key's current one when it changed. A destination that
  // makes its own version ids can be reached only through its current version, which is this
  // version's replica exactly when this holds (one key's entries are sent in order).
  current?: boolean;
  // Metadata entries: the change lifted a GOVERNANCE retention (x-amz-bypass-governance-retention),
  // and the destination is asked to do the same.
  bypassGovernance?: boolean;
}

// The properties of a version whose later change is replicated on its own (AWS replicates tag,
// retention and legal hold changes of replicated versions).
export type ReplicationMetadataChange = 'tags' | 'retention' | 'legalHold';

// The queue's size, for metrics and `strata cluster status`.
export interface ReplicationBacklog {
  pending: number; // entries queued (FAILED ones included)
  failed: number; // of those, entries past their retries (sent again at a slow pace)
  oldestEnqueuedAtMs?: number; // the first entry's, when there is one
}

// Per version: its status, and its queue entry while it has one.
export interface ReplicationStatusRecord {
  status: ReplicationStatus;
  seq?: number; // the newest entry queued for the version (a metadata entry may follow its own)
}
