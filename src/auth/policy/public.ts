// Whether a bucket policy is public, as AWS defines it ("The meaning of public", S3 User Guide;
// PublicAccessBlockConfiguration in the API reference): a policy is public unless every Allow
// statement either names fixed principals (Strata users) or is limited by a condition on a fixed
// value of one of the keys below, or to CIDR blocks by aws:SourceIp. Deny statements never make a
// policy public. Used by GetBucketPolicyStatus, BlockPublicPolicy and RestrictPublicBuckets.
import type { ConditionClause, PolicyDocument, PolicyStatement } from './types.ts';

// Keys whose fixed value limits a statement to a known party (AWS's list; aws:userid counts only
// outside the role-session pattern "AROLEID:*", which a Strata user name never has).
const LIMITING_KEYS = new Set([
  'aws:sourcearn',
  'aws:sourcevpc',
  'aws:sourcevpce',
  'aws:sourceowner',
  'aws:sourceaccount',
  's3:x-amz-server-side-encryption-aws-kms-key-id',
  'aws:userid',
]);

// Operators that compare with fixed values (the Like ones only with values free of wildcards,
// checked below); a negation (StringNotEquals) leaves the statement open to parties it does not
// name.
const FIXED_OPERATORS = new Set([
  'StringEquals',
  'StringEqualsIgnoreCase',
  'StringLike',
  'ArnEquals',
  'ArnLike',
]);

export function isPublicPolicy(policy: PolicyDocument): boolean {
  return policy.statements.some(isPublicStatement);
}

function isPublicStatement(s: PolicyStatement): boolean {
  if (s.effect !== 'Allow') return false;
  // NotPrincipal with Allow grants everyone not listed: public.
  const openPrincipal = s.notPrincipal !== undefined || s.principal === '*';
  if (!openPrincipal) return false;
  return !s.conditions.some(limitsToKnownParties);
}

function limitsToKnownParties(c: ConditionClause): boolean {
  if (c.ifExists || c.qualifier === 'ForAllValues') return false; // holds when the key is absent
  if (c.key === 'aws:sourceip')
    return c.operator === 'IpAddress' && c.values.length > 0 && c.values.every(isNarrowCidr);
  if (!LIMITING_KEYS.has(c.key) || !FIXED_OPERATORS.has(c.operator)) return false;
  return c.values.length > 0 && c.values.every((v) => !/[*?]/.test(v) && !v.includes('${'));
}

// 0.0.0.0/0 and ::/0 are everyone; any narrower block counts as a limit, as on AWS.
function isNarrowCidr(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return true; // a single address
  return Number(value.slice(slash + 1)) > 0;
}
