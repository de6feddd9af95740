// POST Object: a browser form upload to the bucket URL (multipart/form-data). The form carries
// its own credentials and a signed policy (src/auth/post-signature.ts, src/s3/post-policy.ts);
// the file part streams into the same object write path as PutObject, bounded by the policy's
// content-length-range, so a file outside it is refused and nothing is stored.
import assert from 'node:assert';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { unauthenticated } from '../../auth/index.ts';
import { verifyPostSignature } from '../../auth/post-signature.ts';
import { s3Bytes } from '../../observability/metrics.ts';
import { authorize, conditionContext } from '../access.ts';
import { objectWriteAcl } from '../acl-request.ts';
import { BODY_IDLE_TIMEOUT_MS_DEFAULT, idleLimitedBody } from '../body-timeout.ts';
import { quoteEtag, type RequestContext, sendEmpty, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { readUploadForm, type UploadForm } from '../form-reader.ts';
import { checkPostPolicy, lengthRange, parsePostPolicy } from '../post-policy.ts';
import { refuseField } from '../request-refusals.ts';
import { parseXml, renderXml } from '../xml.ts';
import { objectMetaFrom } from './object-meta.ts';
import { checkTags } from './tagging.ts';

const OBJECT_SIZE_BYTES_MAX_DEFAULT = 5 * 1024 ** 4;

// Form fields a POST upload honours; any other x-amz-* field is refused (501), not ignored.
const HONOURED_FIELDS = new Set([
  'key',
  'policy',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-signature',
  'x-amz-storage-class', // the classes the request-header rules honour
  'acl',
  'tagging',
  'success_action_redirect',
  'redirect',
  'success_action_status',
  'content-type',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'expires',
]);

export async function postObject(ctx: RequestContext, bucket: string) {
  const type = ctx.req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\s*;/i.test(type))
    throw new S3Error(
      'PreconditionFailed',
      412,
      'Bucket POST must be of the enclosure-type multipart/form-data',
    );
  const idleMs = ctx.options.bodyIdleTimeoutMs ?? BODY_IDLE_TIMEOUT_MS_DEFAULT;
  const form = await readUploadForm(ctx.req, idleLimitedBody(ctx.req, idleMs));
  try {
    const key = await authorizeForm(ctx, bucket, form);
    const result = await store(ctx, bucket, key, form);
    await form.done; // the closing boundary: the whole body is read before the answer
    respond(ctx, bucket, key, form.fields, result);
  } finally {
    // A refused form's file (or the rest of one refused while it streamed) is read and dropped,
    // so the body drains and the parser never waits on a reader that has gone.
    form.file.resume();
  }
}

// Checks the signature, the policy and the fields; sets who the caller is; the object's key.
async function authorizeForm(ctx: RequestContext, bucket: string, form: UploadForm) {
  const fields = form.fields;
  const rawKey = fields.get('key');
  if (rawKey === undefined || rawKey.length === 0)
    throw new S3Error(
      'InvalidArgument',
      400,
      "Bucket POST must contain a field named 'key'.  If it is specified, please check the " +
        'order of the fields.',
    );
  // ${filename} stands for the name of the uploaded file; the policy sees the key it makes.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: AWS's literal placeholder
  const key = rawKey.replaceAll('${filename}', form.filename);
  fields.set('key', key);
  for (const [name, value] of fields) checkField(name, value);
  const credential = verifyPostSignature(fields, ctx.options.auth);
  if (credential !== undefined) {
    const policy = parsePostPolicy(fields.get('policy') as string);
    checkPostPolicy(policy, fields, bucket, Date.now());
  }
  const principal = credential && {
    user: credential.user,
    accessKey: credential.accessKey,
    admin: credential.admin,
  };
  ctx.auth = { ...unauthenticated(), principal };
  ctx.owner = principal?.user ?? 'anonymous';
  ctx.conditions = conditionContext(ctx.req, ctx.url, ctx.auth, Date.now());
  // IAM's s3:authType of a form upload (AWS: REST-HEADER, REST-QUERY-STRING or POST).
  if (principal !== undefined) ctx.conditions['s3:authtype'] = ['POST'];
  await authorize(ctx, { action: 's3:PutObject', bucket, key });
  return key;
}

// x-amz-* fields stand for the request headers of the same name, under the same rules.
function checkField(name: string, value: string): void {
  if (!name.startsWith('x-amz-') && name !== 'content-md5') return;
  refuseField(name, value, 'PostObject');
  if (HONOURED_FIELDS.has(name) || name.startsWith('x-amz-meta-')) return;
  throw new S3Error(
    'NotImplemented',
    501,
    `The form field ${name} is not implemented by Strata for POST uploads yet.`,
  );
}

async function store(ctx: RequestContext, bucket: string, key: string, form: UploadForm) {
  const fields = form.fields;
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of fields) {
    if (name.startsWith('x-amz-meta-') || HONOURED_FIELDS.has(name)) headers[name] = value;
  }
  if (fields.has('acl')) headers['x-amz-acl'] = fields.get('acl');
  delete headers.acl;
  const acl = await objectWriteAcl(ctx, bucket, headers);
  const object = { ...objectMetaFrom({ headers }, acl), tags: tagsFrom(fields.get('tagging')) };
  const policy = fields.has('policy') ? parsePostPolicy(fields.get('policy') as string) : undefined;
  const range = lengthRange(policy) ?? { minBytes: 0, maxBytes: Number.MAX_SAFE_INTEGER };
  const maxBytes = Math.min(
    range.maxBytes,
    ctx.options.maxObjectSizeBytes ?? OBJECT_SIZE_BYTES_MAX_DEFAULT,
  );
  return ctx.client.putObject(bucket, key, boundedFile(form.file, range.minBytes, maxBytes), {
    object,
  });
}

// The <Tagging> document of the tagging field.
function tagsFrom(xml: string | undefined): Record<string, string> | undefined {
  if (xml === undefined) return undefined;
  const parsed = parseXml(xml).Tagging;
  if (!parsed) throw new S3Error('MalformedXML', 400, 'The XML you provided was not well-formed.');
  const list: Array<{ Key?: unknown; Value?: unknown }> = parsed?.TagSet?.Tag ?? [];
  return checkTags(list.map((t) => [String(t.Key ?? ''), String(t.Value ?? '')]));
}

// The file's bytes, failing the write (so nothing is committed) as soon as it grows past
// maxBytes, or when it ends short of minBytes.
async function* boundedFile(
  file: Readable,
  minBytes: number,
  maxBytes: number,
): AsyncIterable<Buffer> {
  assert(0 <= minBytes && minBytes <= maxBytes, `length range ${minBytes}..${maxBytes}`);
  let total = 0;
  // Not destroyed when the write stops early: the handler drains it instead (see postObject).
  for await (const chunk of formPart(file.iterator({ destroyOnReturn: false }))) {
    total += chunk.length;
    if (total > maxBytes)
      throw new S3Error(
        'EntityTooLarge',
        400,
        'Your proposed upload exceeds the maximum allowed size',
      );
    s3Bytes.inc({ direction: 'in' }, chunk.length);
    yield chunk;
  }
  assert(total <= maxBytes, 'nothing past the maximum was handed to the write');
  if (total < minBytes)
    throw new S3Error(
      'EntityTooSmall',
      400,
      'Your proposed upload is smaller than the minimum allowed size',
    );
}

// The file part's chunks; a form that ends inside the file (busboy's "Unexpected end of form")
// is the client's fault, not a server error. A stalled body keeps its own RequestTimeout.
async function* formPart(chunks: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  try {
    yield* chunks;
  } catch (error) {
    if (error instanceof S3Error) throw error;
    throw new S3Error(
      'MalformedPOSTRequest',
      400,
      'The body of your POST request is not well-formed multipart/form-data.',
      String(error),
    );
  }
}

function respond(
  ctx: RequestContext,
  bucket: string,
  key: string,
  fields: ReadonlyMap<string, string>,
  result: { etag: string; versionId?: string },
) {
  const etag = quoteEtag(result.etag);
  const host = ctx.req.headers.host ?? 'localhost';
  const scheme = 'encrypted' in ctx.req.socket ? 'https' : 'http';
  const path = key.split('/').map(encodeURIComponent).join('/');
  const location = `${scheme}://${host}/${encodeURIComponent(bucket)}/${path}`;
  const headers: Record<string, string> = { etag, location };
  if (result.versionId !== undefined) headers['x-amz-version-id'] = result.versionId;
  const redirect = redirectUrl(fields.get('success_action_redirect') ?? fields.get('redirect'));
  if (redirect !== undefined) {
    redirect.searchParams.set('bucket', bucket);
    redirect.searchParams.set('key', key);
    redirect.searchParams.set('etag', etag);
    sendEmpty(ctx, 303, { ...headers, location: redirect.href });
    return;
  }
  const status = fields.get('success_action_status');
  if (status === '201') {
    const xml = renderXml('PostResponse', {
      Location: location,
      Bucket: bucket,
      Key: key,
      ETag: etag,
    });
    sendXml(ctx, 201, xml, headers);
  } else sendEmpty(ctx, status === '200' ? 200 : 204, headers);
}

// An absolute http(s) URL; anything else is not followed, and the status answers instead (AWS).
function redirectUrl(text: string | undefined): URL | undefined {
  if (text === undefined) return undefined;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}
