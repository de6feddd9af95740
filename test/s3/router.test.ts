import assert from 'node:assert/strict';
import { test } from 'node:test';
import { S3Error } from '../../src/s3/errors.ts';
import { type Endpoint, route } from '../../src/s3/router.ts';

function routeOf(
  method: string,
  target: string,
  host = '127.0.0.1:9002',
  headers: Record<string, string> = {},
): Endpoint {
  const url = new URL(target, 'http://localhost');
  const rawPath = target.split('?')[0];
  return route({
    method,
    url,
    rawPath,
    host,
    virtualHostDomains: ['localhost', 's3.example.com'],
    headers,
  });
}

test('path-style requests map to typed endpoints', () => {
  const cases: Array<[string, string, Partial<Endpoint> & { kind: Endpoint['kind'] }]> = [
    ['GET', '/', { kind: 'ListBuckets' }],
    ['PUT', '/b', { kind: 'CreateBucket', bucket: 'b' }],
    ['HEAD', '/b', { kind: 'HeadBucket', bucket: 'b' }],
    ['DELETE', '/b/', { kind: 'DeleteBucket', bucket: 'b' }],
    ['GET', '/b?location', { kind: 'GetBucketLocation', bucket: 'b' }],
    ['GET', '/b?list-type=2&prefix=a', { kind: 'ListObjectsV2', bucket: 'b' }],
    ['GET', '/b', { kind: 'ListObjects', bucket: 'b' }],
    ['GET', '/b?uploads', { kind: 'ListMultipartUploads', bucket: 'b' }],
    ['POST', '/b?delete', { kind: 'DeleteObjects', bucket: 'b' }],
    ['PUT', '/b/k/e%20y', { kind: 'PutObject', bucket: 'b', key: 'k/e y' }],
    ['GET', '/b/a//b', { kind: 'GetObject', bucket: 'b', key: 'a//b' }],
    ['GET', '/b/x/../y', { kind: 'GetObject', bucket: 'b', key: 'x/../y' }],
    ['HEAD', '/b/k', { kind: 'HeadObject', bucket: 'b', key: 'k' }],
    ['DELETE', '/b/k', { kind: 'DeleteObject', bucket: 'b', key: 'k' }],
    ['POST', '/b/k?uploads', { kind: 'CreateMultipartUpload', bucket: 'b', key: 'k' }],
    [
      'PUT',
      '/b/k?partNumber=3&uploadId=u',
      { kind: 'UploadPart', bucket: 'b', key: 'k', uploadId: 'u', partNumber: 3 },
    ],
    [
      'POST',
      '/b/k?uploadId=u',
      { kind: 'CompleteMultipartUpload', bucket: 'b', key: 'k', uploadId: 'u' },
    ],
    [
      'DELETE',
      '/b/k?uploadId=u',
      { kind: 'AbortMultipartUpload', bucket: 'b', key: 'k', uploadId: 'u' },
    ],
    ['GET', '/b/k?uploadId=u', { kind: 'ListParts', bucket: 'b', key: 'k', uploadId: 'u' }],
  ];
  for (const [method, target, want] of cases) {
    assert.deepEqual(routeOf(method, target), want, `${method} ${target}`);
  }
});

test('tagging, policy and acl sub-resources route by method, on buckets and objects', () => {
  assert.equal(routeOf('GET', '/b/k?tagging').kind, 'GetObjectTagging');
  assert.equal(routeOf('PUT', '/b/k?tagging').kind, 'PutObjectTagging');
  assert.equal(routeOf('DELETE', '/b/k?tagging').kind, 'DeleteObjectTagging');
  assert.equal(routeOf('GET', '/b?tagging').kind, 'GetBucketTagging');
  assert.equal(routeOf('PUT', '/b?tagging').kind, 'PutBucketTagging');
  assert.equal(routeOf('DELETE', '/b?tagging').kind, 'DeleteBucketTagging');
  assert.equal(routeOf('GET', '/b?policy').kind, 'GetBucketPolicy');
  assert.equal(routeOf('PUT', '/b?policy').kind, 'PutBucketPolicy');
  assert.equal(routeOf('DELETE', '/b?policy').kind, 'DeleteBucketPolicy');
  assert.equal(routeOf('GET', '/b?acl').kind, 'GetBucketAcl');
  assert.equal(routeOf('PUT', '/b?acl').kind, 'PutBucketAcl');
  assert.equal(routeOf('GET', '/b/k?acl').kind, 'GetObjectAcl');
  assert.equal(routeOf('PUT', '/b/k?acl').kind, 'PutObjectAcl');
  assert.equal(routeOf('GET', '/?policy', 'b.localhost').kind, 'GetBucketPolicy');
});

test('a PUT with x-amz-copy-source is CopyObject', () => {
  assert.deepEqual(routeOf('PUT', '/b/k', undefined, { 'x-amz-copy-source': '/a/x' }), {
    kind: 'CopyObject',
    bucket: 'b',
    key: 'k',
  });
});

test('a part PUT with x-amz-copy-source is UploadPartCopy', () => {
  assert.deepEqual(
    routeOf('PUT', '/b/k?partNumber=2&uploadId=u', undefined, { 'x-amz-copy-source': '/a/x' }),
    {
      kind: 'UploadPartCopy',
      bucket: 'b',
      key: 'k',
      uploadId: 'u',
      partNumber: 2,
    },
  );
});

test('virtual-host-style requests take the bucket from the Host header', () => {
  assert.deepEqual(routeOf('GET', '/photos/a.jpg', 'pics.localhost:9002'), {
    kind: 'GetObject',
    bucket: 'pics',
    key: 'photos/a.jpg',
  });
  assert.deepEqual(routeOf('GET', '/?list-type=2', 'pics.s3.example.com'), {
    kind: 'ListObjectsV2',
    bucket: 'pics',
  });
  assert.deepEqual(routeOf('GET', '/pics/a', 'localhost:9002'), {
    kind: 'GetObject',
    bucket: 'pics',
    key: 'a',
  });
});

test('recognised but unbuilt operations are explicit NotImplemented', () => {
  for (const target of ['/b/k?cors', '/b?restore', '/b/k?lifecycle']) {
    assert.equal(routeOf('GET', target).kind, 'NotImplemented', target);
  }
  assert.equal(routeOf('POST', '/').kind, 'NotImplemented');
  assert.equal(routeOf('DELETE', '/b?versioning').kind, 'NotImplemented');
  // Never the bucket or the object itself.
  for (const target of ['/b?object-lock', '/b/k?retention', '/b/k?legal-hold'])
    assert.equal(routeOf('DELETE', target).kind, 'NotImplemented', target);
  assert.equal(routeOf('POST', '/b?lifecycle').kind, 'NotImplemented');
  // Nor on the other kind of resource: never ListObjects or PutObject.
  for (const target of ['/b?retention', '/b?legal-hold', '/b/k?object-lock']) {
    assert.equal(routeOf('GET', target).kind, 'NotImplemented', target);
    assert.equal(routeOf('PUT', target).kind, 'NotImplemented', target);
  }
});

test('?lifecycle on a bucket routes to its three operations', () => {
  assert.deepEqual(routeOf('GET', '/b?lifecycle'), {
    kind: 'GetBucketLifecycleConfiguration',
    bucket: 'b',
  });
  assert.deepEqual(routeOf('PUT', '/b?lifecycle'), {
    kind: 'PutBucketLifecycleConfiguration',
    bucket: 'b',
  });
  assert.deepEqual(routeOf('DELETE', '/b?lifecycle'), {
    kind: 'DeleteBucketLifecycle',
    bucket: 'b',
  });
});

test('bucket controls route to their operations, and nowhere else', () => {
  const b = { bucket: 'b' };
  assert.deepEqual(routeOf('GET', '/b?policyStatus'), { kind: 'GetBucketPolicyStatus', ...b });
  for (const [name, suffix] of [
    ['publicAccessBlock', 'PublicAccessBlock'],
    ['ownershipControls', 'BucketOwnershipControls'],
  ]) {
    for (const method of ['GET', 'PUT', 'DELETE'])
      assert.deepEqual(routeOf(method, `/b?${name}`), {
        kind: `${method[0]}${method.slice(1).toLowerCase()}${suffix}`,
        ...b,
      });
  }
  // Never the bucket or an object itself.
  for (const target of ['/b?policyStatus', '/b/k?publicAccessBlock', '/b/k?ownershipControls']) {
    assert.equal(routeOf('DELETE', target).kind, 'NotImplemented', target);
    assert.equal(routeOf('PUT', target).kind, 'NotImplemented', target);
  }
  assert.equal(routeOf('POST', '/b?publicAccessBlock').kind, 'NotImplemented');
});

test('Object Lock sub-resources route to their operations', () => {
  const b = 'b';
  assert.deepEqual(routeOf('GET', '/b?object-lock'), {
    kind: 'GetObjectLockConfiguration',
    bucket: b,
  });
  assert.deepEqual(routeOf('PUT', '/b?object-lock'), {
    kind: 'PutObjectLockConfiguration',
    bucket: b,
  });
  const object = { bucket: b, key: 'k' };
  assert.deepEqual(routeOf('GET', '/b/k?retention'), { kind: 'GetObjectRetention', ...object });
  assert.deepEqual(routeOf('PUT', '/b/k?retention'), { kind: 'PutObjectRetention', ...object });
  assert.deepEqual(routeOf('GET', '/b/k?legal-hold'), { kind: 'GetObjectLegalHold', ...object });
  assert.deepEqual(routeOf('PUT', '/b/k?legal-hold'), { kind: 'PutObjectLegalHold', ...object });
});

test('?versioning on a bucket is Get/PutBucketVersioning', () => {
  assert.deepEqual(routeOf('GET', '/b?versioning'), { kind: 'GetBucketVersioning', bucket: 'b' });
  assert.deepEqual(routeOf('PUT', '/b?versioning'), { kind: 'PutBucketVersioning', bucket: 'b' });
});

test('?encryption on a bucket is Get/Put/DeleteBucketEncryption, and nothing else', () => {
  const bucket = { bucket: 'b' };
  assert.deepEqual(routeOf('GET', '/b?encryption'), { kind: 'GetBucketEncryption', ...bucket });
  assert.deepEqual(routeOf('PUT', '/b?encryption'), { kind: 'PutBucketEncryption', ...bucket });
  assert.deepEqual(routeOf('DELETE', '/b?encryption'), {
    kind: 'DeleteBucketEncryption',
    ...bucket,
  });
  // Never the bucket or an object itself: no CreateBucket, PutObject or DeleteObject.
  assert.equal(routeOf('POST', '/b?encryption').kind, 'NotImplemented');
  for (const method of ['GET', 'PUT', 'DELETE'])
    assert.equal(routeOf(method, '/b/k?encryption').kind, 'NotImplemented', method);
});

test('a part number outside 1..10000 is InvalidArgument', () => {
  assert.throws(
    () => routeOf('PUT', '/b/k?partNumber=0&uploadId=u'),
    (e: unknown) => e instanceof S3Error && e.s3Code === 'InvalidArgument',
  );
  assert.throws(
    () => routeOf('PUT', '/b/k?partNumber=10001&uploadId=u'),
    (e: unknown) => e instanceof S3Error,
  );
});

test('a malformed percent-encoding is InvalidURI', () => {
  assert.throws(
    () => routeOf('GET', '/b/%E0%A4%A'),
    (e: unknown) => e instanceof S3Error && e.s3Code === 'InvalidURI',
  );
});

test('the longest virtual-host domain wins, and a Host equal to a domain is path-style', () => {
  const domains = ['localhost', 's3.localhost'];
  const at = (host: string, target: string) =>
    route({
      method: 'GET',
      url: new URL(target, 'http://localhost'),
      rawPath: target.split('?')[0],
      host,
      virtualHostDomains: domains,
      headers: {},
    });
  assert.deepEqual(at('pics.s3.localhost:9000', '/a'), {
    kind: 'GetObject',
    bucket: 'pics',
    key: 'a',
  });
  assert.deepEqual(at('s3.localhost:9000', '/pics/a'), {
    kind: 'GetObject',
    bucket: 'pics',
    key: 'a',
  });
  assert.deepEqual(at('my.pics.localhost', '/'), { kind: 'ListObjects', bucket: 'my.pics' });
  assert.deepEqual(at('127.0.0.1:9000', '/'), { kind: 'ListBuckets' });
  assert.deepEqual(at('PICS.LOCALHOST', '/k%2Fv'), {
    kind: 'GetObject',
    bucket: 'pics',
    key: 'k/v',
  });
});

test('attributes, versions and the remaining query forms', () => {
  assert.deepEqual(routeOf('GET', '/b/k?attributes'), {
    kind: 'GetObjectAttributes',
    bucket: 'b',
    key: 'k',
  });
  assert.deepEqual(routeOf('GET', '/b?versions'), { kind: 'ListObjectVersions', bucket: 'b' });
  assert.deepEqual(routeOf('GET', '/b?list-type=1'), { kind: 'ListObjects', bucket: 'b' });
  assert.equal(routeOf('POST', '/b/k').kind, 'NotImplemented');
  assert.equal(routeOf('POST', '/b?unknown').kind, 'NotImplemented', 'a query names no upload');
  assert.equal(routeOf('PATCH', '/b/k').kind, 'NotImplemented');
  assert.equal(routeOf('PUT', '/').kind, 'NotImplemented');
  assert.equal(routeOf('GET', '/b/k?select&select-type=2').kind, 'NotImplemented');
  assert.deepEqual(routeOf('POST', '/b/k?select&select-type=2'), {
    kind: 'SelectObjectContent',
    bucket: 'b',
    key: 'k',
  });
  assert.throws(() => routeOf('POST', '/b/k?select'), /select-type=2/);
  assert.equal(routeOf('POST', '/b?select&select-type=2').kind, 'NotImplemented');
});

test('CORS configuration, preflights and form uploads', () => {
  assert.deepEqual(routeOf('PUT', '/b?cors'), { kind: 'PutBucketCors', bucket: 'b' });
  assert.deepEqual(routeOf('GET', '/b?cors'), { kind: 'GetBucketCors', bucket: 'b' });
  assert.deepEqual(routeOf('DELETE', '/b?cors'), { kind: 'DeleteBucketCors', bucket: 'b' });
  // Never the bucket itself, nor the object.
  assert.equal(routeOf('POST', '/b?cors').kind, 'NotImplemented');
  assert.equal(routeOf('GET', '/b/k?cors').kind, 'NotImplemented');
  assert.deepEqual(routeOf('OPTIONS', '/b'), {
    kind: 'CorsPreflight',
    bucket: 'b',
    key: undefined,
  });
  // A preflight for any request on the URL, whatever its query.
  assert.deepEqual(routeOf('OPTIONS', '/b/k?uploads'), {
    kind: 'CorsPreflight',
    bucket: 'b',
    key: 'k',
  });
  assert.equal(routeOf('OPTIONS', '/').kind, 'NotImplemented');
  assert.deepEqual(routeOf('POST', '/b'), { kind: 'PostObject', bucket: 'b' });
});

test('?replication on a bucket is Get/Put/DeleteBucketReplication, never the bucket or an object', () => {
  assert.deepEqual(routeOf('GET', '/b?replication'), { kind: 'GetBucketReplication', bucket: 'b' });
  assert.deepEqual(routeOf('PUT', '/b?replication'), { kind: 'PutBucketReplication', bucket: 'b' });
  assert.deepEqual(routeOf('DELETE', '/b?replication'), {
    kind: 'DeleteBucketReplication',
    bucket: 'b',
  });
  assert.equal(routeOf('POST', '/b?replication').kind, 'NotImplemented');
  assert.equal(routeOf('DELETE', '/b/k?replication').kind, 'NotImplemented');
});
