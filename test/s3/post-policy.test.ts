// The POST policy (src/s3/post-policy.ts) on its own: parsing (AWS's InvalidPolicyDocument
// cases), conditions against a form's fields, and content-length-range bounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { S3Error } from '../../src/s3/errors.ts';
import { checkPostPolicy, lengthRange, parsePostPolicy } from '../../src/s3/post-policy.ts';

const encode = (document: unknown) => Buffer.from(JSON.stringify(document)).toString('base64');
const NOW = Date.parse('2026-06-01T00:00:00Z');
const LATER = '2026-06-01T01:00:00.000Z';

function refusal(run: () => void): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof S3Error, String(error));
    return `${error.s3Code}: ${error.message}`;
  }
  return 'accepted';
}

test('documents AWS refuses as InvalidPolicyDocument', () => {
  for (const [text, why] of [
    ['not base64!', /Base64/],
    [Buffer.from('{').toString('base64'), /Invalid JSON/],
    [encode([]), /Invalid JSON/],
    [encode({ conditions: [] }), /missing expiration/],
    [encode({ expiration: 'soon', conditions: [] }), /expiration/],
    [encode({ expiration: LATER }), /missing conditions/],
    [encode({ expiration: LATER, conditions: [['matches', '$key', 'a']] }), /unknown operation/],
    [encode({ expiration: LATER, conditions: [['eq', 'key', 'a']] }), /Invalid Condition/],
    [encode({ expiration: LATER, conditions: [['content-length-range', 5, 1]] }), /range/],
    [encode({ expiration: LATER, conditions: [{ key: 1 }] }), /Invalid Condition/],
  ] as const) {
    const result = refusal(() => parsePostPolicy(text));
    assert.match(result, /^InvalidPolicyDocument: Invalid Policy: /, text);
    assert.match(result, why, text);
  }
});

test('conditions: exact, eq, starts-with (each Content-Type of a list), names case-insensitive', () => {
  const policy = parsePostPolicy(
    encode({
      expiration: LATER,
      conditions: [
        { bucket: 'b' },
        ['eq', '$Key', 'uploads/a.txt'],
        ['starts-with', '$Content-Type', 'image/'],
        ['starts-with', '$x-amz-meta-tag', ''],
        ['content-length-range', 0, 10],
      ],
    }),
  );
  const fields = new Map([
    ['key', 'uploads/a.txt'],
    ['content-type', 'image/png, image/jpeg'],
    ['x-amz-meta-tag', 'anything'],
    ['x-amz-signature', 'not named, exempt'],
    ['x-ignore-me', 'exempt'],
  ]);
  assert.equal(
    refusal(() => checkPostPolicy(policy, fields, 'b', NOW)),
    'accepted',
  );
  const withFields = (changes: Array<[string, string]>) => new Map([...fields, ...changes]);
  assert.match(
    refusal(() =>
      checkPostPolicy(policy, withFields([['content-type', 'image/png, text/html']]), 'b', NOW),
    ),
    /AccessDenied: .*Policy Condition failed: \["starts-with","\$content-type","image\/"\]/,
  );
  assert.match(
    refusal(() => checkPostPolicy(policy, fields, 'other', NOW)),
    /\$bucket/,
  );
  assert.match(
    refusal(() => checkPostPolicy(policy, withFields([['acl', 'public-read']]), 'b', NOW)),
    /Extra input fields: acl/,
  );
  const missing = new Map(fields);
  missing.delete('x-amz-meta-tag');
  assert.match(
    refusal(() => checkPostPolicy(policy, missing, 'b', NOW)),
    /x-amz-meta-tag/,
  );
  assert.match(
    refusal(() => checkPostPolicy(policy, fields, 'b', Date.parse(LATER) + 1)),
    /Policy expired/,
  );
});

test('content-length-range: the tightest of the ranges stated; none without one', () => {
  const policy = parsePostPolicy(
    encode({
      expiration: LATER,
      conditions: [
        ['content-length-range', 10, 1000],
        ['content-length-range', '20', '500'],
      ],
    }),
  );
  assert.deepEqual(lengthRange(policy), { minBytes: 20, maxBytes: 500 });
  assert.equal(
    lengthRange(parsePostPolicy(encode({ expiration: LATER, conditions: [] }))),
    undefined,
  );
  assert.equal(lengthRange(undefined), undefined);
});
