// Applies src/s3/request-headers.ts to a request, after authorization and before dispatch, so a
// request asking for a behaviour Strata does not provide is refused before anything is read,
// created or stored (the gateway's error path drains or closes the unread body).

import { isVersionId } from '../metadata/version-id.ts';
import { s3RefusedRequests } from '../observability/metrics.ts';
import type { RequestContext } from './context.ts';
import { S3Error } from './errors.ts';
import { parseCopySource } from './handlers/object-copy.ts';
import { type HeaderRule, headerRule, type Refusal } from './request-headers.ts';
import type { Endpoint, EndpointKind } from './router.ts';

function refusalOf(rule: HeaderRule, value: string, operation: EndpointKind): Refusal | undefined {
  switch (rule.kind) {
    case 'honoured':
      return undefined;
    case 'refused':
      return rule.refusal;
    case 'checked':
      return rule.check(value, operation);
  }
}

function refuse(label: string, refusal: Refusal): never {
  s3RefusedRequests.inc({ header: label });
  throw new S3Error(refusal.s3Code, refusal.httpStatus, refusal.message);
}

export async function refuseUnprovided(ctx: RequestContext, endpoint: Endpoint): Promise<void> {
  for (const [name, raw] of Object.entries(ctx.req.headers)) {
    if (raw === undefined) continue;
    const rule = headerRule(name);
    if (rule === undefined) continue; // not in the S3 API: AWS ignores such headers too
    const value = (Array.isArray(raw) ? raw.join(',') : raw).trim();
    const refusal = refusalOf(rule, value, endpoint.kind);
    if (refusal !== undefined) refuse(name, refusal);
  }
  checkVersionId(ctx.url.searchParams, endpoint);
  await checkExpectedOwners(ctx, endpoint);
}

// The object operations that take ?versionId= (the others have no such parameter in the API).
const VERSIONED_OPERATIONS = new Set<EndpointKind>([
  'GetObject',
  'HeadObject',
  'DeleteObject',
  'GetObjectTagging',
  'PutObjectTagging',
  'DeleteObjectTagging',
  'GetObjectAttributes',
  'GetObjectAcl',
  'PutObjectAcl',
  'GetObjectRetention',
  'PutObjectRetention',
  'RestoreObject',
  'GetObjectLegalHold',
  'PutObjectLegalHold',
]);

// A versionId Strata could not have issued ("null", or its 14 hex digits) names no version:
// AWS answers such an id with InvalidArgument. Operations without the parameter refuse it
// rather than act on the current version.
export function checkVersionId(query: URLSearchParams, endpoint: Endpoint): void {
  if (!('key' in endpoint)) return;
  const versionId = query.get('versionId');
  if (versionId === null) return;
  const invalid = (message: string) =>
    refuse('versionId', { httpStatus: 400, s3Code: 'InvalidArgument', message });
  if (versionId === '') invalid('Version id cannot be the empty string');
  if (!isVersionId(versionId)) invalid('Invalid version id specified');
  if (!VERSIONED_OPERATIONS.has(endpoint.kind) && versionId !== 'null')
    invalid(`${endpoint.kind} takes no versionId`);
}

// x-amz-expected-bucket-owner and x-amz-source-expected-bucket-owner: the request goes ahead only
// if the bucket belongs to that owner (a user name in Strata, the account id on AWS). A missing
// bucket is left to the handler (NoSuchBucket).
async function checkExpectedOwners(ctx: RequestContext, endpoint: Endpoint): Promise<void> {
  const expected = ctx.req.headers['x-amz-expected-bucket-owner'];
  if (typeof expected === 'string' && 'bucket' in endpoint)
    await checkOwner(ctx, endpoint.bucket, expected);
  const expectedSource = ctx.req.headers['x-amz-source-expected-bucket-owner'];
  const source = ctx.req.headers['x-amz-copy-source'];
  if (typeof expectedSource === 'string' && typeof source === 'string')
    await checkOwner(ctx, parseCopySource(source).bucket, expectedSource);
}

async function checkOwner(ctx: RequestContext, bucket: string, expected: string): Promise<void> {
  const access = await ctx.access.get(ctx, bucket);
  if (access === undefined || access.info.owner === expected.trim()) return;
  throw new S3Error('AccessDenied', 403, 'Access Denied');
}

// A form upload's field that stands for the request header of the same name (POST Object's
// x-amz-* fields) is held to that header's rule.
export function refuseField(name: string, value: string, operation: EndpointKind): void {
  const rule = headerRule(name);
  if (rule === undefined) return;
  const refusal = refusalOf(rule, value.trim(), operation);
  if (refusal !== undefined) refuse(`form field ${name}`, refusal);
}
