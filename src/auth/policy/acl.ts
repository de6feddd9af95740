// Canned ACLs, mapped onto the same decision as policies: an ACL is a short list of grants that
// allow a few actions to everyone or to every authenticated user. The owner's full control is
// implicit (owner access is decided before ACLs, see src/s3/access.ts).
import { S3AuthError } from '../types.ts';
import type { S3Action } from './actions.ts';

export const CANNED_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
] as const;
export type CannedAcl = (typeof CANNED_ACLS)[number];

// ACL names AWS accepts that Strata maps to one of the above: the owner-related ones mean
// "private" here because an object's owner is always its bucket's owner.
const ALIASES: Record<string, CannedAcl> = {
  'bucket-owner-read': 'private',
  'bucket-owner-full-control': 'private',
  'aws-exec-read': 'private',
  'log-delivery-write': 'private',
};

export function parseCannedAcl(value: string | undefined): CannedAcl | undefined {
  if (value === undefined) return undefined;
  if ((CANNED_ACLS as readonly string[]).includes(value)) return value as CannedAcl;
  const alias = ALIASES[value];
  if (alias !== undefined) return alias;
  throw new S3AuthError('InvalidArgument', 400, `Invalid canned ACL: ${value}`);
}

// READ on a bucket lists it; WRITE creates and deletes objects in it. READ on an object reads it.
const BUCKET_READ: ReadonlySet<S3Action> = new Set([
  's3:ListBucket',
  's3:ListBucketVersions',
  's3:ListBucketMultipartUploads',
]);
const BUCKET_WRITE: ReadonlySet<S3Action> = new Set([
  's3:PutObject',
  's3:DeleteObject',
  's3:AbortMultipartUpload',
  's3:ListMultipartUploadParts',
]);
const OBJECT_READ: ReadonlySet<S3Action> = new Set(['s3:GetObject', 's3:GetObjectAttributes']);

export type Grantee = 'AllUsers' | 'AuthenticatedUsers';

export function granteesOf(acl: CannedAcl): { read: Grantee[]; write: Grantee[] } {
  switch (acl) {
    case 'private':
      return { read: [], write: [] };
    case 'public-read':
      return { read: ['AllUsers'], write: [] };
    case 'public-read-write':
      return { read: ['AllUsers'], write: ['AllUsers'] };
    case 'authenticated-read':
      return { read: ['AuthenticatedUsers'], write: [] };
  }
}

function granted(grantees: Grantee[], authenticated: boolean): boolean {
  return (
    grantees.includes('AllUsers') || (authenticated && grantees.includes('AuthenticatedUsers'))
  );
}

export function bucketAclAllows(acl: CannedAcl, action: string, authenticated: boolean): boolean {
  const g = granteesOf(acl);
  if (BUCKET_READ.has(action as S3Action)) return granted(g.read, authenticated);
  if (BUCKET_WRITE.has(action as S3Action)) return granted(g.write, authenticated);
  return false;
}

// Whether an object's own ACL can matter for this action (only reads of the object).
export function objectAclApplies(action: string): boolean {
  return OBJECT_READ.has(action as S3Action);
}

export function objectAclAllows(acl: CannedAcl, action: string, authenticated: boolean): boolean {
  return OBJECT_READ.has(action as S3Action) && granted(granteesOf(acl).read, authenticated);
}

const GROUP_URI: Record<Grantee, string> = {
  AllUsers: 'http://acs.amazonaws.com/groups/global/AllUsers',
  AuthenticatedUsers: 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers',
};

// The AccessControlPolicy document GetBucketAcl/GetObjectAcl return, as a plain object for the
// XML renderer.
export function aclDocument(acl: CannedAcl, owner: string, forBucket: boolean) {
  const ownerGrantee = {
    '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
    '@_xsi:type': 'CanonicalUser',
    ID: owner,
    DisplayName: owner,
  };
  const group = (who: Grantee) => ({
    '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
    '@_xsi:type': 'Group',
    URI: GROUP_URI[who],
  });
  const g = granteesOf(acl);
  const grants = [{ Grantee: ownerGrantee, Permission: 'FULL_CONTROL' }];
  for (const who of g.read) grants.push({ Grantee: group(who) as never, Permission: 'READ' });
  if (forBucket) {
    for (const who of g.write) grants.push({ Grantee: group(who) as never, Permission: 'WRITE' });
  }
  return { Owner: { ID: owner, DisplayName: owner }, AccessControlList: { Grant: grants } };
}

// An AccessControlPolicy body sent to PutBucketAcl/PutObjectAcl, reduced to the canned ACL it
// equals. Grants to individual users other than the owner have no canned equivalent: NotImplemented.
export function cannedFromGrants(
  grants: Array<{ uri?: string; id?: string; permission: string }>,
  owner: string,
): CannedAcl {
  const read = new Set<string>();
  const write = new Set<string>();
  for (const grant of grants) {
    if (grant.id !== undefined) {
      if (grant.id === owner) continue;
      throw new S3AuthError(
        'NotImplemented',
        501,
        'Strata supports ACL grants to the owner and to the AllUsers and AuthenticatedUsers groups; use a bucket policy for other users',
      );
    }
    const who = (Object.keys(GROUP_URI) as Grantee[]).find((k) => GROUP_URI[k] === grant.uri);
    if (who === undefined) throw new S3AuthError('InvalidArgument', 400, 'Invalid group uri');
    if (grant.permission === 'READ') read.add(who);
    else if (grant.permission === 'WRITE') write.add(who);
    else if (grant.permission === 'FULL_CONTROL') {
      read.add(who);
      write.add(who);
    } else {
      throw new S3AuthError(
        'NotImplemented',
        501,
        `ACL permission ${grant.permission} is not supported`,
      );
    }
  }
  const key = `${[...read].sort().join(',')}|${[...write].sort().join(',')}`;
  const canned: Record<string, CannedAcl> = {
    '|': 'private',
    'AllUsers|': 'public-read',
    'AllUsers|AllUsers': 'public-read-write',
    'AuthenticatedUsers|': 'authenticated-read',
  };
  const found = canned[key];
  if (found === undefined)
    throw new S3AuthError(
      'NotImplemented',
      501,
      'This combination of ACL grants has no canned equivalent',
    );
  return found;
}
