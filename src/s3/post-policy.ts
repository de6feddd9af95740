// The policy of a browser form upload (S3 POST Object, "Creating a POST policy"): a base64 JSON
// document with an expiration and conditions every form field must satisfy. Pure: the handler
// (handlers/object-post.ts) hands in the fields, the bucket and the time.
import assert from 'node:assert';
import { S3Error } from './errors.ts';

export type PolicyCondition =
  | { kind: 'eq' | 'starts-with'; field: string; value: string } // field: lower case, no '$'
  | { kind: 'content-length-range'; minBytes: number; maxBytes: number };

export interface PostPolicy {
  expirationMs: number;
  conditions: PolicyCondition[];
}

// A policy is a form field, bounded by the form's field size; this bounds the work per form.
const CONDITIONS_MAX = 64;

const invalidPolicy = (why: string) =>
  new S3Error('InvalidPolicyDocument', 400, `Invalid Policy: ${why}`);
const refused = (why: string) =>
  new S3Error('AccessDenied', 403, `Invalid according to Policy: ${why}`);

export function parsePostPolicy(base64: string): PostPolicy {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw invalidPolicy('Invalid Base64 encoding.');
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(base64, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Invalid JSON.');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw invalidPolicy('Invalid JSON.');
  const { expiration, conditions } = document as Record<string, unknown>;
  if (typeof expiration !== 'string') throw invalidPolicy('Policy missing expiration.');
  const expirationMs = Date.parse(expiration);
  if (!Number.isFinite(expirationMs)) throw invalidPolicy("Invalid 'expiration' value.");
  if (!Array.isArray(conditions)) throw invalidPolicy('Policy missing conditions.');
  if (conditions.length > CONDITIONS_MAX)
    throw invalidPolicy(`At most ${CONDITIONS_MAX} conditions.`);
  return { expirationMs, conditions: conditions.flatMap(parseCondition) };
}

function parseCondition(raw: unknown): PolicyCondition[] {
  const text = JSON.stringify(raw);
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    // {"field": "value"}: an exact match (several pairs in one object are several conditions).
    return Object.entries(raw).map(([field, value]) => {
      if (typeof value !== 'string') throw invalidPolicy(`Invalid Condition: ${text}`);
      return { kind: 'eq' as const, field: field.toLowerCase(), value };
    });
  }
  if (!Array.isArray(raw) || raw.length !== 3 || typeof raw[0] !== 'string')
    throw invalidPolicy(`Invalid Condition: ${text}`);
  const operator = raw[0].toLowerCase();
  if (operator === 'content-length-range') {
    const [minBytes, maxBytes] = [Number(raw[1]), Number(raw[2])];
    if (!Number.isSafeInteger(minBytes) || !Number.isSafeInteger(maxBytes) || minBytes < 0)
      throw invalidPolicy(`Invalid content-length-range: ${text}`);
    if (minBytes > maxBytes) throw invalidPolicy(`Invalid content-length-range: ${text}`);
    return [{ kind: 'content-length-range', minBytes, maxBytes }];
  }
  if (operator !== 'eq' && operator !== 'starts-with')
    throw invalidPolicy(`Invalid Condition: unknown operation ${JSON.stringify(raw[0])}.`);
  const [, field, value] = raw;
  if (typeof field !== 'string' || !field.startsWith('$') || typeof value !== 'string')
    throw invalidPolicy(`Invalid Condition: ${text}`);
  return [{ kind: operator, field: field.slice(1).toLowerCase(), value }];
}

// Fields that need no condition (AWS: the signature, the file, the policy, x-ignore-*).
function exempt(field: string): boolean {
  return (
    field === 'x-amz-signature' ||
    field === 'file' ||
    field === 'policy' ||
    field.startsWith('x-ignore-')
  );
}

function satisfies(condition: PolicyCondition, value: string | undefined): boolean {
  assert(condition.kind !== 'content-length-range', 'length is checked while the file streams');
  if (value === undefined) return false;
  if (condition.kind === 'eq') return value === condition.value;
  // Content-Type may list several types; each must match (AWS, "Condition matching").
  if (condition.field === 'content-type')
    return value.split(',').every((part) => part.trim().startsWith(condition.value));
  return value.startsWith(condition.value);
}

// Throws AccessDenied unless the form, as submitted to `bucket` at `nowMs`, satisfies the policy:
// not expired, every condition met, and every field named by some condition.
export function checkPostPolicy(
  policy: PostPolicy,
  fields: ReadonlyMap<string, string>,
  bucket: string,
  nowMs: number,
): void {
  assert(Number.isFinite(policy.expirationMs), 'a parsed policy has an expiration');
  if (nowMs > policy.expirationMs) throw refused('Policy expired.');
  const named = new Set<string>();
  for (const condition of policy.conditions) {
    if (condition.kind === 'content-length-range') continue;
    named.add(condition.field);
    const value = condition.field === 'bucket' ? bucket : fields.get(condition.field);
    if (!satisfies(condition, value)) {
      const shown = JSON.stringify([condition.kind, `$${condition.field}`, condition.value]);
      throw refused(`Policy Condition failed: ${shown}`);
    }
  }
  for (const field of fields.keys())
    if (!exempt(field) && !named.has(field)) throw refused(`Extra input fields: ${field}`);
}

// The content-length-range of the policy: the tightest bounds when it states several.
export function lengthRange(
  policy: PostPolicy | undefined,
): { minBytes: number; maxBytes: number } | undefined {
  let range: { minBytes: number; maxBytes: number } | undefined;
  for (const condition of policy?.conditions ?? []) {
    if (condition.kind !== 'content-length-range') continue;
    range = {
      minBytes: Math.max(range?.minBytes ?? 0, condition.minBytes),
      maxBytes: Math.min(range?.maxBytes ?? Number.MAX_SAFE_INTEGER, condition.maxBytes),
    };
  }
  return range;
}
