// An s3fs-fuse mount of a Strata bucket (Debian's s3fs, installed by .ci/run): ordinary shell
// tools write, list, rename and delete through it, and the S3 API sees the same objects.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { has } from '../helpers/tools.ts';

const canMount = has('s3fs') && process.getuid?.() === 0;

function sh(script: string): string {
  const result = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  assert.equal(result.status, 0, `${script}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function mounted(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === path);
}

describe('s3fs mount of a bucket', {
  skip: canMount ? false : 's3fs not installed, or not root',
}, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let mountPoint: string;
  let s3fs: ChildProcess | undefined;
  let log = '';

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'fused' }));
    const work = tempDir('strata-s3fs-');
    mountPoint = join(work, 'mnt');
    mkdirSync(mountPoint);
    const passwd = join(work, 'passwd');
    writeFileSync(passwd, `${server.accessKey}:${server.secretKey}\n`, { mode: 0o600 });
    s3fs = spawn(
      's3fs',
      [
        'fused',
        mountPoint,
        '-f',
        '-o',
        [
          `url=${server.s3Endpoint}`,
          'use_path_request_style',
          `passwd_file=${passwd}`,
          'endpoint=us-east-1',
          'sigv4',
          'stat_cache_expire=1',
          'enable_noobj_cache',
        ].join(','),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    s3fs.stdout?.on('data', (d) => {
      log += d;
    });
    s3fs.stderr?.on('data', (d) => {
      log += d;
    });
    const deadline = Date.now() + 15_000;
    while (!mounted(mountPoint)) {
      if (Date.now() > deadline || s3fs.exitCode !== null)
        throw new Error(`s3fs did not mount:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    if (mountPoint && mounted(mountPoint)) spawnSync('umount', [mountPoint]);
    s3fs?.kill();
    s3?.destroy();
    await server?.stop();
  });

  test('files written by shell tools are objects, and objects are files', async () => {
    const payload = patternBytes(3 * 1024 * 1024 + 5, 21);
    const local = join(tempDir('strata-s3fs-src-'), 'payload');
    writeFileSync(local, payload);
    sh(
      `cp ${local} ${mountPoint}/copied.bin && mkdir -p ${mountPoint}/dir/sub && echo hello > ${mountPoint}/dir/sub/hello.txt`,
    );
    const copied = await s3.send(new GetObjectCommand({ Bucket: 'fused', Key: 'copied.bin' }));
    assert.ok((await bodyBytes(copied.Body)).equals(payload), 'cp through the mount is the object');
    const hello = await s3.send(
      new GetObjectCommand({ Bucket: 'fused', Key: 'dir/sub/hello.txt' }),
    );
    assert.equal(await hello.Body?.transformToString(), 'hello\n');

    await s3.send(
      new PutObjectCommand({ Bucket: 'fused', Key: 'dir/from-s3.txt', Body: 'via S3' }),
    );
    assert.equal(sh(`cat ${mountPoint}/dir/from-s3.txt`), 'via S3');
    assert.deepEqual(sh(`ls ${mountPoint}/dir`).trim().split('\n'), ['from-s3.txt', 'sub']);

    sh(`mv ${mountPoint}/copied.bin ${mountPoint}/dir/moved.bin`);
    assert.equal(sh(`cmp ${local} ${mountPoint}/dir/moved.bin && echo same`).trim(), 'same');
    sh(`rm ${mountPoint}/dir/moved.bin ${mountPoint}/dir/from-s3.txt`);
    const gone = await s3
      .send(new GetObjectCommand({ Bucket: 'fused', Key: 'dir/moved.bin' }))
      .catch((e) => e);
    assert.equal(gone.name, 'NoSuchKey');
    assert.deepEqual(sh(`ls ${mountPoint}/dir`).trim().split('\n'), ['sub']);
  });
});
