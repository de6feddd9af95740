// Multipart uploads: parts hold their stripes (one reference per extent) until the upload is
// completed, when the parts' extents move into the object, or aborted, when they are released.

import { addRef, checkExtents, releaseExtents } from './extent-ops.ts';
import * as K from './keys.ts';
import { checkCustomerKey, checkPartEncryption } from './object-encryption.ts';
import { checkLockRequest } from './object-lock.ts';
import { bucketDir, lookupPath, namesOf, parseKey } from './object-path.ts';
import { storeObject } from './ops-objects.ts';
import { fail, type Store } from './store.ts';
import type { BucketInfo, Command, Extent, ObjectMeta, PartInfo, UploadInfo } from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

const PART_NUMBER_MAX = 10_000;
const UPLOAD_ID_BYTES_MAX = 256;

const unquote = (etag: string) => etag.replaceAll('"', '');

export function createUpload(store: Store, c: Op<'createUpload'>) {
  bucketDir(store, c.bucket);
  parseKey(c.key);
  if (typeof c.uploadId !== 'string' || c.uploadId.length === 0) fail('EINVAL', 'no upload id');
  if (Buffer.byteLength(c.uploadId) > UPLOAD_ID_BYTES_MAX || c.uploadId.includes('\0'))
    fail('EINVAL', 'bad upload id');
  if (store.upload(c.uploadId)) fail('EEXIST', `upload id ${c.uploadId} in use`);
  // Checked at once (the upload would only fail at completion); the lock is applied then.
  if (c.lock !== undefined) checkLockRequest(store.bucket(c.bucket) as BucketInfo, c.lock, c.nowMs);
  checkCustomerKey(c.object, []); // an SSE-C upload's record has the shape its parts are held to
  const upload: UploadInfo = {
    uploadId: c.uploadId,
    bucket: c.bucket,
    key: c.key,
    initiatedAtMs: c.nowMs,
    object: c.object,
    owner: c.owner,
  };
  if (c.lock !== undefined) upload.lock = c.lock;
  store.db.putSync(K.uploadKey(c.uploadId), upload);
  return { ok: true as const };
}

export function putPart(store: Store, c: Op<'putPart'>) {
  const upload = store.upload(c.uploadId) ?? fail('NO_SUCH_UPLOAD', `no upload ${c.uploadId}`);
  if (!Number.isInteger(c.partNumber) || c.partNumber < 1 || c.partNumber > PART_NUMBER_MAX)
    fail('EINVAL', `part numbers are 1..${PART_NUMBER_MAX}`);
  if (!Number.isSafeInteger(c.size) || c.size < 0) fail('EINVAL', `bad part size ${c.size}`);
  checkExtents(c.extents, c.size);
  checkPartEncryption(store, upload, c.extents);
  const key = K.partKey(c.uploadId, c.partNumber);
  const previous = store.db.get(key) as PartInfo | undefined;
  // New references first: a retried part may reuse a stripe of the one it replaces.
  for (const extent of c.extents) addRef(store, extent.stripe, 1);
  if (previous) releaseExtents(store, previous.extents);
  const part: PartInfo = {
    partNumber: c.partNumber,
    size: c.size,
    etag: unquote(c.etag),
    lastModifiedMs: c.nowMs,
    extents: c.extents,
  };
  if (c.checksum !== undefined) {
    if (typeof c.checksum !== 'string') fail('EINVAL', 'a part checksum is a string');
    part.checksum = c.checksum;
  }
  store.db.putSync(key, part);
  return { ok: true as const };
}

// The object's extents: each chosen part's extents shifted by the sizes of the parts before it.
function assemble(c: Op<'completeUpload'>, stored: Map<number, PartInfo>) {
  if (c.parts.length === 0) fail('INVALID_PART', 'a multipart upload needs at least one part');
  const extents: Extent[] = [];
  const sizes: number[] = [];
  let offset = 0;
  c.parts.forEach((want, i) => {
    if (i > 0 && want.partNumber <= c.parts[i - 1].partNumber)
      fail('INVALID_PART_ORDER', 'parts must be listed in ascending order');
    const part =
      stored.get(want.partNumber) ??
      fail('INVALID_PART', `part ${want.partNumber} was not uploaded`);
    if (unquote(part.etag) !== unquote(want.etag))
      fail('INVALID_PART', `part ${want.partNumber} has another ETag`);
    if (i < c.parts.length - 1 && part.size < c.minPartSizeBytes) {
      fail('ENTITY_TOO_SMALL', `part ${want.partNumber} is ${part.size} bytes, below the minimum`);
    }
    for (const e of part.extents) extents.push({ ...e, fileOffset: e.fileOffset + offset });
    offset += part.size;
    sizes.push(part.size);
  });
  return { extents, sizes, sizeBytes: offset };
}

export function completeUpload(store: Store, c: Op<'completeUpload'>) {
  const upload = store.upload(c.uploadId);
  if (upload === undefined) return completedBefore(store, c);
  if (c.bucket !== undefined && (c.bucket !== upload.bucket || c.key !== upload.key))
    fail('NO_SUCH_UPLOAD', `upload ${c.uploadId} is not for ${c.bucket}/${c.key}`);
  const stored = new Map(store.parts(c.uploadId).map((p) => [p.partNumber, p]));
  const { extents, sizes, sizeBytes } = assemble(c, stored);
  const object: ObjectMeta = {
    ...upload.object,
    etag: c.etag,
    partSizes: sizes,
    uploadId: c.uploadId,
  };
  if (c.checksums !== undefined) object.checksums = c.checksums;
  if (c.partChecksums !== undefined) {
    if (c.partChecksums.length !== c.parts.length)
      fail('EINVAL', 'one checksum per completed part');
    object.partChecksums = c.partChecksums;
  }
  const result = storeObject(
    store,
    {
      bucket: upload.bucket,
      key: upload.key,
      size: sizeBytes,
      extents,
      object,
      caller: c.caller,
      nowMs: c.nowMs,
      ifMatch: c.ifMatch,
      ifNoneMatch: c.ifNoneMatch,
      lock: upload.lock,
    },
    true,
  );
  // The parts the object uses hand their references to it; the others give theirs up.
  for (const { partNumber } of c.parts) stored.delete(partNumber);
  for (const unused of stored.values()) releaseExtents(store, unused.extents);
  removeUpload(store, c.uploadId);
  return result;
}

// A CompleteMultipartUpload retried after a success whose answer was lost (SDKs retry it): the
// same upload id and parts (the etag is their digest) at the same key, whose object is still the
// one that upload made. Answered with that object and nothing written; anything else (the object
// replaced, deleted, rewritten through the mount) is NO_SUCH_UPLOAD, as it was before.
function completedBefore(store: Store, c: Op<'completeUpload'>) {
  const missing = () => fail('NO_SUCH_UPLOAD', `no upload ${c.uploadId}`);
  if (c.bucket === undefined || c.key === undefined || !store.bucket(c.bucket)) return missing();
  let names: string[];
  try {
    names = namesOf(parseKey(c.key));
  } catch {
    return missing();
  }
  const inode = lookupPath(store, bucketDir(store, c.bucket), names);
  const made = inode?.type === 'file' && inode.object?.uploadId === c.uploadId;
  if (!made || inode.object?.etag !== c.etag) return missing();
  return { ok: true as const, inode };
}

export function abortUpload(store: Store, c: Op<'abortUpload'>) {
  if (!store.upload(c.uploadId)) fail('NO_SUCH_UPLOAD', `no upload ${c.uploadId}`);
  for (const part of store.parts(c.uploadId)) releaseExtents(store, part.extents);
  removeUpload(store, c.uploadId);
  return { ok: true as const };
}

function removeUpload(store: Store, uploadId: string): void {
  for (const part of store.parts(uploadId))
    store.db.removeSync(K.partKey(uploadId, part.partNumber));
  store.db.removeSync(K.uploadKey(uploadId));
}
