import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isStorageClass, restoreHeader } from '../../metadata/storage-class.ts';
import type { Inode, ListedObject, ObjectMeta } from '../../metadata/types.ts';
import { S3Error } from '../errors.ts';
import { tagsFromHeader } from './tagging.ts';

const USER_META_BYTES_MAX = 2048;
export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

function header(req: HeaderSource, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

// The request, or the fields of a form upload standing for its headers.
type HeaderSource = { headers: IncomingHttpHeaders };

// System and user metadata of an object, from the request headers of a PUT or multipart create
// (or a form upload's fields); the ACL comes checked against the bucket's controls
// (objectWriteAcl in src/s3/acl-request.ts).
export function objectMetaFrom(
  req: HeaderSource,
  acl: string | undefined,
): Omit<ObjectMeta, 'etag'> {
  const userMeta: Record<string, string> = {};
  let userBytes = 0;
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const text = Array.isArray(value) ? value.join(',') : value;
    userMeta[name.slice('x-amz-meta-'.length)] = text;
    userBytes += name.length - 'x-amz-meta-'.length + text.length;
  }
  if (userBytes > USER_META_BYTES_MAX) {
    throw new S3Error(
      'MetadataTooLarge',
      400,
      'Your metadata headers exceed the maximum allowed metadata size.',
    );
  }
  // aws-chunked is a transfer framing, not part of the object's encoding.
  const encoding = header(req, 'content-encoding')
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && s !== 'aws-chunked')
    .join(',');
  // Checked by the request-header rules (x-amz-storage-class) before any handler runs.
  const storageClass = header(req, 'x-amz-storage-class');
  return {
    ...(storageClass !== undefined && storageClass !== 'STANDARD' && isStorageClass(storageClass)
      ? { storageClass }
      : {}),
    acl,
    tags: tagsFromHeader(req.headers['x-amz-tagging']),
    contentType: header(req, 'content-type') ?? 'binary/octet-stream',
    contentEncoding: encoding || undefined,
    contentDisposition: header(req, 'content-disposition'),
    contentLanguage: header(req, 'content-language'),
    cacheControl: header(req, 'cache-control'),
    expires: header(req, 'expires'),
    userMeta,
  };
}

// The ETag of an object. Files written only through POSIX have no MD5 on record; they get a
// stable stand-in derived from inode, size and mtime, marked by a "-0" suffix no MD5 has.
export function etagOf(inode: Inode): string {
  if (inode.type === 'dir') return inode.object?.etag || EMPTY_MD5;
  const etag = inode.object?.etag;
  if (etag) return etag;
  const basis = `${inode.ino}:${inode.size}:${inode.mtimeMs}`;
  return `${createHash('md5').update(basis).digest('hex')}-0`;
}

// The same stand-in for a listing entry. A listing does not carry the inode number, so this one is
// derived from key, size and mtime instead: stable while the file is unchanged and different once
// it changes, but not equal to the HEAD value of the same file (both end in "-0", which tells
// tools such as rclone that the ETag is not an MD5 to compare against).
export function listedEtag(object: ListedObject): string {
  if (object.etag) return object.etag;
  if (object.isDirMarker) return EMPTY_MD5;
  const basis = `${object.key}:${object.size}:${object.lastModifiedMs}`;
  return `${createHash('md5').update(basis).digest('hex')}-0`;
}

// x-amz-storage-class (omitted for STANDARD, as AWS does) and x-amz-restore of a version.
export function storageClassHeaders(inode: Inode, nowMs: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const storageClass = inode.object?.storageClass;
  if (storageClass !== undefined && storageClass !== 'STANDARD')
    headers['x-amz-storage-class'] = storageClass;
  const restore = restoreHeader(inode.object, nowMs);
  if (restore !== undefined) headers['x-amz-restore'] = restore;
  return headers;
}
