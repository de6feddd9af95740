// The one mapping from internal error codes to S3 codes and statuses, and the XML error body.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { S3AuthError } from '../../src/auth/types.ts';
import { StrataError, type StrataErrorCode } from '../../src/common/errors.ts';
import { S3Error, toS3Error } from '../../src/s3/errors.ts';
import { renderErrorXml } from '../../src/s3/xml.ts';

test('every StrataError code the gateway meets maps to the S3 code and status AWS uses', () => {
  const cases: Array<[StrataErrorCode, string, number]> = [
    ['ENOENT', 'NoSuchKey', 404],
    ['NO_SUCH_BUCKET', 'NoSuchBucket', 404],
    ['BUCKET_EXISTS', 'BucketAlreadyOwnedByYou', 409],
    ['BUCKET_NOT_EMPTY', 'BucketNotEmpty', 409],
    ['NO_SUCH_UPLOAD', 'NoSuchUpload', 404],
    ['INVALID_PART', 'InvalidPart', 400],
    ['INVALID_PART_ORDER', 'InvalidPartOrder', 400],
    ['ENTITY_TOO_SMALL', 'EntityTooSmall', 400],
    ['ENTITY_TOO_LARGE', 'EntityTooLarge', 400],
    ['PRECONDITION_FAILED', 'PreconditionFailed', 412],
    ['INVALID_KEY', 'InvalidArgument', 400],
    ['KEY_CONFLICT', 'KeyConflict', 409],
    ['ENOSPC', 'InsufficientStorage', 507],
    ['NOT_ENOUGH_SHARDS', 'ServiceUnavailable', 503],
    ['NOT_ENOUGH_TARGETS', 'ServiceUnavailable', 503],
    ['RPC_TIMEOUT', 'ServiceUnavailable', 503],
    ['RPC_UNAVAILABLE', 'ServiceUnavailable', 503],
    ['RPC_CONNECTION_LOST', 'ServiceUnavailable', 503],
    ['SHARD_CORRUPT', 'InternalError', 500],
    ['SHARD_MISSING', 'InternalError', 500],
    ['RPC_BAD_FRAME', 'InternalError', 500],
    ['INTERNAL', 'InternalError', 500],
    ['EIO', 'InternalError', 500],
    ['ENOSYS', 'NotImplemented', 501],
    ['ENOTSUP', 'NotImplemented', 501],
    ['DATA_DAMAGED', 'InternalError', 500],
    ['PLACEMENT_VIOLATION', 'InternalError', 500],
  ];
  for (const [code, s3Code, status] of cases) {
    const mapped = toS3Error(new StrataError(code, `detail of ${code}`));
    assert.equal(mapped.s3Code, s3Code, code);
    assert.equal(mapped.httpStatus, status, code);
  }
});

test('only lost data is called damaged; other server faults get the generic message', () => {
  const damaged = toS3Error(new StrataError('DATA_DAMAGED', 'stripe 7: 3 shards corrupt'));
  assert.match(damaged.message, /damaged/);
  const placement = toS3Error(new StrataError('PLACEMENT_VIOLATION', 'two shards on d1'));
  assert.doesNotMatch(placement.message, /damaged|d1/);
  assert.equal(placement.detail, 'two shards on d1', 'the detail is kept for the log');
});

test('InvalidArgument for a bad key keeps the message that names the broken rule', () => {
  const mapped = toS3Error(new StrataError('INVALID_KEY', 'key "x/../y" has a ".." segment'));
  assert.equal(mapped.message, 'key "x/../y" has a ".." segment');
  const conflict = toS3Error(new StrataError('KEY_CONFLICT', '"a" exists as an object'));
  assert.match(conflict.message, /exists as an object/);
});

test('internal details of a 500 never reach the client', () => {
  const mapped = toS3Error(new Error('ECONNRESET at 10.0.0.7:9001 while reading stripe 42'));
  assert.equal(mapped.s3Code, 'InternalError');
  assert.doesNotMatch(mapped.message, /10\.0\.0\.7|stripe/);
  const shards = toS3Error(new StrataError('NOT_ENOUGH_SHARDS', 'only 2 of 4 from 10.0.0.7'));
  assert.doesNotMatch(shards.message, /10\.0\.0\.7/);
});

test('S3 errors pass through; authentication errors keep their code and status', () => {
  const own = new S3Error('InvalidBucketName', 400, 'The specified bucket is not valid.');
  assert.equal(toS3Error(own), own);
  const auth = toS3Error(new S3AuthError('SignatureDoesNotMatch', 403, 'no match'));
  assert.deepEqual(
    [auth.s3Code, auth.httpStatus, auth.message],
    ['SignatureDoesNotMatch', 403, 'no match'],
  );
});

test('the error body parses back to Code, Message, Resource and RequestId, escaped', () => {
  const error = new S3Error('NoSuchKey', 404, 'The key <a&b> "is" missing');
  const xml = renderErrorXml(error, '/bucket/<a&b>', 'ABC123');
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>'), xml);
  assert.doesNotMatch(xml, /<a&b>/, 'user data is escaped');
  const parsed = new XMLParser({ parseTagValue: false }).parse(xml);
  assert.deepEqual(parsed.Error, {
    Code: 'NoSuchKey',
    Message: 'The key <a&b> "is" missing',
    Resource: '/bucket/<a&b>',
    RequestId: 'ABC123',
  });
});

test('messages of refusals and server faults name no server path; the log gets the detail', () => {
  const path = '/var/lib/strata/disks/d3/shards/ab/abcdef.shard';
  for (const code of ['ENOSPC', 'EACCES', 'ENOTSUP', 'EIO'] as const) {
    const mapped = toS3Error(new StrataError(code, `disk full writing ${path}`));
    assert.doesNotMatch(mapped.message, /\/var\/lib|shard/, code);
    if (code !== 'EIO') assert.equal(mapped.detail, `disk full writing ${path}`, code);
  }
  assert.equal(toS3Error(new StrataError('ENOSPC', path)).httpStatus, 507);
});
