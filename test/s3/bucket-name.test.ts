// AWS's naming rules for general-purpose buckets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { S3Error } from '../../src/s3/errors.ts';
import { checkBucketName } from '../../src/s3/handlers/bucket.ts';

test('valid names are accepted', () => {
  for (const name of ['abc', 'my-bucket', 'my.bucket.2', '0bucket9', 'a'.repeat(63)]) {
    assert.doesNotThrow(() => checkBucketName(name), name);
  }
});

test('names breaking a rule are InvalidBucketName (400)', () => {
  const bad = [
    'ab', // shorter than 3
    'a'.repeat(64), // longer than 63
    'Bucket', // upper case
    'my_bucket', // underscore
    '-bucket', // must start with a letter or digit
    'bucket-', // and end with one
    'bucket.', //
    'my..bucket', // adjacent periods
    '192.168.5.4', // formatted as an IP address
    'xn--bucket', // reserved prefixes
    'sthree-bucket',
    'bucket-s3alias', // reserved suffixes
    'bucket--ol-s3',
    'my bucket',
    'bücket',
  ];
  for (const name of bad) {
    assert.throws(
      () => checkBucketName(name),
      (e: unknown) =>
        e instanceof S3Error && e.s3Code === 'InvalidBucketName' && e.httpStatus === 400,
      name,
    );
  }
});
