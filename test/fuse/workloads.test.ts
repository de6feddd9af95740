// Ordinary programs, unmodified, on a strata-mount: git (init, commit, log, clone, status, fsck),
// sqlite3 (rollback journal and WAL, with a second process reading while the first writes), tar x
// and tar c, cp -a, rsync -a, make, an editor's save-by-rename under an open fd, dd conv=fsync and
// a verifying fio job. Every expectation is computed from the original data, never measured.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canMount, mounted, type StrataMount, sh, startMount } from '../helpers/mount.ts';
import { type ProcessResult, runProcess } from '../helpers/process.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const has = (tool: string): boolean => sh(`command -v ${tool}`).status === 0;

function ok(script: string, cwd?: string): string {
  const r = sh(`set -e\n${script}`, { cwd });
  assert.equal(r.status, 0, `${script}\nexit ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function run(cmd: string, args: string[], input?: string): Promise<ProcessResult> {
  return runProcess(cmd, args, { input: input ?? '' });
}

// sha256 of every regular file and the target of every symlink under root, by relative path.
function digests(root: string, rel = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = join(rel, name);
    const st = lstatSync(join(root, path));
    if (st.isDirectory()) for (const [k, v] of digests(root, path)) out.set(k, v);
    else if (st.isSymbolicLink())
      out.set(path, `-> ${sh(`readlink '${join(root, path)}'`).stdout}`);
    else
      out.set(
        path,
        createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex'),
      );
  }
  return out;
}

// `stat -c '%n %a %s %Y %F %h'` of every entry, sorted. A directory's size is the file system's
// own business (4096 on ext4, 0 here), so it is left out; `times: false` leaves out regular files'
// mtimes (checked on their own, see the mtime test below).
function stats(root: string, options: { times?: boolean; links?: boolean } = {}): string[] {
  const lines = ok(`find . -exec stat -c '%n|%a|%s|%Y|%F|%h' {} +`, root).trim().split('\n');
  return lines
    .map((line) => {
      const [name, mode, size, mtime, type, nlink] = line.split('|');
      const shownSize = type === 'directory' ? '-' : size;
      const shownTime = options.times === false && type.startsWith('regular') ? '-' : mtime;
      const shownLinks = options.links === false ? '-' : nlink;
      return [name, mode, shownSize, shownTime, type, shownLinks].join(' ');
    })
    .sort();
}

// `tar tvf` of an archive; `times: false` masks the date and time of regular files and hard links.
function listing(archive: string, options: { times?: boolean } = {}): string[] {
  return ok(`tar tvf '${archive}'`)
    .trim()
    .split('\n')
    .map((line) =>
      options.times === false && /^[-h]/.test(line)
        ? line.replace(/\d{4}-\d\d-\d\d \d\d:\d\d/, '<time>')
        : line,
    );
}

describe('ordinary programs on the mount', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let server: StrataProcess;
  let mount: StrataMount | undefined;
  let bucket: string;
  let local: string; // a directory on the local file system, the reference
  let tree: string; // the original tree: sizes, modes, symlinks, a hard link, old mtimes

  before(async () => {
    server = await startStrata();
    mount = await startMount(server.metadataAddr);
    bucket = join(mount.mountPoint, 'work');
    mkdirSync(bucket);
    local = tempDir('strata-workloads-');
    tree = join(local, 'tree');
    mkdirSync(join(tree, 'sub/deep'), { recursive: true });
    mkdirSync(join(tree, 'empty-dir'), { mode: 0o700 });
    writeFileSync(join(tree, 'empty'), '');
    writeFileSync(join(tree, 'one-byte'), 'x', { mode: 0o600 });
    writeFileSync(join(tree, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    writeFileSync(join(tree, 'sub/page-and-one'), randomBytes(4097), { mode: 0o640 });
    writeFileSync(join(tree, 'sub/odd'), randomBytes(128 * 1024 + 1));
    writeFileSync(join(tree, 'sub/deep/big'), randomBytes(3 * 1024 * 1024 + 17));
    linkSync(join(tree, 'sub/page-and-one'), join(tree, 'sub/hard-link'));
    symlinkSync('sub/odd', join(tree, 'link-to-file'));
    symlinkSync('sub/deep', join(tree, 'link-to-dir'));
    symlinkSync('nowhere', join(tree, 'dangling'));
    // Old, distinct mtimes: files first, then symlinks (-h), then directories deepest first.
    const files = ['empty', 'one-byte', 'run.sh', 'sub/page-and-one', 'sub/odd', 'sub/deep/big'];
    const links = ['link-to-file', 'link-to-dir', 'dangling'];
    const dirs = ['sub/deep', 'sub', 'empty-dir', '.'];
    const when = (k: number) => 1_000_000_000 + 3600 * k;
    for (const [k, f] of files.entries()) utimesSync(join(tree, f), when(k), when(k));
    for (const [k, l] of links.entries()) ok(`touch -h -d @${when(10 + k)} '${join(tree, l)}'`);
    for (const [k, d] of dirs.entries()) utimesSync(join(tree, d), when(20 + k), when(20 + k));
  });

  after(async () => {
    if (mount && mounted(mount.mountPoint)) await mount.stop();
    await mount?.kill();
    await server?.stop();
  });

  test('git: init, add, commit, log, clone, status clean, fsck', () => {
    const env =
      'export GIT_AUTHOR_NAME=Ann GIT_AUTHOR_EMAIL=ann@example.com GIT_COMMITTER_NAME=Ann ' +
      'GIT_COMMITTER_EMAIL=ann@example.com GIT_CONFIG_NOSYSTEM=1 HOME=' +
      local;
    const repo = join(bucket, 'repo');
    ok(`${env}
      git init -q -b main '${repo}'
      cd '${repo}'
      mkdir -p src docs
      for i in $(seq 1 20); do echo "line $i" > src/f$i.txt; done
      head -c 200000 /dev/urandom > docs/blob.bin
      git add . && git commit -q -m first
      echo change >> src/f1.txt && git rm -q src/f2.txt && git mv src/f3.txt src/moved.txt
      git commit -q -a -m second
      echo third > docs/third.md && git add docs && git commit -q -m third`);
    assert.deepEqual(ok(`git log --format=%s`, repo).trim().split('\n'), [
      'third',
      'second',
      'first',
    ]);
    assert.equal(ok('git status --porcelain', repo), '');
    const clone = join(bucket, 'clone');
    ok(`${env}; git clone -q '${repo}' '${clone}'`);
    assert.equal(ok('git status --porcelain', clone), '');
    assert.equal(ok('git rev-parse HEAD', clone), ok('git rev-parse HEAD', repo));
    ok('git fsck --full --strict', repo);
    ok('git fsck --full --strict', clone);
    assert.deepEqual(digests(clone, 'src'), digests(repo, 'src'));
    assert.deepEqual(digests(clone, 'docs'), digests(repo, 'docs'));
    // A working tree the index agrees with after a fresh checkout of every file.
    ok(`${env}; git checkout -q HEAD~1 && git checkout -q main && git status --porcelain`, clone);
    assert.equal(readFileSync(join(clone, 'src/f1.txt'), 'utf8'), 'line 1\nchange\n');
  });

  for (const mode of ['delete', 'wal']) {
    test(`sqlite3 (journal_mode=${mode}): 10,000 rows in transactions, a concurrent reader, integrity_check ok`, {
      skip: has('sqlite3') ? false : 'sqlite3 is not installed',
    }, async () => {
      const db = join(bucket, `rows-${mode}.db`);
      const set = ok(
        `sqlite3 '${db}' 'PRAGMA journal_mode=${mode}; CREATE TABLE t(i INTEGER PRIMARY KEY, v TEXT NOT NULL);'`,
      );
      assert.equal(set.trim(), mode);
      const batches = 10;
      const perBatch = 1000;
      let sql = '.timeout 10000\n';
      let expectedLength = 0;
      for (let b = 0; b < batches; b++) {
        sql += 'BEGIN;\n';
        for (let i = b * perBatch + 1; i <= (b + 1) * perBatch; i++) {
          const v = `row ${i} ${'#'.repeat(i % 97)}`;
          expectedLength += v.length;
          sql += `INSERT INTO t VALUES (${i}, '${v}');\n`;
        }
        sql += 'COMMIT;\n';
      }
      // The writer in one process; a second process counts rows until the writer is done. Every
      // count it sees is a whole number of committed transactions, never going back.
      let writing = true;
      const writer = run('sqlite3', [db], sql).finally(() => {
        writing = false;
      });
      const counts: number[] = [];
      while (writing || counts.length === 0) {
        const r = await run('sqlite3', ['-cmd', '.timeout 10000', db, 'SELECT count(*) FROM t;']);
        assert.equal(r.status, 0, r.stderr);
        counts.push(Number(r.stdout.trim()));
      }
      const w = await writer;
      assert.equal(w.status, 0, w.stderr);
      assert.equal(w.stderr, '');
      for (const [k, c] of counts.entries()) {
        assert.equal(c % perBatch, 0, `reader saw ${c} rows: part of a transaction`);
        if (k > 0) assert.ok(c >= counts[k - 1], `reader saw ${counts[k - 1]} then ${c} rows`);
      }
      const check = ok(
        `sqlite3 '${db}' 'PRAGMA journal_mode; PRAGMA integrity_check; SELECT count(*), sum(i), sum(length(v)) FROM t;'`,
      );
      const n = batches * perBatch;
      assert.deepEqual(check.trim().split('\n'), [
        mode,
        'ok',
        `${n}|${(n * (n + 1)) / 2}|${expectedLength}`,
      ]);
    });
  }

  test('tar x into the mount and tar c back: same listing, same bytes', () => {
    const src = join(local, 'src.tar');
    ok(`tar --sort=name -cf '${src}' -C '${tree}' .`);
    const dest = join(bucket, 'tar-x');
    mkdirSync(dest);
    ok(`tar -xpf '${src}' -C '${dest}'`);
    const back = join(local, 'back.tar');
    ok(`tar --sort=name -cf '${back}' -C '${dest}' .`);
    assert.deepEqual(listing(back, { times: false }), listing(src, { times: false }));
    assert.deepEqual(digests(dest), digests(tree));
    const unpacked = join(local, 'back');
    mkdirSync(unpacked);
    ok(`tar -xpf '${back}' -C '${unpacked}'`);
    assert.deepEqual(digests(unpacked), digests(tree));
    assert.deepEqual(stats(dest, { times: false }), stats(tree, { times: false }));
  });

  test('cp -a of the tree: diff -r finds nothing, every entry has the same mode, size, type, links', () => {
    const dest = join(bucket, 'cp-a');
    ok(`cp -a '${tree}' '${dest}'`);
    ok(`diff -r --no-dereference '${tree}' '${dest}'`);
    assert.deepEqual(stats(dest, { times: false }), stats(tree, { times: false }));
    assert.deepEqual(digests(dest), digests(tree));
  });

  test("tar x and cp -a keep regular files' mtimes (set on the open file, writes pending)", () => {
    // Runs after the two tests above, on what they left.
    assert.deepEqual(stats(join(bucket, 'tar-x')), stats(tree));
    assert.deepEqual(stats(join(bucket, 'cp-a')), stats(tree));
  });

  test('rsync -a: in, again with nothing to transfer, a change transfers only that file', {
    skip: has('rsync') ? false : 'rsync is not installed (apt-get install rsync; .ci/run does)',
  }, () => {
    const src = join(local, 'rsync-src');
    ok(`cp -a '${tree}' '${src}'`);
    const dest = join(bucket, 'rsync');
    ok(`rsync -a '${src}/' '${dest}/'`);
    assert.deepEqual(digests(dest), digests(src));
    // -a without -H: the hard link arrives as two files, so link counts are not compared.
    assert.deepEqual(stats(dest, { links: false }), stats(src, { links: false }));
    assert.equal(ok(`rsync -a --itemize-changes '${src}/' '${dest}/'`), '');
    appendFileSync(join(src, 'sub/odd'), 'one more line\n');
    utimesSync(join(src, 'sub/odd'), 1_500_000_000, 1_500_000_000);
    const changes = ok(`rsync -a --itemize-changes '${src}/' '${dest}/'`).trim().split('\n');
    assert.deepEqual(
      changes.map((l) => l.split(' ').slice(1).join(' ')),
      ['sub/odd'],
      changes.join('\n'),
    );
    assert.match(changes[0], /^>f/);
    assert.deepEqual(digests(dest), digests(src));
    ok(`diff -r --no-dereference '${src}' '${dest}'`);
    assert.equal(lstatSync(join(dest, 'sub/odd')).mtimeMs, 1_500_000_000_000);
    assert.equal(ok(`rsync -a --itemize-changes '${src}/' '${dest}/'`), '');
  });

  test('make: build, touch one source and only what depends on it is rebuilt, make clean', () => {
    const dir = join(bucket, 'make');
    mkdirSync(dir);
    const cc = has('cc');
    writeFileSync(join(dir, 'one.c'), 'int one(void) { return 1; }\n');
    writeFileSync(join(dir, 'two.c'), 'int two(void) { return 2; }\n');
    writeFileSync(
      join(dir, 'main.c'),
      'int one(void);\nint two(void);\nint main(void) { return one() + two() == 3 ? 0 : 1; }\n',
    );
    const compile = cc ? 'cc -c -o $@ $<' : 'cp $< $@';
    const link = cc ? 'cc -o $@ main.o one.o two.o' : 'cat main.o one.o two.o > $@';
    writeFileSync(
      join(dir, 'Makefile'),
      `prog: main.o one.o two.o\n\t${link}\n%.o: %.c\n\t${compile}\nclean:\n\trm -f prog *.o\n.PHONY: clean\n`,
    );
    const expand = (rule: string, target: string, source: string) =>
      rule.replace('$@', target).replace('$<', source);
    const built = ok('make', dir).trim().split('\n');
    assert.deepEqual(built, [
      expand(compile, 'main.o', 'main.c'),
      expand(compile, 'one.o', 'one.c'),
      expand(compile, 'two.o', 'two.c'),
      expand(link, 'prog', ''),
    ]);
    if (cc) ok('./prog', dir);
    else
      assert.equal(
        readFileSync(join(dir, 'prog'), 'utf8'),
        ['main', 'one', 'two'].map((n) => readFileSync(join(dir, `${n}.c`), 'utf8')).join(''),
      );
    assert.equal(sh('make -q', { cwd: dir }).status, 0, 'up to date after a build');
    assert.match(ok('make', dir), /Nothing to be done|is up to date/);
    // One source newer than everything built from it (a second on, past any timestamp granularity).
    const prog = lstatSync(join(dir, 'prog'));
    utimesSync(join(dir, 'two.c'), prog.atime, new Date(prog.mtimeMs + 1000));
    const rebuild = [expand(compile, 'two.o', 'two.c'), expand(link, 'prog', '')];
    assert.deepEqual(ok('make -n', dir).trim().split('\n'), rebuild);
    assert.deepEqual(ok('make', dir).trim().split('\n'), rebuild);
    if (cc) ok('./prog', dir);
    ok('make clean', dir);
    assert.deepEqual(readdirSync(dir).sort(), ['Makefile', 'main.c', 'one.c', 'two.c']);
  });

  test('save by rename: the old fd still reads the old content, a new open reads the new', {
    skip: has('python3') ? false : 'python3 is not installed',
  }, () => {
    const dir = join(bucket, 'editor');
    mkdirSync(dir);
    const oldText = 'old line\n'.repeat(5000);
    const newText = 'new text, shorter\n'.repeat(700);
    writeFileSync(join(dir, 'doc.txt'), oldText);
    const script = `
import os, sys
d = sys.argv[1]
path = os.path.join(d, 'doc.txt')
old = os.open(path, os.O_RDONLY)
first = os.read(old, 100)
tmp = path + '.tmp'
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, sys.stdin.buffer.read())
os.fsync(fd)
os.close(fd)
os.rename(tmp, path)
dfd = os.open(d, os.O_RDONLY)
os.fsync(dfd)
os.close(dfd)
rest = b''
while True:
    chunk = os.read(old, 65536)
    if not chunk:
        break
    rest += chunk
sys.stdout.write((first + rest).decode())
sys.stderr.write('links %d\\n' % os.fstat(old).st_nlink)
os.close(old)
`;
    const r = spawnSync('python3', ['-c', script, dir], { input: newText, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, oldText, 'the fd opened before the rename reads the old content');
    assert.equal(r.stderr, 'links 0\n');
    assert.equal(readFileSync(join(dir, 'doc.txt'), 'utf8'), newText);
    assert.deepEqual(readdirSync(dir), ['doc.txt']);
  });

  test('dd conv=fsync of 64 MiB reads back identical (cmp, and O_DIRECT past the page cache)', () => {
    const src = join(local, 'dd.src');
    writeFileSync(src, randomBytes(64 * 1024 * 1024));
    const dest = join(bucket, 'dd.bin');
    ok(`dd if='${src}' of='${dest}' bs=1M conv=fsync status=none`);
    assert.equal(lstatSync(dest).size, 64 * 1024 * 1024);
    ok(`cmp '${src}' '${dest}'`);
    ok(`dd if='${dest}' iflag=direct bs=1M status=none | cmp '${src}' -`);
  });

  test('fio randrw with crc32c verification of the written data', {
    skip: has('fio') ? false : 'fio is not installed',
  }, () => {
    const out = ok(
      `fio --name=randrw --directory='${bucket}' --filename=fio.dat --rw=randrw --bs=4k --size=64M ` +
        '--runtime=5 --ioengine=psync --verify=crc32c --do_verify=1 --verify_fatal=1 ' +
        '--verify_state_save=0 --output-format=json',
      bucket,
    );
    const job = JSON.parse(out.slice(out.indexOf('{'))).jobs[0];
    assert.equal(job.error, 0);
    assert.ok(job.write.io_bytes > 0, 'fio wrote');
    assert.ok(job.read.io_bytes > 0, 'fio read (and verified) what it wrote');
  });
});
