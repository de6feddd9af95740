// ACLs, mapped onto the same decision as policies: an ACL is a list of grants, each giving one
// permission to a named user (by Strata user name, the ID of its canonical user) or to one of the
// groups AllUsers and AuthenticatedUsers. The owner's full control is implicit (owner access is
// decided before ACLs, see src/s3/access.ts), so grants to the owner are not stored.
// Stored form (bucket record, object metadata): a canned ACL name when the grants equal one,
// otherwise the grants as JSON; absent means private.
import assert from 'node:assert';
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

export const ACL_PERMISSIONS = ['READ', 'WRITE', 'READ_ACP', 'WRITE_ACP', 'FULL_CONTROL'] as const;
export type AclPermission = (typeof ACL_PERMISSIONS)[number];
export type AclGroup = 'AllUsers' | 'AuthenticatedUsers';
export type AclGrantee = { user: string } | { group: AclGroup };
export interface AclGrant {
  grantee: AclGrantee;
  permission: AclPermission;
}

// A limit on what one ACL may hold (AWS: 100 grants).
export const ACL_GRANTS_MAX = 100;

export const GROUP_URI: Record<AclGroup, string> = {
  AllUsers: 'http://acs.amazonaws.com/groups/global/AllUsers',
  AuthenticatedUsers: 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers',
};

export function parseCannedAcl(value: string | undefined): CannedAcl | undefined {
  if (value === undefined) return undefined;
  if ((CANNED_ACLS as readonly string[]).includes(value)) return value as CannedAcl;
  const alias = ALIASES[value];
  if (alias !== undefined) return alias;
  throw new S3AuthError('InvalidArgument', 400, `Invalid canned ACL: ${value}`);
}

// Whether the header value names an ACL that keeps everything with the owner (the only ones
// BucketOwnerEnforced accepts, as AWS).
export function isOwnerOnlyCannedAcl(value: string): boolean {
  return value === 'private' || value === 'bucket-owner-full-control';
}

const group = (g: AclGroup): AclGrantee => ({ group: g });

export function grantsOfCanned(acl: CannedAcl): AclGrant[] {
  switch (acl) {
    case 'private':
      return [];
    case 'public-read':
      return [{ grantee: group('AllUsers'), permission: 'READ' }];
    case 'public-read-write':
      return [
        { grantee: group('AllUsers'), permission: 'READ' },
        { grantee: group('AllUsers'), permission: 'WRITE' },
      ];
    case 'authenticated-read':
      return [{ grantee: group('AuthenticatedUsers'), permission: 'READ' }];
  }
}

function grantKey(g: AclGrant): string {
  const who = 'user' in g.grantee ? `user:${g.grantee.user}` : `group:${g.grantee.group}`;
  return `${who}/${g.permission}`;
}

// Grants without duplicates and without the owner, in a stable order.
export function normalizeGrants(grants: AclGrant[], owner: string): AclGrant[] {
  const seen = new Map<string, AclGrant>();
  for (const g of grants) {
    if ('user' in g.grantee && g.grantee.user === owner) continue;
    seen.set(grantKey(g), g);
  }
  return [...seen.keys()].sort().map((k) => seen.get(k) as AclGrant);
}

// What goes into the record: null for private, a canned name when one equals the grants.
export function storedAcl(grants: AclGrant[], owner: string): string | null {
  const normal = normalizeGrants(grants, owner);
  if (normal.length === 0) return null;
  const text = normal.map(grantKey).join(',');
  for (const canned of CANNED_ACLS) {
    if (normalizeGrants(grantsOfCanned(canned), owner).map(grantKey).join(',') === text)
      return canned;
  }
  const json = JSON.stringify(normal);
  assert.deepEqual(grantsOfStored(json), normal, 'a stored ACL reads back as written');
  return json;
}

export function grantsOfStored(stored: string | undefined): AclGrant[] {
  if (stored === undefined) return [];
  if (!stored.startsWith('[')) return grantsOfCanned(parseCannedAcl(stored) as CannedAcl);
  const grants = JSON.parse(stored) as AclGrant[];
  assert.ok(Array.isArray(grants), 'a stored ACL is a canned name or a grant list');
  return grants;
}

export function isPublicGrant(g: AclGrant): boolean {
  return 'group' in g.grantee;
}

// AWS: an ACL is public when it grants anything to AllUsers or AuthenticatedUsers.
export function isPublicAcl(grants: AclGrant[]): boolean {
  return grants.some(isPublicGrant);
}

// READ on a bucket lists it; WRITE creates and deletes objects in it; READ_ACP and WRITE_ACP read
// and write its ACL. READ on an object reads it, READ_ACP and WRITE_ACP its ACL.
const BUCKET_PERMISSIONS: Record<Exclude<AclPermission, 'FULL_CONTROL'>, ReadonlySet<S3Action>> = {
  READ: new Set(['s3:ListBucket', 's3:ListBucketVersions', 's3:ListBucketMultipartUploads']),
  WRITE: new Set([
    's3:PutObject',
    's3:DeleteObject',
    's3:DeleteObjectVersion',
    's3:AbortMultipartUpload',
    's3:ListMultipartUploadParts',
  ]),
  READ_ACP: new Set(['s3:GetBucketAcl']),
  WRITE_ACP: new Set(['s3:PutBucketAcl']),
};
const OBJECT_PERMISSIONS: Record<Exclude<AclPermission, 'FULL_CONTROL'>, ReadonlySet<S3Action>> = {
  READ: new Set([
    's3:GetObject',
    's3:GetObjectVersion',
    's3:GetObjectAttributes',
    's3:GetObjectVersionAttributes',
  ]),
  WRITE: new Set(), // no meaning on an object (AWS)
  READ_ACP: new Set(['s3:GetObjectAcl', 's3:GetObjectVersionAcl']),
  WRITE_ACP: new Set(['s3:PutObjectAcl', 's3:PutObjectVersionAcl']),
};

function permits(
  table: typeof BUCKET_PERMISSIONS,
  permission: AclPermission,
  action: string,
): boolean {
  if (permission === 'FULL_CONTROL')
    return Object.values(table).some((actions) => actions.has(action as S3Action));
  return table[permission].has(action as S3Action);
}

function granteeMatches(grantee: AclGrantee, principal: string | undefined): boolean {
  if ('user' in grantee) return principal !== undefined && grantee.user === principal;
  return grantee.group === 'AllUsers' || principal !== undefined;
}

// principal: the caller's user name, undefined when anonymous.
export function bucketAclAllows(
  grants: AclGrant[],
  action: string,
  principal: string | undefined,
): boolean {
  return grants.some(
    (g) =>
      granteeMatches(g.grantee, principal) && permits(BUCKET_PERMISSIONS, g.permission, action),
  );
}

// Whether an object's own ACL can matter for this action.
export function objectAclApplies(action: string): boolean {
  return permits(OBJECT_PERMISSIONS, 'FULL_CONTROL', action);
}

export function objectAclAllows(
  grants: AclGrant[],
  action: string,
  principal: string | undefined,
): boolean {
  return grants.some(
    (g) =>
      granteeMatches(g.grantee, principal) && permits(OBJECT_PERMISSIONS, g.permission, action),
  );
}

// The AccessControlPolicy document GetBucketAcl/GetObjectAcl return, as a plain object for the
// XML renderer: the owner's full control first, then the stored grants.
export function aclDocument(grants: AclGrant[], owner: string) {
  const xsi = 'http://www.w3.org/2001/XMLSchema-instance';
  const grantee = (who: AclGrantee) =>
    'user' in who
      ? { '@_xmlns:xsi': xsi, '@_xsi:type': 'CanonicalUser', ID: who.user, DisplayName: who.user }
      : { '@_xmlns:xsi': xsi, '@_xsi:type': 'Group', URI: GROUP_URI[who.group] };
  const list = [{ Grantee: grantee({ user: owner }), Permission: 'FULL_CONTROL' }];
  for (const g of grants) list.push({ Grantee: grantee(g.grantee), Permission: g.permission });
  return { Owner: { ID: owner, DisplayName: owner }, AccessControlList: { Grant: list } };
}

// One grantee as a request names it: by ID (a Strata user name), by group URI, or by e-mail.
// Strata users have no e-mail address, so every grant by e-mail is one AWS could not resolve:
// 400 UnresolvableGrantByEmailAddress, as AWS answers for an address it does not know.
export function parseGrantee(
  who: { id?: string; uri?: string; email?: string },
  knownUsers: ReadonlySet<string>,
): AclGrantee {
  if (who.email !== undefined)
    throw new S3AuthError(
      'UnresolvableGrantByEmailAddress',
      400,
      'The e-mail address you provided does not match any account on record.',
    );
  if (who.id !== undefined) {
    if (!knownUsers.has(who.id)) throw new S3AuthError('InvalidArgument', 400, 'Invalid id');
    return { user: who.id };
  }
  const name = (Object.keys(GROUP_URI) as AclGroup[]).find((k) => GROUP_URI[k] === who.uri);
  if (name === undefined) throw new S3AuthError('InvalidArgument', 400, 'Invalid group uri');
  return { group: name };
}

export function parsePermission(value: string): AclPermission {
  if (!(ACL_PERMISSIONS as readonly string[]).includes(value))
    throw new S3AuthError(
      'MalformedACLError',
      400,
      'The XML you provided was not well-formed or did not validate against our published schema',
    );
  return value as AclPermission;
}

// The x-amz-grant-* request headers: each a comma-separated list of id="…", uri="…" or
// emailAddress="…" (AWS's syntax). undefined when none is present.
export const GRANT_HEADERS: Record<string, AclPermission> = {
  'x-amz-grant-read': 'READ',
  'x-amz-grant-write': 'WRITE',
  'x-amz-grant-read-acp': 'READ_ACP',
  'x-amz-grant-write-acp': 'WRITE_ACP',
  'x-amz-grant-full-control': 'FULL_CONTROL',
};

export function grantsFromHeaders(
  headers: Record<string, string | string[] | undefined>,
  knownUsers: ReadonlySet<string>,
): AclGrant[] | undefined {
  let grants: AclGrant[] | undefined;
  for (const [name, permission] of Object.entries(GRANT_HEADERS)) {
    const raw = headers[name];
    if (raw === undefined) continue;
    grants ??= [];
    const text = Array.isArray(raw) ? raw.join(',') : raw;
    for (const item of text.split(',')) {
      const match = /^\s*(id|uri|emailAddress)\s*=\s*"?([^"]*)"?\s*$/i.exec(item);
      if (match === null)
        throw new S3AuthError('InvalidArgument', 400, `Invalid grant in ${name}: ${item.trim()}`);
      const kind = match[1].toLowerCase();
      const value = match[2];
      const who =
        kind === 'id' ? { id: value } : kind === 'uri' ? { uri: value } : { email: value };
      grants.push({ grantee: parseGrantee(who, knownUsers), permission });
    }
  }
  if (grants !== undefined && grants.length > ACL_GRANTS_MAX)
    throw new S3AuthError('InvalidArgument', 400, `At most ${ACL_GRANTS_MAX} grants`);
  return grants;
}
