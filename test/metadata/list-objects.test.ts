import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { ListObjectsQuery, ListObjectsResult } from '../../src/metadata/types.ts';
import { closeAll, codeOf, extent, ok, openMachine, ROOT, seededRandom } from './sm-helpers.ts';

after(closeAll);

const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

function put(machine: MetadataStateMachine, key: string, size = key.endsWith('/') ? 0 : 3) {
  return codeOf(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size,
    extents: size > 0 ? [extent(0, size)] : [],
    object: { etag: `etag-${key}`, userMeta: {} },
    caller: ROOT,
  });
}

function withKeys(keys: string[]) {
  const machine = openMachine();
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  for (const key of keys) assert.equal(put(machine, key), 'ok', key);
  return machine;
}

const list = (machine: MetadataStateMachine, query: Partial<ListObjectsQuery> = {}) =>
  machine.reader.listObjects({ bucket: 'b', prefix: '', maxKeys: 1000, ...query });

// Objects and common prefixes of one page, merged in key order, common prefixes marked.
const entriesOf = (page: ListObjectsResult) =>
  [...page.objects.map((o) => o.key), ...page.commonPrefixes.map((p) => `${p}<cp>`)].sort((x, y) =>
    Buffer.compare(Buffer.from(x.replace('<cp>', '')), Buffer.from(y.replace('<cp>', ''))),
  );

const byteOrder = (x: string, y: string) => Buffer.compare(Buffer.from(x), Buffer.from(y));

// What S3 lists for a set of keys: the keys with the prefix, each one that holds the delimiter
// after the prefix replaced by its common prefix, duplicates dropped, then those after startAfter.
function model(keys: string[], q: Partial<ListObjectsQuery>): string[] {
  const prefix = q.prefix ?? '';
  const out: string[] = [];
  for (const key of [...keys].sort(byteOrder)) {
    if (!key.startsWith(prefix)) continue;
    const at = q.delimiter ? key.indexOf(q.delimiter, prefix.length) : -1;
    const entry = at >= 0 ? `${key.slice(0, at + (q.delimiter as string).length)}<cp>` : key;
    const bare = entry.replace('<cp>', '');
    if (q.startAfter !== undefined && byteOrder(bare, q.startAfter) <= 0) continue;
    if (out[out.length - 1] !== entry) out.push(entry);
  }
  return out;
}

// Pages through a listing with nextStartAfter, checking each page's bounds.
function pageThrough(machine: MetadataStateMachine, q: Partial<ListObjectsQuery>, size: number) {
  const got: string[] = [];
  let startAfter = q.startAfter;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = list(machine, { ...q, startAfter, maxKeys: size });
    const entries = entriesOf(page);
    assert.ok(entries.length <= size, 'a page holds at most maxKeys entries');
    got.push(...entries);
    if (!page.isTruncated) {
      assert.equal(page.nextStartAfter, undefined);
      return got;
    }
    assert.equal(entries.length, size, 'only a full page is truncated');
    assert.equal(page.nextStartAfter, entries[entries.length - 1].replace('<cp>', ''));
    startAfter = page.nextStartAfter;
  }
  assert.fail('pagination does not end');
}

describe('listObjects', () => {
  test('lists in UTF-8 byte order across directories: "a-b" < "a/b" < "a0"', () => {
    const machine = withKeys(['a0', 'a/b', 'a-b', 'a/a', 'é', 'Z', 'a/b-c/d']);
    assert.deepEqual(
      list(machine).objects.map((o) => o.key),
      ['Z', 'a-b', 'a/a', 'a/b', 'a/b-c/d', 'a0', 'é'],
    );
  });

  test('a prefix narrows the walk; a prefix naming an explicit directory lists its marker', () => {
    const machine = withKeys(['a/', 'a/x', 'a/y/z', 'ab', 'b/c']);
    assert.deepEqual(entriesOf(list(machine, { prefix: 'a/' })), ['a/', 'a/x', 'a/y/z']);
    assert.deepEqual(entriesOf(list(machine, { prefix: 'a/', delimiter: '/' })), [
      'a/',
      'a/x',
      'a/y/<cp>',
    ]);
    assert.deepEqual(entriesOf(list(machine, { prefix: 'a' })), ['a/', 'a/x', 'a/y/z', 'ab']);
    assert.deepEqual(entriesOf(list(machine, { prefix: 'a/y/' })), ['a/y/z']);
    assert.deepEqual(entriesOf(list(machine, { prefix: 'nope/' })), []);
    assert.deepEqual(entriesOf(list(machine, { prefix: 'ab/' })), [], 'ab is a file');
  });

  test('delimiter "/" rolls directories up; another delimiter groups keys the same way', () => {
    const machine = withKeys(['a-1', 'a-2/x', 'a/b', 'a/c-d', 'b', 'c/', 'c/d']);
    assert.deepEqual(entriesOf(list(machine, { delimiter: '/' })), [
      'a-1',
      'a-2/<cp>',
      'a/<cp>',
      'b',
      'c/<cp>',
    ]);
    assert.deepEqual(entriesOf(list(machine, { delimiter: '-' })), [
      'a-<cp>',
      'a/b',
      'a/c-<cp>',
      'b',
      'c/',
      'c/d',
    ]);
    assert.deepEqual(entriesOf(list(machine, { prefix: 'a/', delimiter: '-' })), [
      'a/b',
      'a/c-<cp>',
    ]);
    assert.deepEqual(entriesOf(list(machine, { delimiter: '/c' })), [
      'a-1',
      'a-2/x',
      'a/b',
      'a/c<cp>',
      'b',
      'c/',
      'c/d',
    ]);
  });

  test('directories with no object below them are not common prefixes', () => {
    const machine = withKeys(['e/f/g', 'k']);
    const g = machine.reader.resolvePath('/b/e/f/g')!;
    const f = machine.reader.resolvePath('/b/e/f')!;
    ok(machine, { op: 'unlink', parent: f.ino, name: 'g' }); // POSIX: implicit parents stay
    assert.equal(machine.reader.getattr(g.ino), undefined);
    assert.deepEqual(entriesOf(list(machine, { delimiter: '/' })), ['k']);
    assert.deepEqual(entriesOf(list(machine)), ['k']);
    ok(machine, { op: 'symlink', parent: f.ino, name: 'ln', target: 'k', caller: ROOT });
    assert.deepEqual(
      entriesOf(list(machine, { delimiter: '/' })),
      ['k'],
      'symlinks are no objects',
    );
    ok(machine, { op: 'mkdir', parent: f.ino, name: 'm', mode: 0o755, caller: ROOT });
    assert.deepEqual(entriesOf(list(machine, { delimiter: '/' })), ['e/<cp>', 'k']);
    assert.deepEqual(entriesOf(list(machine)), ['e/f/m/', 'k'], 'mkdir makes an explicit dir');
  });

  test('markers, POSIX files and objects carry size and etag as S3 shows them', () => {
    const machine = withKeys(['d/', 'o']);
    const bucket = machine.reader.getBucket('b')!;
    const posix = ok(machine, {
      op: 'create',
      parent: bucket.ino,
      name: 'p',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    }).inode!;
    ok(machine, { op: 'write', ino: posix.ino, extents: [extent(0, 7)] });
    const objects = list(machine).objects;
    assert.deepEqual(
      objects.map((o) => [o.key, o.size, o.etag, o.isDirMarker]),
      [
        ['d/', 0, EMPTY_MD5, true],
        ['o', 3, 'etag-o', false],
        ['p', 7, '', false],
      ],
    );
  });

  test('maxKeys 0 lists nothing and is not truncated', () => {
    const machine = withKeys(['a', 'b']);
    assert.deepEqual(list(machine, { maxKeys: 0 }), {
      objects: [],
      commonPrefixes: [],
      isTruncated: false,
    });
  });

  test('an unknown bucket lists nothing', () => {
    const machine = withKeys([]);
    assert.deepEqual(entriesOf(list(machine, { bucket: 'other' })), []);
  });

  test('every page size and every startAfter reproduce the sorted model (seeded keys)', () => {
    const seed = Number(process.env.STRATA_SEED ?? 20251124);
    const random = seededRandom(seed);
    const segments = ['a', 'b', 'a-b', 'a0', 'é', 'x.y', 'A', 'a b', '日本'];
    const machine = withKeys([]);
    const keys: string[] = [];
    for (let i = 0; i < 80; i++) {
      const depth = 1 + random(3);
      let key = Array.from({ length: depth }, () => segments[random(segments.length)]).join('/');
      if (random(6) === 0) key += '/'; // an explicit directory
      if (put(machine, key) === 'ok') keys.push(key);
    }
    // Markers of directories that later got children are still keys; implicit ones are not.
    const stored = [...new Set(keys)];
    assert.deepEqual(entriesOf(list(machine)), model(stored, {}), `seed ${seed}`);
    const queries: Array<Partial<ListObjectsQuery>> = [];
    for (const prefix of ['', 'a', 'a/', 'a-', 'b/a', 'é/', 'zz', 'a/a/'])
      for (const delimiter of [undefined, '/', '-', 'b/'])
        queries.push({ prefix, ...(delimiter ? { delimiter } : {}) });
    for (const q of queries) {
      const want = model(stored, q);
      const label = `seed ${seed} ${JSON.stringify(q)}`;
      for (let size = 1; size <= want.length + 1; size++) {
        assert.deepEqual(pageThrough(machine, q, size), want, `${label} maxKeys ${size}`);
      }
      // A startAfter given by the caller: every stored key, and keys that are not stored.
      for (const startAfter of [...stored, 'a', 'a/', 'a/b/', 'é', '\u{10ffff}', '']) {
        const got = entriesOf(list(machine, { ...q, startAfter }));
        assert.deepEqual(got, model(stored, { ...q, startAfter }), `${label} after ${startAfter}`);
      }
    }
  });
});
