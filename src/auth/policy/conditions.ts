// IAM condition operators over the request's context keys. Semantics follow AWS's reference
// ("IAM JSON policy elements: Condition operators"): several values of one key are ORed; a
// negated operator holds when no value matches; a key missing from the request makes a plain
// operator false and a negated one true, unless ...IfExists (then true) or Null decides.
import { BlockList, isIP } from 'node:net';
import type { ConditionClause } from './types.ts';
import { wildcardMatch } from './wildcard.ts';

type Matcher = (requestValue: string, policyValue: string) => boolean;

const MATCHERS: Record<string, { match: Matcher; negated: boolean }> = {
  StringEquals: { match: (a, b) => a === b, negated: false },
  StringNotEquals: { match: (a, b) => a === b, negated: true },
  StringEqualsIgnoreCase: { match: (a, b) => a.toLowerCase() === b.toLowerCase(), negated: false },
  StringNotEqualsIgnoreCase: {
    match: (a, b) => a.toLowerCase() === b.toLowerCase(),
    negated: true,
  },
  StringLike: { match: (a, b) => wildcardMatch(b, a), negated: false },
  StringNotLike: { match: (a, b) => wildcardMatch(b, a), negated: true },
  NumericEquals: { match: numeric((a, b) => a === b), negated: false },
  NumericNotEquals: { match: numeric((a, b) => a === b), negated: true },
  NumericLessThan: { match: numeric((a, b) => a < b), negated: false },
  NumericLessThanEquals: { match: numeric((a, b) => a <= b), negated: false },
  NumericGreaterThan: { match: numeric((a, b) => a > b), negated: false },
  NumericGreaterThanEquals: { match: numeric((a, b) => a >= b), negated: false },
  DateEquals: { match: date((a, b) => a === b), negated: false },
  DateNotEquals: { match: date((a, b) => a === b), negated: true },
  DateLessThan: { match: date((a, b) => a < b), negated: false },
  DateLessThanEquals: { match: date((a, b) => a <= b), negated: false },
  DateGreaterThan: { match: date((a, b) => a > b), negated: false },
  DateGreaterThanEquals: { match: date((a, b) => a >= b), negated: false },
  Bool: { match: (a, b) => a.toLowerCase() === b.toLowerCase(), negated: false },
  IpAddress: { match: ipInRange, negated: false },
  NotIpAddress: { match: ipInRange, negated: true },
  ArnEquals: { match: (a, b) => a === b, negated: false },
  ArnNotEquals: { match: (a, b) => a === b, negated: true },
  ArnLike: { match: (a, b) => wildcardMatch(b, a), negated: false },
  ArnNotLike: { match: (a, b) => wildcardMatch(b, a), negated: true },
};

export const CONDITION_OPERATORS: ReadonlySet<string> = new Set([...Object.keys(MATCHERS), 'Null']);

function numeric(compare: (a: number, b: number) => boolean): Matcher {
  return (a, b) => {
    const x = Number(a);
    const y = Number(b);
    return Number.isFinite(x) && Number.isFinite(y) && compare(x, y);
  };
}

// Dates are ISO 8601 or epoch seconds, on either side.
function date(compare: (a: number, b: number) => boolean): Matcher {
  return (a, b) => {
    const x = toEpochMs(a);
    const y = toEpochMs(b);
    return x !== undefined && y !== undefined && compare(x, y);
  };
}

function toEpochMs(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function ipInRange(address: string, cidr: string): boolean {
  const plain =
    address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(plain);
  if (family === 0) return false;
  const [network, bits] = cidr.split('/');
  const networkFamily = isIP(network);
  if (networkFamily !== family) return false;
  const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(network, prefix, type);
  return list.check(plain, type);
}

export function conditionHolds(
  clause: ConditionClause,
  context: Record<string, string[]>,
  resolve: (policyValue: string) => string,
): boolean {
  const present = context[clause.key];
  const policyValues = clause.values.map(resolve);
  if (clause.operator === 'Null') {
    const wantsAbsent = policyValues.some((v) => v.toLowerCase() === 'true');
    const absent = present === undefined || present.length === 0;
    return wantsAbsent ? absent : !absent;
  }
  const matcher = MATCHERS[clause.operator];
  if (matcher === undefined) return false;
  if (present === undefined || present.length === 0) {
    if (clause.ifExists) return true;
    // ForAllValues over an empty set holds vacuously, as AWS documents.
    if (clause.qualifier === 'ForAllValues') return true;
    return matcher.negated;
  }
  const valueMatches = (v: string) => policyValues.some((p) => matcher.match(v, p));
  if (clause.qualifier === 'ForAllValues') {
    return present.every((v) => (matcher.negated ? !valueMatches(v) : valueMatches(v)));
  }
  // Single-valued keys and ForAnyValue: some request value satisfies the operator.
  return present.some((v) => (matcher.negated ? !valueMatches(v) : valueMatches(v)));
}
