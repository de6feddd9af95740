// Put/Get/DeleteBucketCors, the preflight OPTIONS request, and the CORS headers of actual
// requests. The configuration lives in the bucket's replicated record (src/metadata/cors-rules.ts
// holds the rules the state machine enforces); matching is src/s3/cors.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StrataClientApi } from '../../client/types.ts';
import {
  CORS_RULE_ID_CHARS_MAX,
  CORS_RULES_MAX,
  type CorsRule,
  isCorsMethod,
  wildcardCount,
} from '../../metadata/cors-rules.ts';
import type { BucketAccessCache } from '../access.ts';
import { type RequestContext, readSmallBody, sendEmpty, sendXml } from '../context.ts';
import { CORS_VARY, corsHeaders, matchingRule, requestedHeaders } from '../cors.ts';
import { S3Error } from '../errors.ts';
import type { Endpoint } from '../router.ts';
import { parseXml, renderXml } from '../xml.ts';

const malformed = () =>
  new S3Error(
    'MalformedXML',
    400,
    'The XML you provided was not well-formed or did not validate against our published schema.',
  );
const invalid = (message: string) => new S3Error('InvalidRequest', 400, message);

export async function putBucketCors(ctx: RequestContext, bucket: string) {
  const rules = parseCorsXml((await readSmallBody(ctx)).toString('utf8'));
  await ctx.client.setBucketAttr(bucket, 'cors', rules);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 200);
}

export async function getBucketCors(ctx: RequestContext, bucket: string) {
  const rules = (await ctx.client.getBucket(bucket)).cors;
  if (rules === undefined)
    throw new S3Error('NoSuchCORSConfiguration', 404, 'The CORS configuration does not exist');
  sendXml(ctx, 200, renderXml('CORSConfiguration', { CORSRule: rules.map(ruleXml) }));
}

export async function deleteBucketCors(ctx: RequestContext, bucket: string) {
  await ctx.client.setBucketAttr(bucket, 'cors', null);
  ctx.access.forget(bucket);
  sendEmpty(ctx, 204);
}

function ruleXml(rule: CorsRule): Record<string, unknown> {
  return {
    ...(rule.id !== undefined ? { ID: rule.id } : {}),
    ...(rule.allowedHeaders.length > 0 ? { AllowedHeader: rule.allowedHeaders } : {}),
    AllowedMethod: rule.allowedMethods,
    AllowedOrigin: rule.allowedOrigins,
    ...(rule.exposeHeaders.length > 0 ? { ExposeHeader: rule.exposeHeaders } : {}),
    ...(rule.maxAgeSeconds !== undefined ? { MaxAgeSeconds: rule.maxAgeSeconds } : {}),
  };
}

// The CORSConfiguration body as AWS validates it: structure errors are MalformedXML, values it
// refuses are InvalidRequest with AWS's wording.
export function parseCorsXml(text: string): CorsRule[] {
  const config = parseXml(text).CORSConfiguration;
  if (typeof config !== 'object' || config === null) throw malformed();
  const list: unknown[] = config.CORSRule ?? [];
  if (list.length === 0) throw malformed();
  if (list.length > CORS_RULES_MAX)
    throw invalid(
      `The number of CORS rules should not exceed allowed limit of ${CORS_RULES_MAX} rules.`,
    );
  return list.map(parseRule);
}

function texts(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw malformed();
  return value.map((v: string) => v.trim());
}

function parseRule(raw: unknown): CorsRule {
  if (typeof raw !== 'object' || raw === null) throw malformed();
  const r = raw as Record<string, unknown>;
  const allowedOrigins = texts(r.AllowedOrigin);
  const allowedMethods = texts(r.AllowedMethod);
  if (allowedOrigins.length === 0 || allowedMethods.length === 0) throw malformed();
  for (const method of allowedMethods)
    if (!isCorsMethod(method))
      throw invalid(
        `Found unsupported HTTP method in CORS config. Unsupported method is ${method}`,
      );
  for (const origin of allowedOrigins)
    if (wildcardCount(origin) > 1)
      throw invalid(`AllowedOrigin "${origin}" can not have more than one wildcard.`);
  const allowedHeaders = texts(r.AllowedHeader);
  for (const header of allowedHeaders)
    if (wildcardCount(header) > 1)
      throw invalid(`AllowedHeader "${header}" can not have more than one wildcard.`);
  const rule: CorsRule = {
    allowedOrigins,
    allowedMethods: allowedMethods.filter(isCorsMethod),
    allowedHeaders,
    exposeHeaders: texts(r.ExposeHeader),
  };
  if (r.ID !== undefined) {
    if (typeof r.ID !== 'string') throw malformed();
    if (r.ID.length > CORS_RULE_ID_CHARS_MAX)
      throw invalid(`The ID of a CORS rule is at most ${CORS_RULE_ID_CHARS_MAX} characters.`);
    rule.id = r.ID;
  }
  if (r.MaxAgeSeconds !== undefined) {
    const text = typeof r.MaxAgeSeconds === 'string' ? r.MaxAgeSeconds.trim() : '';
    if (!/^\d{1,9}$/.test(text)) throw malformed();
    rule.maxAgeSeconds = Number(text);
  }
  return rule;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

const NOT_ALLOWED =
  'CORSResponse: This CORS request is not allowed. This is usually because the evalution of ' +
  'Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers ' +
  "are not whitelisted by the resource's CORS spec.";

// OPTIONS on a bucket or object URL: answered from the rules alone, without authentication
// (a browser sends no credentials with a preflight), as AWS does.
export async function preflight(ctx: RequestContext, bucket: string) {
  const origin = header(ctx.req, 'origin');
  if (origin === undefined)
    throw new S3Error('BadRequest', 400, 'Insufficient information. Origin request header needed.');
  const method = header(ctx.req, 'access-control-request-method');
  if (method === undefined || !isCorsMethod(method))
    throw new S3Error('BadRequest', 400, `Invalid Access-Control-Request-Method: ${method ?? ''}`);
  const access = await ctx.access.get(ctx, bucket);
  if (access === undefined)
    throw new S3Error('NoSuchBucket', 404, 'The specified bucket does not exist');
  const rules = access.info.cors;
  if (rules === undefined)
    throw new S3Error('AccessForbidden', 403, 'CORSResponse: CORS is not enabled for this bucket.');
  const request = {
    origin,
    method,
    headers: requestedHeaders(header(ctx.req, 'access-control-request-headers')),
  };
  const rule = matchingRule(rules, request);
  if (rule === undefined)
    throw new S3Error('AccessForbidden', 403, NOT_ALLOWED, undefined, { vary: CORS_VARY });
  sendEmpty(ctx, 200, corsHeaders(rule, request, true));
}

// An actual request with an Origin header gets the matching rule's headers, on success and on
// error alike (set before authentication, so a refused request still tells the browser what it
// may read). A failed lookup leaves the response without them: the request itself goes on.
export async function applyCors(
  client: StrataClientApi,
  access: BucketAccessCache,
  req: IncomingMessage,
  res: ServerResponse,
  endpoint: Endpoint,
): Promise<void> {
  const origin = header(req, 'origin');
  if (origin === undefined || !('bucket' in endpoint) || endpoint.kind === 'CorsPreflight') return;
  let rules: CorsRule[] | undefined;
  try {
    rules = (await access.get({ client }, endpoint.bucket))?.info.cors;
  } catch {
    return;
  }
  if (rules === undefined) return;
  res.setHeader('vary', CORS_VARY);
  const request = { origin, method: (req.method ?? 'GET').toUpperCase(), headers: [] };
  const rule = matchingRule(rules, request);
  if (rule === undefined) return;
  for (const [name, value] of Object.entries(corsHeaders(rule, request, false)))
    res.setHeader(name, value);
}
