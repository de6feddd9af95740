// The worked examples of AWS's "Signature Calculations for the Authorization Header" and
// "Authenticating Requests: Using Query Parameters" pages, with their published signatures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authenticate } from '../../src/auth/authenticate.ts';
import { canonicalHeaders, canonicalQuery, parseQuery, uriEncode } from '../../src/auth/sigv4.ts';
import { S3AuthError } from '../../src/auth/types.ts';
import {
  authorization,
  drain,
  emptySha256,
  exampleOptions,
  fakeRequest,
  inPieces,
  urlOf,
} from './fake-request.ts';

const host = ['Host', 'examplebucket.s3.amazonaws.com'] as const;
const amzDate = ['x-amz-date', '20130524T000000Z'] as const;
const emptyPayload = ['x-amz-content-sha256', emptySha256] as const;
const listSigned = 'host;x-amz-content-sha256;x-amz-date';

function isS3Error(code: string) {
  return (e: unknown) => e instanceof S3AuthError && e.s3Code === code;
}

test('GET Object with Range: documented signature f0e8bdb8... verifies', async () => {
  const request = fakeRequest('GET', '/test.txt', [
    host,
    [
      'Authorization',
      authorization(
        'host;range;x-amz-content-sha256;x-amz-date',
        'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      ),
    ],
    ['Range', 'bytes=0-9'],
    emptyPayload,
    amzDate,
  ]);
  const result = authenticate(request, urlOf(request), exampleOptions());
  assert.deepEqual(result.principal, {
    user: 'example',
    accessKey: 'AKIAIOSFODNN7EXAMPLE',
    admin: false,
  });
  assert.equal((await drain(result.body(inPieces(Buffer.alloc(0), [])))).length, 0);
});

test('GET Object: a changed Range header no longer matches the signature', () => {
  const request = fakeRequest('GET', '/test.txt', [
    host,
    [
      'Authorization',
      authorization(
        'host;range;x-amz-content-sha256;x-amz-date',
        'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      ),
    ],
    ['Range', 'bytes=0-10'],
    emptyPayload,
    amzDate,
  ]);
  assert.throws(
    () => authenticate(request, urlOf(request), exampleOptions()),
    isS3Error('SignatureDoesNotMatch'),
  );
});

test('PUT Object test$file.text: signature 98ad7217... and payload hash verify', async () => {
  const payload = Buffer.from('Welcome to Amazon S3.');
  const request = fakeRequest('PUT', '/test$file.text', [
    host,
    ['Date', 'Fri, 24 May 2013 00:00:00 GMT'],
    [
      'Authorization',
      authorization(
        'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
        '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
      ),
    ],
    amzDate,
    ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
    ['x-amz-content-sha256', '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072'],
    ['Content-Length', String(payload.length)],
  ]);
  const result = authenticate(request, urlOf(request), exampleOptions());
  assert.equal(result.decodedContentLength, payload.length);
  const body = await drain(result.body(inPieces(payload, [1, 7, 3])));
  assert.deepEqual(body, payload);
});

test('PUT Object: the same request with "%24" in the path signs alike (S3 encodes once)', () => {
  const request = fakeRequest('PUT', '/test%24file.text', [
    host,
    ['Date', 'Fri, 24 May 2013 00:00:00 GMT'],
    [
      'Authorization',
      authorization(
        'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
        '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
      ),
    ],
    amzDate,
    ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
    ['x-amz-content-sha256', '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072'],
  ]);
  assert.doesNotThrow(() => authenticate(request, urlOf(request), exampleOptions()));
});

test('PUT Object: another body than the signed one is XAmzContentSHA256Mismatch', async () => {
  const request = fakeRequest('PUT', '/test$file.text', [
    host,
    ['Date', 'Fri, 24 May 2013 00:00:00 GMT'],
    [
      'Authorization',
      authorization(
        'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
        '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
      ),
    ],
    amzDate,
    ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
    ['x-amz-content-sha256', '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072'],
  ]);
  const result = authenticate(request, urlOf(request), exampleOptions());
  const forged = Buffer.from('Welcome to Amazon S4.');
  await assert.rejects(
    drain(result.body(inPieces(forged, [5]))),
    isS3Error('XAmzContentSHA256Mismatch'),
  );
});

test('GET Bucket Lifecycle: documented signature fea454ca... verifies', () => {
  const request = fakeRequest('GET', '/?lifecycle', [
    host,
    [
      'Authorization',
      authorization(listSigned, 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
    ],
    amzDate,
    emptyPayload,
  ]);
  assert.ok(authenticate(request, urlOf(request), exampleOptions()).principal);
});

test('GET Bucket (List Objects): documented signature 34b48302... verifies', () => {
  const request = fakeRequest('GET', '/?max-keys=2&prefix=J', [
    host,
    [
      'Authorization',
      authorization(listSigned, '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
    ],
    amzDate,
    emptyPayload,
  ]);
  assert.ok(authenticate(request, urlOf(request), exampleOptions()).principal);
  // Query parameter order on the wire does not matter: the canonical query is sorted.
  const reordered = fakeRequest('GET', '/?prefix=J&max-keys=2', [
    host,
    [
      'Authorization',
      authorization(listSigned, '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
    ],
    amzDate,
    emptyPayload,
  ]);
  assert.ok(authenticate(reordered, urlOf(reordered), exampleOptions()).principal);
});

const presignedQuery =
  'X-Amz-Algorithm=AWS4-HMAC-SHA256' +
  '&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
  '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
  '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';

test('presigned GET: documented URL signature aeeed9bb... verifies within its 86400 s', () => {
  const request = fakeRequest('GET', `/test.txt?${presignedQuery}`, [host]);
  const result = authenticate(request, urlOf(request), exampleOptions());
  assert.equal(result.principal?.accessKey, 'AKIAIOSFODNN7EXAMPLE');
  const lastSecond = exampleOptions({ nowMs: () => Date.UTC(2013, 4, 25, 0, 0, 0) });
  assert.ok(authenticate(request, urlOf(request), lastSecond).principal);
});

test('presigned GET: one second after X-Amz-Expires is AccessDenied "Request has expired"', () => {
  const request = fakeRequest('GET', `/test.txt?${presignedQuery}`, [host]);
  const late = exampleOptions({ nowMs: () => Date.UTC(2013, 4, 25, 0, 0, 1) });
  assert.throws(
    () => authenticate(request, urlOf(request), late),
    (e: unknown) =>
      e instanceof S3AuthError &&
      e.s3Code === 'AccessDenied' &&
      e.httpStatus === 403 &&
      e.message === 'Request has expired',
  );
});

test('presigned GET: another key in the path does not match the signature', () => {
  const request = fakeRequest('GET', `/test2.txt?${presignedQuery}`, [host]);
  assert.throws(
    () => authenticate(request, urlOf(request), exampleOptions()),
    isS3Error('SignatureDoesNotMatch'),
  );
});

test('UriEncode keeps only A-Z a-z 0-9 - _ . ~ and encodes UTF-8 bytes in upper-case hex', () => {
  assert.equal(
    uriEncode("a-b_c.d~e f!'()*+,;=$/é", false),
    'a-b_c.d~e%20f%21%27%28%29%2A%2B%2C%3B%3D%24%2F%C3%A9',
  );
  assert.equal(uriEncode('dir/file name', true), 'dir/file%20name');
});

test('canonical query sorts by encoded name then value, and a bare name gets "="', () => {
  const params = parseQuery('b=2&a=2&a=1&lifecycle&c=x%20y+z');
  assert.ok(params);
  assert.equal(canonicalQuery(params), 'a=1&a=2&b=2&c=x%20y%2Bz&lifecycle=');
});

test('canonical headers: values trimmed, inner space runs collapsed, repeats joined by ","', () => {
  const raw = ['Host', ' example.com ', 'X-Amz-Meta-A', 'one   two  three', 'x-amz-meta-a', 'four'];
  assert.equal(
    canonicalHeaders(raw, ['host', 'x-amz-meta-a']),
    'host:example.com\nx-amz-meta-a:one two three,four\n',
  );
});
