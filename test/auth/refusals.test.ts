// How authenticate() refuses requests: each S3 error code and status AWS uses for the case.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { authenticate } from '../../src/auth/authenticate.ts';
import { checksumBase64 } from '../../src/auth/checksums.ts';
import { S3AuthError } from '../../src/auth/types.ts';
import {
  drain,
  emptySha256,
  exampleOptions,
  exampleTimeMs,
  fakeRequest,
  inPieces,
  urlOf,
} from './fake-request.ts';
import { presignQuery, type SignInput, signHeaders } from './sign.ts';

const host: [string, string] = ['Host', 'examplebucket.s3.amazonaws.com'];
const amzDate: [string, string] = ['x-amz-date', '20130524T000000Z'];

function refusal(code: string, status: number, messagePart = '') {
  return (e: unknown) => {
    assert.ok(e instanceof S3AuthError, `not an S3AuthError: ${e}`);
    assert.equal(e.s3Code, code, e.message);
    assert.equal(e.httpStatus, status);
    assert.ok(e.message.includes(messagePart), e.message);
    return true;
  };
}

function signedRequest(overrides: Partial<SignInput> & { extra?: [string, string][] } = {}) {
  const input: SignInput = {
    method: 'GET',
    target: '/photo.jpg',
    headers: [host, amzDate, ['x-amz-content-sha256', emptySha256]],
    payloadHash: emptySha256,
    ...overrides,
  };
  const request = fakeRequest(input.method, input.target, [
    ...signHeaders(input),
    ...(overrides.extra ?? []),
  ]);
  return { request, url: urlOf(request) };
}

function putRequest(payload: Buffer, headers: [string, string][]) {
  const hash = createHash('sha256').update(payload).digest('hex');
  return signedRequest({
    method: 'PUT',
    headers: [host, amzDate, ['x-amz-content-sha256', hash], ...headers],
    payloadHash: hash,
  });
}

test('a request signed by the helper is accepted (the baseline for every refusal below)', () => {
  const { request, url } = signedRequest();
  assert.equal(authenticate(request, url, exampleOptions()).principal?.user, 'example');
});

test('no credentials: AccessDenied 403, or anonymous when allowed', async () => {
  const request = fakeRequest('GET', '/photo.jpg', [host]);
  assert.throws(
    () => authenticate(request, urlOf(request), exampleOptions()),
    refusal('AccessDenied', 403),
  );
  const result = authenticate(request, urlOf(request), exampleOptions({ allowAnonymous: true }));
  assert.equal(result.principal, undefined);
  assert.equal((await drain(result.body(inPieces(Buffer.alloc(0), [])))).length, 0);
});

test('Signature Version 2 is refused with InvalidRequest 400 naming AWS4-HMAC-SHA256', () => {
  const header = fakeRequest('GET', '/photo.jpg', [
    host,
    ['Authorization', 'AWS AKID:c2lnbmF0dXJl'],
  ]);
  assert.throws(
    () => authenticate(header, urlOf(header), exampleOptions()),
    refusal('InvalidRequest', 400, 'AWS4-HMAC-SHA256'),
  );
  const query = fakeRequest('GET', '/photo.jpg?AWSAccessKeyId=AKID&Expires=1&Signature=x', [host]);
  assert.throws(
    () => authenticate(query, urlOf(query), exampleOptions()),
    refusal('InvalidRequest', 400),
  );
});

test('an unknown access key is InvalidAccessKeyId 403', () => {
  const { request, url } = signedRequest({ accessKey: 'AKIDUNKNOWN' });
  assert.throws(
    () => authenticate(request, url, exampleOptions()),
    refusal('InvalidAccessKeyId', 403),
  );
});

test('a wrong secret is SignatureDoesNotMatch 403', () => {
  const { request, url } = signedRequest({ secretKey: 'not-the-secret' });
  assert.throws(
    () => authenticate(request, url, exampleOptions()),
    refusal('SignatureDoesNotMatch', 403),
  );
});

test('a scope in another region is AuthorizationHeaderMalformed 400 naming ours', () => {
  const { request, url } = signedRequest({ region: 'eu-west-1' });
  assert.throws(
    () => authenticate(request, url, exampleOptions()),
    refusal('AuthorizationHeaderMalformed', 400, "expecting 'us-east-1'"),
  );
});

test('a scope date other than X-Amz-Date is AuthorizationHeaderMalformed 400', () => {
  const { request, url } = signedRequest({ scopeDate: '20130523' });
  assert.throws(
    () => authenticate(request, url, exampleOptions()),
    refusal('AuthorizationHeaderMalformed', 400, 'Date is not the same'),
  );
});

test('a request time more than maxClockSkewMs away is RequestTimeTooSkewed 403', () => {
  const { request, url } = signedRequest();
  const skewMs = 15 * 60 * 1000;
  assert.ok(authenticate(request, url, exampleOptions({ nowMs: () => exampleTimeMs + skewMs })));
  for (const nowMs of [exampleTimeMs + skewMs + 1000, exampleTimeMs - skewMs - 1000]) {
    assert.throws(
      () => authenticate(request, url, exampleOptions({ nowMs: () => nowMs })),
      refusal('RequestTimeTooSkewed', 403),
    );
  }
});

test('no X-Amz-Date nor Date is AccessDenied 403', () => {
  const { request, url } = signedRequest({
    headers: [host, ['x-amz-content-sha256', emptySha256]],
    scopeDate: '20130524',
  });
  assert.throws(() => authenticate(request, url, exampleOptions()), refusal('AccessDenied', 403));
});

test('a header signature without x-amz-content-sha256 is InvalidRequest 400', () => {
  const { request, url } = signedRequest({ headers: [host, amzDate] });
  assert.throws(
    () => authenticate(request, url, exampleOptions()),
    refusal('InvalidRequest', 400, 'x-amz-content-sha256'),
  );
});

test('an x-amz-* header left out of SignedHeaders is AccessDenied 403', () => {
  const { request, url } = signedRequest({ extra: [['x-amz-acl', 'public-read']] });
  assert.throws(
    () => authenticate(request, url, exampleOptions()),
    refusal('AccessDenied', 403, 'x-amz-acl'),
  );
});

test('SignedHeaders without host is refused', () => {
  const request = fakeRequest('GET', '/photo.jpg', [
    host,
    amzDate,
    ['x-amz-content-sha256', emptySha256],
    [
      'Authorization',
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        `SignedHeaders=x-amz-content-sha256;x-amz-date, Signature=${'0'.repeat(64)}`,
    ],
  ]);
  assert.throws(
    () => authenticate(request, urlOf(request), exampleOptions()),
    refusal('AccessDenied', 403, 'host'),
  );
});

test('an Authorization header missing a component is AuthorizationHeaderMalformed 400', () => {
  const request = fakeRequest('GET', '/photo.jpg', [
    host,
    amzDate,
    [
      'Authorization',
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;x-amz-date',
    ],
  ]);
  assert.throws(
    () => authenticate(request, urlOf(request), exampleOptions()),
    refusal('AuthorizationHeaderMalformed', 400, 'three components'),
  );
});

test('header and query authentication together is InvalidArgument 400', () => {
  const query = presignQuery('GET', '/photo.jpg', host[1], '20130524T000000Z', 60);
  const { request, url } = signedRequest({ target: `/photo.jpg?${query}` });
  assert.throws(
    () => authenticate(request, url, exampleOptions()),
    refusal('InvalidArgument', 400),
  );
});

test('presigned: X-Amz-Expires above 604800 is AuthorizationQueryParametersError 400', () => {
  const query = presignQuery('GET', '/photo.jpg', host[1], '20130524T000000Z', 604801);
  const request = fakeRequest('GET', `/photo.jpg?${query}`, [host]);
  assert.throws(
    () => authenticate(request, urlOf(request), exampleOptions()),
    refusal('AuthorizationQueryParametersError', 400, '604800'),
  );
  const week = presignQuery('GET', '/photo.jpg', host[1], '20130524T000000Z', 604800);
  const ok = fakeRequest('GET', `/photo.jpg?${week}`, [host]);
  assert.ok(authenticate(ok, urlOf(ok), exampleOptions()).principal);
});

test('presigned: a URL dated in the future beyond the skew is not valid yet', () => {
  const query = presignQuery('GET', '/photo.jpg', host[1], '20130524T010000Z', 60);
  const request = fakeRequest('GET', `/photo.jpg?${query}`, [host]);
  assert.throws(
    () => authenticate(request, urlOf(request), exampleOptions()),
    refusal('AccessDenied', 403, 'not valid yet'),
  );
});

test('Content-MD5 not matching the body is BadDigest; malformed is InvalidDigest', async () => {
  const payload = Buffer.from('hello world');
  const goodMd5 = createHash('md5').update(payload).digest('base64');
  const good = putRequest(payload, [['Content-MD5', goodMd5]]);
  const result = authenticate(good.request, good.url, exampleOptions());
  assert.deepEqual(await drain(result.body(inPieces(payload, [3]))), payload);
  assert.deepEqual(result.checksums, { MD5: goodMd5 });
  const bad = putRequest(payload, [['Content-MD5', checksumBase64('MD5', Buffer.from('x'))]]);
  await assert.rejects(
    drain(authenticate(bad.request, bad.url, exampleOptions()).body(inPieces(payload, []))),
    refusal('BadDigest', 400, 'Content-MD5'),
  );
  const malformed = putRequest(payload, [['Content-MD5', 'abc']]);
  assert.throws(
    () => authenticate(malformed.request, malformed.url, exampleOptions()),
    refusal('InvalidDigest', 400),
  );
});

test('x-amz-checksum-*: a match is recorded, a mismatch is BadDigest naming it', async () => {
  const payload = Buffer.from('checksummed payload');
  for (const [header, algorithm] of [
    ['x-amz-checksum-crc32', 'CRC32'],
    ['x-amz-checksum-crc32c', 'CRC32C'],
    ['x-amz-checksum-sha1', 'SHA1'],
    ['x-amz-checksum-sha256', 'SHA256'],
  ] as const) {
    const value = checksumBase64(algorithm, payload);
    const good = putRequest(payload, [[header, value]]);
    const result = authenticate(good.request, good.url, exampleOptions());
    assert.equal(result.checksums[algorithm], value);
    assert.deepEqual(await drain(result.body(inPieces(payload, [4, 4]))), payload);
    const bad = putRequest(payload, [[header, checksumBase64(algorithm, Buffer.from('other'))]]);
    await assert.rejects(
      drain(authenticate(bad.request, bad.url, exampleOptions()).body(inPieces(payload, []))),
      refusal('BadDigest', 400, algorithm),
    );
  }
});

test('x-amz-checksum-* and Content-MD5 on bodies past a hashing segment: checked on the hashing thread with the payload hash', async () => {
  // 3 MiB and a few bytes, in 64 KiB pieces: the signed payload's SHA-256 and the declared
  // checksum run in one session on a hashing thread (src/common/hash-offload.ts), whose digests
  // come in order; each one wrong on its own is refused as its own error.
  const payload = randomBytes(3 * 1024 * 1024 + 5);
  const pieces = Array.from({ length: 48 }, () => 64 * 1024);
  for (const [header, algorithm] of [
    ['x-amz-checksum-crc32', 'CRC32'],
    ['x-amz-checksum-crc32c', 'CRC32C'],
    ['x-amz-checksum-sha1', 'SHA1'],
    ['x-amz-checksum-sha256', 'SHA256'],
    ['x-amz-checksum-crc64nvme', 'CRC64NVME'],
    ['Content-MD5', 'MD5'],
  ] as const) {
    const value = checksumBase64(algorithm, payload);
    const good = putRequest(payload, [[header, value]]);
    const result = authenticate(good.request, good.url, exampleOptions());
    assert.deepEqual(await drain(result.body(inPieces(payload, pieces))), payload, header);
    const other = checksumBase64(algorithm, payload.subarray(1));
    const bad = putRequest(payload, [[header, other]]);
    await assert.rejects(
      drain(authenticate(bad.request, bad.url, exampleOptions()).body(inPieces(payload, pieces))),
      refusal('BadDigest', 400, header === 'Content-MD5' ? 'Content-MD5' : algorithm),
    );
    // The declared checksum right, the signed payload hash of other bytes.
    const wrongHash = createHash('sha256').update(payload.subarray(1)).digest('hex');
    const unsigned = signedRequest({
      method: 'PUT',
      headers: [host, amzDate, ['x-amz-content-sha256', wrongHash], [header, value]],
      payloadHash: wrongHash,
    });
    const body = authenticate(unsigned.request, unsigned.url, exampleOptions()).body;
    await assert.rejects(
      drain(body(inPieces(payload, pieces))),
      refusal('XAmzContentSHA256Mismatch', 400),
    );
  }
});

test('two different x-amz-checksum-* headers are InvalidRequest 400', () => {
  const payload = Buffer.from('x');
  const { request, url } = putRequest(payload, [
    ['x-amz-checksum-crc32', checksumBase64('CRC32', payload)],
    ['x-amz-checksum-sha1', checksumBase64('SHA1', payload)],
  ]);
  assert.throws(() => authenticate(request, url, exampleOptions()), refusal('InvalidRequest', 400));
});

test('a body shorter or longer than Content-Length is IncompleteBody 400', async () => {
  const payload = Buffer.from('0123456789');
  const { request, url } = signedRequest({
    method: 'PUT',
    headers: [
      host,
      amzDate,
      ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD'],
      ['Content-Length', '10'],
    ],
    payloadHash: 'UNSIGNED-PAYLOAD',
  });
  const result = authenticate(request, url, exampleOptions());
  assert.equal(result.decodedContentLength, 10);
  assert.deepEqual(await drain(result.body(inPieces(payload, [2]))), payload);
  await assert.rejects(
    drain(authenticate(request, url, exampleOptions()).body(inPieces(payload.subarray(0, 9), []))),
    refusal('IncompleteBody', 400),
  );
  await assert.rejects(
    drain(
      authenticate(request, url, exampleOptions()).body(
        inPieces(Buffer.concat([payload, payload]), [5]),
      ),
    ),
    refusal('IncompleteBody', 400),
  );
});
