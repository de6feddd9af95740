import assert from 'node:assert';
import type { LeaseSink, ObjectReadFound } from '../../client/types.ts';
import { dataReadable } from '../../metadata/storage-class.ts';
import type { Inode, ObjectVersion } from '../../metadata/types.ts';
import { restoreReadsRefused, s3Bytes } from '../../observability/metrics.ts';
import { httpDate, quoteEtag, type RequestContext, responseDrained } from '../context.ts';
import { S3Error } from '../errors.ts';
import { expirationHeader } from './lifecycle.ts';
import { lockHeaders } from './object-lock.ts';
import { etagOf, storageClassHeaders } from './object-meta.ts';
import { checksumHeaders } from './object-put.ts';
import { parseRange, type ResolvedRange } from './range.ts';
import { replicationHeaders } from './replication-status.ts';
import { sseHeaders } from './sse.ts';
import { objectReadKey, sseCHeaders } from './sse-c.ts';

const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

function objectHeaders(ctx: RequestContext, inode: Inode): Record<string, string | number> {
  const o = inode.object;
  const headers: Record<string, string | number> = {
    etag: quoteEtag(etagOf(inode)),
    'last-modified': httpDate(inode.mtimeMs),
    'accept-ranges': 'bytes',
    'content-type':
      o?.contentType ?? (inode.type === 'dir' ? 'application/x-directory' : 'binary/octet-stream'),
  };
  if (o?.contentEncoding) headers['content-encoding'] = o.contentEncoding;
  if (o?.contentDisposition) headers['content-disposition'] = o.contentDisposition;
  if (o?.contentLanguage) headers['content-language'] = o.contentLanguage;
  if (o?.cacheControl) headers['cache-control'] = o.cacheControl;
  if (o?.expires) headers.expires = o.expires;
  for (const [name, value] of Object.entries(o?.userMeta ?? {}))
    headers[`x-amz-meta-${name}`] = value;
  if (o?.partSizes) headers['x-amz-mp-parts-count'] = o.partSizes.length;
  if (o?.tags) headers['x-amz-tagging-count'] = Object.keys(o.tags).length;
  Object.assign(headers, sseHeaders(ctx, o));
  for (const [param, name] of Object.entries(RESPONSE_OVERRIDES)) {
    const value = ctx.url.searchParams.get(param);
    if (value !== null) headers[name] = value;
  }
  return headers;
}

// RFC 7232 order, as S3 applies it: If-Match, If-Unmodified-Since, If-None-Match,
// If-Modified-Since.
function checkConditions(
  ctx: RequestContext,
  inode: Inode,
  headers: Record<string, string | number>,
): boolean {
  const h = ctx.req.headers;
  const etag = etagOf(inode);
  const matches = (list: string) =>
    list.split(',').some((t) => t.trim() === '*' || t.trim().replaceAll('"', '') === etag);
  const modifiedSince = (date: string) =>
    Math.floor(inode.mtimeMs / 1000) > Math.floor(Date.parse(date) / 1000);
  if (h['if-match'] !== undefined && !matches(h['if-match'])) {
    throw new S3Error(
      'PreconditionFailed',
      412,
      'At least one of the pre-conditions you specified did not hold',
    );
  }
  const ius = h['if-unmodified-since'];
  if (
    h['if-match'] === undefined &&
    ius !== undefined &&
    !Number.isNaN(Date.parse(ius)) &&
    modifiedSince(ius)
  ) {
    throw new S3Error(
      'PreconditionFailed',
      412,
      'At least one of the pre-conditions you specified did not hold',
    );
  }
  const notModified =
    (h['if-none-match'] !== undefined && matches(h['if-none-match'])) ||
    (h['if-none-match'] === undefined &&
      h['if-modified-since'] !== undefined &&
      !Number.isNaN(Date.parse(h['if-modified-since'])) &&
      !modifiedSince(h['if-modified-since']));
  if (notModified) {
    const { etag: e, 'last-modified': lm } = headers;
    ctx.res.writeHead(304, { etag: String(e), 'last-modified': String(lm) }).end();
    return false;
  }
  return true;
}

function rangeFor(
  ctx: RequestContext,
  inode: Inode,
): { range?: ResolvedRange; partHeaders: Record<string, string | number> } {
  const partParam = ctx.url.searchParams.get('partNumber');
  if (partParam === null)
    return { range: parseRange(ctx.req.headers.range, inode.size), partHeaders: {} };
  const partNumber = Number(partParam);
  const sizes = inode.object?.partSizes ?? [inode.size];
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > sizes.length) {
    throw new S3Error('InvalidPartNumber', 416, 'The requested partnumber is not satisfiable');
  }
  const offset = sizes.slice(0, partNumber - 1).reduce((a, b) => a + b, 0);
  return {
    range: { offset, length: sizes[partNumber - 1] },
    partHeaders: { 'x-amz-mp-parts-count': sizes.length },
  };
}

// The stored checksum of what this response carries: the whole object's (single-part, or a
// multipart upload made with a checksum algorithm), or one part's for ?partNumber=N.
function storedChecksumHeaders(ctx: RequestContext, inode: Inode, whole: boolean) {
  const object = inode.object;
  if (object === undefined) return {};
  const partNumber = Number(ctx.url.searchParams.get('partNumber') ?? 0);
  if (object.partSizes === undefined) {
    if (!whole) return {};
    return { ...checksumHeaders(object.checksums ?? {}), 'x-amz-checksum-type': 'FULL_OBJECT' };
  }
  const algorithm = object.checksumAlgorithm;
  if (algorithm === undefined) return {};
  const type = { 'x-amz-checksum-type': object.checksumType ?? 'COMPOSITE' };
  if (partNumber > 0) {
    const part = object.partChecksums?.[partNumber - 1];
    return part === undefined ? {} : { ...checksumHeaders({ [algorithm]: part }), ...type };
  }
  if (!whole) return {};
  return { ...checksumHeaders(object.checksums ?? {}), ...type };
}

// The version a request names (?versionId=), or the current one. A delete marker has no data:
// current, the key is NoSuchKey; named, the method is not allowed; both say it is a marker.
export async function requestedVersion(
  ctx: RequestContext,
  bucket: string,
  key: string,
): Promise<ObjectVersion & { inode: Inode }> {
  return (await requestedRead(ctx, bucket, key)).version;
}

// requestedVersion with its bucket's record and (dataFrom) the version's first extents: all a
// GET or HEAD needs of the metadata, in one read.
async function requestedRead(
  ctx: RequestContext,
  bucket: string,
  key: string,
  dataFrom?: number,
): Promise<ObjectReadFound & { version: { inode: Inode } }> {
  const versionId = ctx.url.searchParams.get('versionId') ?? undefined;
  const read = await ctx.client.readObject(bucket, key, { versionId, dataFrom });
  const { version } = read;
  if (version.inode !== undefined) return read as ObjectReadFound & { version: { inode: Inode } };
  const headers = { 'x-amz-delete-marker': 'true', 'x-amz-version-id': version.versionId };
  if (versionId === undefined)
    throw new S3Error('NoSuchKey', 404, 'The specified key does not exist.', undefined, headers);
  throw new S3Error(
    'MethodNotAllowed',
    405,
    'The specified method is not allowed against this resource.',
    undefined,
    { ...headers, 'last-modified': httpDate(version.lastModifiedMs) },
  );
}

// x-amz-version-id goes out once a bucket has versioning (as AWS answers).
export function versionHeaders(version: ObjectVersion): Record<string, string> {
  return version.versioned ? { 'x-amz-version-id': version.versionId } : {};
}

export async function getObject(
  ctx: RequestContext,
  bucket: string,
  key: string,
  headOnly: boolean,
) {
  const read = await requestedRead(ctx, bucket, key, headOnly ? undefined : dataFromHint(ctx));
  const { version } = read;
  const inode = version.inode;
  // SSE-C: the key is checked before anything about the object goes out (HEAD reads no data,
  // so the check is here for both).
  const record = inode.object?.sseCustomer;
  const customer = objectReadKey(ctx, record);
  const headers = {
    ...objectHeaders(ctx, inode),
    ...sseCHeaders(record, customer),
    ...versionHeaders(version),
    ...lockHeaders(version),
    ...(version.isLatest ? expirationHeader(ctx, key, inode, read.bucket) : {}),
    ...replicationHeaders(version),
    ...storageClassHeaders(inode, Date.now()),
  };
  // An archived version is read only while restored; HEAD tells its class and restore (AWS).
  if (!headOnly && !dataReadable(inode.object, Date.now())) {
    restoreReadsRefused.inc();
    throw new S3Error(
      'InvalidObjectState',
      403,
      "The operation is not valid for the object's storage class",
    );
  }
  if (!checkConditions(ctx, inode, headers)) return;
  let resolved: ReturnType<typeof rangeFor>;
  try {
    resolved = rangeFor(ctx, inode);
  } catch (error) {
    if (error instanceof S3Error && error.httpStatus === 416)
      ctx.res.setHeader('content-range', `bytes */${inode.size}`);
    throw error;
  }
  const { range, partHeaders } = resolved;
  Object.assign(headers, partHeaders);
  const whole = range === undefined || (range.offset === 0 && range.length === inode.size);
  if (ctx.req.headers['x-amz-checksum-mode'] === 'ENABLED')
    Object.assign(headers, storedChecksumHeaders(ctx, inode, whole));
  const length = range?.length ?? inode.size;
  headers['content-length'] = length;
  if (range)
    headers['content-range'] =
      `bytes ${range.offset}-${range.offset + range.length - 1}/${inode.size}`;
  const status = range ? 206 : 200;
  if (headOnly || length === 0) {
    ctx.res.writeHead(status, headers).end();
    return;
  }
  // The data of the version whose headers went out (a newer PUT may have come meanwhile).
  const readVersion = version.versioned ? version.versionId : undefined;
  const written = new ReleaseOnWrite();
  const { body } = await ctx.client.getObject(bucket, key, range, readVersion, {
    customerKey: customer?.key,
    from: read,
    leases: written.sink,
  });
  await streamBody(ctx, status, headers, body, length, written);
}

// A body's pooled buffers (getObject's leases), each piece given back once the socket has taken
// its last part: writes complete in order, so by then it has taken all of them. Fresh buffers
// for every byte read made a full collection every few tens of MiB of GETs (external memory
// counts towards V8's limits, src/common/heap-tuning.ts). A piece whose write fails, or that is
// never written (the read ended early), is not given back: its buffers are collected as any
// others, since the socket may still hold them.
class ReleaseOnWrite {
  private readonly byLastPart = new Map<Buffer, () => void>();

  readonly sink: LeaseSink = (parts, release) => {
    const last = parts.at(-1);
    assert(last !== undefined, 'a leased read has parts');
    this.byLastPart.set(last, release);
  };

  // The release to run once `part` is written, if it ends a leased piece.
  after(part: Buffer): ((error?: Error | null) => void) | undefined {
    const release = this.byLastPart.get(part);
    if (release === undefined) return undefined;
    this.byLastPart.delete(part);
    return (error) => {
      if (error === undefined || error === null) release();
    };
  }
}

// How much of a body the response may hold unsent before the read waits for it to drain: about
// one read piece (src/client/file-reader.ts), which a read yields in many parts (an encrypted
// stripe's in 64 KiB chunks). Waiting for 'drain' whenever write() says the socket's small mark
// is passed meant an event-loop turn per part.
const RESPONSE_UNSENT_BYTES_MAX = 4 * 1024 * 1024;

// Where the body will start, as far as the request says without the object's size (a suffix
// range or a part starts elsewhere: the reader then asks for the extents it lacks).
function dataFromHint(ctx: RequestContext): number {
  const start = /^bytes=(\d+)-/.exec(ctx.req.headers.range ?? '');
  return start === null ? 0 : Number(start[1]);
}

// Headers go out with the first bytes, so a read that fails before them is still a clean S3
// error; after them, the only honest signal is to cut the connection short. A body that ends
// with more or fewer bytes than Content-Length promised is cut the same way, never sent as is.
async function streamBody(
  ctx: RequestContext,
  status: number,
  headers: Record<string, string | number>,
  body: AsyncIterable<Buffer>,
  lengthBytes: number,
  written: ReleaseOnWrite,
) {
  assert(lengthBytes > 0, 'empty bodies are answered without reading');
  const iterator = body[Symbol.asyncIterator]();
  const first = await iterator.next();
  ctx.res.writeHead(status, headers);
  let sentBytes = 0;
  try {
    for (let step = first; !step.done; step = await iterator.next()) {
      sentBytes += step.value.length;
      if (sentBytes > lengthBytes) break;
      s3Bytes.inc({ direction: 'out' }, step.value.length);
      const release = written.after(step.value);
      const below =
        release === undefined ? ctx.res.write(step.value) : ctx.res.write(step.value, release);
      if (!below && ctx.res.writableLength >= RESPONSE_UNSENT_BYTES_MAX) await responseDrained(ctx);
    }
    if (sentBytes !== lengthBytes) {
      throw new Error(`the object read gave ${sentBytes} bytes where ${lengthBytes} were due`);
    }
    ctx.res.end();
  } catch (error) {
    // A client that hangs up mid-download is routine; a read that fails under it is not.
    const clientGone = ctx.res.socket === null || ctx.res.socket.destroyed;
    const fields = { error, requestId: ctx.requestId, sentBytes, lengthBytes };
    if (clientGone) ctx.log.debug('client closed the connection mid-download', fields);
    else ctx.log.error('object read failed mid-stream; closing the connection', fields);
    iterator.return?.().catch(() => undefined);
    ctx.res.destroy(error as Error);
  }
}
