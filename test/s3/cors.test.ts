// Bucket CORS against a real server: the configuration through the SDK (and raw bodies for what
// the SDK would refuse to send), AWS's validation codes, preflights answered unauthenticated from
// the rules, and the rule's headers on actual requests, errors included.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketCorsCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { aws, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { sendSigned } from '../helpers/signed-http.ts';
import { has } from '../helpers/tools.ts';

const APP = 'https://app.example.com';
const BUCKET = 'cors-rules';

const RULES = [
  {
    ID: 'app',
    AllowedOrigins: [APP, 'https://*.example.org'],
    AllowedMethods: ['GET', 'PUT', 'HEAD'],
    AllowedHeaders: ['Content-Type', 'x-amz-*'],
    ExposeHeaders: ['ETag', 'x-amz-meta-owner'],
    MaxAgeSeconds: 600,
  },
  { AllowedOrigins: ['*'], AllowedMethods: ['GET'] },
];

// An unsigned request, as a browser's preflight is.
async function plain(server: StrataProcess, method: string, path: string, headers = {}) {
  const response = await fetch(`${server.s3Endpoint}${path}`, { method, headers });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1],
    message: /<Message>([^<]+)<\/Message>/.exec(text)?.[1],
  };
}

const corsXml = (rules: string) => `<CORSConfiguration>${rules}</CORSConfiguration>`;
const rule = (inner: string) => `<CORSRule>${inner}</CORSRule>`;

describe('bucket CORS', () => {
  let server: StrataProcess;
  let s3: S3Client;

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(new CreateBucketCommand({ Bucket: 'cors-none' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'k', Body: 'hello' }));
  });
  after(async () => {
    await server?.stop();
  });

  test('Put, Get and DeleteBucketCors round-trip the rules; none: NoSuchCORSConfiguration', async () => {
    await assert.rejects(s3.send(new GetBucketCorsCommand({ Bucket: BUCKET })), (e) => {
      assert.ok(e instanceof S3ServiceException);
      assert.equal(e.name, 'NoSuchCORSConfiguration');
      assert.equal(e.$metadata.httpStatusCode, 404);
      return true;
    });
    await s3.send(
      new PutBucketCorsCommand({ Bucket: BUCKET, CORSConfiguration: { CORSRules: RULES } }),
    );
    const got = await s3.send(new GetBucketCorsCommand({ Bucket: BUCKET }));
    assert.deepEqual(got.CORSRules, [RULES[0], { AllowedOrigins: ['*'], AllowedMethods: ['GET'] }]);
    await s3.send(new DeleteBucketCorsCommand({ Bucket: BUCKET }));
    await assert.rejects(s3.send(new GetBucketCorsCommand({ Bucket: BUCKET })), {
      name: 'NoSuchCORSConfiguration',
    });
    await s3.send(
      new PutBucketCorsCommand({ Bucket: BUCKET, CORSConfiguration: { CORSRules: RULES } }),
    );
  });

  test('configurations AWS refuses: MalformedXML for structure, InvalidRequest for values', async () => {
    const origin = '<AllowedOrigin>*</AllowedOrigin>';
    const get = '<AllowedMethod>GET</AllowedMethod>';
    const cases: Array<[string, string, string]> = [
      ['<Other/>', 'MalformedXML', 'not a CORSConfiguration'],
      [corsXml(''), 'MalformedXML', 'no rules'],
      [corsXml(rule(get)), 'MalformedXML', 'a rule without an origin'],
      [corsXml(rule(origin)), 'MalformedXML', 'a rule without a method'],
      [corsXml(rule(`${origin}${get}<MaxAgeSeconds>ten</MaxAgeSeconds>`)), 'MalformedXML', 'age'],
      [corsXml(rule(`${origin}<AllowedMethod>PATCH</AllowedMethod>`)), 'InvalidRequest', 'PATCH'],
      [
        corsXml(rule(`<AllowedOrigin>https://*.*.example</AllowedOrigin>${get}`)),
        'InvalidRequest',
        'two wildcards in an origin',
      ],
      [
        corsXml(rule(`${origin}${get}<AllowedHeader>x-*-*</AllowedHeader>`)),
        'InvalidRequest',
        'two wildcards in a header',
      ],
      [corsXml(rule(`<ID>${'i'.repeat(256)}</ID>${origin}${get}`)), 'InvalidRequest', 'long ID'],
      [corsXml(rule(`${origin}${get}`).repeat(101)), 'InvalidRequest', '101 rules'],
    ];
    for (const [body, code, what] of cases) {
      const response = await sendSigned(server, { method: 'PUT', target: '/cors-none?cors', body });
      assert.equal(response.code, code, what);
      assert.equal(response.status, 400, what);
    }
    const hundred = corsXml(rule(`${origin}${get}`).repeat(100));
    const ok = await sendSigned(server, {
      method: 'PUT',
      target: '/cors-none?cors',
      body: hundred,
    });
    assert.equal(ok.status, 200, '100 rules are allowed');
    await sendSigned(server, { method: 'DELETE', target: '/cors-none?cors' });
  });

  test('a preflight a rule allows: its headers, credentials for a named origin', async () => {
    const answer = await plain(server, 'OPTIONS', `/${BUCKET}/k`, {
      origin: APP,
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'Content-Type, X-Amz-Date',
    });
    assert.equal(answer.status, 200);
    const h = answer.headers;
    assert.equal(h.get('access-control-allow-origin'), APP);
    assert.equal(h.get('access-control-allow-methods'), 'GET, PUT, HEAD');
    assert.equal(h.get('access-control-allow-headers'), 'content-type, x-amz-date');
    assert.equal(h.get('access-control-expose-headers'), 'ETag, x-amz-meta-owner');
    assert.equal(h.get('access-control-max-age'), '600');
    assert.equal(h.get('access-control-allow-credentials'), 'true');
    assert.match(h.get('vary') ?? '', /\bOrigin\b/);
    // The wildcard origin of the first rule, and a preflight on the bucket URL.
    const wild = await plain(server, 'OPTIONS', `/${BUCKET}`, {
      origin: 'https://cdn.example.org',
      'access-control-request-method': 'HEAD',
    });
    assert.equal(wild.headers.get('access-control-allow-origin'), 'https://cdn.example.org');
  });

  test('a wildcard origin matches only its own shape; the next rule may still answer', async () => {
    // "https://*.example.org" does not match a host that merely contains it: the "*" rule answers.
    const answer = await plain(server, 'OPTIONS', `/${BUCKET}/k`, {
      origin: 'https://a.example.org.evil',
      'access-control-request-method': 'PUT',
    });
    assert.equal(answer.status, 403, 'PUT is allowed only by the first rule');
    const get = await plain(server, 'OPTIONS', `/${BUCKET}/k`, {
      origin: 'https://a.example.org.evil',
      'access-control-request-method': 'GET',
    });
    assert.equal(get.headers.get('access-control-allow-origin'), '*');
  });

  test('the "*" rule answers any origin with "*" and no credentials', async () => {
    const answer = await plain(server, 'OPTIONS', `/${BUCKET}/k`, {
      origin: 'https://elsewhere.test',
      'access-control-request-method': 'GET',
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('access-control-allow-origin'), '*');
    assert.equal(answer.headers.get('access-control-allow-credentials'), null);
    assert.equal(answer.headers.get('access-control-expose-headers'), null);
  });

  test('a preflight no rule allows, or on a bucket without rules: 403 AccessForbidden', async () => {
    const refused: Array<[Record<string, string>, string]> = [
      [{ origin: 'https://elsewhere.test', 'access-control-request-method': 'PUT' }, 'origin'],
      [{ origin: APP, 'access-control-request-method': 'DELETE' }, 'method'],
      [
        {
          origin: APP,
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'x-custom',
        },
        'header',
      ],
    ];
    for (const [headers, what] of refused) {
      const answer = await plain(server, 'OPTIONS', `/${BUCKET}/k`, headers);
      assert.equal(answer.status, 403, what);
      assert.equal(answer.code, 'AccessForbidden', what);
      assert.match(answer.message ?? '', /^CORSResponse: This CORS request is not allowed/, what);
      assert.equal(answer.headers.get('access-control-allow-origin'), null, what);
    }
    const none = await plain(server, 'OPTIONS', '/cors-none/k', {
      origin: APP,
      'access-control-request-method': 'GET',
    });
    assert.equal(none.status, 403);
    assert.equal(none.code, 'AccessForbidden');
    assert.match(none.message ?? '', /CORS is not enabled for this bucket/);
    const noOrigin = await plain(server, 'OPTIONS', `/${BUCKET}/k`, {
      'access-control-request-method': 'GET',
    });
    assert.equal(noOrigin.status, 400);
    assert.equal(noOrigin.code, 'BadRequest');
    const noBucket = await plain(server, 'OPTIONS', '/cors-missing/k', {
      origin: APP,
      'access-control-request-method': 'GET',
    });
    assert.equal(noBucket.code, 'NoSuchBucket');
  });

  test('actual requests get the matching rule headers, on errors too', async () => {
    const got = await sendSigned(server, {
      method: 'GET',
      target: `/${BUCKET}/k`,
      headers: { origin: APP },
    });
    assert.equal(got.status, 200);
    assert.equal(got.headers['access-control-allow-origin'], APP);
    assert.equal(got.headers['access-control-expose-headers'], 'ETag, x-amz-meta-owner');
    assert.equal(got.headers['access-control-allow-headers'], undefined, 'preflight only');
    const missing = await sendSigned(server, {
      method: 'GET',
      target: `/${BUCKET}/absent`,
      headers: { origin: APP },
    });
    assert.equal(missing.code, 'NoSuchKey');
    assert.equal(missing.headers['access-control-allow-origin'], APP);
    // An unsigned request refused before any handler still carries them.
    const denied = await plain(server, 'GET', `/${BUCKET}/k`, { origin: APP });
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get('access-control-allow-origin'), APP);
    // A method no rule allows for this origin: no CORS headers, the request itself goes on.
    const deleted = await sendSigned(server, {
      method: 'DELETE',
      target: `/${BUCKET}/absent`,
      headers: { origin: APP },
    });
    assert.equal(deleted.status, 204);
    assert.equal(deleted.headers['access-control-allow-origin'], undefined);
    const noRules = await sendSigned(server, {
      method: 'GET',
      target: '/cors-none?list-type=2',
      headers: { origin: APP },
    });
    assert.equal(noRules.status, 200);
    assert.equal(noRules.headers['access-control-allow-origin'], undefined);
  });

  test('awscli: put-, get- and delete-bucket-cors as the browser guide shows them', {
    skip: has('aws') ? false : 'awscli is not installed (.ci/run installs it)',
  }, async () => {
    const dir = tempDir('strata-cors-cli-');
    const file = `${dir}/cors.json`;
    writeFileSync(file, JSON.stringify({ CORSRules: [RULES[0]] }));
    const put = await aws(server, [
      's3api',
      'put-bucket-cors',
      '--bucket',
      'cors-none',
      '--cors-configuration',
      `file://${file}`,
    ]);
    assert.equal(put.code, 0, put.stderr);
    const got = await aws(server, ['s3api', 'get-bucket-cors', '--bucket', 'cors-none']);
    assert.deepEqual(JSON.parse(got.stdout).CORSRules, [RULES[0]]);
    const deleted = await aws(server, ['s3api', 'delete-bucket-cors', '--bucket', 'cors-none']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const none = await aws(server, ['s3api', 'get-bucket-cors', '--bucket', 'cors-none']);
    assert.match(none.stderr, /NoSuchCORSConfiguration/);
    rmSync(dir, { recursive: true, force: true });
  });

  test('?cors on an object, or by POST, is NotImplemented rather than the object or bucket', async () => {
    const onObject = await sendSigned(server, { method: 'GET', target: `/${BUCKET}/k?cors` });
    assert.equal(onObject.status, 501);
    const post = await sendSigned(server, { method: 'POST', target: `/${BUCKET}?cors` });
    assert.equal(post.status, 501);
  });
});
