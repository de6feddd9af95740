// strata-mount against a real server, as root through /dev/fuse: objects put through S3 are files
// with the same bytes, files written through the mount are objects with the same bytes, buckets
// and prefixes are directories, ordinary tools (ls, cat, cmp, stat, dd, find, df) work, `-o ro`
// refuses writes with EROFS, Ctrl-C unmounts, and a mount left dead by a killed process is
// cleared by the next strata-mount.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  canMount,
  MOUNT_BIN,
  startMount as mountAt,
  mounted,
  type StrataMount,
  sh,
} from '../helpers/mount.ts';
import { patternBytes, s3Client } from '../helpers/s3.ts';
import { runStrata, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

describe('strata-mount', { skip: canMount ? false : 'needs root and /dev/fuse' }, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let mountPoint: string;
  let mount: StrataMount | undefined;
  const big = patternBytes(5 * 1024 * 1024 + 333, 41);

  async function startMount(args: string[] = []): Promise<void> {
    mount = await mountAt(server.metadataAddr, { mountPoint, args });
  }

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'mnt' }));
    await s3.send(
      new PutObjectCommand({ Bucket: 'mnt', Key: 'docs/hello.txt', Body: 'hello, mount\n' }),
    );
    await s3.send(new PutObjectCommand({ Bucket: 'mnt', Key: 'big.bin', Body: big }));
    for (let i = 0; i < 150; i++) {
      await s3.send(
        new PutObjectCommand({
          Bucket: 'mnt',
          Key: `many/f${String(i).padStart(3, '0')}`,
          Body: String(i),
        }),
      );
    }
    mountPoint = join(tempDir('strata-mnt-'), 'mnt');
    mkdirSync(mountPoint);
    await startMount();
  });
  after(async () => {
    if (mountPoint && mounted(mountPoint)) spawnSync('umount', ['-l', mountPoint]);
    await mount?.kill();
    s3?.destroy();
    await server?.stop();
  });

  test('objects put through S3 are files with the same bytes; buckets and prefixes are directories', () => {
    assert.equal(readFileSync(join(mountPoint, 'mnt/docs/hello.txt'), 'utf8'), 'hello, mount\n');
    const read = readFileSync(join(mountPoint, 'mnt/big.bin'));
    assert.equal(
      createHash('sha256').update(read).digest('hex'),
      createHash('sha256').update(big).digest('hex'),
    );
    const st = statSync(join(mountPoint, 'mnt/big.bin'));
    assert.equal(st.size, big.length);
    assert.ok(st.isFile());
    assert.ok(statSync(join(mountPoint, 'mnt/docs')).isDirectory());
    assert.deepEqual(sh(`ls ${mountPoint}/mnt`).stdout.trim().split('\n'), [
      'big.bin',
      'docs',
      'many',
    ]);
  });

  test('ordinary tools: a listing of 150 entries, find, dd at an offset, df', () => {
    const names = sh(`ls ${mountPoint}/mnt/many`).stdout.trim().split('\n');
    assert.equal(names.length, 150);
    assert.equal(names[0], 'f000');
    assert.equal(names[149], 'f149');
    assert.equal(sh(`find ${mountPoint}/mnt -type f | wc -l`).stdout.trim(), '152');
    const dd = spawnSync(
      'dd',
      [`if=${join(mountPoint, 'mnt/big.bin')}`, 'bs=4096', 'skip=1000', 'count=3', 'status=none'],
      {
        maxBuffer: 1 << 20,
      },
    );
    assert.equal(dd.status, 0);
    assert.ok(dd.stdout.equals(big.subarray(4096 * 1000, 4096 * 1003)));
    const df = sh(`df -k ${mountPoint} | tail -1`).stdout.trim().split(/\s+/);
    assert.ok(Number(df[1]) > 0, `df reports the cluster's capacity: ${df.join(' ')}`);
  });

  test('a file written through the mount is an object with the same bytes, through S3', async () => {
    const data = patternBytes(9 * 1024 * 1024 + 17, 7);
    writeFileSync(join(mountPoint, 'mnt/by-mount.bin'), data);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'mnt', Key: 'by-mount.bin' }));
    const bytes = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    assert.equal(bytes.length, data.length);
    assert.ok(bytes.equals(data), 'the same bytes through S3');
    mkdirSync(join(mountPoint, 'mnt/sub/dir'), { recursive: true });
    writeFileSync(join(mountPoint, 'mnt/sub/dir/small.txt'), 'small\n');
    const small = await s3.send(new GetObjectCommand({ Bucket: 'mnt', Key: 'sub/dir/small.txt' }));
    assert.equal(
      await (small.Body as { transformToString(): Promise<string> }).transformToString(),
      'small\n',
    );
  });

  test('FIFOs and symbolic links made through the mount are not objects (not listed, NoSuchKey); strata fs ls shows them', async () => {
    const dir = join(mountPoint, 'mnt/posix-only');
    mkdirSync(dir);
    writeFileSync(join(dir, 'file.txt'), 'f');
    assert.equal(sh(`mkfifo '${dir}/pipe' && ln -s file.txt '${dir}/link'`).status, 0);
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: 'mnt', Prefix: 'posix-only/' }),
    );
    assert.deepEqual(
      (listed.Contents ?? []).map((o) => o.Key),
      ['posix-only/', 'posix-only/file.txt'],
    );
    for (const key of ['posix-only/pipe', 'posix-only/link']) {
      await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'mnt', Key: key })), {
        name: 'NoSuchKey',
      });
    }
    const ls = await runStrata([
      'fs',
      'ls',
      '/mnt/posix-only',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout.toString(), /^p0644 .* pipe$/m);
    assert.match(ls.stdout.toString(), /^l0777 .* link$/m);
  });

  test('a bad --cache-size is a usage error that names the flag', async () => {
    const run = spawnSync(process.execPath, [MOUNT_BIN, mountPoint, '--cache-size', 'lots'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--cache-size: not a size: lots/);
  });

  test('the mount serves Prometheus metrics: requests by operation, bytes, dirty bytes', async () => {
    const url = /^metrics at (\S+)$/m.exec(mount?.output() ?? '')?.[1];
    assert.ok(url, 'the mount prints where its metrics are');
    const text = await (await fetch(url)).text();
    assert.match(text, /strata_fuse_requests_total\{op="write",errno="0"\} [1-9]/);
    assert.match(text, /strata_fuse_requests_total\{op="lookup",errno="2"\} [1-9]/);
    assert.match(text, /strata_fuse_bytes_total\{direction="read"\} [1-9]/);
    assert.match(text, /strata_fuse_dirty_bytes 0/);
    assert.match(text, /strata_fuse_request_duration_seconds_bucket\{le="0.001",op="getattr"\}/);
  });

  test("the kernel reads ahead a stripe's worth on the mount (4 MiB with the defaults)", () => {
    const dev = statSync(mountPoint, { bigint: true }).dev;
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
    const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
    const kib = readFileSync(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, 'utf8').trim();
    assert.equal(kib, '4096');
  });

  test('strata cluster mounts lists the mount and its session', async () => {
    const run = await runStrata([
      'cluster',
      'mounts',
      '--metadata-addr',
      server.metadataAddr,
      '--json',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const mounts = JSON.parse(run.stdout.toString()) as Array<{ description?: string }>;
    assert.ok(
      mounts.some((m) => m.description?.includes(mountPoint)),
      `the mount at ${mountPoint} is listed: ${run.stdout}`,
    );
  });

  test('a missing name is ENOENT; with -o ro writes are refused with EROFS', async () => {
    assert.throws(
      () => statSync(join(mountPoint, 'mnt/nope')),
      (e: { code?: string }) => e.code === 'ENOENT',
    );
    await mount?.stop();
    await startMount(['-o', 'ro']);
    assert.throws(
      () => writeFileSync(join(mountPoint, 'mnt/new.txt'), 'x'),
      (e: { code?: string }) => e.code === 'EROFS',
    );
    assert.equal(readFileSync(join(mountPoint, 'mnt/docs/hello.txt'), 'utf8'), 'hello, mount\n');
    await mount?.stop();
    await startMount();
  });

  test('Ctrl-C unmounts cleanly; a mount left dead by kill -9 is cleared by the next strata-mount', async () => {
    const child = mount?.process;
    child?.kill('SIGINT');
    await new Promise<void>((resolve) => child?.once('exit', () => resolve()));
    assert.equal(
      mounted(mountPoint),
      false,
      `unmounted after SIGINT (exit ${child?.exitCode}/${child?.signalCode}):\n${mount?.output()}`,
    );

    await startMount();
    await mount?.kill();
    assert.equal(mounted(mountPoint), true, 'a killed mount process leaves its mount behind');
    // Anything that needs the dead process fails (the root's attributes may still be cached).
    assert.throws(
      () => statSync(join(mountPoint, `not-cached-${Date.now()}`)),
      (e: { code?: string }) => e.code === 'ENOTCONN',
    );
    await startMount();
    assert.equal(readFileSync(join(mountPoint, 'mnt/docs/hello.txt'), 'utf8'), 'hello, mount\n');
  });
});
