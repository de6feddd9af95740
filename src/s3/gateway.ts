import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { authenticate, unauthenticated } from '../auth/index.ts';
import { type AuthOptions, type AuthResult, S3AuthError } from '../auth/types.ts';
import { listen } from '../common/listen.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { s3Latency, s3Requests } from '../observability/metrics.ts';
import {
  authorize,
  BucketAccessCache,
  checksFor,
  conditionContext,
  denied,
  knownUsersOf,
} from './access.ts';
import type { RequestContext, S3GatewayOptions } from './context.ts';
import { isInternal, S3Error, toS3Error } from './errors.ts';
import * as acl from './handlers/acl.ts';
import * as bucketOps from './handlers/bucket.ts';
import * as encryption from './handlers/bucket-encryption.ts';
import * as policy from './handlers/bucket-policy.ts';
import * as cors from './handlers/cors.ts';
import * as lifecycle from './handlers/lifecycle.ts';
import { listObjectsV1, listObjectsV2, listObjectVersions } from './handlers/list.ts';
import * as multipart from './handlers/multipart.ts';
import { getObjectAttributes } from './handlers/object-attributes.ts';
import { copyObject } from './handlers/object-copy.ts';
import { deleteObject, deleteObjects } from './handlers/object-delete.ts';
import { getObject } from './handlers/object-get.ts';
import * as lock from './handlers/object-lock.ts';
import { postObject } from './handlers/object-post.ts';
import { putObject } from './handlers/object-put.ts';
import { selectObjectContent } from './handlers/object-select.ts';
import * as ownership from './handlers/ownership-controls.ts';
import * as publicAccess from './handlers/public-access.ts';
import * as replication from './handlers/replication.ts';
import { restoreObject } from './handlers/restore.ts';
import * as tagging from './handlers/tagging.ts';
import * as versioning from './handlers/versioning.ts';
import { refuseUnprovided } from './request-refusals.ts';
import { type Endpoint, route } from './router.ts';
import { readS3Tls, reloadS3Tls } from './tls.ts';
import { renderErrorXml } from './xml.ts';

export interface S3Gateway {
  server: Server;
  scheme: 'http' | 'https';
  // HTTPS only: reads the certificate and key files again (SIGHUP); false when they were bad
  // and the previous ones stay in use.
  reloadTls(): boolean;
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export function createS3Gateway(options: S3GatewayOptions): S3Gateway {
  const log = options.log ?? silentLogger;
  const access = new BucketAccessCache(() => knownUsersOf(options.auth));
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    void handle(options, access, log, req, res);
  };
  const tls = options.tls;
  // A bad certificate or key at start stops the start (readS3Tls throws CONFIG_INVALID).
  const material = tls === undefined ? undefined : readS3Tls(tls);
  const server: Server =
    material === undefined
      ? createHttpServer(onRequest)
      : createHttpsServer({ cert: material.cert, key: material.key }, onRequest);
  // Requests Node's HTTP parser refuses (oversize headers, broken framing) still get an S3 error.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const overflow = error.code === 'HPE_HEADER_OVERFLOW';
    const s3 = overflow
      ? new S3Error(
          'RequestHeaderSectionTooLarge',
          400,
          'Your request header section exceeds the maximum allowed size.',
        )
      : new S3Error('BadRequest', 400, 'The request could not be parsed as HTTP/1.1.');
    const body = renderErrorXml(s3, '/', randomBytes(8).toString('hex').toUpperCase());
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/xml\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  // Large uploads take as long as they take, so no limit on a whole request; a body that stalls
  // fails with RequestTimeout (body-timeout.ts). Headers must arrive within headersTimeout, and
  // idle keep-alive connections are closed after a minute.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 70_000;
  return {
    server,
    scheme: tls === undefined ? 'http' : 'https',
    reloadTls() {
      assert(tls !== undefined, 'reloadTls on a gateway serving plain HTTP');
      return reloadS3Tls(server as HttpsServer, tls, log);
    },
    async listen(host, port) {
      return listen(server, host, port);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  options: S3GatewayOptions,
  access: BucketAccessCache,
  log: Logger,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  res.setHeader('x-amz-request-id', requestId);
  res.setHeader('x-amz-id-2', requestId);
  res.setHeader('server', 'Strata');
  // The scheme the client used (CompleteMultipartUpload's Location names it).
  const url = new URL(
    req.url ?? '/',
    'encrypted' in req.socket ? 'https://localhost' : 'http://localhost',
  );
  let endpoint: Endpoint = { kind: 'NotImplemented', operation: 'unparsed' };
  const stopTimer = s3Latency.startTimer();
  try {
    endpoint = route({
      method: req.method ?? 'GET',
      url,
      rawPath: rawPathOf(req, url),
      host: req.headers.host,
      virtualHostDomains: options.virtualHostDomains,
      headers: req.headers,
    });
    await cors.applyCors(options.client, access, req, res, endpoint);
    // A preflight carries no credentials, and a form upload carries them in its body (checked by
    // its handler): both start anonymous.
    // The copy of the access keys, refreshed first if it is past its trust bound.
    await options.auth.resolver?.refreshIfStale();
    const formOrPreflight = endpoint.kind === 'CorsPreflight' || endpoint.kind === 'PostObject';
    const auth = formOrPreflight
      ? unauthenticated()
      : await authenticateFresh(req, url, options.auth);
    const owner = auth.principal?.user ?? 'anonymous';
    const ctx: RequestContext = {
      req,
      res,
      url,
      requestId,
      auth,
      client: options.client,
      options,
      log,
      owner,
      access,
      conditions: conditionContext(req, url, auth, Date.now()),
    };
    if (endpoint.kind === 'ListBuckets' || endpoint.kind === 'CreateBucket') {
      if (auth.principal === undefined) throw denied();
    }
    for (const check of checksFor(endpoint, url.searchParams.get('versionId')))
      await authorize(ctx, check);
    if (endpoint.kind !== 'CorsPreflight') await refuseUnprovided(ctx, endpoint);
    await dispatch(ctx, endpoint);
  } catch (error) {
    await sendError(log, req, res, url, requestId, error);
  } finally {
    const seconds = stopTimer({ operation: endpoint.kind });
    s3Requests.inc({ operation: endpoint.kind, status: String(res.statusCode) });
    log.debug('s3 request', {
      requestId,
      method: req.method,
      path: url.pathname,
      operation: endpoint.kind,
      status: res.statusCode,
      durationMs: Math.round(seconds * 1000),
    });
  }
}

// An access key the gateway's copy does not know may belong to a user created since its last
// refresh: the copy is refreshed (rate-limited by the resolver) and the request judged again.
async function authenticateFresh(
  req: IncomingMessage,
  url: URL,
  auth: AuthOptions,
): Promise<AuthResult> {
  try {
    return authenticate(req, url, auth);
  } catch (error) {
    const unknownKey = error instanceof S3AuthError && error.s3Code === 'InvalidAccessKeyId';
    if (!unknownKey || auth.resolver === undefined) throw error;
    await auth.resolver.refreshForUnknownKey();
    return authenticate(req, url, auth);
  }
}

function dispatch(ctx: RequestContext, e: Endpoint): Promise<void> {
  switch (e.kind) {
    case 'ListBuckets':
      return bucketOps.listBuckets(ctx);
    case 'CreateBucket':
      return bucketOps.createBucket(ctx, e.bucket);
    case 'HeadBucket':
      return bucketOps.headBucket(ctx, e.bucket);
    case 'DeleteBucket':
      return bucketOps.deleteBucket(ctx, e.bucket);
    case 'GetBucketLocation':
      return bucketOps.getBucketLocation(ctx, e.bucket);
    case 'ListObjects':
      return listObjectsV1(ctx, e.bucket);
    case 'ListObjectsV2':
      return listObjectsV2(ctx, e.bucket);
    case 'ListObjectVersions':
      return listObjectVersions(ctx, e.bucket);
    case 'GetObjectAttributes':
      return getObjectAttributes(ctx, e.bucket, e.key);
    case 'ListMultipartUploads':
      return multipart.listMultipartUploads(ctx, e.bucket);
    case 'DeleteObjects':
      return deleteObjects(ctx, e.bucket);
    case 'PutObject':
      return putObject(ctx, e.bucket, e.key);
    case 'GetObject':
      return getObject(ctx, e.bucket, e.key, false);
    case 'HeadObject':
      return getObject(ctx, e.bucket, e.key, true);
    case 'SelectObjectContent':
      return selectObjectContent(ctx, e.bucket, e.key);
    case 'DeleteObject':
      return deleteObject(ctx, e.bucket, e.key);
    case 'CopyObject':
      return copyObject(ctx, e.bucket, e.key);
    case 'GetObjectTagging':
      return tagging.getObjectTagging(ctx, e.bucket, e.key);
    case 'PutObjectTagging':
      return tagging.putObjectTagging(ctx, e.bucket, e.key);
    case 'DeleteObjectTagging':
      return tagging.deleteObjectTagging(ctx, e.bucket, e.key);
    case 'CreateMultipartUpload':
      return multipart.createMultipartUpload(ctx, e.bucket, e.key);
    case 'UploadPart':
      return multipart.uploadPart(ctx, e.bucket, e.key, e.uploadId, e.partNumber);
    case 'UploadPartCopy':
      return multipart.uploadPartCopy(ctx, e.bucket, e.key, e.uploadId, e.partNumber);
    case 'CompleteMultipartUpload':
      return multipart.completeMultipartUpload(ctx, e.bucket, e.key, e.uploadId);
    case 'AbortMultipartUpload':
      return multipart.abortMultipartUpload(ctx, e.bucket, e.key, e.uploadId);
    case 'ListParts':
      return multipart.listParts(ctx, e.bucket, e.key, e.uploadId);
    case 'GetBucketPolicy':
      return policy.getBucketPolicy(ctx, e.bucket);
    case 'PutBucketPolicy':
      return policy.putBucketPolicy(ctx, e.bucket);
    case 'DeleteBucketPolicy':
      return policy.deleteBucketPolicy(ctx, e.bucket);
    case 'GetBucketTagging':
      return tagging.getBucketTagging(ctx, e.bucket);
    case 'PutBucketTagging':
      return tagging.putBucketTagging(ctx, e.bucket);
    case 'DeleteBucketTagging':
      return tagging.deleteBucketTagging(ctx, e.bucket);
    case 'GetBucketVersioning':
      return versioning.getBucketVersioning(ctx, e.bucket);
    case 'PutBucketVersioning':
      return versioning.putBucketVersioning(ctx, e.bucket);
    case 'GetBucketEncryption':
      return encryption.getBucketEncryption(ctx, e.bucket);
    case 'PutBucketEncryption':
      return encryption.putBucketEncryption(ctx, e.bucket);
    case 'DeleteBucketEncryption':
      return encryption.deleteBucketEncryption(ctx, e.bucket);
    case 'GetBucketLifecycleConfiguration':
      return lifecycle.getBucketLifecycle(ctx, e.bucket);
    case 'PutBucketLifecycleConfiguration':
      return lifecycle.putBucketLifecycle(ctx, e.bucket);
    case 'DeleteBucketLifecycle':
      return lifecycle.deleteBucketLifecycle(ctx, e.bucket);
    case 'GetBucketReplication':
      return replication.getBucketReplication(ctx, e.bucket);
    case 'PutBucketReplication':
      return replication.putBucketReplication(ctx, e.bucket);
    case 'DeleteBucketReplication':
      return replication.deleteBucketReplication(ctx, e.bucket);
    case 'GetObjectLockConfiguration':
      return lock.getObjectLockConfiguration(ctx, e.bucket);
    case 'PutObjectLockConfiguration':
      return lock.putObjectLockConfiguration(ctx, e.bucket);
    case 'RestoreObject':
      return restoreObject(ctx, e.bucket, e.key);
    case 'GetObjectRetention':
      return lock.getObjectRetention(ctx, e.bucket, e.key);
    case 'PutObjectRetention':
      return lock.putObjectRetention(ctx, e.bucket, e.key);
    case 'GetObjectLegalHold':
      return lock.getObjectLegalHold(ctx, e.bucket, e.key);
    case 'PutObjectLegalHold':
      return lock.putObjectLegalHold(ctx, e.bucket, e.key);
    case 'GetBucketAcl':
      return acl.getBucketAcl(ctx, e.bucket);
    case 'PutBucketAcl':
      return acl.putBucketAcl(ctx, e.bucket);
    case 'GetObjectAcl':
      return acl.getObjectAcl(ctx, e.bucket, e.key);
    case 'PutObjectAcl':
      return acl.putObjectAcl(ctx, e.bucket, e.key);
    case 'GetBucketCors':
      return cors.getBucketCors(ctx, e.bucket);
    case 'PutBucketCors':
      return cors.putBucketCors(ctx, e.bucket);
    case 'DeleteBucketCors':
      return cors.deleteBucketCors(ctx, e.bucket);
    case 'CorsPreflight':
      return cors.preflight(ctx, e.bucket);
    case 'PostObject':
      return postObject(ctx, e.bucket);
    case 'GetBucketPolicyStatus':
      return publicAccess.getBucketPolicyStatus(ctx, e.bucket);
    case 'GetPublicAccessBlock':
      return publicAccess.getPublicAccessBlock(ctx, e.bucket);
    case 'PutPublicAccessBlock':
      return publicAccess.putPublicAccessBlock(ctx, e.bucket);
    case 'DeletePublicAccessBlock':
      return publicAccess.deletePublicAccessBlock(ctx, e.bucket);
    case 'GetBucketOwnershipControls':
      return ownership.getBucketOwnershipControls(ctx, e.bucket);
    case 'PutBucketOwnershipControls':
      return ownership.putBucketOwnershipControls(ctx, e.bucket);
    case 'DeleteBucketOwnershipControls':
      return ownership.deleteBucketOwnershipControls(ctx, e.bucket);
    case 'NotImplemented':
      throw new S3Error('NotImplemented', 501, `${e.operation} is not implemented by Strata yet`);
  }
}

async function sendError(
  log: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  requestId: string,
  error: unknown,
) {
  const s3 = toS3Error(error);
  if (isInternal(s3))
    log.warn('s3 request failed', { requestId, method: req.method, path: url.pathname, error });
  else if (s3.detail !== undefined)
    log.info('s3 request refused', { requestId, code: s3.s3Code, detail: s3.detail });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A body we did not read would be parsed as the next request. A small one is read and dropped
  // before the answer, so the client, still sending, gets the answer instead of a reset
  // connection (answered first, a client that asked `connection: close`, as the AWS SDK does
  // with `expect: 100-continue`, could meet the closed socket while it still wrote: the SDK's
  // TimeoutError, seen in CI); a large or unsized one is not worth reading: the connection
  // closes instead. A stalled body (RequestTimeout) is never waited for again.
  let drain =
    declaredBodyBytes(req) <= DRAIN_REFUSED_BODY_BYTES_MAX && s3.s3Code !== 'RequestTimeout';
  if (!req.complete && drain) drain = await bodyDropped(req);
  if (!req.complete && !drain) res.setHeader('connection', 'close');
  for (const [name, value] of Object.entries(s3.headers)) res.setHeader(name, value);
  if (req.method === 'HEAD' || s3.httpStatus === 304) {
    res.writeHead(s3.httpStatus, { 'content-length': 0, 'x-amz-error-code': s3.s3Code }).end();
  } else {
    const body = Buffer.from(renderErrorXml(s3, url.pathname, requestId), 'utf8');
    res
      .writeHead(s3.httpStatus, {
        'content-type': 'application/xml',
        'content-length': body.length,
      })
      .end(body);
  }
  if (!req.complete) req.resume();
}

// A refused request's body up to this size is read and dropped rather than cut off (S3 clients
// send a whole part, up to a few tens of MiB, before they read the answer).
const DRAIN_REFUSED_BODY_BYTES_MAX = 16 * 1024 * 1024;
const DRAIN_REFUSED_BODY_MS_MAX = 10_000;

// Reads and drops the rest of a refused request's body: true once it is all read, false when it
// failed or took longer than DRAIN_REFUSED_BODY_MS_MAX (the connection is then closed).
function bodyDropped(req: IncomingMessage): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (read: boolean) => {
      clearTimeout(timer);
      req.off('end', ended).off('error', failed).off('close', failed);
      resolve(read);
    };
    const ended = () => done(true);
    const failed = () => done(req.complete);
    const timer = setTimeout(() => done(false), DRAIN_REFUSED_BODY_MS_MAX);
    req.once('end', ended).once('error', failed).once('close', failed);
    req.resume();
  });
}

function declaredBodyBytes(req: IncomingMessage): number {
  const length = Number(req.headers['content-length']);
  return req.headers['transfer-encoding'] === undefined && Number.isSafeInteger(length)
    ? length
    : Number.POSITIVE_INFINITY;
}

function rawPathOf(req: IncomingMessage, url: URL): string {
  const raw = req.url ?? '/';
  if (!raw.startsWith('/')) return url.pathname; // absolute-form request target
  const query = raw.indexOf('?');
  return query < 0 ? raw : raw.slice(0, query);
}
