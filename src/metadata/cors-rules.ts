// A bucket's CORS configuration as the state machine stores it, and the structural rules every
// stored configuration satisfies. The gateway parses and validates the XML first, with AWS's error
// codes (src/s3/handlers/cors.ts); this check runs again inside apply, so no path (another
// gateway, a replayed or hand-made command) can store a configuration that breaks them.
import { fail } from './store.ts';

// AllowedMethod values AWS accepts (PutBucketCors, "CORSRule").
export const CORS_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'] as const;
export type CorsMethod = (typeof CORS_METHODS)[number];

// AWS's limits: 100 rules per configuration, rule ids of 255 characters. Strings are bounded so
// a configuration stays small in the bucket record that every request with an Origin reads.
export const CORS_RULES_MAX = 100;
export const CORS_RULE_ID_CHARS_MAX = 255;
export const CORS_VALUE_CHARS_MAX = 1024;
export const CORS_VALUES_PER_RULE_MAX = 100;

export interface CorsRule {
  id?: string;
  allowedOrigins: string[]; // at most one '*' each
  allowedMethods: CorsMethod[];
  allowedHeaders: string[]; // at most one '*' each, compared case-insensitively
  exposeHeaders: string[];
  maxAgeSeconds?: number;
}

export function isCorsMethod(value: string): value is CorsMethod {
  return (CORS_METHODS as readonly string[]).includes(value);
}

// The number of '*' in a pattern: AWS allows one per origin and per allowed header.
export function wildcardCount(pattern: string): number {
  return pattern.split('*').length - 1;
}

// The stored form of a configuration, or EINVAL naming what is wrong.
export function checkCorsRules(value: unknown): CorsRule[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > CORS_RULES_MAX)
    fail('EINVAL', `a CORS configuration holds 1 to ${CORS_RULES_MAX} rules`);
  return (value as unknown[]).map((rule, index) => checkRule(rule, index));
}

function checkRule(rule: unknown, index: number): CorsRule {
  if (typeof rule !== 'object' || rule === null) fail('EINVAL', `CORS rule ${index}: not a rule`);
  const r = rule as Record<string, unknown>;
  const origins = strings(r.allowedOrigins, `CORS rule ${index} origins`);
  const methods = strings(r.allowedMethods, `CORS rule ${index} methods`);
  if (origins.length === 0 || methods.length === 0)
    fail('EINVAL', `CORS rule ${index} needs an origin and a method`);
  if (!methods.every(isCorsMethod)) fail('EINVAL', `CORS rule ${index}: unsupported method`);
  const headers = strings(r.allowedHeaders ?? [], `CORS rule ${index} headers`);
  if (![...origins, ...headers].every((p) => wildcardCount(p) <= 1))
    fail('EINVAL', `CORS rule ${index}: more than one wildcard in a pattern`);
  const out: CorsRule = {
    allowedOrigins: origins,
    allowedMethods: methods as CorsMethod[],
    allowedHeaders: headers,
    exposeHeaders: strings(r.exposeHeaders ?? [], `CORS rule ${index} expose headers`),
  };
  if (r.id !== undefined) {
    if (typeof r.id !== 'string' || r.id.length > CORS_RULE_ID_CHARS_MAX)
      fail('EINVAL', `CORS rule ${index}: id of at most ${CORS_RULE_ID_CHARS_MAX} characters`);
    out.id = r.id as string;
  }
  if (r.maxAgeSeconds !== undefined) {
    if (!Number.isSafeInteger(r.maxAgeSeconds) || (r.maxAgeSeconds as number) < 0)
      fail('EINVAL', `CORS rule ${index}: MaxAgeSeconds is a non-negative integer`);
    out.maxAgeSeconds = r.maxAgeSeconds as number;
  }
  return out;
}

function strings(value: unknown, what: string): string[] {
  if (
    !Array.isArray(value) ||
    value.length > CORS_VALUES_PER_RULE_MAX ||
    !value.every((v) => typeof v === 'string' && v.length <= CORS_VALUE_CHARS_MAX)
  )
    fail('EINVAL', `${what}: at most ${CORS_VALUES_PER_RULE_MAX} strings`);
  return [...(value as string[])];
}
