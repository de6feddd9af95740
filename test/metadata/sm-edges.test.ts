import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as K from '../../src/metadata/keys.ts';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import {
  type CommandInput,
  closeAll,
  codeOf,
  extent,
  ok,
  openMachine,
  ROOT,
  stripe,
} from './sm-helpers.ts';

after(closeAll);

function withBucket() {
  const machine = openMachine();
  const bucket = ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }).inode!;
  return { machine, bucket: bucket.ino };
}

type Parent = number | { ino: number };
const inoOf = (p: Parent) => (typeof p === 'number' ? p : p.ino);
const mkdir = (machine: MetadataStateMachine, parent: Parent, name: string) =>
  ok(machine, { op: 'mkdir', parent: inoOf(parent), name, mode: 0o755, caller: ROOT }).inode!;
const create = (machine: MetadataStateMachine, parent: Parent, name: string) =>
  ok(machine, {
    op: 'create',
    parent: inoOf(parent),
    name,
    mode: 0o644,
    caller: ROOT,
    exclusive: true,
  }).inode!;
const putKey = (machine: MetadataStateMachine, key: string, extents = [extent(0, 4)]) =>
  codeOf(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size: key.endsWith('/') ? 0 : 4,
    extents: key.endsWith('/') ? [] : extents,
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });

describe('binary keys', () => {
  test('directory entries sort as S3 keys: "a-b" < "a/" < "a0"', () => {
    const keys = [K.direntKey(7, 'a0'), K.direntKey(7, 'a/'), K.direntKey(7, 'a-b')];
    const sorted = [...keys].sort(Buffer.compare).map(K.sortNameFromKey);
    assert.deepEqual(sorted, ['a-b', 'a/', 'a0']);
    assert.ok(Buffer.compare(K.direntKey(7, '\u{10ffff}'), K.direntPrefixEnd(7)) < 0);
    assert.ok(Buffer.compare(K.extentKey(1, 2 ** 40), K.extentKey(2, 0)) < 0, 'u64 big-endian');
  });
});

describe('rename edges', () => {
  test('exchange swaps a file and a directory across parents, fixing link counts', () => {
    const { machine, bucket } = withBucket();
    const p = mkdir(machine, bucket, 'p');
    const q = mkdir(machine, bucket, 'q');
    const d = mkdir(machine, p, 'd');
    const f = create(machine, q, 'f');
    ok(machine, {
      op: 'rename',
      srcParent: p.ino,
      srcName: 'd',
      dstParent: q.ino,
      dstName: 'f',
      exchange: true,
    });
    assert.equal(machine.reader.lookup(p.ino, 'd')?.ino, f.ino);
    assert.equal(machine.reader.lookup(q.ino, 'f')?.ino, d.ino);
    assert.equal(machine.reader.getattr(p.ino)?.nlink, 2, 'p lost its subdirectory');
    assert.equal(machine.reader.getattr(q.ino)?.nlink, 3, 'q gained one');
    assert.equal(machine.reader.getattr(d.ino)?.parent, q.ino);
  });

  test('exchange into its own subtree is EINVAL; noReplace with exchange is EINVAL', () => {
    const { machine, bucket } = withBucket();
    const p = mkdir(machine, bucket, 'p');
    const child = mkdir(machine, p, 'c');
    create(machine, child, 'f');
    const into = { op: 'rename', srcParent: child.ino, srcName: 'f', dstParent: bucket } as const;
    assert.equal(codeOf(machine, { ...into, dstName: 'p', exchange: true }), 'EINVAL');
    assert.equal(
      codeOf(machine, { ...into, dstName: 'p', exchange: true, noReplace: true }),
      'EINVAL',
    );
    assert.equal(codeOf(machine, { ...into, dstName: 'x', exchange: true }), 'ENOENT');
    assert.equal(codeOf(machine, { ...into, dstName: '..' }), 'EINVAL');
  });

  test('renaming over a hard link of itself changes nothing', () => {
    const { machine, bucket } = withBucket();
    const d = mkdir(machine, bucket, 'd');
    const f = create(machine, d, 'f');
    ok(machine, { op: 'link', ino: f.ino, parent: d.ino, name: 'g' });
    ok(machine, { op: 'rename', srcParent: d.ino, srcName: 'f', dstParent: d.ino, dstName: 'g' });
    assert.equal(machine.reader.lookup(d.ino, 'f')?.ino, f.ino);
    assert.equal(machine.reader.getattr(f.ino)?.nlink, 2);
  });
});

describe('object edges', () => {
  test('deleting a key prunes implicit parents up to the first explicit one', () => {
    const { machine } = withBucket();
    assert.equal(putKey(machine, 'x/'), 'ok');
    assert.equal(putKey(machine, 'x/y/z/w'), 'ok');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'x/y/z/w' });
    assert.equal(machine.reader.resolvePath('/b/x/y'), undefined, 'implicit x/y pruned');
    const x = machine.reader.resolvePath('/b/x');
    assert.ok(x && !x.implicit, 'explicit x/ kept');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'nothing/here' });
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'a//b' });
  });

  test('a marker put on an implicit directory makes it explicit; deleting it undoes that', () => {
    const { machine } = withBucket();
    assert.equal(putKey(machine, 'd/f'), 'ok');
    assert.equal(putKey(machine, 'd/'), 'ok');
    assert.equal(machine.reader.resolvePath('/b/d')?.implicit, false, 'made explicit');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'd/' });
    assert.equal(machine.reader.resolvePath('/b/d')?.implicit, true, 'kept for d/f, implicit');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'd/f' });
    assert.equal(machine.reader.resolvePath('/b/d'), undefined);
  });

  test('S3 deletes leave symlinks and directories alone (they are not objects)', () => {
    const { machine, bucket } = withBucket();
    ok(machine, { op: 'symlink', parent: bucket, name: 'ln', target: 'x', caller: ROOT });
    mkdir(machine, bucket, 'dir');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'ln' });
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'dir' });
    assert.equal(machine.reader.lookup(bucket, 'ln')?.type, 'symlink');
    assert.equal(machine.reader.lookup(bucket, 'dir')?.type, 'dir');
    assert.equal(putKey(machine, 'ln'), 'KEY_CONFLICT');
  });

  test('replacing an object with extents of its own stripe keeps the stripe alive', () => {
    const { machine } = withBucket();
    const s = stripe(8);
    assert.equal(putKey(machine, 'o', [extent(0, 4, s)]), 'ok');
    assert.equal(putKey(machine, 'o', [extent(0, 4, s, 4)]), 'ok');
    assert.equal(machine.reader.stripeState(s.id), 'referenced');
    assert.deepEqual(machine.reader.pendingGc(10), []);
    const ino = machine.reader.resolvePath('/b/o')!.ino;
    assert.deepEqual(
      machine.reader.extents(ino, 0, 4).map((e) => e.stripe && e.stripeOffset),
      [4],
    );
  });

  test('a POSIX write drops the S3 ETag; the object keeps its inode across replacement', () => {
    const { machine } = withBucket();
    assert.equal(putKey(machine, 'o'), 'ok');
    const before = machine.reader.resolvePath('/b/o')!;
    assert.equal(before.object?.etag, 'e');
    assert.equal(putKey(machine, 'o'), 'ok');
    assert.equal(machine.reader.resolvePath('/b/o')!.ino, before.ino);
    ok(machine, { op: 'write', ino: before.ino, extents: [extent(2, 4)] });
    const after = machine.reader.getattr(before.ino)!;
    assert.equal(after.object?.etag, '');
    assert.equal(after.size, 6);
  });
});

describe('multipart edges', () => {
  function withUpload() {
    const { machine } = withBucket();
    ok(machine, {
      op: 'createUpload',
      uploadId: 'u',
      bucket: 'b',
      key: 'big',
      object: { userMeta: {} },
      owner: 'o',
    });
    return machine;
  }
  const part = (partNumber: number, e = extent(0, 10), size = e.length): CommandInput => ({
    op: 'putPart',
    uploadId: 'u',
    partNumber,
    size,
    etag: `"p${partNumber}"`,
    extents: [e],
  });

  test('a part put again replaces the first one and frees its stripe; a retry may reuse it', () => {
    const machine = withUpload();
    const first = stripe(10);
    ok(machine, part(1, extent(0, 10, first)));
    ok(machine, part(1, extent(0, 10, first)));
    assert.equal(machine.reader.stripeState(first.id), 'referenced', 'a retry keeps its stripe');
    ok(machine, part(1));
    assert.equal(machine.reader.stripeState(first.id), 'collecting');
    assert.equal(machine.reader.listParts('u').length, 1);
    assert.equal(machine.reader.listParts('u')[0].etag, 'p1', 'stored without quotes');
  });

  test('parts must lie within their size; part numbers are 1..10000', () => {
    const machine = withUpload();
    assert.equal(codeOf(machine, part(1, extent(0, 10), 5)), 'EINVAL');
    assert.equal(codeOf(machine, part(0)), 'EINVAL');
    assert.equal(codeOf(machine, part(10_001)), 'EINVAL');
    assert.equal(
      codeOf(machine, { ...part(1), uploadId: 'nope' } as CommandInput),
      'NO_SUCH_UPLOAD',
    );
  });

  test('a bucket with an upload in progress is not empty; abort releases everything', () => {
    const machine = withUpload();
    const s = stripe(10);
    ok(machine, part(1, extent(0, 10, s)));
    assert.equal(codeOf(machine, { op: 'deleteBucket', name: 'b' }), 'BUCKET_NOT_EMPTY');
    ok(machine, { op: 'abortUpload', uploadId: 'u' });
    assert.deepEqual(machine.reader.listUploads('b'), []);
    assert.deepEqual(machine.reader.listParts('u'), []);
    assert.equal(machine.reader.stripeState(s.id), 'collecting');
    ok(machine, { op: 'deleteBucket', name: 'b' });
    assert.equal(machine.reader.getBucket('b'), undefined);
    assert.equal(machine.reader.getattr(1)?.nlink, 2, 'the root lost the bucket directory');
  });

  test('a completion that fails changes nothing: the upload and its parts stay', () => {
    const machine = withUpload();
    ok(machine, part(1));
    ok(machine, part(2));
    assert.equal(putKey(machine, 'big/'), 'ok'); // the key is now a directory
    const complete: CommandInput = {
      op: 'completeUpload',
      uploadId: 'u',
      parts: [
        { partNumber: 1, etag: 'p1' },
        { partNumber: 2, etag: 'p2' },
      ],
      etag: 'x-2',
      minPartSizeBytes: 5,
      caller: ROOT,
    };
    assert.equal(codeOf(machine, complete), 'KEY_CONFLICT');
    assert.equal(machine.reader.listParts('u').length, 2);
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'big/' });
    const done = ok(machine, complete);
    assert.equal(done.inode?.size, 20);
    assert.deepEqual(done.inode?.object?.partSizes, [10, 10]);
    assert.equal(machine.reader.getUpload('u'), undefined);
  });
});
