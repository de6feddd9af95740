// Buckets: directories directly under the root, each with a 'b' record. S3's naming rules are
// the gateway's to check; here a name only has to be a valid directory name.
import { checkCorsRules } from './cors-rules.ts';
import { refuseWhileDelegatedIn } from './delegations.ts';
import * as K from './keys.ts';
import { checkBucketKmsKey } from './object-encryption.ts';
import { addSubdir } from './object-path.ts';
import { newInode, removeDir } from './ops-namespace.ts';
import { fail, type Store } from './store.ts';
import {
  type BucketInfo,
  type Command,
  type Inode,
  OBJECT_OWNERSHIPS,
  type ObjectOwnership,
  PUBLIC_ACCESS_BLOCK_FIELDS,
  type PublicAccessBlock,
  ROOT_INO,
  type VersioningState,
} from './types.ts';
import { hasVersions } from './versions.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

export function createBucket(store: Store, c: Op<'createBucket'>) {
  if (
    typeof c.name !== 'string' ||
    c.name.length === 0 ||
    c.name.includes('/') ||
    c.name === '.' ||
    c.name === '..'
  ) {
    fail('EINVAL', `invalid bucket name ${JSON.stringify(c.name)}`);
  }
  if (store.bucket(c.name) || store.dirent(ROOT_INO, c.name))
    fail('BUCKET_EXISTS', `bucket ${c.name} exists`);
  const dir: Inode = { ...newInode(store, 'dir', 0o755, c.caller, c.nowMs), parent: ROOT_INO };
  addSubdir(store, ROOT_INO, c.name, dir, c.nowMs);
  const bucket: BucketInfo = { name: c.name, ino: dir.ino, createdAtMs: c.nowMs, owner: c.owner };
  // Object Lock at creation turns versioning on (AWS), and both stay on for good.
  if (c.objectLock === true) {
    bucket.versioning = 'Enabled';
    bucket.objectLock = {};
  }
  store.db.putSync(K.bucketKey(c.name), bucket);
  return { ok: true as const, bucket, inode: dir };
}

export function deleteBucket(store: Store, c: Op<'deleteBucket'>) {
  const bucket = store.bucket(c.name) ?? fail('NO_SUCH_BUCKET', `no bucket ${c.name}`);
  if (!store.isEmptyDir(bucket.ino)) fail('BUCKET_NOT_EMPTY', `bucket ${c.name} is not empty`);
  // Noncurrent versions and delete markers count, as on AWS (their data would be left behind).
  if (hasVersions(store, bucket.ino))
    fail('BUCKET_NOT_EMPTY', `bucket ${c.name} still has object versions or delete markers`);
  if (store.uploads(c.name).length > 0)
    fail('BUCKET_NOT_EMPTY', `bucket ${c.name} has multipart uploads in progress`);
  removeDir(store, store.mustInode(ROOT_INO), c.name, c.nowMs);
  store.db.removeSync(K.bucketKey(c.name));
  return { ok: true as const };
}

const STRING_ATTRS_BYTES_MAX = 64 * 1024;

export function setBucketAttr(store: Store, c: Op<'setBucketAttr'>) {
  const bucket = store.bucket(c.name) ?? fail('NO_SUCH_BUCKET', `no bucket ${c.name}`);
  const next: BucketInfo = { ...bucket };
  if (c.attr === 'policy' || c.attr === 'acl') {
    if (
      c.value !== null &&
      (typeof c.value !== 'string' || c.value.length > STRING_ATTRS_BYTES_MAX)
    )
      fail(
        'EINVAL',
        `bucket ${c.attr} must be a string of at most ${STRING_ATTRS_BYTES_MAX} bytes`,
      );
    if (c.value === null) delete next[c.attr];
    else next[c.attr] = c.value as string;
    // Under BucketOwnerEnforced ACLs are inert and none may be set (AWS: the gateway answers
    // AccessControlListNotSupported first; this holds for every path).
    if (c.attr === 'acl' && c.value !== null && bucket.ownership === 'BucketOwnerEnforced')
      fail('EINVAL', `bucket ${c.name} has ACLs disabled (BucketOwnerEnforced)`);
  } else if (c.attr === 'publicAccessBlock') {
    if (c.value === null) delete next.publicAccessBlock;
    else next.publicAccessBlock = checkPublicAccessBlock(c.value);
  } else if (c.attr === 'ownership') {
    if (c.value === null) delete next.ownership;
    else next.ownership = checkOwnership(c.value);
    // AWS refuses to disable ACLs while the bucket's ACL grants anything beyond its owner
    // (InvalidBucketAclWithObjectOwnership, checked first by the gateway).
    if (next.ownership === 'BucketOwnerEnforced' && bucket.acl !== undefined)
      fail('EINVAL', `bucket ${c.name} has an ACL: reset it to private before disabling ACLs`);
  } else if (c.attr === 'versioning') {
    if (c.value !== 'Enabled' && c.value !== 'Suspended')
      fail('EINVAL', 'versioning is Enabled or Suspended (it cannot be turned off once on)');
    if (c.value === 'Suspended' && bucket.objectLock !== undefined)
      fail(
        'INVALID_BUCKET_STATE',
        'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.',
      );
    // AWS: a bucket with a replication configuration keeps versioning Enabled.
    if (c.value === 'Suspended' && bucket.replication !== undefined)
      fail(
        'INVALID_BUCKET_STATE',
        'A replication configuration is present on this bucket, so the versioning state cannot be changed.',
      );
    if (bucket.versioning === undefined) refuseWhileDelegatedIn(store, bucket.ino);
    next.versioning = c.value as VersioningState;
  } else if (c.attr === 'encryption') {
    delete next.encryptionKmsKeyId;
    delete next.encryptionBucketKeyEnabled;
    if (c.value === null) delete next.encryption;
    else if (c.value === 'AES256') next.encryption = c.value;
    else if (isKmsDefault(c.value)) {
      next.encryption = 'aws:kms';
      // Named by id, ARN-free (the gateway parses ARNs); absent: the cluster's default key.
      if (c.value.kmsKeyId !== undefined)
        next.encryptionKmsKeyId = checkBucketKmsKey(store, c.value.kmsKeyId);
      if (c.value.bucketKeyEnabled === 'true') next.encryptionBucketKeyEnabled = true;
    } else
      fail(
        'EINVAL',
        'default encryption is AES256 (SSE-S3), { sseAlgorithm: aws:kms, kmsKeyId? }, or null',
      );
  } else if (c.attr === 'cors') {
    if (c.value === null) delete next.cors;
    else next.cors = checkCorsRules(c.value);
  } else if (c.attr === 'tags') {
    if (c.value === null) delete next.tags;
    else next.tags = checkStringRecord(c.value);
  } else {
    fail('EINVAL', `unknown bucket attribute ${String(c.attr)}`);
  }
  store.db.putSync(K.bucketKey(c.name), next);
  return { ok: true as const, bucket: next };
}

function checkStringRecord(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('EINVAL', 'tags must be an object of strings');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 50 || !entries.every(([, v]) => typeof v === 'string'))
    fail('EINVAL', 'tags must be at most 50 string values');
  return Object.fromEntries(entries) as Record<string, string>;
}

function checkPublicAccessBlock(value: unknown): PublicAccessBlock {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('EINVAL', 'a public access block is an object of four booleans');
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  if (
    keys.join() !== [...PUBLIC_ACCESS_BLOCK_FIELDS].sort().join() ||
    !keys.every((k) => typeof record[k] === 'boolean')
  )
    fail('EINVAL', `a public access block has exactly ${PUBLIC_ACCESS_BLOCK_FIELDS.join(', ')}`);
  return { ...(record as unknown as PublicAccessBlock) };
}

function checkOwnership(value: unknown): ObjectOwnership {
  if (!(OBJECT_OWNERSHIPS as readonly unknown[]).includes(value))
    fail('EINVAL', `object ownership is one of ${OBJECT_OWNERSHIPS.join(', ')}`);
  return value as ObjectOwnership;
}

// SSE-KMS as a bucket default: { sseAlgorithm: 'aws:kms', kmsKeyId?, bucketKeyEnabled?: 'true' }.
function isKmsDefault(
  value: unknown,
): value is { sseAlgorithm: 'aws:kms'; kmsKeyId?: string; bucketKeyEnabled?: string } {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  const fields = ['sseAlgorithm', 'kmsKeyId', 'bucketKeyEnabled'];
  return (
    v.sseAlgorithm === 'aws:kms' &&
    (v.kmsKeyId === undefined || typeof v.kmsKeyId === 'string') &&
    (v.bucketKeyEnabled === undefined || v.bucketKeyEnabled === 'true') &&
    Object.keys(v).every((k) => fields.includes(k))
  );
}
