import type { VersionChange } from '../../client/types.ts';
import { isStrataError } from '../../common/errors.ts';
import { isVersionId } from '../../metadata/version-id.ts';
import { authorize } from '../access.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { isInternal, S3Error, toS3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';
import { bypassGovernance } from './object-lock.ts';
import { isReplicaHeld, replicaVersionOf } from './replica.ts';

const DELETE_OBJECTS_MAX = 1000;

export async function deleteObject(ctx: RequestContext, bucket: string, key: string) {
  const versionId = ctx.url.searchParams.get('versionId') ?? undefined;
  const bypass = await bypassGovernance(ctx, bucket, key);
  const replicaVersionId = await replicaVersionOf(ctx, {
    bucket,
    key,
    action: 's3:ReplicateDelete',
  });
  const options = { bypassGovernance: bypass, replicaVersionId };
  const change = await ctx.client
    .deleteObject(bucket, key, versionId, options)
    .catch((error): VersionChange => {
      if (!isReplicaHeld(error, replicaVersionId)) throw error;
      return { versionId: replicaVersionId, deleteMarker: true };
    });
  sendEmpty(ctx, 204, changeHeaders(change));
}

// A delete in a versioned bucket names the version it made or removed, and whether that is a
// delete marker.
function changeHeaders(change: VersionChange): Record<string, string> {
  const headers: Record<string, string> = {};
  if (change.versionId !== undefined) headers['x-amz-version-id'] = change.versionId;
  if (change.deleteMarker === true) headers['x-amz-delete-marker'] = 'true';
  return headers;
}

export async function deleteObjects(ctx: RequestContext, bucket: string) {
  const body = await readSmallBody(ctx);
  const request = parseXml(body.toString('utf8')).Delete;
  const objects: Array<{ Key?: unknown; VersionId?: unknown } & Record<string, unknown>> =
    request?.Object ?? [];
  if (!request || objects.length === 0 || objects.length > DELETE_OBJECTS_MAX) {
    throw new S3Error('MalformedXML', 400, `Delete takes 1 to ${DELETE_OBJECTS_MAX} objects.`);
  }
  await ctx.client.getBucket(bucket);
  // xs:boolean collapses whitespace, unlike the keys.
  const quiet = String(request.Quiet).trim().toLowerCase() === 'true';
  const deleted: Array<Record<string, unknown>> = [];
  const errors: Array<{ Key: string; Code: string; Message: string }> = [];
  for (const object of objects) {
    const key = typeof object.Key === 'string' ? object.Key : '';
    try {
      if (key === '') throw new S3Error('InvalidArgument', 400, 'Key is missing');
      refuseUnprovidedIdentifier(object);
      const versionId = typeof object.VersionId === 'string' ? object.VersionId : undefined;
      const action = versionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion';
      await authorize(ctx, { action, bucket, key });
      const bypass = { bypassGovernance: await bypassGovernance(ctx, bucket, key) };
      const change = await ctx.client.deleteObject(bucket, key, versionId, bypass);
      deleted.push(deletedEntry(key, versionId, change));
    } catch (error) {
      if (isStrataError(error, 'NO_SUCH_BUCKET')) throw error;
      const s3 = toS3Error(error);
      if (isInternal(s3)) ctx.log.warn('DeleteObjects: a key failed', { bucket, key, error });
      errors.push({ Key: key, Code: s3.s3Code, Message: s3.message });
    }
  }
  sendXml(ctx, 200, renderXml('DeleteResult', { Deleted: quiet ? [] : deleted, Error: errors }));
}

// DeleteResult's Deleted entry: the version removed (when one was named), and the delete marker
// made or removed.
function deletedEntry(key: string, versionId: string | undefined, change: VersionChange) {
  const entry: Record<string, unknown> = { Key: key };
  if (versionId !== undefined) entry.VersionId = versionId;
  if (change.deleteMarker === true) {
    entry.DeleteMarker = true;
    if (change.versionId !== undefined) entry.DeleteMarkerVersionId = change.versionId;
  }
  return entry;
}

// A VersionId Strata could not have issued is that key's error; ETag, LastModifiedTime and Size
// make the delete conditional, which Strata does not implement. Either is that key's error,
// never a delete that ignores the condition.
function refuseUnprovidedIdentifier(object: Record<string, unknown>): void {
  if (object.VersionId !== undefined && !isVersionId(object.VersionId))
    throw new S3Error('InvalidArgument', 400, 'Invalid version id specified');
  const conditions = ['ETag', 'LastModifiedTime', 'Size'].filter((n) => object[n] !== undefined);
  if (conditions.length > 0)
    throw new S3Error(
      'NotImplemented',
      501,
      `Conditional deletes (${conditions.join(', ')}) are not implemented by Strata yet.`,
    );
}
