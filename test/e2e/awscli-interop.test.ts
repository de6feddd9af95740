// awscli and the strata CLI against one real server: round trips of awkward sizes, and one
// namespace seen from both views.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { aws, patternBytes } from '../helpers/s3.ts';
import { runStrata, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SIZES = [0, 1, 1024 * 1024 + 1, 100 * 1024 * 1024];

describe('awscli and strata fs', () => {
  let server: StrataProcess;
  let work: string;
  before(async () => {
    server = await startStrata();
    work = tempDir('strata-awscli-');
    const made = await aws(server, ['s3', 'mb', 's3://cli']);
    assert.equal(made.code, 0, made.stderr);
  });
  after(async () => {
    await server?.stop();
  });

  for (const size of SIZES) {
    test(`aws s3 cp round-trips ${size} bytes`, async () => {
      const local = join(work, `up-${size}`);
      const payload = patternBytes(size, size + 1);
      writeFileSync(local, payload);
      const up = await aws(server, ['s3', 'cp', local, `s3://cli/sizes/${size}.bin`]);
      assert.equal(up.code, 0, up.stderr);
      const down = join(work, `down-${size}`);
      const got = await aws(server, ['s3', 'cp', `s3://cli/sizes/${size}.bin`, down]);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(sha256(readFileSync(down)), sha256(payload));
    });
  }

  test('aws s3 ls lists what was put, with sizes', async () => {
    const listed = await aws(server, ['s3', 'ls', 's3://cli/sizes/']);
    assert.equal(listed.code, 0, listed.stderr);
    for (const size of SIZES) assert.match(listed.stdout, new RegExp(`\\s${size} ${size}\\.bin`));
  });

  test('an object put by S3 is listed and read by strata fs', async () => {
    const local = join(work, 'via-s3');
    const payload = patternBytes(3 * 1024 * 1024 + 11, 5);
    writeFileSync(local, payload);
    assert.equal((await aws(server, ['s3', 'cp', local, 's3://cli/docs/via-s3.bin'])).code, 0);
    const addr = ['--metadata-addr', server.metadataAddr];
    const ls = await runStrata(['fs', 'ls', '/cli/docs', ...addr]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout.toString(), /via-s3\.bin/);
    const get = await runStrata(['fs', 'get', '/cli/docs/via-s3.bin', ...addr]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(sha256(get.stdout), sha256(payload));
  });

  test('a file put by strata fs is read by S3', async () => {
    const local = join(work, 'via-fs');
    const payload = patternBytes(6 * 1024 * 1024 + 1, 6);
    writeFileSync(local, payload);
    const addr = ['--metadata-addr', server.metadataAddr];
    const put = await runStrata(['fs', 'put', local, '/cli/from-fs/file.bin', ...addr]);
    assert.equal(put.code, 0, put.stderr);
    const down = join(work, 'via-fs-down');
    const got = await aws(server, ['s3', 'cp', 's3://cli/from-fs/file.bin', down]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(sha256(readFileSync(down)), sha256(payload));
  });

  test('aws s3 rm removes the object from both views', async () => {
    const rm = await aws(server, ['s3', 'rm', 's3://cli/sizes/1.bin']);
    assert.equal(rm.code, 0, rm.stderr);
    const stat = await runStrata([
      'fs',
      'stat',
      '/cli/sizes/1.bin',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.equal(stat.code, 1);
    assert.match(stat.stderr, /ENOENT/);
  });

  test('aws s3 cp between keys and aws s3 mv copy on the server side', async () => {
    const cp = await aws(server, [
      's3',
      'cp',
      's3://cli/sizes/1048577.bin',
      's3://cli/copied/a.bin',
    ]);
    assert.equal(cp.code, 0, cp.stderr);
    const mv = await aws(server, ['s3', 'mv', 's3://cli/copied/a.bin', 's3://cli/moved/b.bin']);
    assert.equal(mv.code, 0, mv.stderr);
    const down = join(work, 'moved');
    assert.equal((await aws(server, ['s3', 'cp', 's3://cli/moved/b.bin', down])).code, 0);
    assert.equal(
      sha256(readFileSync(down)),
      sha256(patternBytes(1024 * 1024 + 1, 1024 * 1024 + 2)),
    );
    const gone = await aws(server, [
      's3api',
      'head-object',
      '--bucket',
      'cli',
      '--key',
      'copied/a.bin',
    ]);
    assert.notEqual(gone.code, 0, 'mv removed the source');
  });

  test('an unknown bucket is NoSuchBucket', async () => {
    const result = await aws(server, ['s3api', 'head-object', '--bucket', 'nope', '--key', 'x']);
    assert.notEqual(result.code, 0);
    const listed = await aws(server, ['s3', 'ls', 's3://no-such-bucket-here/']);
    assert.notEqual(listed.code, 0);
    assert.match(listed.stderr, /NoSuchBucket/);
  });

  test('a wrong secret is SignatureDoesNotMatch', async () => {
    const wrong = { ...server, secretKey: `${server.secretKey}x` };
    const result = await aws(wrong, ['s3', 'ls', 's3://cli/']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /SignatureDoesNotMatch/);
  });
});
