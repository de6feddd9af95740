// The three user stories of "silent acceptance must end", with awscli: encryption, Object Lock on
// a bucket made without it, and storage classes Strata does not provide fail loudly and leave
// nothing behind (Object Lock itself: awscli-object-lock.test.ts).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { aws } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

describe('awscli: what Strata does not provide is refused', () => {
  let server: StrataProcess;
  let file: string;
  const listing = async () => (await aws(server, ['s3', 'ls', 's3://stories/'])).stdout;

  before(async () => {
    server = await startStrata();
    file = join(tempDir('strata-refusals-'), 'f.txt');
    writeFileSync(file, 'secret payroll\n');
    const made = await aws(server, ['s3', 'mb', 's3://stories']);
    assert.equal(made.code, 0, made.stderr);
  });
  after(async () => {
    await server?.stop();
  });

  // AES256 (SSE-S3) needs a master key, which this server (encryption off, no key file) lacks:
  // test/s3/sse-s3.test.ts has it honoured.
  for (const sse of ['AES256', 'aws:kms']) {
    test(`aws s3 cp --sse ${sse} fails with NotImplemented and stores nothing`, async () => {
      const up = await aws(server, ['s3', 'cp', file, 's3://stories/', '--sse', sse]);
      assert.notEqual(up.code, 0, 'the upload succeeded');
      assert.match(up.stderr, /NotImplemented/);
      assert.doesNotMatch(await listing(), /f\.txt/);
    });
  }

  // SSE-C is provided (test/s3/sse-c.test.ts), over HTTPS only, as on AWS: over this server's
  // plain HTTP (no [s3] sse_c_over_http) the key would cross the network in clear.
  test('aws s3 cp --sse-c over plain HTTP fails with InvalidRequest and stores nothing', async () => {
    const key = 'k'.repeat(32);
    const up = await aws(server, [
      's3',
      'cp',
      file,
      's3://stories/',
      '--sse-c',
      'AES256',
      '--sse-c-key',
      key,
    ]);
    assert.notEqual(up.code, 0, 'the upload succeeded');
    assert.match(up.stderr, /InvalidRequest/);
    assert.match(up.stderr, /secure connection/);
    assert.doesNotMatch(await listing(), /f\.txt/);
  });

  test('put-object with COMPLIANCE retention into a bucket without Object Lock fails and stores nothing', async () => {
    const put = await aws(server, [
      's3api',
      'put-object',
      '--bucket',
      'stories',
      '--key',
      'kept',
      '--body',
      file,
      '--object-lock-mode',
      'COMPLIANCE',
      '--object-lock-retain-until-date',
      '2030-01-01T00:00:00Z',
    ]);
    assert.notEqual(put.code, 0, 'the locked object was stored');
    assert.match(put.stderr, /InvalidRequest/);
    assert.doesNotMatch(await listing(), /kept/);
  });

  test('--storage-class ONEZONE_IA is NotImplemented, NOPE is InvalidStorageClass', async () => {
    const glacier = await aws(server, [
      's3',
      'cp',
      file,
      's3://stories/g.txt',
      '--storage-class',
      'ONEZONE_IA',
    ]);
    assert.notEqual(glacier.code, 0, 'ONEZONE_IA was accepted');
    assert.match(glacier.stderr, /NotImplemented/);
    // s3api passes any value through (aws s3 cp checks the name itself).
    const nope = await aws(server, [
      's3api',
      'put-object',
      '--bucket',
      'stories',
      '--key',
      'n.txt',
      '--body',
      file,
      '--storage-class',
      'NOPE',
    ]);
    assert.notEqual(nope.code, 0, 'NOPE was accepted');
    assert.match(nope.stderr, /InvalidStorageClass/);
    const listed = await listing();
    assert.doesNotMatch(listed, /g\.txt/);
    assert.doesNotMatch(listed, /n\.txt/);
    const standard = await aws(server, [
      's3',
      'cp',
      file,
      's3://stories/s.txt',
      '--storage-class',
      'STANDARD',
    ]);
    assert.equal(standard.code, 0, standard.stderr);
  });
});
