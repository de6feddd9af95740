// The common flows of awscli, s3cmd and rclone against one real server: sync of a tree of 1,000
// files under nested prefixes (up and back, byte for byte), a 1 GiB multipart upload and
// download, a presigned GET fetched with curl, and listings with a delimiter.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { awsCli, awsEnv, has, rclone, run, s3cmd } from '../helpers/tools.ts';

const MiB = 1024 * 1024;
const BIG_BYTES = 1024 * MiB;

// d0..d9 / e0..e9 / f0..f9.txt: 1,000 files, sizes 0..~3 KiB, content a function of the path.
function writeTree(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let d = 0; d < 10; d++) {
    for (let e = 0; e < 10; e++) {
      mkdirSync(join(root, `d${d}`, `e${e}`), { recursive: true });
      for (let f = 0; f < 10; f++) {
        const path = `d${d}/e${e}/f${f}.txt`;
        const body = patternBytes((d * 100 + e * 10 + f) * 3, d * 100 + e * 10 + f + 1);
        const fd = openSync(join(root, path), 'w');
        writeSync(fd, body);
        closeSync(fd);
        files.set(path, body);
      }
    }
  }
  return files;
}

function checkTree(root: string, files: Map<string, Buffer>, what: string) {
  for (const [path, body] of files) {
    assert.ok(readFileSync(join(root, path)).equals(body), `${what}: ${path}`);
  }
}

// A 1 GiB file of distinct 8 MiB blocks, and its SHA-256.
function writeBigFile(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let i = 0; i < BIG_BYTES / (8 * MiB); i++) {
    const block = patternBytes(8 * MiB, i + 1);
    hash.update(block);
    writeSync(fd, block);
  }
  closeSync(fd);
  return hash.digest('hex');
}

function sha256File(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  const buffer = Buffer.alloc(8 * MiB);
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

describe('awscli, s3cmd and rclone: the common flows', () => {
  let server: StrataProcess;
  let work: string;
  let tree: string;
  let files: Map<string, Buffer>;
  let big: string;
  let bigSha: string;

  before(async () => {
    server = await startStrata();
    work = tempDir('strata-flows-');
    tree = join(work, 'tree');
    files = writeTree(tree);
    big = join(work, 'big');
    bigSha = writeBigFile(big);
  });
  after(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const curl = (url: string) => {
    const out = join(work, 'curl-out');
    run('curl', ['-sf', '-o', out, url]);
    return readFileSync(out);
  };

  test('awscli: sync 1,000 files, 1 GiB multipart, presigned GET, delimiter listings', {
    skip: has('aws') ? false : 'awscli is not installed (.ci/run installs it)',
  }, () => {
    awsCli(server, 's3', 'mb', 's3://flows-aws');
    awsCli(server, 's3', 'sync', '--only-show-errors', tree, 's3://flows-aws/tree');
    const back = join(work, 'aws-back');
    awsCli(server, 's3', 'sync', '--only-show-errors', 's3://flows-aws/tree', back);
    checkTree(back, files, 'aws s3 sync');
    // A second sync uploads nothing: sizes and times agree.
    assert.equal(awsCli(server, 's3', 'sync', tree, 's3://flows-aws/tree').trim(), '');

    const top = awsCli(server, 's3', 'ls', 's3://flows-aws/tree/');
    assert.deepEqual(
      [...top.matchAll(/PRE (\S+)/g)].map((m) => m[1]),
      Array.from({ length: 10 }, (_, d) => `d${d}/`),
    );
    const nested = JSON.parse(
      awsCli(
        server,
        's3api',
        'list-objects-v2',
        '--bucket',
        'flows-aws',
        '--prefix',
        'tree/d3/e4/',
        '--delimiter',
        '/',
      ),
    );
    assert.equal(nested.Contents.length, 10);
    assert.equal(nested.CommonPrefixes, undefined);
    const byDash = JSON.parse(
      awsCli(
        server,
        's3api',
        'list-objects-v2',
        '--bucket',
        'flows-aws',
        '--prefix',
        'tree/d1/',
        '--delimiter',
        'e',
      ),
    );
    assert.deepEqual(
      byDash.CommonPrefixes.map((p: { Prefix: string }) => p.Prefix),
      ['tree/d1/e'],
    );

    awsCli(server, 's3', 'cp', '--only-show-errors', big, 's3://flows-aws/big');
    const head = JSON.parse(
      awsCli(server, 's3api', 'head-object', '--bucket', 'flows-aws', '--key', 'big'),
    );
    assert.equal(head.ContentLength, BIG_BYTES);
    assert.match(head.ETag, /-\d+"$/, 'a multipart ETag');
    const down = join(work, 'aws-big');
    awsCli(server, 's3', 'cp', '--only-show-errors', 's3://flows-aws/big', down);
    assert.equal(sha256File(down), bigSha);
    rmSync(down);

    // awscli 1.x presigns with Signature V2 unless told otherwise; Strata accepts only V4.
    const config = join(work, 'aws-config');
    writeFileSync(config, '[default]\ns3 =\n  signature_version = s3v4\n');
    const presign = ['s3', 'presign', 's3://flows-aws/tree/d9/e9/f9.txt', '--expires-in', '300'];
    const url = run('aws', ['--endpoint-url', server.s3Endpoint, ...presign], {
      ...awsEnv(server),
      AWS_CONFIG_FILE: config,
    }).trim();
    assert.match(url, /X-Amz-Signature=/);
    assert.ok(curl(url).equals(files.get('d9/e9/f9.txt') as Buffer));
    awsCli(server, 's3', 'rm', '--only-show-errors', 's3://flows-aws/big');
  });

  test('s3cmd: sync 1,000 files, 1 GiB multipart, delimiter listings', {
    skip: has('s3cmd') ? false : 's3cmd is not installed (.ci/run installs it)',
  }, () => {
    s3cmd(server, 'mb', 's3://flows-cmd');
    s3cmd(server, 'sync', '--no-progress', '--quiet', `${tree}/`, 's3://flows-cmd/tree/');
    const back = join(work, 'cmd-back');
    mkdirSync(back);
    s3cmd(server, 'sync', '--no-progress', '--quiet', 's3://flows-cmd/tree/', `${back}/`);
    checkTree(back, files, 's3cmd sync');
    const top = s3cmd(server, 'ls', 's3://flows-cmd/tree/');
    assert.deepEqual(
      [...top.matchAll(/DIR +s3:\/\/flows-cmd\/tree\/(\S+)/g)].map((m) => m[1]),
      Array.from({ length: 10 }, (_, d) => `d${d}/`),
    );
    s3cmd(server, 'put', '--no-progress', big, 's3://flows-cmd/big');
    const down = join(work, 'cmd-big');
    s3cmd(server, 'get', '--no-progress', '--force', 's3://flows-cmd/big', down);
    assert.equal(sha256File(down), bigSha);
    rmSync(down);
    s3cmd(server, 'del', 's3://flows-cmd/big');
  });

  test('rclone: sync 1,000 files, 1 GiB multipart, presigned link, delimiter listings', {
    skip: has('rclone') ? false : 'rclone is not installed (.ci/run installs it)',
  }, () => {
    rclone(server, work, 'mkdir', 'strata:flows-rc');
    rclone(server, work, 'sync', tree, 'strata:flows-rc/tree');
    const back = join(work, 'rc-back');
    rclone(server, work, 'sync', 'strata:flows-rc/tree', back);
    checkTree(back, files, 'rclone sync');
    rclone(server, work, 'check', tree, 'strata:flows-rc/tree');
    const top = rclone(server, work, 'lsf', 'strata:flows-rc/tree');
    assert.deepEqual(
      top.trim().split('\n'),
      Array.from({ length: 10 }, (_, d) => `d${d}/`),
    );
    rclone(server, work, 'copyto', big, 'strata:flows-rc/big');
    const down = join(work, 'rc-big');
    rclone(server, work, 'copyto', 'strata:flows-rc/big', down);
    assert.equal(sha256File(down), bigSha);
    rmSync(down);
    const url = rclone(
      server,
      work,
      'link',
      '--expire',
      '5m',
      'strata:flows-rc/tree/d0/e1/f2.txt',
    ).trim();
    assert.ok(curl(url).equals(files.get('d0/e1/f2.txt') as Buffer));
    rclone(server, work, 'deletefile', 'strata:flows-rc/big');
  });
});
