// Small files inline through a real mount (docs/architecture/overview.md, "Small files inline"):
// a small file written through the mount creates no shard file, and files that grow past the
// threshold (by appends, by one large write, by a truncate up) or shrink below it read the same
// through the mount and through S3 as a model of their bytes says.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { canMount, mounted, type StrataMount, startMount } from '../helpers/mount.ts';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { runFsx } from './fsx/checker.ts';

const KiB = 1024;
const THRESHOLD = 64 * KiB; // erasure_coding.inline_max_bytes's default

function shardFiles(dataDir: string): Set<string> {
  const disks = join(dataDir, 'disks');
  const files = new Set<string>();
  for (const name of readdirSync(disks, { recursive: true, encoding: 'utf8' })) {
    const stat = statSync(join(disks, name), { throwIfNoEntry: false });
    if (name.includes('shards') && stat?.isFile()) files.add(name);
  }
  return files;
}

describe('small files inline through the mount', { skip: canMount ? false : 'needs root' }, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let mount: StrataMount;
  let dir: string;
  const s3Bytes = async (Key: string) =>
    bodyBytes((await s3.send(new GetObjectCommand({ Bucket: 'fsi', Key }))).Body);
  // Both views hold exactly `expected`.
  const same = async (name: string, expected: Buffer) => {
    const viaMount = readFileSync(join(dir, name));
    assert.equal(viaMount.length, expected.length, `${name}: size through the mount`);
    assert.ok(viaMount.equals(expected), `${name}: bytes through the mount`);
    assert.ok((await s3Bytes(name)).equals(expected), `${name}: bytes through S3`);
  };
  const shardsAddedBy = async (step: () => unknown) => {
    const before = shardFiles(server.dataDir);
    await step();
    return [...shardFiles(server.dataDir)].filter((name) => !before.has(name)).length;
  };

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'fsi' }));
    const mountPoint = join(tempDir('strata-inline-mnt-'), 'mnt');
    mkdirSync(mountPoint);
    mount = await startMount(server.metadataAddr, { mountPoint });
    dir = join(mountPoint, 'fsi');
  });
  after(async () => {
    if (mount && mounted(mount.mountPoint)) await mount.stop();
    if (mount && mounted(mount.mountPoint)) spawnSync('umount', ['-l', mount.mountPoint]);
    s3?.destroy();
    await server?.stop();
  });

  test('a small file written through the mount creates no shard file', async () => {
    const body = patternBytes(3000, 1);
    const added = await shardsAddedBy(() => writeFileSync(join(dir, 'small'), body));
    assert.equal(added, 0);
    await same('small', body);
  });

  test('an S3 object inline reads through the mount with pread at any offset', async () => {
    const body = patternBytes(20_000, 2);
    await s3.send(new PutObjectCommand({ Bucket: 'fsi', Key: 'from-s3', Body: body }));
    const fd = openSync(join(dir, 'from-s3'), 'r');
    try {
      for (const [offset, length] of [
        [0, 10],
        [4095, 2],
        [19_990, 100],
        [7000, 8192],
      ]) {
        const out = Buffer.alloc(length);
        const n = readSync(fd, out, 0, length, offset);
        const want = body.subarray(offset, offset + length);
        assert.ok(out.subarray(0, n).equals(want), `pread(${offset}, ${length})`);
      }
    } finally {
      closeSync(fd);
    }
  });

  test('a file growing past the threshold by appends keeps every byte', async () => {
    const chunk = (i: number) => patternBytes(5000, 100 + i);
    let model = Buffer.alloc(0);
    for (let i = 0; i < 16; i++) {
      appendFileSync(join(dir, 'appended'), chunk(i)); // open, write, close: one save each
      model = Buffer.concat([model, chunk(i)]);
      if (i === 5) await same('appended', model); // still inline
    }
    assert.ok(model.length > THRESHOLD);
    await same('appended', model);
  });

  test('one large write into a small file, then an overwrite in the middle', async () => {
    const path = join(dir, 'grown');
    const model = Buffer.from(patternBytes(1000, 3));
    writeFileSync(path, model);
    const large = patternBytes(200 * KiB, 4);
    const fd = openSync(path, 'r+');
    try {
      writeSync(fd, large, 0, large.length, 500);
    } finally {
      closeSync(fd);
    }
    const expected = Buffer.concat([model.subarray(0, 500), large]);
    await same('grown', expected);
    const patch = Buffer.from('PATCHED');
    const fd2 = openSync(path, 'r+');
    try {
      writeSync(fd2, patch, 0, patch.length, 100_000);
    } finally {
      closeSync(fd2);
    }
    patch.copy(expected, 100_000);
    await same('grown', expected);
  });

  test('truncate: down below the threshold, up past it, small rewrites after', async () => {
    const path = join(dir, 'cut');
    const big = patternBytes(150 * KiB, 5);
    writeFileSync(path, big);
    truncateSync(path, 1000);
    await same('cut', big.subarray(0, 1000));
    const small = patternBytes(2000, 6);
    writeFileSync(join(dir, 'cut2'), small); // inline
    truncateSync(join(dir, 'cut2'), 100 * KiB); // past the threshold: spilled, then a hole
    await same('cut2', Buffer.concat([small, Buffer.alloc(100 * KiB - small.length)]));
    truncateSync(join(dir, 'cut2'), 10);
    await same('cut2', small.subarray(0, 10));
    const fd = openSync(join(dir, 'cut2'), 'r+');
    try {
      writeSync(fd, Buffer.from('xyz'), 0, 3, 4);
    } finally {
      closeSync(fd);
    }
    const expected = Buffer.from(small.subarray(0, 10));
    expected.write('xyz', 4);
    await same('cut2', expected);
  });

  // fsx with files of at most twice the threshold: its writes, truncates and appends cross it
  // both ways again and again, each step checked against the model.
  for (const seed of [31, 32]) {
    test(`fsx seed ${seed}: 1500 operations on a file around the threshold`, async () => {
      await runFsx({ path: join(dir, `fsx${seed}`), seed, ops: 1500, maxFileSize: 2 * THRESHOLD });
    });
  }

  test('the mount counted inline writes, reads and spills (so the paths above ran)', async () => {
    const url = /^metrics at (\S+)$/m.exec(mount.output())?.[1];
    assert.ok(url, mount.output());
    const page = await (await fetch(url)).text();
    const value = (series: string) =>
      Number(
        page
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.slice(series.length + 1) ?? 0,
      );
    assert.ok(value('strata_inline_writes_total{view="posix"}') > 0, page);
    assert.ok(value('strata_inline_reads_total') > 0);
    // appends, the large write and the truncate up each spilled a file.
    assert.ok(value('strata_inline_spills_total') >= 3, page);
  });
});
