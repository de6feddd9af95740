// How a bucket's owner, policy and ACL combine into one decision, AWS's evaluation order for one
// account: an explicit Deny in the bucket policy wins over everything but an administrator; then
// the owner may do anything; then a policy Allow; then an ACL grant. The gateway
// (src/s3/access.ts) and the metadata leader deciding a mount's or `strata fs`'s calls
// (src/metadata/namespace-access.ts) both decide through this, so a rule holds on every path.
// Pure: what each front end asks of the policy and of the ACLs is its own (the policy evaluator,
// src/auth/policy/evaluate.ts, sits above this layer and is handed in as its decision).

// A bucket policy's say on one request (src/auth/policy/types.ts has the same union).
export type PolicyDecision = 'Allow' | 'Deny' | 'NoMatch';

// One request in the terms a bucket policy is written in.
export interface PolicyRequest {
  user: string; // a Strata user (a mount or CLI session is never anonymous)
  action: string; // 's3:GetObject'
  resource: string; // 'arn:aws:s3:::bucket' or 'arn:aws:s3:::bucket/key'
  context: Record<string, string[]>; // condition keys, lower case
}

// Evaluates the policy stored in a bucket record (its JSON text, as PutBucketPolicy stored it).
// Injected into the metadata service by the composition root (src/cluster/node.ts).
export type BucketPolicyEvaluator = (
  bucket: { name: string; policy?: string },
  request: PolicyRequest,
) => PolicyDecision;

// 'no-grant': neither the owner, the policy nor the bucket's ACL grants it; the caller may still
// ask an object's own ACL (GetObject of an object whose ACL grants READ), else it is refused.
export type AccessVerdict = 'allow' | 'deny' | 'no-grant';

export interface AccessFacts {
  admin: boolean; // administrators may do everything, whatever a policy says (as the gateway)
  owner: boolean;
  policy: PolicyDecision;
  // Whether a policy Allow counts for this caller: RestrictPublicBuckets drops the Allows of a
  // public policy for anonymous callers (src/s3/access.ts).
  policyAllowCounts: boolean;
  bucketAclAllows: () => boolean; // asked only when nothing before it decided
}

export function combineAccess(facts: AccessFacts): AccessVerdict {
  if (facts.admin) return 'allow';
  if (facts.policy === 'Deny') return 'deny';
  if (facts.owner) return 'allow';
  if (facts.policy === 'Allow' && facts.policyAllowCounts) return 'allow';
  if (facts.bucketAclAllows()) return 'allow';
  return 'no-grant';
}
