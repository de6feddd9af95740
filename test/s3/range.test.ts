// Range headers as AWS reads them: one byte range, inclusive ends, clamped to the object.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { S3Error } from '../../src/s3/errors.ts';
import { parseRange } from '../../src/s3/handlers/range.ts';

const isInvalidRange = (e: unknown) =>
  e instanceof S3Error && e.s3Code === 'InvalidRange' && e.httpStatus === 416;

test('bytes=a-b, a- and -n resolve to offset and length', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { offset: 0, length: 10 });
  assert.deepEqual(parseRange('bytes=10-10', 100), { offset: 10, length: 1 });
  assert.deepEqual(parseRange('bytes=90-', 100), { offset: 90, length: 10 });
  assert.deepEqual(parseRange('bytes=-7', 100), { offset: 93, length: 7 });
  assert.deepEqual(parseRange(' bytes=1-2 ', 100), { offset: 1, length: 2 });
});

test('an end past the object, or a suffix longer than it, is clamped', () => {
  assert.deepEqual(parseRange('bytes=50-1000', 100), { offset: 50, length: 50 });
  assert.deepEqual(parseRange('bytes=-1000', 100), { offset: 0, length: 100 });
  assert.deepEqual(parseRange('bytes=99-', 100), { offset: 99, length: 1 });
});

test('a start at or past the end, or an empty suffix, is InvalidRange', () => {
  assert.throws(() => parseRange('bytes=100-', 100), isInvalidRange);
  assert.throws(() => parseRange('bytes=100-200', 100), isInvalidRange);
  assert.throws(() => parseRange('bytes=-0', 100), isInvalidRange);
  assert.throws(() => parseRange('bytes=0-', 0), isInvalidRange);
  assert.throws(() => parseRange('bytes=-5', 0), isInvalidRange);
});

test('no header, malformed or multiple ranges: the whole object, as AWS ignores them', () => {
  for (const header of [
    undefined,
    'bytes=',
    'bytes=-',
    'bytes=5-3',
    'bytes=0-1,3-4',
    'items=0-1',
    'bytes=a-b',
  ]) {
    assert.equal(parseRange(header, 100), undefined, String(header));
  }
});

test('every satisfiable range lies inside the object', () => {
  const size = 37;
  for (let first = 0; first < size + 3; first++) {
    for (let last = first; last < size + 3; last++) {
      let range: ReturnType<typeof parseRange>;
      try {
        range = parseRange(`bytes=${first}-${last}`, size);
      } catch (error) {
        assert.ok(isInvalidRange(error));
        assert.ok(first >= size, `bytes=${first}-${last} refused although it starts inside`);
        continue;
      }
      assert.ok(range !== undefined);
      assert.equal(range.offset, first);
      assert.ok(range.length >= 1 && range.offset + range.length <= size);
      assert.equal(range.length, Math.min(last, size - 1) - first + 1);
    }
  }
});
