// A bucket's stored policy evaluated for the metadata leader, which decides the calls of mounts
// and `strata fs` sessions logged in as users (src/metadata/namespace-access.ts). It sits here,
// above the metadata layer, and is handed to the metadata service by the composition root
// (src/cluster/node.ts): the same parser and evaluator as the gateway's, so a policy reads the
// same on every path.
import { parsePolicy } from './document.ts';
import { evaluatePolicy } from './evaluate.ts';
import type { PolicyDecision, PolicyDocument } from './types.ts';

// Parsed documents kept, by bucket; a changed text is parsed again (the text is the key).
const PARSED_ENTRIES_MAX = 1_000;

// Principals are not checked against the users here: the gateway validated the policy when it
// was put, and a user named in it and since removed cannot log in, so such a principal matches
// no one (the gateway parses such a policy the same way, src/s3/access.ts).
const ANY_USER: ReadonlySet<string> = { has: () => true } as unknown as ReadonlySet<string>;

export interface StoredPolicyRequest {
  user: string;
  action: string;
  resource: string;
  context: Record<string, string[]>;
}

export function storedPolicyEvaluator(): (
  bucket: { name: string; policy?: string },
  request: StoredPolicyRequest,
) => PolicyDecision {
  const parsed = new Map<string, { text: string; document: PolicyDocument }>();
  const documentOf = (name: string, text: string): PolicyDocument => {
    const hit = parsed.get(name);
    if (hit !== undefined && hit.text === text) return hit.document;
    // A stored policy that no longer parses is a bug of the state, not a policy that says
    // nothing: the error reaches the caller, which refuses (fails closed).
    const document = parsePolicy(text, { bucket: name, knownUsers: ANY_USER });
    if (parsed.size >= PARSED_ENTRIES_MAX) parsed.clear();
    parsed.set(name, { text, document });
    return document;
  };
  return (bucket, request) => {
    if (bucket.policy === undefined) return 'NoMatch';
    return evaluatePolicy(documentOf(bucket.name, bucket.policy), {
      principal: request.user,
      action: request.action,
      resource: request.resource,
      context: request.context,
    });
  };
}
