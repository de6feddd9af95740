import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { ListObjectsQuery } from '../../src/metadata/types.ts';
import { codeOf, extent, ok, openMachine, ROOT, stripe } from './sm-helpers.ts';

function put(machine: MetadataStateMachine, key: string, size = 1, etag = 'e') {
  return codeOf(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size,
    extents: size > 0 ? [extent(0, size)] : [],
    object: { etag, userMeta: {} },
    caller: ROOT,
  });
}

function withBucket() {
  const machine = openMachine();
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  return machine;
}

const keysOf = (machine: MetadataStateMachine, query: Partial<ListObjectsQuery> = {}) =>
  machine.reader
    .listObjects({ bucket: 'b', prefix: '', maxKeys: 1000, ...query })
    .objects.map((o) => o.key);

describe('objects in the namespace', () => {
  test('a put creates implicit parents that are not listed; delete prunes them', () => {
    const machine = withBucket();
    assert.equal(put(machine, 'a/b/c'), 'ok');
    assert.equal(machine.reader.resolvePath('/b/a/b')?.implicit, true);
    assert.deepEqual(keysOf(machine), ['a/b/c']);
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'a/b/c' });
    assert.equal(machine.reader.resolvePath('/b/a'), undefined, 'empty implicit parents removed');
  });

  test('explicit directories (dir/ markers) are listed and survive deletes below them', () => {
    const machine = withBucket();
    assert.equal(put(machine, 'd/', 0), 'ok');
    assert.equal(put(machine, 'd/x'), 'ok');
    assert.deepEqual(keysOf(machine), ['d/', 'd/x']);
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'd/x' });
    assert.deepEqual(keysOf(machine), ['d/']);
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'd/' });
    assert.deepEqual(keysOf(machine), []);
  });

  test('keys that cannot be paths: KEY_CONFLICT both ways, INVALID_KEY for bad segments', () => {
    const machine = withBucket();
    assert.equal(put(machine, 'a/b'), 'ok');
    assert.equal(put(machine, 'a/b/c'), 'KEY_CONFLICT');
    assert.equal(put(machine, 'x/y/z'), 'ok');
    assert.equal(put(machine, 'x/y'), 'KEY_CONFLICT');
    for (const key of ['a//b', '/a', 'a/./b', 'a/../b', '..', ''])
      assert.equal(put(machine, key), 'INVALID_KEY', key);
    assert.equal(put(machine, 'dir/', 5), 'INVALID_KEY');
    assert.deepEqual(keysOf(machine), ['a/b', 'x/y/z'], 'nothing half-created by the refused puts');
  });

  test('replacing an object frees the old stripes; preconditions are checked', () => {
    const machine = withBucket();
    const first = stripe(4);
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'k',
      size: 4,
      extents: [extent(0, 4, first)],
      object: { etag: 'one', userMeta: {} },
      caller: ROOT,
    });
    assert.equal(
      codeOf(machine, {
        op: 'putObject',
        bucket: 'b',
        key: 'k',
        size: 1,
        extents: [extent(0, 1)],
        object: { etag: 'two', userMeta: {} },
        caller: ROOT,
        ifNoneMatch: '*',
      }),
      'PRECONDITION_FAILED',
    );
    assert.equal(
      codeOf(machine, {
        op: 'putObject',
        bucket: 'b',
        key: 'k',
        size: 1,
        extents: [extent(0, 1)],
        object: { etag: 'two', userMeta: {} },
        caller: ROOT,
        ifMatch: '"nope"',
      }),
      'PRECONDITION_FAILED',
    );
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'k',
      size: 1,
      extents: [extent(0, 1)],
      object: { etag: 'two', userMeta: {} },
      caller: ROOT,
      ifMatch: '"one"',
    });
    assert.deepEqual(
      machine.reader.pendingGc(10).map((s) => s.id),
      [first.id],
    );
    assert.equal(machine.reader.resolvePath('/b/k')?.object?.etag, 'two');
  });

  test('bucket errors: NO_SUCH_BUCKET, BUCKET_EXISTS, BUCKET_NOT_EMPTY', () => {
    const machine = withBucket();
    assert.equal(
      codeOf(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }),
      'BUCKET_EXISTS',
    );
    assert.equal(codeOf(machine, { op: 'deleteObject', bucket: 'zz', key: 'k' }), 'NO_SUCH_BUCKET');
    put(machine, 'k');
    assert.equal(codeOf(machine, { op: 'deleteBucket', name: 'b' }), 'BUCKET_NOT_EMPTY');
  });

  test('multipart: parts concatenate in order; errors for order, etag and size; unused parts freed', () => {
    const machine = withBucket();
    ok(machine, {
      op: 'createUpload',
      uploadId: 'u1',
      bucket: 'b',
      key: 'big',
      object: { userMeta: {} },
      owner: 'o',
    });
    const unused = stripe(3);
    const parts = [
      { partNumber: 1, size: 10, etag: 'p1', extents: [extent(0, 10)] },
      { partNumber: 2, size: 3, etag: 'p2', extents: [extent(0, 3, unused)] },
      { partNumber: 3, size: 7, etag: 'p3', extents: [extent(0, 4), extent(4, 3)] },
    ];
    for (const part of parts) ok(machine, { op: 'putPart', uploadId: 'u1', ...part });
    const complete = (list: Array<{ partNumber: number; etag: string }>, minPartSizeBytes = 5) =>
      codeOf(machine, {
        op: 'completeUpload',
        uploadId: 'u1',
        parts: list,
        etag: 'x-2',
        minPartSizeBytes,
        caller: ROOT,
      });
    assert.equal(
      complete([
        { partNumber: 3, etag: 'p3' },
        { partNumber: 1, etag: 'p1' },
      ]),
      'INVALID_PART_ORDER',
    );
    assert.equal(complete([{ partNumber: 1, etag: 'bad' }]), 'INVALID_PART');
    assert.equal(complete([{ partNumber: 4, etag: 'p4' }]), 'INVALID_PART');
    assert.equal(
      complete([
        { partNumber: 2, etag: 'p2' },
        { partNumber: 3, etag: 'p3' },
      ]),
      'ENTITY_TOO_SMALL',
    );
    assert.equal(
      complete([
        { partNumber: 1, etag: '"p1"' },
        { partNumber: 3, etag: 'p3' },
      ]),
      'ok',
    );
    const file = machine.reader.resolvePath('/b/big')!;
    assert.equal(file.size, 17);
    assert.deepEqual(file.object?.partSizes, [10, 7]);
    assert.deepEqual(
      machine.reader.extents(file.ino, 0, 17).map((e) => [e.fileOffset, e.length]),
      [
        [0, 10],
        [10, 4],
        [14, 3],
      ],
    );
    assert.deepEqual(
      machine.reader.pendingGc(10).map((s) => s.id),
      [unused.id],
    );
    assert.equal(machine.reader.getUpload('u1'), undefined);
    assert.equal(codeOf(machine, { op: 'abortUpload', uploadId: 'u1' }), 'NO_SUCH_UPLOAD');
  });

  test('listObjects matches a sorted model for every prefix, delimiter and page size (seeded)', () => {
    const seed = Number(process.env.STRATA_SEED ?? 7);
    let state = seed;
    const random = (n: number) => {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return state % n;
    };
    const segments = ['a', 'b', 'a-b', 'a0', 'é', 'x.y', 'A'];
    const machine = withBucket();
    const keys = new Set<string>();
    for (let i = 0; i < 120; i++) {
      const depth = 1 + random(3);
      const key = Array.from({ length: depth }, () => segments[random(segments.length)]).join('/');
      if (put(machine, key) === 'ok') keys.add(key);
    }
    const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const model = (prefix: string, delimiter?: string) => {
      const out: Array<[string, boolean]> = [];
      for (const key of sorted) {
        if (!key.startsWith(prefix)) continue;
        const at = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
        const entry: [string, boolean] =
          at >= 0 ? [key.slice(0, at + delimiter!.length), true] : [key, false];
        if (!out.some(([k]) => k === entry[0])) out.push(entry);
      }
      return out;
    };
    for (const prefix of ['', 'a', 'a/', 'a-', 'b/a', 'é/', 'zz']) {
      for (const delimiter of [undefined, '/', '-']) {
        const want = model(prefix, delimiter);
        for (const maxKeys of [1, 2, 5, 1000]) {
          const got: Array<[string, boolean]> = [];
          let startAfter: string | undefined;
          for (let pages = 0; pages < 500; pages++) {
            const page = machine.reader.listObjects({
              bucket: 'b',
              prefix,
              delimiter,
              startAfter,
              maxKeys,
            });
            const entries: Array<[string, boolean]> = [
              ...page.objects.map((o) => [o.key, false] as [string, boolean]),
              ...page.commonPrefixes.map((p) => [p, true] as [string, boolean]),
            ].sort((x, y) => Buffer.compare(Buffer.from(x[0]), Buffer.from(y[0])));
            got.push(...entries);
            assert.ok(entries.length <= maxKeys);
            if (!page.isTruncated) break;
            startAfter = page.nextStartAfter;
          }
          assert.deepEqual(
            got,
            want,
            `seed ${seed} prefix ${JSON.stringify(prefix)} delimiter ${delimiter} maxKeys ${maxKeys}`,
          );
        }
      }
    }
  });
});

describe('server-side copy', () => {
  test('a copy shares the stripes: deleting the source leaves the copy whole', () => {
    const machine = withBucket();
    const data = stripe(8);
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'src',
      size: 8,
      extents: [extent(0, 8, data)],
      object: { etag: 'e1', userMeta: { a: '1' } },
      caller: ROOT,
    });
    ok(machine, {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'src',
      bucket: 'b',
      key: 'dir/copy',
      caller: ROOT,
    });
    const copy = machine.reader.resolvePath('/b/dir/copy')!;
    assert.equal(copy.size, 8);
    assert.deepEqual(copy.object?.userMeta, { a: '1' }, 'COPY keeps the metadata');
    assert.equal(copy.object?.etag, 'e1');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'src' });
    assert.deepEqual(
      machine.reader.pendingGc(10),
      [],
      'the stripe is still referenced by the copy',
    );
    assert.equal(machine.reader.extents(copy.ino, 0, 8)[0].stripe!.id, data.id);
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'dir/copy' });
    assert.deepEqual(
      machine.reader.pendingGc(10).map((s) => s.id),
      [data.id],
    );
  });

  test('REPLACE sets new metadata and keeps the ETag; source conditions are checked', () => {
    const machine = withBucket();
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'k',
      size: 1,
      extents: [extent(0, 1)],
      object: { etag: 'e1', userMeta: { a: '1' } },
      caller: ROOT,
    });
    ok(machine, {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'k',
      bucket: 'b',
      key: 'k',
      object: { userMeta: { b: '2' }, contentType: 'text/x' },
      caller: ROOT,
    });
    const same = machine.reader.resolvePath('/b/k')!;
    assert.deepEqual(
      [same.object?.userMeta, same.object?.contentType, same.object?.etag],
      [{ b: '2' }, 'text/x', 'e1'],
    );
    assert.equal(
      codeOf(machine, {
        op: 'copyObject',
        srcBucket: 'b',
        srcKey: 'k',
        bucket: 'b',
        key: 'x',
        caller: ROOT,
        copyIfMatch: '"other"',
      }),
      'PRECONDITION_FAILED',
    );
    assert.equal(
      codeOf(machine, {
        op: 'copyObject',
        srcBucket: 'b',
        srcKey: 'nope',
        bucket: 'b',
        key: 'x',
        caller: ROOT,
      }),
      'ENOENT',
    );
  });

  test('a stripe queued for collection can never be referenced again', () => {
    const machine = withBucket();
    const data = stripe(4);
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'k',
      size: 4,
      extents: [extent(0, 4, data)],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
    });
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k' });
    assert.equal(put(machine, 'k2', 0), 'ok');
    const result = codeOf(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'k3',
      size: 4,
      extents: [extent(0, 4, data)],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
    });
    assert.equal(result, 'EIO');
  });
});
