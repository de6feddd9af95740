// Object versions in the state machine: Enabled and Suspended buckets, delete markers, the null
// version, restores, POSIX saves, stripe references, and ListObjectVersions paging against a
// model of every key's versions.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Extent, ListVersionsQuery } from '../../src/metadata/types.ts';
import {
  closeAll,
  codeOf,
  extent,
  ok,
  openMachineWithServers,
  ROOT,
  run,
  seededRandom,
} from './sm-helpers.ts';

after(closeAll);

function bucket(versioning?: 'Enabled' | 'Suspended') {
  const machine = openMachineWithServers([]);
  if (versioning !== undefined)
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: versioning });
  return machine;
}

function put(machine: MetadataStateMachine, key: string, etag: string, extents?: Extent[]) {
  const parts = extents ?? [extent(0, 4)];
  const size = parts.reduce((end, e) => Math.max(end, e.fileOffset + e.length), 0);
  const result = ok(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size,
    extents: parts,
    object: { etag, userMeta: {} },
    caller: ROOT,
  });
  return result.versionId as string;
}

const versionsOf = (machine: MetadataStateMachine, query: Partial<ListVersionsQuery> = {}) =>
  machine.reader
    .listObjectVersions({ bucket: 'b', prefix: '', maxKeys: 1000, ...query })
    .versions.map((v) => `${v.key}:${v.deleteMarker ? 'marker' : v.etag}:${v.isLatest ? '*' : ''}`);

const current = (machine: MetadataStateMachine, key: string) =>
  machine.reader.objectVersion('b', key);

describe('versioning Enabled', () => {
  test('overwrites keep every version, newest first, each readable by its id', () => {
    const machine = bucket('Enabled');
    const ids = ['e1', 'e2', 'e3'].map((etag) => put(machine, 'k', etag));
    assert.equal(new Set(ids).size, 3);
    assert.deepEqual([...ids].sort(), [...ids].reverse(), 'ids sort newest first');
    assert.deepEqual(versionsOf(machine), ['k:e3:*', 'k:e2:', 'k:e1:']);
    assert.equal(machine.reader.objectVersion('b', 'k', ids[0])?.inode?.object?.etag, 'e1');
    assert.equal(current(machine, 'k')?.versionId, ids[2]);
    assert.equal(machine.reader.resolvePath('/b/k')?.object?.etag, 'e3', 'the live file');
  });

  test('a delete makes a marker; deleting the marker brings the object back', () => {
    const machine = bucket('Enabled');
    put(machine, 'a/k', 'e1');
    const deleted = ok(machine, { op: 'deleteObject', bucket: 'b', key: 'a/k' });
    assert.equal(deleted.deleteMarker, true);
    assert.equal(current(machine, 'a/k')?.deleteMarker, true);
    assert.equal(machine.reader.resolvePath('/b/a'), undefined, 'the implicit parent is pruned');
    assert.deepEqual(
      machine.reader.listObjects({ bucket: 'b', prefix: '', maxKeys: 10 }).objects,
      [],
    );
    assert.deepEqual(versionsOf(machine), ['a/k:marker:*', 'a/k:e1:']);
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'a/k', versionId: deleted.versionId });
    assert.equal(machine.reader.resolvePath('/b/a/k')?.object?.etag, 'e1', 'promoted back');
    assert.deepEqual(versionsOf(machine), ['a/k:e1:*']);
  });

  test('a copy of an old version onto its key restores it as a new version', () => {
    const machine = bucket('Enabled');
    const first = put(machine, 'k', 'e1');
    put(machine, 'k', 'e2');
    const restored = ok(machine, {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'k',
      srcVersionId: first,
      bucket: 'b',
      key: 'k',
      caller: ROOT,
    });
    assert.notEqual(restored.versionId, first);
    assert.deepEqual(versionsOf(machine), ['k:e1:*', 'k:e2:', 'k:e1:']);
  });

  test('deleting versions frees a stripe only when no version references it', () => {
    const machine = bucket('Enabled');
    const shared = extent(0, 4);
    const v1 = put(machine, 'k', 'e1', [shared]);
    const v2 = ok(machine, {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'k',
      bucket: 'b',
      key: 'k',
      object: { userMeta: { m: '1' } },
      caller: ROOT,
    }).versionId as string;
    const state = () => machine.reader.stripeState(shared.stripe.id);
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k', versionId: v1 });
    assert.equal(state(), 'referenced', 'v2 shares the stripe');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k' }); // a marker: v2 is kept
    assert.equal(state(), 'referenced');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k', versionId: v2 });
    assert.equal(state(), 'collecting', 'the last version gone: its stripe is collected');
    assert.equal(codeOf(machine, { op: 'deleteBucket', name: 'b' }), 'BUCKET_NOT_EMPTY');
    const marker = current(machine, 'k')?.versionId as string;
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k', versionId: marker });
    ok(machine, { op: 'deleteBucket', name: 'b' });
  });

  test('an object from before versioning is the null version', () => {
    const machine = bucket();
    put(machine, 'k', 'old');
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
    assert.equal(current(machine, 'k')?.versionId, 'null');
    put(machine, 'k', 'new');
    assert.equal(machine.reader.objectVersion('b', 'k', 'null')?.inode?.object?.etag, 'old');
    assert.deepEqual(versionsOf(machine), ['k:new:*', 'k:old:']);
  });

  test('GET and tagging of a delete marker by id: METHOD_NOT_ALLOWED; unknown ids: none', () => {
    const machine = bucket('Enabled');
    put(machine, 'k', 'e1');
    const marker = ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k' }).versionId as string;
    const tag = (versionId: string) =>
      codeOf(machine, { op: 'setObjectTags', bucket: 'b', key: 'k', tags: { a: 'b' }, versionId });
    assert.equal(tag(marker), 'METHOD_NOT_ALLOWED');
    assert.equal(tag('00000000000001'), 'NO_SUCH_VERSION');
    assert.equal(machine.reader.objectVersion('b', 'k', '00000000000001'), undefined);
  });
});

describe('versioning Suspended', () => {
  test('a put replaces the null version and keeps the others', () => {
    const machine = bucket('Enabled');
    put(machine, 'k', 'e1');
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Suspended' });
    assert.equal(put(machine, 'k', 'n1'), 'null');
    assert.equal(put(machine, 'k', 'n2'), 'null');
    assert.deepEqual(versionsOf(machine), ['k:n2:*', 'k:e1:']);
  });

  test('restoring a noncurrent null version replaces it by itself, its stripe never freed', () => {
    const machine = bucket();
    const s = extent(0, 4);
    put(machine, 'k', 'null-data', [s]);
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
    put(machine, 'k', 'e1');
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Suspended' });
    const restored = ok(machine, {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'k',
      srcVersionId: 'null',
      bucket: 'b',
      key: 'k',
      caller: ROOT,
    });
    assert.equal(restored.versionId, 'null');
    assert.deepEqual(versionsOf(machine), ['k:null-data:*', 'k:e1:']);
    assert.equal(machine.reader.stripeState(s.stripe.id), 'referenced');
  });

  test('a delete replaces the null version by a null delete marker', () => {
    const machine = bucket('Enabled');
    put(machine, 'k', 'e1');
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Suspended' });
    const s = extent(0, 4);
    put(machine, 'k', 'n1', [s]);
    const deleted = ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k' });
    assert.equal(deleted.versionId, 'null');
    assert.deepEqual(versionsOf(machine), ['k:marker:*', 'k:e1:']);
    assert.equal(machine.reader.stripeState(s.stripe.id), 'collecting', 'the null data is gone');
  });
});

describe('versions through POSIX', () => {
  function file(machine: MetadataStateMachine, name: string, saveToken?: string) {
    const dir = machine.reader.resolvePath('/b') as { ino: number };
    return ok(machine, {
      op: 'create',
      parent: dir.ino,
      name,
      mode: 0o644,
      caller: ROOT,
      exclusive: false,
      saveToken,
    }).inode as { ino: number };
  }
  const write = (machine: MetadataStateMachine, ino: number, at: number, saveToken?: string) =>
    ok(machine, { op: 'write', ino, extents: [extent(at, 4)], saveToken });

  test('one save (create, writes, truncate) is one version; the next save another', () => {
    const machine = bucket('Enabled');
    const { ino } = file(machine, 'f', 'm:1');
    for (let i = 0; i < 5; i++) write(machine, ino, i * 4, 'm:1');
    ok(machine, { op: 'setattr', ino, size: 8, saveToken: 'm:1' });
    assert.equal(versionsOf(machine).length, 1);
    write(machine, ino, 0, 'm:2');
    write(machine, ino, 4, 'm:2');
    assert.equal(versionsOf(machine).length, 2);
    const old = machine.reader.listObjectVersions({ bucket: 'b', prefix: '', maxKeys: 10 })
      .versions[1];
    assert.equal(machine.reader.objectVersion('b', 'f', old.versionId)?.inode?.size, 8);
    write(machine, ino, 0); // no save named: a version of its own
    assert.equal(versionsOf(machine).length, 3);
  });

  test('unlink makes a delete marker; rename is a marker at the source and a version at the target', () => {
    const machine = bucket('Enabled');
    const dir = machine.reader.resolvePath('/b') as { ino: number };
    const { ino } = file(machine, 'f', 'm:1');
    write(machine, ino, 0, 'm:1');
    put(machine, 'g', 'g1');
    ok(machine, {
      op: 'rename',
      srcParent: dir.ino,
      srcName: 'f',
      dstParent: dir.ino,
      dstName: 'g',
    });
    assert.deepEqual(
      versionsOf(machine).map((v) => v.replace(/:[0-9a-f]{32}|:-?\w*-0/, ':x')),
      ['f:marker:*', 'f::', 'g::*', 'g:g1:'],
    );
    ok(machine, { op: 'unlink', parent: dir.ino, name: 'g' });
    assert.equal(current(machine, 'g')?.deleteMarker, true);
    assert.equal(machine.reader.objectVersion('b', 'g', 'null'), undefined);
    const mkdir = ok(machine, {
      op: 'mkdir',
      parent: dir.ino,
      name: 'd',
      mode: 0o755,
      caller: ROOT,
    });
    const moved = codeOf(machine, {
      op: 'rename',
      srcParent: dir.ino,
      srcName: 'd',
      dstParent: dir.ino,
      dstName: 'e',
    });
    assert.equal(moved, 'EXDEV', `directories of a versioned bucket stay (${mkdir.inode?.ino})`);
  });
});

describe('ListObjectVersions paging', () => {
  // Random puts, deletes and version deletes over a few keys (some below directories), then
  // every page size and delimiter: the pages, concatenated, are the whole listing.
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    test(`seed ${seed}: pages with markers add up to the whole listing`, () => {
      const random = seededRandom(seed);
      const machine = bucket();
      const keys = ['a', 'b/c', 'b/d', 'b/e/f', 'c', 'z/y'];
      for (let step = 0; step < 60; step++) {
        if (step === 10)
          ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
        if (step === 40)
          ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Suspended' });
        const key = keys[random(keys.length)];
        const roll = random(10);
        if (roll < 6) put(machine, key, `e${step}`);
        else if (roll < 8) run(machine, { op: 'deleteObject', bucket: 'b', key });
        else {
          const all = machine.reader.listObjectVersions({
            bucket: 'b',
            prefix: key,
            maxKeys: 1000,
          });
          const mine = all.versions.filter((v) => v.key === key);
          if (mine.length > 0) {
            const pick = mine[random(mine.length)];
            ok(machine, { op: 'deleteObject', bucket: 'b', key, versionId: pick.versionId });
          }
        }
      }
      for (const delimiter of [undefined, '/']) {
        const whole = machine.reader.listObjectVersions({
          bucket: 'b',
          prefix: '',
          delimiter,
          maxKeys: 1000,
        });
        assert.equal(whole.isTruncated, false);
        const entries = (r: typeof whole) => [
          ...r.versions.map((v) => `${v.key}@${v.versionId}`),
          ...r.commonPrefixes.map((p) => `${p}/`),
        ];
        for (const maxKeys of [1, 2, 3, 7]) {
          const seen: string[] = [];
          let keyMarker: string | undefined;
          let versionIdMarker: string | undefined;
          for (let page = 0; page < 1000; page++) {
            const r = machine.reader.listObjectVersions({
              bucket: 'b',
              prefix: '',
              delimiter,
              keyMarker,
              versionIdMarker,
              maxKeys,
            });
            seen.push(...entries(r));
            if (!r.isTruncated) break;
            keyMarker = r.nextKeyMarker;
            versionIdMarker = r.nextVersionIdMarker;
          }
          assert.deepEqual(seen.sort(), entries(whole).sort(), `maxKeys ${maxKeys}, ${delimiter}`);
        }
        // Each key's versions: newest first, exactly one latest.
        for (const key of keys) {
          const mine = whole.versions.filter((v) => v.key === key);
          if (mine.length > 0) assert.equal(mine.filter((v) => v.isLatest).length, 1, key);
          assert.ok(mine.length === 0 || mine[0].isLatest, key);
        }
      }
    });
  }
});

test('pages cut short by MaxKeys leave no LMDB read transaction open (1,000 pages between writes)', () => {
  // Each page stops inside two range iterators (the live files and the records); left to the
  // garbage collector, their read transactions filled the environment's 126 reader slots and the
  // member stopped with MDB_READERS_FULL under a paging load.
  const machine = bucket('Enabled');
  for (let i = 0; i < 5; i++) put(machine, `k${i}`, `e${i}`);
  for (let page = 0; page < 1_000; page++) {
    const listed = machine.reader.listObjectVersions({ bucket: 'b', prefix: '', maxKeys: 1 });
    assert.equal(listed.isTruncated, true);
    put(machine, `k${page % 5}`, `p${page}`); // a commit: the next read needs a fresh snapshot
  }
  assert.equal(typeof machine.appliedIndex(), 'number', 'the environment still reads');
});
