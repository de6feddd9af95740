// Other everyday S3 clients against a real server: s3cmd and rclone (installed by .ci/run).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

function run(command: string, args: string[], env: Record<string, string | undefined> = {}) {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  // The workplace points AWS_CA_BUNDLE at a file rclone cannot use with plain http.
  delete merged.AWS_CA_BUNDLE;
  const result = spawnSync(command, args, { env: merged as NodeJS.ProcessEnv, encoding: 'utf8' });
  assert.equal(
    result.status,
    0,
    `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`,
  );
  return result.stdout;
}

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
    const host = new URL(server.s3Endpoint).host;
    const s3cmd = (...args: string[]) =>
      run('s3cmd', [
        `--access_key=${server.accessKey}`,
        `--secret_key=${server.secretKey}`,
        `--host=${host}`,
        `--host-bucket=${host}`,
        '--no-ssl',
        '--region=us-east-1',
        '-c',
        '/dev/null',
        ...args,
      ]);
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
    const env = {
      RCLONE_CONFIG_STRATA_TYPE: 's3',
      RCLONE_CONFIG_STRATA_PROVIDER: 'Other',
      RCLONE_CONFIG_STRATA_ACCESS_KEY_ID: server.accessKey,
      RCLONE_CONFIG_STRATA_SECRET_ACCESS_KEY: server.secretKey,
      RCLONE_CONFIG_STRATA_ENDPOINT: server.s3Endpoint,
      RCLONE_CONFIG_STRATA_REGION: 'us-east-1',
      RCLONE_CONFIG: join(work, 'rclone.conf'),
    };
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
