import { isStrataError } from '../../common/errors.ts';
import { authorize } from '../access.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { isInternal, S3Error, toS3Error } from '../errors.ts';
import { parseXml, renderXml } from '../xml.ts';

const DELETE_OBJECTS_MAX = 1000;

export async function deleteObject(ctx: RequestContext, bucket: string, key: string) {
  await ctx.client.deleteObject(bucket, key);
  sendEmpty(ctx, 204);
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
  const deleted: Array<{ Key: string }> = [];
  const errors: Array<{ Key: string; Code: string; Message: string }> = [];
  for (const object of objects) {
    const key = typeof object.Key === 'string' ? object.Key : '';
    try {
      if (key === '') throw new S3Error('InvalidArgument', 400, 'Key is missing');
      refuseUnprovidedIdentifier(object);
      await authorize(ctx, { action: 's3:DeleteObject', bucket, key });
      await ctx.client.deleteObject(bucket, key);
      deleted.push({ Key: key });
    } catch (error) {
      if (isStrataError(error, 'NO_SUCH_BUCKET')) throw error;
      const s3 = toS3Error(error);
      if (isInternal(s3)) ctx.log.warn('DeleteObjects: a key failed', { bucket, key, error });
      errors.push({ Key: key, Code: s3.s3Code, Message: s3.message });
    }
  }
  sendXml(ctx, 200, renderXml('DeleteResult', { Deleted: quiet ? [] : deleted, Error: errors }));
}

// An ObjectIdentifier's VersionId other than "null" names a version that cannot exist (buckets
// are unversioned); ETag, LastModifiedTime and Size make the delete conditional, which Strata
// does not implement. Either is that key's error, never a delete that ignores the condition.
function refuseUnprovidedIdentifier(object: Record<string, unknown>): void {
  if (object.VersionId !== undefined && object.VersionId !== 'null')
    throw new S3Error('InvalidArgument', 400, 'Invalid version id specified');
  const conditions = ['ETag', 'LastModifiedTime', 'Size'].filter((n) => object[n] !== undefined);
  if (conditions.length > 0)
    throw new S3Error(
      'NotImplemented',
      501,
      `Conditional deletes (${conditions.join(', ')}) are not implemented by Strata yet.`,
    );
}
