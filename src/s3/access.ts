// Authorization: who may do what to which bucket and object. Decided once per request, before
// the handler runs, from the bucket's owner, its policy and ACLs (AWS's evaluation order for one
// account): an explicit Deny in the policy wins; then the owner (and administrators) may do
// anything; then a policy Allow; then an ACL grant; otherwise AccessDenied.
// The bucket's controls narrow that: Block Public Access (IgnorePublicAcls drops grants to the
// AllUsers and AuthenticatedUsers groups; RestrictPublicBuckets drops the Allows of a public
// policy for anonymous callers) and Object Ownership (BucketOwnerEnforced drops every ACL).
import type { IncomingMessage } from 'node:http';
import {
  type AclGrant,
  bucketAclAllows,
  evaluatePolicy,
  grantsOfStored,
  isPublicAcl,
  isPublicGrant,
  isPublicPolicy,
  objectAclAllows,
  objectAclApplies,
  type PolicyDocument,
  parsePolicy,
} from '../auth/policy/index.ts';
import type { AuthOptions, AuthResult } from '../auth/types.ts';
import { isStrataError } from '../common/errors.ts';
import { combineAccess } from '../metadata/access-decision.ts';
import type { BucketInfo } from '../metadata/types.ts';
import type { RequestContext } from './context.ts';
import { S3Error } from './errors.ts';
import type { Endpoint } from './router.ts';

const BUCKET_CACHE_TTL_MS = 1000;
const BUCKET_CACHE_ENTRIES_MAX = 10_000;

// What the decision needs of a bucket, with its policy parsed once.
export interface BucketAccess {
  info: BucketInfo;
  policy: PolicyDocument | undefined;
  policyIsPublic: boolean; // as AWS defines it (src/auth/policy/public.ts)
  grants: AclGrant[]; // the bucket ACL's grants that count for access (see effectiveGrants)
}

// Bucket records are read on every request; a gateway keeps them for a second (changes made
// through this gateway are seen at once; through another one, within the TTL, as AWS documents
// for its own policy propagation).
export class BucketAccessCache {
  private readonly entries = new Map<string, { access: BucketAccess; expiresAtMs: number }>();
  private readonly usersOf: () => ReadonlySet<string>;
  constructor(knownUsers: () => ReadonlySet<string>) {
    this.usersOf = knownUsers;
  }

  // The users a grant or a policy principal may name: configured and replicated ones, now.
  get knownUsers(): ReadonlySet<string> {
    return this.usersOf();
  }

  async get(
    ctx: Pick<RequestContext, 'client'>,
    bucket: string,
  ): Promise<BucketAccess | undefined> {
    const now = Date.now();
    const hit = this.entries.get(bucket);
    if (hit && hit.expiresAtMs > now) return hit.access;
    let info: BucketInfo;
    try {
      info = await ctx.client.getBucket(bucket);
    } catch (error) {
      if (isStrataError(error, 'NO_SUCH_BUCKET')) return undefined;
      throw error;
    }
    const access = this.fromInfo(info);
    if (this.entries.size >= BUCKET_CACHE_ENTRIES_MAX) this.entries.clear();
    this.entries.set(bucket, { access, expiresAtMs: now + BUCKET_CACHE_TTL_MS });
    return access;
  }

  fromInfo(info: BucketInfo): BucketAccess {
    // A stored policy was validated when it was put; users it named may since have been removed
    // from the config, which makes it fail validation now: such principals then match nothing.
    let policy: PolicyDocument | undefined;
    if (info.policy !== undefined) {
      try {
        policy = parsePolicy(info.policy, { bucket: info.name, knownUsers: this.knownUsers });
      } catch {
        policy = parsePolicy(info.policy, { bucket: info.name, knownUsers: ANY_USER });
      }
    }
    const policyIsPublic = policy !== undefined && isPublicPolicy(policy);
    return { info, policy, policyIsPublic, grants: effectiveGrants(info, info.acl) };
  }

  forget(bucket: string): void {
    this.entries.delete(bucket);
  }
}

const ANY_USER: ReadonlySet<string> = { has: () => true } as unknown as ReadonlySet<string>;

// The grants of a stored ACL (the bucket's or an object's) that take part in access decisions:
// none when the bucket disables ACLs, none to the public groups under IgnorePublicAcls.
export function effectiveGrants(info: BucketInfo, stored: string | undefined): AclGrant[] {
  if (info.ownership === 'BucketOwnerEnforced') return [];
  const grants = grantsOfStored(stored);
  if (info.publicAccessBlock?.ignorePublicAcls === true && isPublicAcl(grants))
    return grants.filter((g) => !isPublicGrant(g));
  return grants;
}

export interface AccessCheck {
  action: string;
  bucket: string;
  key?: string;
}

// The permission each endpoint needs (AWS's "Actions, resources, and condition keys for S3").
// undefined: the handler decides (ListBuckets, CreateBucket), or owner-only (bucket policy).
// The action IAM checks when a request names a version (?versionId=): the object action's
// Version form, as AWS does.
const VERSION_ACTIONS: Record<string, string> = {
  's3:GetObject': 's3:GetObjectVersion',
  's3:DeleteObject': 's3:DeleteObjectVersion',
  's3:GetObjectTagging': 's3:GetObjectVersionTagging',
  's3:PutObjectTagging': 's3:PutObjectVersionTagging',
  's3:DeleteObjectTagging': 's3:DeleteObjectVersionTagging',
  's3:GetObjectAcl': 's3:GetObjectVersionAcl',
  's3:PutObjectAcl': 's3:PutObjectVersionAcl',
  's3:GetObjectAttributes': 's3:GetObjectVersionAttributes',
};

// The users bucket policies may name: the cluster's users when the gateway resolves keys through
// them, else the fixed list's.
export function knownUsersOf(auth: AuthOptions): ReadonlySet<string> {
  if (auth.resolver !== undefined) return auth.resolver.userNames();
  return new Set(auth.credentials.map((c) => c.user));
}

export function versionAction(action: string): string {
  return VERSION_ACTIONS[action] ?? action;
}

export function checksFor(e: Endpoint, versionId?: string | null): AccessCheck[] {
  const checks = objectChecksFor(e);
  if (versionId === undefined || versionId === null) return checks;
  return checks.map((check) => ({ ...check, action: versionAction(check.action) }));
}

function objectChecksFor(e: Endpoint): AccessCheck[] {
  const b = 'bucket' in e ? e.bucket : '';
  const k = 'key' in e ? e.key : undefined;
  const on = (action: string, key = k): AccessCheck => ({ action, bucket: b, key });
  switch (e.kind) {
    case 'ListBuckets':
    case 'CreateBucket':
    case 'NotImplemented':
    case 'GetBucketPolicy':
    case 'PutBucketPolicy':
    case 'DeleteBucketPolicy':
    case 'DeleteObjects': // per key, in the handler
    case 'CorsPreflight': // unauthenticated: the bucket's CORS rules decide (handlers/cors.ts)
    case 'PostObject': // authenticated by its form, then authorized in the handler
      return [];
    case 'GetBucketPolicyStatus':
      return [on('s3:GetBucketPolicyStatus')];
    case 'GetPublicAccessBlock':
      return [on('s3:GetBucketPublicAccessBlock')];
    case 'PutPublicAccessBlock':
    case 'DeletePublicAccessBlock':
      return [on('s3:PutBucketPublicAccessBlock')];
    case 'GetBucketOwnershipControls':
      return [on('s3:GetBucketOwnershipControls')];
    case 'PutBucketOwnershipControls':
    case 'DeleteBucketOwnershipControls':
      return [on('s3:PutBucketOwnershipControls')];
    case 'HeadBucket':
    case 'ListObjects':
    case 'ListObjectsV2':
      return [on('s3:ListBucket')];
    case 'ListObjectVersions':
      return [on('s3:ListBucketVersions')];
    case 'ListMultipartUploads':
      return [on('s3:ListBucketMultipartUploads')];
    case 'DeleteBucket':
      return [on('s3:DeleteBucket')];
    case 'GetBucketLocation':
      return [on('s3:GetBucketLocation')];
    case 'GetBucketTagging':
      return [on('s3:GetBucketTagging')];
    case 'PutBucketTagging':
    case 'DeleteBucketTagging':
      return [on('s3:PutBucketTagging')];
    case 'GetBucketVersioning':
      return [on('s3:GetBucketVersioning')];
    case 'PutBucketVersioning':
      return [on('s3:PutBucketVersioning')];
    case 'GetBucketEncryption':
      return [on('s3:GetEncryptionConfiguration')];
    // AWS has no separate action for the delete.
    case 'PutBucketEncryption':
    case 'DeleteBucketEncryption':
      return [on('s3:PutEncryptionConfiguration')];
    case 'GetBucketReplication':
      return [on('s3:GetReplicationConfiguration')];
    // AWS: deleting the configuration needs the permission to put one.
    case 'PutBucketReplication':
    case 'DeleteBucketReplication':
      return [on('s3:PutReplicationConfiguration')];
    case 'GetBucketAcl':
      return [on('s3:GetBucketAcl')];
    case 'PutBucketAcl':
      return [on('s3:PutBucketAcl')];
    case 'GetBucketCors':
      return [on('s3:GetBucketCORS')];
    case 'PutBucketCors':
    case 'DeleteBucketCors':
      return [on('s3:PutBucketCORS')];
    case 'GetObject':
    case 'HeadObject':
    case 'SelectObjectContent':
      return [on('s3:GetObject')];
    case 'GetObjectAttributes':
      return [on('s3:GetObjectAttributes')];
    case 'PutObject':
    case 'CreateMultipartUpload':
    case 'UploadPart':
    case 'CompleteMultipartUpload':
    case 'CopyObject':
    case 'UploadPartCopy':
      return [on('s3:PutObject')];
    case 'DeleteObject':
      return [on('s3:DeleteObject')];
    case 'AbortMultipartUpload':
      return [on('s3:AbortMultipartUpload')];
    case 'ListParts':
      return [on('s3:ListMultipartUploadParts')];
    case 'GetObjectTagging':
      return [on('s3:GetObjectTagging')];
    case 'PutObjectTagging':
      return [on('s3:PutObjectTagging')];
    case 'DeleteObjectTagging':
      return [on('s3:DeleteObjectTagging')];
    case 'GetObjectAcl':
      return [on('s3:GetObjectAcl')];
    case 'PutObjectAcl':
      return [on('s3:PutObjectAcl')];
    case 'GetBucketLifecycleConfiguration':
      return [on('s3:GetLifecycleConfiguration')];
    // AWS has no action of its own for removing the configuration.
    case 'PutBucketLifecycleConfiguration':
    case 'DeleteBucketLifecycle':
      return [on('s3:PutLifecycleConfiguration')];
    case 'GetObjectLockConfiguration':
      return [on('s3:GetBucketObjectLockConfiguration')];
    case 'PutObjectLockConfiguration':
      return [on('s3:PutBucketObjectLockConfiguration')];
    case 'RestoreObject':
      return [on('s3:RestoreObject')];
    case 'GetObjectRetention':
      return [on('s3:GetObjectRetention')];
    case 'PutObjectRetention':
      return [on('s3:PutObjectRetention')];
    case 'GetObjectLegalHold':
      return [on('s3:GetObjectLegalHold')];
    case 'PutObjectLegalHold':
      return [on('s3:PutObjectLegalHold')];
  }
}

// Condition keys of the request (lower case), as IAM names them.
export function conditionContext(
  req: IncomingMessage,
  url: URL,
  auth: AuthResult,
  nowMs: number,
): Record<string, string[]> {
  const context: Record<string, string[]> = {};
  const set = (key: string, value: string | string[] | undefined) => {
    if (value === undefined) return;
    context[key] = Array.isArray(value) ? value : [value];
  };
  const remote = req.socket.remoteAddress ?? '';
  set('aws:sourceip', remote.startsWith('::ffff:') ? remote.slice(7) : remote);
  set('aws:securetransport', 'encrypted' in req.socket ? 'true' : 'false');
  set('aws:currenttime', new Date(nowMs).toISOString());
  set('aws:epochtime', String(Math.floor(nowMs / 1000)));
  set('aws:useragent', req.headers['user-agent']);
  set('aws:referer', req.headers.referer);
  const principal = auth.principal;
  set('aws:principaltype', principal ? 'User' : 'Anonymous');
  if (principal) {
    set('aws:username', principal.user);
    set('aws:userid', principal.user);
    set('aws:principalarn', `arn:aws:iam:::user/${principal.user}`);
  }
  const q = url.searchParams;
  for (const name of ['prefix', 'delimiter', 'max-keys'])
    set(`s3:${name}`, q.get(name) ?? undefined);
  for (const header of [
    'x-amz-acl',
    'x-amz-content-sha256',
    'x-amz-copy-source',
    'x-amz-metadata-directive',
    'x-amz-server-side-encryption',
    'x-amz-server-side-encryption-aws-kms-key-id', // as sent: an id, ARN or alias
    'x-amz-storage-class',
  ]) {
    const value = req.headers[header];
    set(`s3:${header}`, typeof value === 'string' ? value : undefined);
  }
  set('s3:signatureversion', principal ? 'AWS4-HMAC-SHA256' : undefined);
  set(
    's3:authtype',
    principal ? (q.has('X-Amz-Signature') ? 'REST-QUERY-STRING' : 'REST-HEADER') : undefined,
  );
  return context;
}

export function denied(): S3Error {
  return new S3Error('AccessDenied', 403, 'Access Denied');
}

export type Verdict = 'allow' | 'deny' | 'acl-object'; // acl-object: ask the object's ACL

// The pure decision for one check against one bucket.
export function decide(
  access: BucketAccess,
  auth: AuthResult,
  check: AccessCheck,
  context: Record<string, string[]>,
): Verdict {
  const principal = auth.principal;
  if (principal?.admin) return 'allow';
  const resource =
    check.key === undefined
      ? `arn:aws:s3:::${check.bucket}`
      : `arn:aws:s3:::${check.bucket}/${check.key}`;
  const policy = access.policy
    ? evaluatePolicy(access.policy, {
        principal: principal?.user,
        action: check.action,
        resource,
        context,
      })
    : 'NoMatch';
  // The order is shared with the mounts' checks (src/metadata/access-decision.ts).
  const verdict = combineAccess({
    admin: false,
    owner: principal !== undefined && principal.user === access.info.owner,
    policy,
    policyAllowCounts: !publicPolicyRestricted(access, principal?.user),
    bucketAclAllows: () => bucketAclAllows(access.grants, check.action, principal?.user),
  });
  if (verdict !== 'no-grant') return verdict;
  if (check.key !== undefined && objectAclApplies(check.action)) return 'acl-object';
  return 'deny';
}

// RestrictPublicBuckets: a bucket whose policy is public serves only its own users; the policy's
// Allows do not reach anonymous callers (Strata's users are one account, so there is no
// cross-account access to cut off as on AWS).
function publicPolicyRestricted(access: BucketAccess, user: string | undefined): boolean {
  return (
    user === undefined &&
    access.policyIsPublic &&
    access.info.publicAccessBlock?.restrictPublicBuckets === true
  );
}

export async function authorize(ctx: RequestContext, check: AccessCheck): Promise<void> {
  if (ctx.auth.principal?.admin) return;
  const access = await ctx.access.get(ctx, check.bucket);
  // A missing bucket is the handler's to report (NoSuchBucket), as AWS does for any caller.
  if (access === undefined) return;
  const verdict = decide(access, ctx.auth, check, ctx.conditions);
  if (verdict === 'allow') return;
  if (verdict === 'acl-object' && check.key !== undefined) {
    const stored = await objectAcl(ctx, check.bucket, check.key);
    const grants = effectiveGrants(access.info, stored);
    if (objectAclAllows(grants, check.action, ctx.auth.principal?.user)) return;
  }
  throw denied();
}

async function objectAcl(
  ctx: RequestContext,
  bucket: string,
  key: string,
): Promise<string | undefined> {
  try {
    const inode = await ctx.client.headObject(bucket, key);
    return inode.object?.acl;
  } catch (error) {
    if (isStrataError(error)) return undefined;
    throw error;
  }
}

// Only the bucket's owner (or an administrator) manages its policy, whatever the policy says, so
// that no policy can lock its owner out (AWS keeps the same escape hatch for the account root).
export async function requireOwner(ctx: RequestContext, bucket: string): Promise<BucketAccess> {
  const access = await ctx.access.get(ctx, bucket);
  if (access === undefined)
    throw new S3Error('NoSuchBucket', 404, 'The specified bucket does not exist');
  const principal = ctx.auth.principal;
  if (principal?.admin || (principal !== undefined && principal.user === access.info.owner))
    return access;
  throw denied();
}
