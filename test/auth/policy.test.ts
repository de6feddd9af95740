// The bucket-policy engine on its own: grammar, wildcard matching, condition operators and the
// Deny-over-Allow rule, following AWS's IAM reference.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AccessRequest,
  bucketAclAllows,
  evaluatePolicy,
  grantsFromHeaders,
  grantsOfStored,
  isPublicPolicy,
  objectAclAllows,
  parsePolicy,
  storedAcl,
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
  const code = (c: string) => (e: { s3Code?: string }) => e.s3Code === c;
  test('grant headers parse to grants; the stored form is a canned name when one equals them', () => {
    const publicRead = grantsFromHeaders({ 'x-amz-grant-read': `uri="${ALL}"` }, USERS);
    assert.deepEqual(publicRead, [{ grantee: { group: 'AllUsers' }, permission: 'READ' }]);
    assert.equal(storedAcl(publicRead ?? [], 'alice'), 'public-read');
    const owner = grantsFromHeaders({ 'x-amz-grant-full-control': 'id="alice"' }, USERS);
    assert.equal(storedAcl(owner ?? [], 'alice'), null, "the owner's grant is implicit");
    const named = grantsFromHeaders({ 'x-amz-grant-read': 'id="bob", id=alice' }, USERS) ?? [];
    const stored = storedAcl(named, 'alice');
    assert.ok(stored?.startsWith('['), `a grant to bob has no canned form: ${stored}`);
    assert.deepEqual(grantsOfStored(stored ?? undefined), [
      { grantee: { user: 'bob' }, permission: 'READ' },
    ]);
    assert.equal(grantsFromHeaders({}, USERS), undefined, 'no grant headers, no grants');
  });

  test('unknown ids, unknown groups and e-mail grantees are refused', () => {
    assert.throws(
      () => grantsFromHeaders({ 'x-amz-grant-read': 'id="carol"' }, USERS),
      code('InvalidArgument'),
    );
    assert.throws(
      () => grantsFromHeaders({ 'x-amz-grant-read': 'uri="http://example.com/g"' }, USERS),
      code('InvalidArgument'),
    );
    assert.throws(
      () => grantsFromHeaders({ 'x-amz-grant-read': 'emailAddress="a@b.c"' }, USERS),
      code('UnresolvableGrantByEmailAddress'),
    );
  });

  test('each permission allows its actions, for its grantee only', () => {
    const read = [{ grantee: { user: 'bob' }, permission: 'READ' as const }];
    assert.ok(bucketAclAllows(read, 's3:ListBucket', 'bob'));
    assert.ok(!bucketAclAllows(read, 's3:ListBucket', 'alice'));
    assert.ok(!bucketAclAllows(read, 's3:ListBucket', undefined));
    assert.ok(!bucketAclAllows(read, 's3:PutObject', 'bob'));
    assert.ok(objectAclAllows(read, 's3:GetObject', 'bob'));
    assert.ok(!objectAclAllows(read, 's3:GetObjectAcl', 'bob'));
    const full = [
      { grantee: { group: 'AuthenticatedUsers' as const }, permission: 'FULL_CONTROL' as const },
    ];
    assert.ok(bucketAclAllows(full, 's3:PutObject', 'bob'));
    assert.ok(bucketAclAllows(full, 's3:PutBucketAcl', 'bob'));
    assert.ok(!bucketAclAllows(full, 's3:PutObject', undefined), 'anonymous is not authenticated');
    assert.ok(!bucketAclAllows(full, 's3:DeleteBucket', 'bob'), 'no ACL grants DeleteBucket');
    assert.ok(objectAclAllows(full, 's3:PutObjectAcl', 'bob'));
  });
});

describe('public policies (AWS "The meaning of public")', () => {
  test('Principal "*" without a limiting condition is public; named users are not', () => {
    assert.equal(isPublicPolicy(policyOf(allow())), true);
    assert.equal(isPublicPolicy(policyOf(allow({ Principal: { AWS: 'bob' } }))), false);
    assert.equal(
      isPublicPolicy(policyOf(allow({ Effect: 'Deny' }))),
      false,
      'a Deny opens nothing',
    );
  });

  test('a source-IP block or a fixed aws:userid limits it; wildcards and /0 do not', () => {
    const ip = (cidr: string) => allow({ Condition: { IpAddress: { 'aws:SourceIp': cidr } } });
    assert.equal(isPublicPolicy(policyOf(ip('10.0.0.0/8'))), false);
    assert.equal(isPublicPolicy(policyOf(ip('0.0.0.0/0'))), true);
    const userid = (op: string) => allow({ Condition: { [op]: { 'aws:userid': 'bob' } } });
    assert.equal(isPublicPolicy(policyOf(userid('StringEquals'))), false);
    assert.equal(isPublicPolicy(policyOf(userid('StringLike'))), false);
    const like = allow({ Condition: { StringLike: { 'aws:userid': 'b*' } } });
    assert.equal(isPublicPolicy(policyOf(like)), true);
    const agent = allow({ Condition: { StringEquals: { 'aws:UserAgent': 'curl' } } });
    assert.equal(isPublicPolicy(policyOf(agent)), true, 'a user agent names nobody');
  });
});
