// A mount with write-behind (src/client/write-behind.ts, on by default) and a second mount of the
// same server: creates and unlinks in a busy directory go out as write-behind batches, and the
// other mount still sees every file the first one created and closed (close-to-open), with its
// bytes; so does S3, which also writes beside it; --no-write-behind sends none.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { canMount, type StrataMount, startMount } from '../helpers/mount.ts';
import { s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const FILES = 200;

async function counter(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(url)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

describe('write-behind namespace changes between two mounts', { skip: !canMount }, () => {
  let server: StrataProcess;
  let behind: StrataMount;
  let other: StrataMount;
  before(async () => {
    server = await startStrata();
    behind = await startMount(server.metadataAddr, { args: ['--write-behind'] });
    other = await startMount(server.metadataAddr);
    mkdirSync(join(behind.mountPoint, 'wb', 'dir'), { recursive: true });
  });
  after(async () => {
    await behind?.stop();
    await other?.stop();
    await server?.stop();
  });

  const batches = () =>
    counter(server.metricsUrl, /strata_metadata_commands_total\{op="dirBatch",code="ok"\} (\d+)/);

  test('files created and closed here are seen there, with their bytes', async () => {
    const here = join(behind.mountPoint, 'wb', 'dir');
    const there = join(other.mountPoint, 'wb', 'dir');
    const before = await batches();
    for (let i = 0; i < FILES; i++) closeSync(openSync(join(here, `f${i}`), 'wx'));
    writeFileSync(join(here, 'data'), 'bytes written behind');
    assert.ok((await batches()) > before, 'the creates went out as write-behind batches');
    // The name is taken: O_EXCL says so from what the mount holds.
    assert.throws(() => openSync(join(here, 'f0'), 'wx'), { code: 'EEXIST' });

    // The other mount's reads wait until this one gave the directory back.
    const names = readdirSync(there);
    assert.equal(names.length, FILES + 1);
    assert.equal(readFileSync(join(there, 'data'), 'utf8'), 'bytes written behind');
    assert.equal(statSync(join(there, `f${FILES - 1}`)).size, 0);

    // Unlinks, then the other mount's view; and a file the other mount makes meanwhile.
    for (let i = 0; i < FILES; i += 2) unlinkSync(join(here, `f${i}`));
    writeFileSync(join(there, 'from-other'), 'x');
    assert.equal(readdirSync(there).length, FILES / 2 + 2);
    assert.equal(readFileSync(join(here, 'from-other'), 'utf8'), 'x');
    // (Names the other mount looked up stay in its kernel's cache for up to 1 s, as always: the
    // listing above is read afresh.)
    assert.ok(!readdirSync(there).includes('f0'));
    assert.equal(statSync(join(there, 'f1')).isFile(), true);
  });

  test('more creates than one range of inode numbers, from two processes at once', async () => {
    const dirs = ['one', 'two'].map((d) => join(behind.mountPoint, 'wb', d));
    for (const dir of dirs) mkdirSync(dir);
    const perDir = 2600; // 5,200 in all: past the first 4,096 numbers reserved
    const creator = (dir: string) =>
      new Promise<number | null>((resolve) => {
        const script = `const fs = require('node:fs');
          for (let i = 0; i < ${perDir}; i++) fs.closeSync(fs.openSync('${dir}/n' + i, 'wx'));`;
        spawn(process.execPath, ['-e', script], { stdio: 'inherit' }).on('exit', resolve);
      });
    assert.deepEqual(await Promise.all(dirs.map(creator)), [0, 0]);
    for (const d of ['one', 'two'])
      assert.equal(readdirSync(join(other.mountPoint, 'wb', d)).length, perDir);
    assert.doesNotMatch(behind.output(), /write-behind changes lost/);
  });

  test('S3 sees what the mount made behind, and writes beside it', async () => {
    const here = join(behind.mountPoint, 'wb', 's3dir');
    mkdirSync(here);
    for (let i = 0; i < 100; i++) writeFileSync(join(here, `k${i}`), i % 10 === 0 ? `v${i}` : '');
    for (let i = 100; i < 150; i++) closeSync(openSync(join(here, `k${i}`), 'wx'));
    const s3 = s3Client(server);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: 'wb', Prefix: 's3dir/', ContinuationToken: token }),
      );
      keys.push(...(page.Contents ?? []).map((o) => o.Key as string));
      token = page.NextContinuationToken;
    } while (token);
    assert.equal(keys.filter((k) => !k.endsWith('/')).length, 150); // not the directory's own key
    const got = await s3.send(new GetObjectCommand({ Bucket: 'wb', Key: 's3dir/k10' }));
    assert.equal(await got.Body?.transformToString(), 'v10');
    // A PUT into the directory while the mount keeps creating there.
    const creating = Array.from({ length: 100 }, (_, i) => `m${i}`);
    const put = s3.send(new PutObjectCommand({ Bucket: 'wb', Key: 's3dir/from-s3', Body: 'put' }));
    for (const name of creating) closeSync(openSync(join(here, name), 'wx'));
    await put;
    // A listing is read afresh; a name looked up may be answered from a lease for up to 1 s (the
    // mount's lookups made it one), as between any two clients.
    assert.ok(readdirSync(here).includes('from-s3'));
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(readFileSync(join(here, 'from-s3'), 'utf8'), 'put');
    s3.destroy();
  });

  test('a mkdir in a held directory is answered behind too, and the new directory works at once', async () => {
    const here = join(behind.mountPoint, 'wb', 'tree');
    const there = join(other.mountPoint, 'wb', 'tree');
    mkdirSync(here);
    const metricsAt = /^metrics at (\S+)$/m.exec(behind.output())?.[1] as string;
    const held = () => counter(metricsAt, /^strata_fuse_held_directories (\d+)/m);
    for (let i = 0; (await held()) === 0; i++) {
      assert.ok(i < 2000, 'the directory was never delegated to the mount');
      closeSync(openSync(join(here, `f${i}`), 'wx'));
    }
    const mkdirs = () =>
      counter(server.metricsUrl, /strata_metadata_commands_total\{op="mkdir",code="ok"\} (\d+)/);
    const before = await mkdirs();
    for (let i = 0; i < 10; i++) {
      mkdirSync(join(here, `d${i}`), 0o750);
      writeFileSync(join(here, `d${i}`, 'inner'), `in ${i}`);
    }
    assert.throws(() => mkdirSync(join(here, 'd0')), { code: 'EEXIST' });
    assert.equal(await mkdirs(), before, 'no mkdir was committed on its own');
    for (let i = 0; i < 10; i++) {
      assert.equal(statSync(join(there, `d${i}`)).mode & 0o7777, 0o750);
      assert.equal(readFileSync(join(there, `d${i}`, 'inner'), 'utf8'), `in ${i}`);
    }
    assert.equal(statSync(there).nlink, 12, 'the parent counts its ten new subdirectories');
    assert.equal(statSync(here).nlink, 12);
  });

  test("renames within a held directory are answered behind (rsync's temporary files)", async () => {
    const here = join(behind.mountPoint, 'wb', 'sync');
    const there = join(other.mountPoint, 'wb', 'sync');
    mkdirSync(here);
    const metricsAt = /^metrics at (\S+)$/m.exec(behind.output())?.[1] as string;
    for (let i = 0; (await counter(metricsAt, /^strata_fuse_held_directories (\d+)/m)) === 0; i++) {
      assert.ok(i < 2000, 'the directory was never delegated to the mount');
      writeFileSync(join(here, `old${i}`), `old ${i}`);
    }
    const renames = () =>
      counter(server.metricsUrl, /strata_metadata_commands_total\{op="rename",code="ok"\} (\d+)/);
    const before = await renames();
    // A file held open here and then replaced stays readable through its descriptor.
    const open = openSync(join(here, 'old0'), 'r');
    for (let i = 0; i < 20; i++) {
      writeFileSync(join(here, `.tmp${i}`), `new ${i}`);
      renameSync(join(here, `.tmp${i}`), join(here, `old${i}`)); // over an existing file
      writeFileSync(join(here, `.fresh${i}`), `fresh ${i}`);
      renameSync(join(here, `.fresh${i}`), join(here, `fresh${i}`)); // to an absent name
    }
    assert.equal(await renames(), before, 'no rename was committed on its own');
    assert.equal(readFileSync(open, 'utf8'), 'old 0');
    closeSync(open);
    assert.throws(() => renameSync(join(here, '.tmp0'), join(here, 'x')), { code: 'ENOENT' });
    const names = readdirSync(there);
    for (let i = 0; i < 20; i++) {
      assert.equal(readFileSync(join(there, `old${i}`), 'utf8'), `new ${i}`);
      assert.equal(readFileSync(join(there, `fresh${i}`), 'utf8'), `fresh ${i}`);
      assert.ok(!names.includes(`.tmp${i}`) && !names.includes(`.fresh${i}`));
    }
  });

  test('a directory held here is renamed and removed as any other', async () => {
    const top = join(behind.mountPoint, 'wb');
    mkdirSync(join(top, 'moving'));
    for (let i = 0; i < 30; i++) closeSync(openSync(join(top, 'moving', `x${i}`), 'wx'));
    renameSync(join(top, 'moving'), join(top, 'moved'));
    assert.equal(readdirSync(join(other.mountPoint, 'wb', 'moved')).length, 30);
    for (let i = 0; i < 30; i++) unlinkSync(join(top, 'moved', `x${i}`));
    rmdirSync(join(top, 'moved'));
    assert.ok(!readdirSync(join(other.mountPoint, 'wb')).includes('moved'));
  });

  test('--no-write-behind commits every change before answering it', async () => {
    const plain = await startMount(server.metadataAddr, { args: ['--no-write-behind'] });
    try {
      const dir = join(plain.mountPoint, 'wb', 'plain');
      mkdirSync(dir);
      const before = await batches();
      for (let i = 0; i < 50; i++) closeSync(openSync(join(dir, `p${i}`), 'wx'));
      for (let i = 0; i < 50; i++) unlinkSync(join(dir, `p${i}`));
      assert.equal(await batches(), before);
    } finally {
      await plain.stop();
    }
  });

  test('the other mount changing the directory meanwhile takes it back', async () => {
    const here = join(behind.mountPoint, 'wb', 'busy');
    const there = join(other.mountPoint, 'wb', 'busy');
    mkdirSync(here);
    for (let i = 0; i < 50; i++) closeSync(openSync(join(here, `a${i}`), 'wx'));
    // Interleaved: each side's create waits for the directory or takes it back.
    for (let i = 0; i < 20; i++) {
      closeSync(openSync(join(there, `b${i}`), 'wx'));
      closeSync(openSync(join(here, `c${i}`), 'wx'));
    }
    const seenThere = readdirSync(there).sort();
    const seenHere = readdirSync(here).sort();
    assert.equal(seenThere.length, 90);
    assert.deepEqual(seenHere, seenThere);
  });
});
