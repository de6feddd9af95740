import { isStorageClass } from '../../metadata/storage-class.ts';
import type { StorageClass } from '../../metadata/types.ts';
import { isVersionId } from '../../metadata/version-id.ts';
import { authorize } from '../access.ts';
import { objectWriteAcl } from '../acl-request.ts';
import { type RequestContext, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { isoDate, renderXml } from '../xml.ts';
import { lockFromHeaders } from './object-lock.ts';
import { etagOf, objectMetaFrom } from './object-meta.ts';
import { checkCanSeal, requestedSse, sseHeaders } from './sse.ts';
import { checkReadKey, customerKeyFrom, refuseBothEncryptions, sseCHeaders } from './sse-c.ts';
import { tagsFromHeader } from './tagging.ts';

function header(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

export interface CopySource {
  bucket: string;
  key: string;
  versionId?: string;
}

// "bucket/key" or "/bucket/key", URL-encoded, optionally with "?versionId=<id>".
export function parseCopySource(raw: string): CopySource {
  const [path, query] = raw.split('?', 2);
  let versionId: string | undefined;
  if (query !== undefined) {
    versionId = new URLSearchParams(query).get('versionId') ?? undefined;
    if (versionId !== undefined && !isVersionId(versionId)) {
      throw new S3Error('InvalidArgument', 400, 'Invalid version id specified');
    }
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path.replace(/^\//, ''));
  } catch {
    throw new S3Error('InvalidArgument', 400, 'Invalid copy source encoding');
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new S3Error(
      'InvalidArgument',
      400,
      'Copy Source must mention the source bucket and key: sourcebucket/sourcekey',
    );
  }
  const source: CopySource = { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
  if (versionId !== undefined) source.versionId = versionId;
  return source;
}

export function refuseDeleteMarkerSource(): never {
  throw new S3Error(
    'InvalidRequest',
    400,
    'The source of a copy request may not specifically refer to a delete marker by version id.',
  );
}

function checkSourceDates(ctx: RequestContext, mtimeMs: number): void {
  const seconds = Math.floor(mtimeMs / 1000);
  const since = header(ctx, 'x-amz-copy-source-if-modified-since');
  const until = header(ctx, 'x-amz-copy-source-if-unmodified-since');
  const failed =
    (since !== undefined &&
      !Number.isNaN(Date.parse(since)) &&
      seconds <= Math.floor(Date.parse(since) / 1000)) ||
    (until !== undefined &&
      !Number.isNaN(Date.parse(until)) &&
      seconds > Math.floor(Date.parse(until) / 1000));
  if (failed)
    throw new S3Error(
      'PreconditionFailed',
      412,
      'At least one of the pre-conditions you specified did not hold',
    );
}

// x-amz-tagging-directive REPLACE takes the request's tags (none: no tags); COPY keeps the
// source's, whichever metadata directive is used.
function replacedTags(ctx: RequestContext): Record<string, string> | undefined {
  const directive = (header(ctx, 'x-amz-tagging-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE')
    throw new S3Error('InvalidArgument', 400, 'Unknown tagging directive.');
  if (directive === 'COPY') return undefined;
  return tagsFromHeader(ctx.req.headers['x-amz-tagging']) ?? {};
}

// Reading the source needs s3:GetObject on it, as well as s3:PutObject on the destination.
export async function authorizeCopySource(
  ctx: RequestContext,
  source: { bucket: string; key: string },
): Promise<void> {
  await authorize(ctx, { action: 's3:GetObject', bucket: source.bucket, key: source.key });
}

// The copy's class (absent: STANDARD). A copy shares the source's stripes when it can be
// labelled with a class of the same policy (STANDARD_IA); a copy into an archive class
// (GLACIER, DEEP_ARCHIVE) has its bytes written again with that class's code and pool
// (StrataClient.copyObject).
function copyStorageClass(ctx: RequestContext): StorageClass | undefined {
  const value = header(ctx, 'x-amz-storage-class');
  if (value === undefined || value === 'STANDARD' || !isStorageClass(value)) return undefined;
  return value;
}

// CopyObject: a metadata-only copy (the destination shares the source's stripes), unless its
// encryption differs from the source's in a way shared stripes cannot honour, or it goes into an
// archive class: then the bytes are rewritten (src/client/sealed-copy.ts). An archived source is
// copied only while restored (from its restored copy), as on AWS.
export async function copyObject(ctx: RequestContext, bucket: string, key: string) {
  const source = parseCopySource(header(ctx, 'x-amz-copy-source') as string);
  const directive = (header(ctx, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw new S3Error('InvalidArgument', 400, 'Unknown metadata directive.');
  }
  // Copying a version onto its own key is how a version is restored: allowed as it is.
  const restore = source.versionId !== undefined;
  // Asking for encryption is a change too: a copy onto itself is how an object is encrypted
  // (or, with SSE-C, how its customer key is changed).
  refuseBothEncryptions(ctx);
  const sse = requestedSse(ctx);
  const storageClass = copyStorageClass(ctx);
  const customer = customerKeyFrom(ctx, 'object');
  const sourceCustomer = customerKeyFrom(ctx, 'copy-source');
  const unchanged =
    directive === 'COPY' &&
    !restore &&
    sse === undefined &&
    customer === undefined &&
    storageClass === undefined;
  if (source.bucket === bucket && source.key === key && unchanged) {
    throw new S3Error(
      'InvalidRequest',
      400,
      'This copy request is illegal because it is trying to copy an object to itself without ' +
        "changing the object's metadata, storage class, website redirect location or " +
        'encryption attributes.',
    );
  }
  await authorizeCopySource(ctx, source);
  if (customer === undefined) await checkCanSeal(ctx, bucket, sse);
  await ctx.client.getBucket(bucket);
  const acl = await objectWriteAcl(ctx, bucket);
  const sourceVersion = await ctx.client.objectVersion(source.bucket, source.key, source.versionId);
  const sourceInode = sourceVersion.inode ?? refuseDeleteMarkerSource();
  checkReadKey(sourceInode.object?.sseCustomer, sourceCustomer);
  checkSourceDates(ctx, sourceInode.mtimeMs);
  const copied = await ctx.client.copyObject(source, bucket, key, {
    object:
      directive === 'REPLACE' ? { ...objectMetaFrom(ctx.req, acl), tags: undefined } : undefined,
    tags: replacedTags(ctx),
    acl,
    ifMatch: header(ctx, 'if-match'),
    ifNoneMatch: header(ctx, 'if-none-match'),
    copyIfMatch: header(ctx, 'x-amz-copy-source-if-match'),
    copyIfNoneMatch: header(ctx, 'x-amz-copy-source-if-none-match'),
    lock: lockFromHeaders(ctx),
    ...sse,
    customerKey: customer?.key,
    sourceCustomerKey: sourceCustomer?.key,
    storageClass,
  });
  const headers: Record<string, string> = {
    ...sseHeaders(ctx, copied.inode.object, { context: true }),
    ...sseCHeaders(copied.inode.object?.sseCustomer, customer),
  };
  if (sourceVersion.versioned) headers['x-amz-copy-source-version-id'] = sourceVersion.versionId;
  if (copied.versionId !== undefined) headers['x-amz-version-id'] = copied.versionId;
  sendXml(
    ctx,
    200,
    renderXml('CopyObjectResult', {
      ETag: `"${etagOf(copied.inode)}"`,
      LastModified: isoDate(copied.inode.mtimeMs),
    }),
    headers,
  );
}
