// The bucket-policy engine on its own: grammar, wildcard matching, condition operators and the
// Deny-over-Allow rule, following AWS's IAM reference.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AccessRequest,
  cannedFromGrants,
  evaluatePolicy,
  parsePolicy,
} from '../../src/auth/policy/index.ts';
import { wildcardMatch } from '../../src/auth/policy/wildcard.ts';

const USERS = new Set(['alice', 'bob']);

function policyOf(...statements: object[]) {
  return parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }), {
    bucket: 'b',
    knownUsers: USERS,
  });
}

function request(overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    principal: 'bob',
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::b/k',
    context: { 'aws:sourceip': ['192.168.1.7'], 'aws:username': ['bob'] },
    ...overrides,
  };
}

const allow = (extra: object = {}) => ({
  Effect: 'Allow',
  Principal: '*',
  Action: 's3:GetObject',
  Resource: 'arn:aws:s3:::b/*',
  ...extra,
});

describe('wildcards', () => {
  test('* matches any run, ? exactly one character', () => {
    assert.ok(wildcardMatch('a*c', 'abbbc'));
    assert.ok(wildcardMatch('a*c', 'ac'));
    assert.ok(wildcardMatch('a?c', 'abc'));
    assert.ok(!wildcardMatch('a?c', 'ac'));
    assert.ok(!wildcardMatch('a*c', 'abcd'));
    assert.ok(wildcardMatch('s3:get*', 's3:GetObject', true));
  });

  test('a pattern of many stars against a long text finishes quickly', () => {
    const pattern = `${'*a'.repeat(40)}b`;
    const text = 'a'.repeat(10_000);
    assert.equal(wildcardMatch(pattern, text), false);
  });
});

describe('evaluation', () => {
  test('an explicit Deny wins over any Allow, in any order', () => {
    const deny = { ...allow(), Effect: 'Deny' };
    assert.equal(evaluatePolicy(policyOf(allow(), deny), request()), 'Deny');
    assert.equal(evaluatePolicy(policyOf(deny, allow()), request()), 'Deny');
    assert.equal(evaluatePolicy(policyOf(allow()), request()), 'Allow');
  });

  test('nothing matching is NoMatch, not Deny', () => {
    assert.equal(evaluatePolicy(policyOf(allow()), request({ action: 's3:PutObject' })), 'NoMatch');
    assert.equal(
      evaluatePolicy(policyOf(allow()), request({ resource: 'arn:aws:s3:::b' })),
      'NoMatch',
    );
  });

  test('principals: users by name or ARN, "*" includes anonymous, NotPrincipal excludes', () => {
    const forAlice = allow({ Principal: { AWS: 'arn:aws:iam::123456789012:user/alice' } });
    assert.equal(evaluatePolicy(policyOf(forAlice), request({ principal: 'alice' })), 'Allow');
    assert.equal(evaluatePolicy(policyOf(forAlice), request({ principal: 'bob' })), 'NoMatch');
    assert.equal(evaluatePolicy(policyOf(allow()), request({ principal: undefined })), 'Allow');
    const notBob = {
      Effect: 'Deny',
      NotPrincipal: { AWS: 'bob' },
      Action: 's3:*',
      Resource: 'arn:aws:s3:::b/*',
    };
    assert.equal(evaluatePolicy(policyOf(notBob), request({ principal: 'alice' })), 'Deny');
    assert.equal(evaluatePolicy(policyOf(notBob), request({ principal: 'bob' })), 'NoMatch');
  });

  test('NotAction and NotResource invert their match', () => {
    const allButDelete = allow({ Action: undefined, NotAction: 's3:DeleteObject' });
    assert.equal(
      evaluatePolicy(policyOf(allButDelete), request({ action: 's3:PutObject' })),
      'Allow',
    );
    assert.equal(
      evaluatePolicy(policyOf(allButDelete), request({ action: 's3:DeleteObject' })),
      'NoMatch',
    );
    const notSecret = allow({ Resource: undefined, NotResource: 'arn:aws:s3:::b/secret/*' });
    assert.equal(
      evaluatePolicy(policyOf(notSecret), request({ resource: 'arn:aws:s3:::b/secret/x' })),
      'NoMatch',
    );
  });

  test('the aws:username policy variable in a resource gives each user a home prefix', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a template
    const home = allow({ Action: 's3:*', Resource: 'arn:aws:s3:::b/home/${aws:username}/*' });
    assert.equal(
      evaluatePolicy(policyOf(home), request({ resource: 'arn:aws:s3:::b/home/bob/x' })),
      'Allow',
    );
    assert.equal(
      evaluatePolicy(policyOf(home), request({ resource: 'arn:aws:s3:::b/home/alice/x' })),
      'NoMatch',
    );
    assert.equal(
      evaluatePolicy(
        policyOf(home),
        request({ principal: undefined, context: {}, resource: 'arn:aws:s3:::b/home//x' }),
      ),
      'NoMatch',
      'an anonymous caller has no user name to substitute',
    );
  });
});

describe('conditions', () => {
  const holds = (condition: object, context: Record<string, string[]>) =>
    evaluatePolicy(policyOf(allow({ Condition: condition })), request({ context })) === 'Allow';

  test('IpAddress and NotIpAddress with IPv4 and IPv6 CIDRs', () => {
    assert.ok(
      holds(
        { IpAddress: { 'aws:SourceIp': '192.168.0.0/16' } },
        { 'aws:sourceip': ['192.168.1.7'] },
      ),
    );
    assert.ok(
      !holds({ IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, { 'aws:sourceip': ['192.168.1.7'] }),
    );
    assert.ok(
      holds(
        { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
        { 'aws:sourceip': ['192.168.1.7'] },
      ),
    );
    assert.ok(
      holds(
        { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '2001:db8::/32'] } },
        { 'aws:sourceip': ['2001:db8::1'] },
      ),
    );
  });

  test('several values are ORed, several keys and operators ANDed', () => {
    const condition = {
      StringEquals: { 's3:prefix': ['a/', 'b/'], 's3:delimiter': '/' },
      NumericLessThanEquals: { 's3:max-keys': '100' },
    };
    const base = { 's3:prefix': ['b/'], 's3:delimiter': ['/'], 's3:max-keys': ['50'] };
    assert.ok(holds(condition, base));
    assert.ok(!holds(condition, { ...base, 's3:prefix': ['c/'] }));
    assert.ok(!holds(condition, { ...base, 's3:delimiter': ['-'] }));
    assert.ok(!holds(condition, { ...base, 's3:max-keys': ['500'] }));
  });

  test('a missing key: plain operators are false, negated ones true, IfExists true, Null decides', () => {
    assert.ok(!holds({ StringEquals: { 's3:prefix': 'a' } }, {}));
    assert.ok(holds({ StringNotEquals: { 's3:prefix': 'a' } }, {}));
    assert.ok(holds({ StringEqualsIfExists: { 's3:prefix': 'a' } }, {}));
    assert.ok(!holds({ StringEqualsIfExists: { 's3:prefix': 'a' } }, { 's3:prefix': ['b'] }));
    assert.ok(holds({ Null: { 's3:prefix': 'true' } }, {}));
    assert.ok(!holds({ Null: { 's3:prefix': 'true' } }, { 's3:prefix': ['x'] }));
    assert.ok(holds({ Null: { 's3:prefix': 'false' } }, { 's3:prefix': ['x'] }));
  });

  test('StringLike, case-insensitive equality, Bool, dates and numbers', () => {
    assert.ok(
      holds({ StringLike: { 'aws:useragent': '*aws-cli*' } }, { 'aws:useragent': ['aws-cli/2.9'] }),
    );
    assert.ok(
      !holds(
        { StringNotLike: { 'aws:useragent': '*aws-cli*' } },
        { 'aws:useragent': ['aws-cli/2.9'] },
      ),
    );
    assert.ok(
      holds(
        { StringEqualsIgnoreCase: { 's3:x-amz-acl': 'PUBLIC-READ' } },
        { 's3:x-amz-acl': ['public-read'] },
      ),
    );
    assert.ok(
      holds({ Bool: { 'aws:SecureTransport': 'false' } }, { 'aws:securetransport': ['false'] }),
    );
    assert.ok(
      !holds({ Bool: { 'aws:SecureTransport': true } }, { 'aws:securetransport': ['false'] }),
    );
    const now = { 'aws:currenttime': ['2026-06-01T00:00:00Z'] };
    assert.ok(holds({ DateLessThan: { 'aws:CurrentTime': '2027-01-01T00:00:00Z' } }, now));
    assert.ok(!holds({ DateGreaterThan: { 'aws:CurrentTime': '2027-01-01T00:00:00Z' } }, now));
    assert.ok(
      holds({ DateGreaterThan: { 'aws:CurrentTime': '1700000000' } }, now),
      'epoch seconds',
    );
    assert.ok(!holds({ NumericLessThan: { 's3:max-keys': 'ten' } }, { 's3:max-keys': ['5'] }));
  });

  test('ForAllValues and ForAnyValue over multi-valued keys', () => {
    const tags = { 's3:requestobjecttagkeys': ['team', 'env'] };
    assert.ok(
      holds(
        { 'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': ['team', 'env', 'x'] } },
        tags,
      ),
    );
    assert.ok(
      !holds({ 'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': ['team'] } }, tags),
    );
    assert.ok(holds({ 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['env'] } }, tags));
    assert.ok(!holds({ 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['y'] } }, tags));
  });
});

describe('grammar', () => {
  const parse = (text: string) => parsePolicy(text, { bucket: 'b', knownUsers: USERS });
  const malformed = (text: string, why: string) =>
    assert.throws(
      () => parse(text),
      (e: { s3Code?: string }) => e.s3Code === 'MalformedPolicy',
      why,
    );

  test('a single statement object and single strings are accepted as lists', () => {
    const doc = parse(JSON.stringify({ Version: '2012-10-17', Statement: allow() }));
    assert.deepEqual(doc.statements[0].action, ['s3:GetObject']);
    assert.deepEqual(doc.statements[0].resource, ['arn:aws:s3:::b/*']);
  });

  test('errors name what is wrong', () => {
    malformed('[]', 'not an object');
    malformed(
      JSON.stringify({ Version: '2012-10-17', Statement: [allow({ Action: 'iam:CreateUser' })] }),
      'non-S3 action',
    );
    malformed(
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [allow({ Resource: 'arn:aws:s3:::other/*' })],
      }),
      'another bucket',
    );
    malformed(
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [allow({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      'service principal',
    );
    malformed(
      JSON.stringify({ Version: '2012-10-17', Statement: [allow({ Extra: 1 })] }),
      'unknown field',
    );
    malformed(
      JSON.stringify({ Version: '2012-10-17', Statement: [allow({ NotAction: 's3:GetObject' })] }),
      'Action and NotAction',
    );
    malformed(JSON.stringify({ Version: '2001-01-01', Statement: [allow()] }), 'version');
    assert.throws(
      () =>
        parse(
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [allow({ Sid: 'x'.repeat(21_000) })],
          }),
        ),
      (e: { s3Code?: string }) => e.s3Code === 'PolicyTooLarge',
    );
  });
});

describe('ACL grants', () => {
  const ALL = 'http://acs.amazonaws.com/groups/global/AllUsers';
  test('grant lists reduce to the canned ACL they equal, or are NotImplemented', () => {
    assert.equal(
      cannedFromGrants([{ id: 'alice', permission: 'FULL_CONTROL' }], 'alice'),
      'private',
    );
    assert.equal(
      cannedFromGrants(
        [
          { id: 'alice', permission: 'FULL_CONTROL' },
          { uri: ALL, permission: 'READ' },
        ],
        'alice',
      ),
      'public-read',
    );
    assert.throws(
      () => cannedFromGrants([{ id: 'bob', permission: 'READ' }], 'alice'),
      (e: { s3Code?: string }) => e.s3Code === 'NotImplemented',
    );
  });
});
