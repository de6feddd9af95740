// The pure CORS matcher (src/s3/cors.ts): one wildcard per pattern, rules in order, requested
// headers case-insensitive and every one of them allowed, and the headers a rule answers with.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CorsRule } from '../../src/metadata/cors-rules.ts';
import { corsHeaders, matchingRule, requestedHeaders, wildcardMatches } from '../../src/s3/cors.ts';

const rule = (overrides: Partial<CorsRule>): CorsRule => ({
  allowedOrigins: ['https://app.example.com'],
  allowedMethods: ['GET'],
  allowedHeaders: [],
  exposeHeaders: [],
  ...overrides,
});

test('a pattern holds one wildcard that stands for any run of characters, possibly none', () => {
  assert.equal(wildcardMatches('https://*.example.com', 'https://a.b.example.com'), true);
  assert.equal(wildcardMatches('https://*.example.com', 'https://.example.com'), true);
  assert.equal(wildcardMatches('https://*.example.com', 'https://example.com'), false);
  assert.equal(wildcardMatches('https://*.example.com', 'https://a.example.com.evil'), false);
  assert.equal(wildcardMatches('x-amz-*', 'x-amz-'), true);
  assert.equal(wildcardMatches('*', ''), true);
  assert.equal(wildcardMatches('ab*ba', 'aba'), false, 'prefix and suffix may not overlap');
  assert.equal(wildcardMatches('https://app', 'https://app.evil'), false, 'no wildcard: exact');
  assert.throws(() => wildcardMatches('*.*', 'a.b'), /at most one wildcard/);
});

test('the first rule that allows origin, method and every requested header answers', () => {
  const rules = [
    rule({ allowedMethods: ['PUT'], allowedHeaders: ['Content-Type'] }),
    rule({ allowedMethods: ['PUT', 'GET'], allowedHeaders: ['*'], id: 'second' }),
  ];
  const origin = 'https://app.example.com';
  assert.equal(matchingRule(rules, { origin, method: 'PUT', headers: ['content-type'] }), rules[0]);
  assert.equal(
    matchingRule(rules, { origin, method: 'PUT', headers: ['content-type', 'x-amz-date'] }),
    rules[1],
  );
  assert.equal(matchingRule(rules, { origin, method: 'GET', headers: [] }), rules[1]);
  assert.equal(matchingRule(rules, { origin, method: 'DELETE', headers: [] }), undefined);
  assert.equal(
    matchingRule(rules, { origin: 'https://other.example.com', method: 'GET', headers: [] }),
    undefined,
  );
  assert.deepEqual(requestedHeaders(' X-Amz-Date ,Content-Type,, '), [
    'x-amz-date',
    'content-type',
  ]);
});

test('a named origin gets itself back and credentials; "*" gets "*" and none', () => {
  const request = { origin: 'https://app.example.com', method: 'GET', headers: ['x-a'] };
  const named = corsHeaders(
    rule({ allowedHeaders: ['x-*'], exposeHeaders: ['ETag'], maxAgeSeconds: 0 }),
    request,
    true,
  );
  assert.equal(named['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(named['access-control-allow-credentials'], 'true');
  assert.equal(named['access-control-allow-headers'], 'x-a');
  assert.equal(named['access-control-expose-headers'], 'ETag');
  assert.equal(named['access-control-max-age'], '0');
  const any = corsHeaders(rule({ allowedOrigins: ['*'] }), { ...request, headers: [] }, false);
  assert.equal(any['access-control-allow-origin'], '*');
  assert.equal(any['access-control-allow-credentials'], undefined);
  assert.equal(any['access-control-allow-headers'], undefined, 'only a preflight gets them');
  assert.equal(any['access-control-max-age'], undefined);
  assert.throws(() => corsHeaders(rule({}), request, true), /only from a rule that matched/);
});
