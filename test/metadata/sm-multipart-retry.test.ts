// The state machine's side of two S3 edges: a CompleteMultipartUpload retried after its success
// (answered from the object that success made, writing nothing), and listings and lookups with
// names longer than any entry (LMDB keys have a size limit; such names simply match nothing).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { closeAll, codeOf, extent, ok, openMachine, ROOT } from './sm-helpers.ts';

function withCompletedUpload(): MetadataStateMachine {
  const machine = openMachine();
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  ok(machine, {
    op: 'createUpload',
    uploadId: 'u1',
    bucket: 'b',
    key: 'k',
    object: { userMeta: {} },
    owner: 'o',
  });
  ok(machine, {
    op: 'putPart',
    uploadId: 'u1',
    partNumber: 1,
    size: 10,
    etag: 'p1',
    extents: [extent(0, 10)],
  });
  ok(machine, completion());
  return machine;
}

function completion(overrides: { key?: string; etag?: string; bucket?: string } = {}) {
  return {
    op: 'completeUpload' as const,
    uploadId: 'u1',
    bucket: 'b',
    key: 'k',
    parts: [{ partNumber: 1, etag: 'p1' }],
    etag: 'm-1',
    minPartSizeBytes: 5,
    caller: ROOT,
    ...overrides,
  };
}

describe('a retried CompleteMultipartUpload', () => {
  after(closeAll);

  test('with the same upload, parts and key gets the object it made, and changes nothing', () => {
    const machine = withCompletedUpload();
    const made = machine.reader.resolvePath('/b/k');
    assert.equal(made?.object?.uploadId, 'u1');
    const stripeId = machine.reader.extents(made!.ino, 0, 10)[0].stripe!.id;
    const retried = ok(machine, { ...completion(), ifNoneMatch: '*' });
    assert.deepEqual(retried.inode, made);
    assert.deepEqual(machine.reader.resolvePath('/b/k'), made, 'nothing was written');
    assert.equal(machine.reader.stripeState(stripeId), 'referenced');
  });

  test('with other parts, another key or no key is NO_SUCH_UPLOAD', () => {
    const machine = withCompletedUpload();
    assert.equal(codeOf(machine, completion({ etag: 'other-1' })), 'NO_SUCH_UPLOAD');
    assert.equal(codeOf(machine, completion({ key: 'k2' })), 'NO_SUCH_UPLOAD');
    assert.equal(codeOf(machine, completion({ bucket: 'nope' })), 'NO_SUCH_UPLOAD');
    const { bucket: _b, key: _k, ...bare } = completion();
    assert.equal(codeOf(machine, bare), 'NO_SUCH_UPLOAD');
  });

  test('after the object was replaced, deleted or copied elsewhere it resurrects nothing', () => {
    const replaced = withCompletedUpload();
    ok(replaced, {
      op: 'putObject',
      bucket: 'b',
      key: 'k',
      size: 1,
      extents: [extent(0, 1)],
      object: { etag: 'new', userMeta: {} },
      caller: ROOT,
    });
    assert.equal(codeOf(replaced, completion()), 'NO_SUCH_UPLOAD');
    assert.equal(replaced.reader.resolvePath('/b/k')?.object?.etag, 'new');

    const deleted = withCompletedUpload();
    ok(deleted, { op: 'deleteObject', bucket: 'b', key: 'k' });
    assert.equal(codeOf(deleted, completion()), 'NO_SUCH_UPLOAD');
    assert.equal(deleted.reader.resolvePath('/b/k'), undefined);

    const copied = withCompletedUpload();
    ok(copied, {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'k',
      bucket: 'b',
      key: 'copy',
      caller: ROOT,
    });
    assert.equal(copied.reader.resolvePath('/b/copy')?.object?.uploadId, undefined);
    assert.equal(codeOf(copied, completion({ key: 'copy' })), 'NO_SUCH_UPLOAD');
  });
});

describe('names longer than any entry', () => {
  after(closeAll);

  test('list with an empty answer or from the right place, and look up nothing', () => {
    const machine = withCompletedUpload();
    for (const bytes of [256, 257, 4088, 10_000]) {
      const long = 'z'.repeat(bytes);
      const list = (query: { prefix?: string; startAfter?: string }) =>
        machine.reader
          .listObjects({ bucket: 'b', prefix: '', maxKeys: 1000, ...query })
          .objects.map((o) => o.key);
      assert.deepEqual(list({ prefix: long }), [], `prefix of ${bytes}`);
      assert.deepEqual(list({ prefix: `${long}/` }), [], `directory prefix of ${bytes}`);
      assert.deepEqual(list({ startAfter: `j${long}` }), ['k'], `start-after of ${bytes}`);
      assert.deepEqual(list({ startAfter: `k${long}` }), [], `start-after of ${bytes}`);
      assert.equal(machine.reader.resolvePath(`/b/${long}`), undefined);
    }
  });
});
