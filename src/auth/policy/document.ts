// Parses and validates a bucket policy (IAM policy grammar, the subset S3 bucket policies use).
// Anything malformed is MalformedPolicy with a message naming what is wrong, as AWS answers;
// an accepted document is normalised (every list an array, condition keys lower case).
import { S3AuthError } from '../types.ts';
import { isValidActionPattern } from './actions.ts';
import { CONDITION_OPERATORS } from './conditions.ts';
import type { ConditionClause, PolicyDocument, PolicyStatement, PrincipalSet } from './types.ts';
import { wildcardMatch } from './wildcard.ts';

export const POLICY_BYTES_MAX = 20 * 1024; // AWS's limit for a bucket policy
const STATEMENTS_MAX = 100;
const STATEMENT_KEYS = new Set([
  'Sid',
  'Effect',
  'Principal',
  'NotPrincipal',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
]);

export interface PolicyContext {
  bucket: string; // every resource must be this bucket or objects in it
  knownUsers: ReadonlySet<string>; // principals must be users Strata knows
}

function malformed(message: string): S3AuthError {
  return new S3AuthError('MalformedPolicy', 400, message);
}

export function parsePolicy(text: string, context: PolicyContext): PolicyDocument {
  if (Buffer.byteLength(text, 'utf8') > POLICY_BYTES_MAX)
    throw new S3AuthError(
      'PolicyTooLarge',
      400,
      `Policy exceeds the maximum allowed document size.`,
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw malformed("Policies must be valid JSON and the first byte must be '{'");
  }
  if (!isObject(json))
    throw malformed("Policies must be valid JSON and the first byte must be '{'");
  for (const key of Object.keys(json)) {
    if (!['Version', 'Id', 'Statement'].includes(key)) throw malformed(`Unknown field ${key}`);
  }
  const version = json.Version ?? '2008-10-17';
  if (version !== '2012-10-17' && version !== '2008-10-17')
    throw malformed(`The policy must contain a valid version string`);
  const raw = json.Statement;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (list.length === 0) throw malformed('Could not parse the policy: Statement is empty!');
  if (list.length > STATEMENTS_MAX) throw malformed(`More than ${STATEMENTS_MAX} statements`);
  const statements = list.map((s) => parseStatement(s, context, version));
  return { version, statements };
}

function parseStatement(raw: unknown, context: PolicyContext, version: string): PolicyStatement {
  if (!isObject(raw)) throw malformed('Statement must be an object');
  for (const key of Object.keys(raw)) {
    if (!STATEMENT_KEYS.has(key)) throw malformed(`Unknown field ${key}`);
  }
  const effect = raw.Effect;
  if (effect !== 'Allow' && effect !== 'Deny') throw malformed(`Invalid effect: ${String(effect)}`);
  const principal = optionalPrincipal(raw.Principal, context);
  const notPrincipal = optionalPrincipal(raw.NotPrincipal, context);
  if ((principal === undefined) === (notPrincipal === undefined))
    throw malformed('Statement must have exactly one of Principal and NotPrincipal');
  const action = optionalStrings(raw.Action, 'Action');
  const notAction = optionalStrings(raw.NotAction, 'NotAction');
  if ((action === undefined) === (notAction === undefined))
    throw malformed('Statement must have exactly one of Action and NotAction');
  for (const a of action ?? notAction ?? []) {
    if (!isValidActionPattern(a)) throw malformed('Policy has invalid action');
  }
  const resource = optionalStrings(raw.Resource, 'Resource');
  const notResource = optionalStrings(raw.NotResource, 'NotResource');
  if ((resource === undefined) === (notResource === undefined))
    throw malformed('Statement must have exactly one of Resource and NotResource');
  for (const r of resource ?? notResource ?? []) checkResource(r, context.bucket, version);
  return {
    sid: typeof raw.Sid === 'string' ? raw.Sid : undefined,
    effect,
    principal,
    notPrincipal,
    action,
    notAction,
    resource,
    notResource,
    conditions: parseConditions(raw.Condition),
  };
}

function optionalStrings(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => typeof v === 'string' && v.length > 0))
    throw malformed(`${field} must be a string or a list of strings`);
  return list as string[];
}

// "*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::<any>:user/alice", "alice"]}, {"CanonicalUser": "alice"}.
function optionalPrincipal(value: unknown, context: PolicyContext): PrincipalSet | undefined {
  if (value === undefined) return undefined;
  if (value === '*') return '*';
  if (!isObject(value)) throw malformed('Invalid principal in policy');
  const names: string[] = [];
  for (const [kind, entry] of Object.entries(value)) {
    if (kind !== 'AWS' && kind !== 'CanonicalUser') throw malformed('Invalid principal in policy');
    for (const item of optionalStrings(entry, 'Principal') ?? []) {
      if (item === '*') return '*';
      const user = userOf(item);
      if (user === undefined || !context.knownUsers.has(user))
        throw malformed('Invalid principal in policy');
      names.push(user);
    }
  }
  if (names.length === 0) throw malformed('Invalid principal in policy');
  return names;
}

function userOf(principal: string): string | undefined {
  const arn = /^arn:aws:iam::[^:]*:user\/(.+)$/.exec(principal);
  if (arn) return arn[1];
  return principal.startsWith('arn:') ? undefined : principal;
}

function checkResource(resource: string, bucket: string, version: string): void {
  const prefix = 'arn:aws:s3:::';
  if (!resource.startsWith(prefix)) throw malformed('Policy has invalid resource');
  const rest =
    version === '2012-10-17'
      ? stripVariables(resource.slice(prefix.length))
      : resource.slice(prefix.length);
  const slash = rest.indexOf('/');
  const bucketPattern = slash < 0 ? rest : rest.slice(0, slash);
  if (!wildcardMatch(bucketPattern, bucket)) throw malformed('Policy has invalid resource');
}

// Policy variables (${aws:username}, ${*}, ...) stand for unknown text when checking a resource.
function stripVariables(text: string): string {
  return text.replace(/\$\{[^}]*\}/g, '*');
}

function parseConditions(value: unknown): ConditionClause[] {
  if (value === undefined) return [];
  if (!isObject(value)) throw malformed('Condition must be an object');
  const clauses: ConditionClause[] = [];
  for (const [rawOperator, block] of Object.entries(value)) {
    let operator = rawOperator;
    let qualifier: ConditionClause['qualifier'];
    const colon = operator.indexOf(':');
    if (colon >= 0) {
      const prefix = operator.slice(0, colon);
      if (prefix !== 'ForAnyValue' && prefix !== 'ForAllValues')
        throw malformed(`Invalid Condition type : ${rawOperator}`);
      qualifier = prefix;
      operator = operator.slice(colon + 1);
    }
    const ifExists = operator.endsWith('IfExists');
    if (ifExists) operator = operator.slice(0, -'IfExists'.length);
    if (!CONDITION_OPERATORS.has(operator))
      throw malformed(`Invalid Condition type : ${rawOperator}`);
    if (!isObject(block)) throw malformed(`Condition ${rawOperator} must be an object`);
    for (const [key, values] of Object.entries(block)) {
      const list = Array.isArray(values) ? values : [values];
      if (
        list.length === 0 ||
        !list.every((v) => ['string', 'number', 'boolean'].includes(typeof v))
      )
        throw malformed(`Condition ${rawOperator} ${key} must have string values`);
      clauses.push({
        operator,
        ifExists,
        qualifier,
        key: key.toLowerCase(),
        values: list.map(String),
      });
    }
  }
  return clauses;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
