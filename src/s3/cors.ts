// Cross-origin resource sharing: which of a bucket's CORS rules answers a request, and the
// response headers it earns (AWS, "Elements of a CORS configuration" and "OPTIONS object").
// Pure: the gateway supplies the rules, the request's Origin, method and requested headers.
import assert from 'node:assert';
import type { CorsRule } from '../metadata/cors-rules.ts';

// Vary on every response a CORS configuration shaped, so a cache never serves one origin's
// answer to another.
export const CORS_VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';

// A pattern with at most one '*', which stands for any run of characters (possibly empty).
export function wildcardMatches(pattern: string, value: string): boolean {
  const star = pattern.indexOf('*');
  if (star < 0) return pattern === value;
  assert(pattern.indexOf('*', star + 1) < 0, 'a CORS pattern holds at most one wildcard');
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  return (
    value.length >= prefix.length + suffix.length &&
    value.startsWith(prefix) &&
    value.endsWith(suffix)
  );
}

// Access-Control-Request-Headers as a list of lower-case names.
export function requestedHeaders(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0);
}

export interface CorsRequest {
  origin: string;
  method: string; // the actual method, or Access-Control-Request-Method of a preflight
  headers: string[]; // lower case; empty for an actual request (its headers are not checked)
}

// The first rule that allows the request (AWS evaluates rules in order), or undefined.
export function matchingRule(
  rules: readonly CorsRule[],
  request: CorsRequest,
): CorsRule | undefined {
  return rules.find(
    (rule) =>
      rule.allowedOrigins.some((pattern) => wildcardMatches(pattern, request.origin)) &&
      (rule.allowedMethods as readonly string[]).includes(request.method) &&
      request.headers.every((name) =>
        rule.allowedHeaders.some((pattern) => wildcardMatches(pattern.toLowerCase(), name)),
      ),
  );
}

// The response headers a matched rule gives. A rule whose origin is "*" answers "*" and allows no
// credentials; any other answers with the request's origin and allows them, as AWS does.
export function corsHeaders(
  rule: CorsRule,
  request: CorsRequest,
  preflight: boolean,
): Record<string, string> {
  assert(rule.allowedMethods.length > 0, 'a stored CORS rule allows some method');
  assert(matchingRule([rule], request) === rule, 'headers come only from a rule that matched');
  const anyOrigin = rule.allowedOrigins.includes('*');
  const headers: Record<string, string> = {
    'access-control-allow-origin': anyOrigin ? '*' : request.origin,
    'access-control-allow-methods': rule.allowedMethods.join(', '),
    vary: CORS_VARY,
  };
  if (!anyOrigin) headers['access-control-allow-credentials'] = 'true';
  if (preflight && request.headers.length > 0)
    headers['access-control-allow-headers'] = request.headers.join(', ');
  if (rule.exposeHeaders.length > 0)
    headers['access-control-expose-headers'] = rule.exposeHeaders.join(', ');
  if (rule.maxAgeSeconds !== undefined)
    headers['access-control-max-age'] = String(rule.maxAgeSeconds);
  return headers;
}
