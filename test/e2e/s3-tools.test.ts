// Other everyday S3 clients against a real server: s3cmd and rclone (installed by .ci/run).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { has, rcloneEnv, run, s3cmd as s3cmdOn } from '../helpers/tools.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const BOTO3_SCRIPT = new URL('./clients/boto3_roundtrip.py', import.meta.url).pathname;
const hasBoto3 = () => spawnSync('/usr/bin/python3', ['-c', 'import boto3']).status === 0;

describe('s3cmd, rclone and boto3', () => {
  let server: StrataProcess;
  let work: string;
  before(async () => {
    server = await startStrata();
    work = tempDir('strata-tools-');
  });
  after(async () => {
    await server?.stop();
  });

  test('s3cmd: mb, multipart put, ls, get, del', {
    skip: has('s3cmd') ? false : 's3cmd is not installed (.ci/run installs it)',
  }, () => {
    const s3cmd = (...args: string[]) => s3cmdOn(server, ...args);
    const payload = patternBytes(20 * 1024 * 1024 + 3, 77); // above s3cmd's 15 MiB multipart chunk
    const local = join(work, 'cmd-up');
    writeFileSync(local, payload);
    s3cmd('mb', 's3://cmd');
    s3cmd('put', local, 's3://cmd/dir/file');
    assert.match(s3cmd('ls', '-r', 's3://cmd'), /20971523 +s3:\/\/cmd\/dir\/file/);
    const down = join(work, 'cmd-down');
    s3cmd('get', '--force', 's3://cmd/dir/file', down);
    assert.equal(sha256(readFileSync(down)), sha256(payload));
    s3cmd('del', 's3://cmd/dir/file');
    assert.doesNotMatch(s3cmd('ls', '-r', 's3://cmd'), /dir\/file/);
  });

  test('rclone: copy a tree up and back, check', {
    skip: has('rclone') ? false : 'rclone is not installed (.ci/run installs it)',
  }, () => {
    const env = rcloneEnv(server, work);
    const source = join(work, 'tree');
    mkdirSync(join(source, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(source, 'big'), patternBytes(12 * 1024 * 1024, 5));
    writeFileSync(join(source, 'sub', 'small'), 'small');
    writeFileSync(join(source, 'sub', 'deeper', 'empty'), '');
    run('rclone', ['mkdir', 'strata:rclone'], env);
    run('rclone', ['copy', source, 'strata:rclone/tree'], env);
    const back = join(work, 'back');
    run('rclone', ['copy', 'strata:rclone/tree', back], env);
    for (const file of ['big', 'sub/small', 'sub/deeper/empty']) {
      assert.equal(
        sha256(readFileSync(join(back, file))),
        sha256(readFileSync(join(source, file))),
        file,
      );
    }
    run('rclone', ['check', source, 'strata:rclone/tree'], env);
  });

  test('boto3: put, get, ranges, multipart upload_fileobj, list, copy, delete', {
    skip: hasBoto3() ? false : 'python3-boto3 is not installed (.ci/run installs it)',
  }, () => {
    const out = run('/usr/bin/python3', [
      BOTO3_SCRIPT,
      server.s3Endpoint,
      server.accessKey,
      server.secretKey,
    ]);
    assert.match(out, /^OK$/m);
  });
});
