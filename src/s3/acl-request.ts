// The ACL a request asks to set (x-amz-acl, the x-amz-grant-* headers, or an AccessControlPolicy
// body), and the bucket controls that may refuse it: Object Ownership BucketOwnerEnforced (ACLs
// disabled: 400 AccessControlListNotSupported) and Block Public Access BlockPublicAcls (a public
// ACL: 403 AccessDenied), as AWS answers. One place for every operation that sets an ACL.
import type { IncomingHttpHeaders } from 'node:http';
import {
  type AclGrant,
  GRANT_HEADERS,
  grantsFromHeaders,
  grantsOfCanned,
  isOwnerOnlyCannedAcl,
  isPublicAcl,
  normalizeGrants,
  parseCannedAcl,
  storedAcl,
} from '../auth/policy/index.ts';
import { isStrataError } from '../common/errors.ts';
import type { BucketInfo } from '../metadata/types.ts';
import type { RequestContext } from './context.ts';
import { S3Error } from './errors.ts';

export interface RequestedAcl {
  grants: AclGrant[];
  // Only the owner keeps access (private, bucket-owner-full-control, or grants to the owner).
  ownerOnly: boolean;
}

export interface AclTarget {
  owner: string; // the bucket's owner: its full control is implicit
  knownUsers: ReadonlySet<string>; // the users a grant may name
  forObject: boolean; // objects take no x-amz-grant-write (WRITE means nothing on them)
}

// From the headers; undefined when the request names no ACL. x-amz-acl and grant headers
// together are refused, as AWS does.
export function aclFromHeaders(
  headers: Record<string, string | string[] | undefined>,
  target: AclTarget,
): RequestedAcl | undefined {
  const header = headers['x-amz-acl'];
  const canned = Array.isArray(header) ? header.join(',') : header;
  const granted = grantsFromHeaders(
    target.forObject ? { ...headers, 'x-amz-grant-write': undefined } : headers,
    target.knownUsers,
  );
  if (canned !== undefined && granted !== undefined)
    throw new S3Error(
      'InvalidRequest',
      400,
      'Specifying both Canned ACLs and Header Grants is not allowed',
    );
  if (canned !== undefined) {
    const grants = grantsOfCanned(parseCannedAcl(canned) ?? 'private');
    return { grants, ownerOnly: isOwnerOnlyCannedAcl(canned) };
  }
  if (granted === undefined) return undefined;
  const grants = normalizeGrants(granted, target.owner);
  return { grants, ownerOnly: grants.length === 0 };
}

export function aclsDisabled(): S3Error {
  return new S3Error('AccessControlListNotSupported', 400, 'The bucket does not allow ACLs');
}

// Refuses an ACL the bucket's controls forbid; returns the grants to store otherwise.
export function checkRequestedAcl(info: BucketInfo, acl: RequestedAcl): AclGrant[] {
  if (info.ownership === 'BucketOwnerEnforced' && !acl.ownerOnly) throw aclsDisabled();
  if (info.publicAccessBlock?.blockPublicAcls === true && isPublicAcl(acl.grants))
    throw new S3Error('AccessDenied', 403, 'Access Denied');
  return acl.grants;
}

const ACL_HEADERS = ['x-amz-acl', ...Object.keys(GRANT_HEADERS)];

// The stored form of the ACL an object write (PutObject, CopyObject, CreateMultipartUpload) asks
// for in its headers, checked against the bucket's controls before anything is read or stored;
// undefined: private. A missing bucket is left to the handler (NoSuchBucket).
// `headers`: a form upload's fields stand for its request headers.
export async function objectWriteAcl(
  ctx: RequestContext,
  bucket: string,
  headers: IncomingHttpHeaders = ctx.req.headers,
): Promise<string | undefined> {
  if (!ACL_HEADERS.some((name) => headers[name] !== undefined)) return undefined;
  // The record itself, not the gateway's cached copy: a control set through another gateway a
  // moment ago holds here too.
  let info: BucketInfo;
  try {
    info = await ctx.client.getBucket(bucket);
  } catch (error) {
    if (isStrataError(error, 'NO_SUCH_BUCKET')) return undefined;
    throw error;
  }
  const target = { owner: info.owner, knownUsers: ctx.access.knownUsers, forObject: true };
  const acl = aclFromHeaders(headers, target);
  if (acl === undefined) return undefined;
  return storedAcl(checkRequestedAcl(info, acl), info.owner) ?? undefined;
}
