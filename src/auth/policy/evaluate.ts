// Evaluates a bucket policy against one request: an explicit Deny wins, then any Allow; with
// neither the policy has nothing to say ('NoMatch') and the caller's other rules decide
// (AWS's "Policy evaluation logic", the single-account case).
import assert from 'node:assert';
import { conditionHolds } from './conditions.ts';
import type {
  AccessRequest,
  PolicyDecision,
  PolicyDocument,
  PolicyStatement,
  PrincipalSet,
} from './types.ts';
import { wildcardMatch } from './wildcard.ts';

export function evaluatePolicy(policy: PolicyDocument, request: AccessRequest): PolicyDecision {
  assert.ok(request.action.startsWith('s3:'), 'actions are s3:Name');
  assert.ok(request.resource.startsWith('arn:aws:s3:::'), 'resources are S3 ARNs');
  let allowed = false;
  for (const statement of policy.statements) {
    if (!statementApplies(statement, request, policy.version)) continue;
    if (statement.effect === 'Deny') return 'Deny';
    allowed = true;
  }
  return allowed ? 'Allow' : 'NoMatch';
}

function statementApplies(s: PolicyStatement, r: AccessRequest, version: string): boolean {
  if (s.principal !== undefined && !principalMatches(s.principal, r.principal)) return false;
  if (s.notPrincipal !== undefined && principalMatches(s.notPrincipal, r.principal)) return false;
  const actionMatches = (patterns: string[]) =>
    patterns.some((p) => wildcardMatch(p, r.action, true));
  if (s.action !== undefined && !actionMatches(s.action)) return false;
  if (s.notAction !== undefined && actionMatches(s.notAction)) return false;
  // Policy variables exist only in version 2012-10-17; in 2008-10-17 "${...}" is literal text.
  const resolve =
    version === '2012-10-17' ? (text: string) => substitute(text, r) : (text: string) => text;
  const resourceMatches = (patterns: string[]) =>
    patterns.some((p) => wildcardMatch(resolve(p), r.resource));
  if (s.resource !== undefined && !resourceMatches(s.resource)) return false;
  if (s.notResource !== undefined && resourceMatches(s.notResource)) return false;
  return s.conditions.every((c) => conditionHolds(c, r.context, resolve));
}

function principalMatches(set: PrincipalSet, principal: string | undefined): boolean {
  if (set === '*') return true;
  return principal !== undefined && set.includes(principal);
}

// ${aws:username} and the other keys of the request context; ${*}, ${?} and ${$} stand for the
// characters themselves (here still wildcards: a documented limit). A variable with no value
// makes the pattern match nothing.
function substitute(text: string, r: AccessRequest): string {
  let missing = false;
  const out = text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    if (name === '*' || name === '?' || name === '$') return name;
    const value = r.context[name.toLowerCase()];
    if (value === undefined || value.length !== 1) {
      missing = true;
      return '';
    }
    return value[0];
  });
  // A NUL cannot occur in an ARN or a condition value, so this never matches.
  return missing ? '\u0000' : out;
}
