import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ROOT_INO } from '../../src/metadata/types.ts';
import { codeOf, ok, openMachine, ROOT } from './sm-helpers.ts';

function bucketWith(...names: string[]) {
  const machine = openMachine();
  const bucket = ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }).inode!;
  const inos: Record<string, number> = {};
  for (const name of names) {
    const isDir = name.endsWith('/');
    const clean = name.replace(/\/$/, '');
    const result = isDir
      ? ok(machine, { op: 'mkdir', parent: bucket.ino, name: clean, mode: 0o755, caller: ROOT })
      : ok(machine, {
          op: 'create',
          parent: bucket.ino,
          name: clean,
          mode: 0o644,
          caller: ROOT,
          exclusive: true,
        });
    inos[clean] = result.inode!.ino;
  }
  return { machine, bucket: bucket.ino, inos };
}

describe('metadata namespace', () => {
  test('mkdir and create add entries; lookups find them; nlink counts subdirectories', () => {
    const { machine, bucket, inos } = bucketWith('d/', 'f');
    assert.equal(machine.reader.lookup(bucket, 'd')?.type, 'dir');
    assert.equal(machine.reader.lookup(bucket, 'f')?.ino, inos.f);
    assert.equal(machine.reader.getattr(bucket)?.nlink, 3, 'bucket: 2 + one subdirectory');
    assert.deepEqual(
      machine.reader
        .readdir(bucket, undefined, 10)
        .map((e) => e.name)
        .sort(),
      ['d', 'f'],
    );
  });

  test('errors: EEXIST, ENOENT, ENOTDIR, EINVAL names, ENAMETOOLONG, EPERM at the root', () => {
    const { machine, bucket, inos } = bucketWith('d/', 'f');
    assert.equal(
      codeOf(machine, { op: 'mkdir', parent: bucket, name: 'd', mode: 0o755, caller: ROOT }),
      'EEXIST',
    );
    assert.equal(
      codeOf(machine, {
        op: 'create',
        parent: bucket,
        name: 'f',
        mode: 0o644,
        caller: ROOT,
        exclusive: true,
      }),
      'EEXIST',
    );
    assert.equal(
      codeOf(machine, {
        op: 'create',
        parent: bucket,
        name: 'd',
        mode: 0o644,
        caller: ROOT,
        exclusive: false,
      }),
      'EISDIR',
    );
    assert.equal(
      codeOf(machine, { op: 'mkdir', parent: inos.f, name: 'x', mode: 0o755, caller: ROOT }),
      'ENOTDIR',
    );
    assert.equal(codeOf(machine, { op: 'unlink', parent: bucket, name: 'nope' }), 'ENOENT');
    for (const name of ['', '.', '..', 'a/b']) {
      assert.equal(
        codeOf(machine, { op: 'mkdir', parent: bucket, name, mode: 0o755, caller: ROOT }),
        'EINVAL',
        name,
      );
    }
    assert.equal(
      codeOf(machine, {
        op: 'mkdir',
        parent: bucket,
        name: 'x'.repeat(256),
        mode: 0o755,
        caller: ROOT,
      }),
      'ENAMETOOLONG',
    );
    assert.equal(
      codeOf(machine, {
        op: 'create',
        parent: ROOT_INO,
        name: 'f',
        mode: 0o644,
        caller: ROOT,
        exclusive: true,
      }),
      'EPERM',
    );
  });

  test('namespace changes return the directory as changed, exactly as a later getattr reads it', () => {
    const { machine, bucket } = bucketWith('d/');
    const d = machine.reader.lookup(bucket, 'd')!.ino;
    const made = [
      ok(machine, {
        op: 'create',
        parent: d,
        name: 'f',
        mode: 0o644,
        caller: ROOT,
        exclusive: true,
      }),
      ok(machine, { op: 'mkdir', parent: d, name: 's', mode: 0o755, caller: ROOT }),
      ok(machine, { op: 'symlink', parent: d, name: 'l', target: 'f', caller: ROOT }),
      ok(machine, {
        op: 'mknod',
        parent: d,
        name: 'p',
        mode: 0o644,
        format: 'fifo',
        rdev: 0,
        caller: ROOT,
      }),
    ];
    const f = machine.reader.lookup(d, 'f')!.ino;
    made.push(ok(machine, { op: 'link', ino: f, parent: d, name: 'g' }));
    for (const result of made) assert.equal(result.parent?.ino, d);
    assert.deepEqual(
      made.at(-1)?.parent,
      machine.reader.getattr(d),
      'the latest is the stored one',
    );
    const unlinked = ok(machine, { op: 'unlink', parent: d, name: 'g' });
    assert.deepEqual(unlinked.parent, machine.reader.getattr(d));
    assert.equal(unlinked.parent?.nlink, 3, 'a subdirectory counted, the removed file not');
  });

  test('unlink and rmdir: EISDIR, ENOTDIR, ENOTEMPTY, then success', () => {
    const { machine, bucket, inos } = bucketWith('d/', 'f');
    ok(machine, {
      op: 'create',
      parent: inos.d,
      name: 'inner',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    });
    assert.equal(codeOf(machine, { op: 'unlink', parent: bucket, name: 'd' }), 'EISDIR');
    assert.equal(codeOf(machine, { op: 'rmdir', parent: bucket, name: 'f' }), 'ENOTDIR');
    assert.equal(codeOf(machine, { op: 'rmdir', parent: bucket, name: 'd' }), 'ENOTEMPTY');
    ok(machine, { op: 'unlink', parent: inos.d, name: 'inner' });
    ok(machine, { op: 'rmdir', parent: bucket, name: 'd' });
    assert.equal(machine.reader.getattr(inos.d), undefined);
    assert.equal(machine.reader.getattr(bucket)?.nlink, 2);
  });

  test('hard links share the inode; the last unlink removes it', () => {
    const { machine, bucket, inos } = bucketWith('f');
    ok(machine, { op: 'link', ino: inos.f, parent: bucket, name: 'g' });
    assert.equal(machine.reader.getattr(inos.f)?.nlink, 2);
    ok(machine, { op: 'unlink', parent: bucket, name: 'f' });
    assert.equal(machine.reader.lookup(bucket, 'g')?.nlink, 1);
    ok(machine, { op: 'unlink', parent: bucket, name: 'g' });
    assert.equal(machine.reader.getattr(inos.f), undefined);
  });

  test('rename replaces a file, replaces an empty directory, refuses a non-empty one', () => {
    const { machine, bucket, inos } = bucketWith('a', 'b', 'd1/', 'd2/', 'd3/');
    ok(machine, { op: 'rename', srcParent: bucket, srcName: 'a', dstParent: bucket, dstName: 'b' });
    assert.equal(machine.reader.lookup(bucket, 'b')?.ino, inos.a);
    assert.equal(machine.reader.getattr(inos.b), undefined, 'the replaced file is gone');
    ok(machine, {
      op: 'rename',
      srcParent: bucket,
      srcName: 'd1',
      dstParent: bucket,
      dstName: 'd2',
    });
    assert.equal(machine.reader.lookup(bucket, 'd2')?.ino, inos.d1);
    ok(machine, { op: 'mkdir', parent: inos.d3, name: 'x', mode: 0o755, caller: ROOT });
    assert.equal(
      codeOf(machine, {
        op: 'rename',
        srcParent: bucket,
        srcName: 'd2',
        dstParent: bucket,
        dstName: 'd3',
      }),
      'ENOTEMPTY',
    );
    assert.equal(
      codeOf(machine, {
        op: 'rename',
        srcParent: bucket,
        srcName: 'b',
        dstParent: bucket,
        dstName: 'd3',
      }),
      'EISDIR',
    );
    assert.equal(
      codeOf(machine, {
        op: 'rename',
        srcParent: bucket,
        srcName: 'd2',
        dstParent: bucket,
        dstName: 'b',
      }),
      'ENOTDIR',
    );
  });

  test('rename with noReplace, exchange, and into its own subtree', () => {
    const { machine, bucket, inos } = bucketWith('a', 'b', 'd/');
    assert.equal(
      codeOf(machine, {
        op: 'rename',
        srcParent: bucket,
        srcName: 'a',
        dstParent: bucket,
        dstName: 'b',
        noReplace: true,
      }),
      'EEXIST',
    );
    ok(machine, {
      op: 'rename',
      srcParent: bucket,
      srcName: 'a',
      dstParent: bucket,
      dstName: 'd',
      exchange: true,
    });
    assert.equal(machine.reader.lookup(bucket, 'a')?.ino, inos.d);
    assert.equal(machine.reader.lookup(bucket, 'd')?.ino, inos.a);
    const sub = ok(machine, { op: 'mkdir', parent: inos.d, name: 'sub', mode: 0o755, caller: ROOT })
      .inode!;
    assert.equal(
      codeOf(machine, {
        op: 'rename',
        srcParent: bucket,
        srcName: 'a',
        dstParent: sub.ino,
        dstName: 'x',
      }),
      'EINVAL',
    );
  });

  test('moving a directory between parents moves a link count and its parent pointer', () => {
    const { machine, bucket, inos } = bucketWith('p/', 'q/');
    ok(machine, { op: 'mkdir', parent: inos.p, name: 'child', mode: 0o755, caller: ROOT });
    ok(machine, {
      op: 'rename',
      srcParent: inos.p,
      srcName: 'child',
      dstParent: inos.q,
      dstName: 'child',
    });
    assert.equal(machine.reader.getattr(inos.p)?.nlink, 2);
    assert.equal(machine.reader.getattr(inos.q)?.nlink, 3);
    assert.equal(machine.reader.lookup(inos.q, 'child')?.parent, inos.q);
    assert.equal(machine.reader.resolvePath('/b/q/child')?.type, 'dir');
    assert.equal(machine.reader.lookup(bucket, 'p')?.nlink, 2);
  });

  test('setattr changes mode, owner and times; xattrs set and removed', () => {
    const { machine, inos } = bucketWith('f');
    ok(machine, { op: 'setattr', ino: inos.f, mode: 0o600, uid: 7, gid: 8, mtimeMs: 5 });
    const inode = machine.reader.getattr(inos.f)!;
    assert.deepEqual([inode.mode, inode.uid, inode.gid, inode.mtimeMs], [0o600, 7, 8, 5]);
    ok(machine, { op: 'setxattr', ino: inos.f, name: 'user.k', value: Buffer.from('v') });
    assert.equal(Buffer.from(machine.reader.getattr(inos.f)!.xattrs['user.k']).toString(), 'v');
    ok(machine, { op: 'removexattr', ino: inos.f, name: 'user.k' });
    assert.equal(codeOf(machine, { op: 'removexattr', ino: inos.f, name: 'user.k' }), 'ENODATA');
  });

  test('readdir pages through a large directory without repeats', () => {
    const { machine, bucket } = bucketWith();
    const names = Array.from({ length: 57 }, (_, i) => `n${i}`);
    for (const [i, name] of names.entries()) {
      if (i % 3 === 0)
        ok(machine, { op: 'mkdir', parent: bucket, name, mode: 0o755, caller: ROOT });
      else
        ok(machine, {
          op: 'create',
          parent: bucket,
          name,
          mode: 0o644,
          caller: ROOT,
          exclusive: true,
        });
    }
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = machine.reader.readdir(bucket, after, 5);
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.name));
      after = page[page.length - 1].name;
    }
    assert.deepEqual([...seen].sort(), [...names].sort());
  });

  test('a failed command changes nothing but advances the applied index; state survives a reopen', async () => {
    const { machine, bucket } = bucketWith('f');
    const before = machine.appliedIndex();
    assert.equal(
      codeOf(machine, { op: 'mkdir', parent: bucket, name: 'f', mode: 0o755, caller: ROOT }),
      'EEXIST',
    );
    assert.equal(machine.appliedIndex(), before + 1);
    assert.equal(machine.reader.lookup(bucket, 'f')?.type, 'file');
  });
});
