// The S3 actions a bucket policy can name, and whether each applies to the bucket or to objects.
// Strata checks the names it knows so that a typo ("s3:GetObjects") is refused when the policy
// is put, as AWS does, instead of silently never matching.
export const BUCKET_ACTIONS = [
  's3:CreateBucket',
  's3:DeleteBucket',
  's3:ListBucket',
  's3:ListBucketVersions',
  's3:ListBucketMultipartUploads',
  's3:GetBucketLocation',
  's3:GetBucketPolicy',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:GetBucketTagging',
  's3:PutBucketTagging',
  's3:GetBucketAcl',
  's3:PutBucketAcl',
  's3:GetBucketVersioning',
  's3:PutBucketVersioning',
  's3:GetReplicationConfiguration',
  's3:PutReplicationConfiguration',
  's3:GetBucketCORS',
  's3:PutBucketCORS',
  's3:GetLifecycleConfiguration',
  's3:PutLifecycleConfiguration',
  's3:GetEncryptionConfiguration',
  's3:PutEncryptionConfiguration',
  's3:GetBucketObjectLockConfiguration',
  's3:PutBucketObjectLockConfiguration',
  's3:GetBucketPolicyStatus',
  's3:GetBucketOwnershipControls',
  's3:PutBucketOwnershipControls',
  's3:GetBucketPublicAccessBlock',
  's3:PutBucketPublicAccessBlock',
] as const;

export const OBJECT_ACTIONS = [
  's3:GetObject',
  's3:GetObjectVersion',
  's3:GetObjectAttributes',
  's3:GetObjectVersionAttributes',
  's3:PutObject',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:GetObjectTagging',
  's3:PutObjectTagging',
  's3:DeleteObjectTagging',
  's3:GetObjectVersionTagging',
  's3:PutObjectVersionTagging',
  's3:DeleteObjectVersionTagging',
  's3:GetObjectAcl',
  's3:PutObjectAcl',
  's3:GetObjectVersionAcl',
  's3:PutObjectVersionAcl',
  's3:AbortMultipartUpload',
  's3:ListMultipartUploadParts',
  's3:GetObjectRetention',
  's3:PutObjectRetention',
  's3:GetObjectLegalHold',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:RestoreObject',
  // Writes of replicas (x-strata-replica-version-id), as AWS names a destination's permissions.
  's3:ReplicateObject',
  's3:ReplicateDelete',
] as const;

export const ACCOUNT_ACTIONS = ['s3:ListAllMyBuckets'] as const;

export type S3Action =
  | (typeof BUCKET_ACTIONS)[number]
  | (typeof OBJECT_ACTIONS)[number]
  | (typeof ACCOUNT_ACTIONS)[number];

const KNOWN = new Set<string>(
  [...BUCKET_ACTIONS, ...OBJECT_ACTIONS, ...ACCOUNT_ACTIONS].map((a) => a.toLowerCase()),
);

// A policy's action pattern is valid when it is '*', has a wildcard in its name part, or is a
// known action (IAM action names are case-insensitive).
export function isValidActionPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  const lower = pattern.toLowerCase();
  if (!lower.startsWith('s3:')) return false;
  if (lower.includes('*') || lower.includes('?')) return true;
  return KNOWN.has(lower);
}
