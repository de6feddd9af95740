// SSE-C in the state machine (src/metadata/object-encryption.ts): an object or upload records a
// customer key id only while every stripe carries that very id; an object without the record
// has no stripe wrapped under a customer key; SSE-C wins over a bucket default and never goes
// with SSE-S3; a POSIX write into an SSE-C object is refused. Every command path: put, copy,
// multipart, write.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Inode, ObjectMeta, SseCustomer, Stripe } from '../../src/metadata/types.ts';
import { closeAll, extent, ok, openMachine, ROOT, run, stripe } from './sm-helpers.ts';

after(closeAll);

const KEY_1 = `sse-c:${'1'.repeat(32)}:${'a'.repeat(32)}`;
const KEY_2 = `sse-c:${'2'.repeat(32)}:${'b'.repeat(32)}`;

function sealedUnder(keyId: string, length = 10): Stripe {
  return {
    ...stripe(length),
    encryption: {
      cipher: 'aes-256-gcm',
      keyId,
      wrappedKey: Buffer.alloc(40, 'a').toString('base64'),
      plainLengthBytes: length,
    },
  };
}

const MASTER = '0123456789abcdef';
const customer = (keyId: string): SseCustomer => ({ algorithm: 'AES256', keyId });
const meta = (keyId?: string): Omit<ObjectMeta, 'etag'> =>
  keyId === undefined ? { userMeta: {} } : { userMeta: {}, sseCustomer: customer(keyId) };

function machineWithBucket(): MetadataStateMachine {
  const machine = openMachine();
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  return machine;
}

function put(machine: MetadataStateMachine, key: string, s: Stripe, object = meta(KEY_1)) {
  return run(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size: 10,
    extents: [extent(0, 10, s)],
    object: { etag: 'e', ...object },
    caller: ROOT,
  });
}

const codeOfResult = (result: { ok: boolean; code?: string }) =>
  result.ok ? 'ok' : String(result.code);
const objectOf = (machine: MetadataStateMachine, key: string) =>
  (machine.reader.resolvePath(`/b/${key}`) as Inode | undefined)?.object;

describe('SSE-C records follow the stripes', () => {
  test('a put records SSE-C only when every stripe is sealed under that key', () => {
    const machine = machineWithBucket();
    assert.equal(codeOfResult(put(machine, 'k', sealedUnder(KEY_1))), 'ok');
    assert.deepEqual(objectOf(machine, 'k')?.sseCustomer, customer(KEY_1));
    for (const [what, s] of [
      ['a plaintext stripe', stripe(10)],
      ['a master-key stripe', sealedUnder(MASTER)],
      ['another customer key', sealedUnder(KEY_2)],
    ] as const) {
      assert.equal(codeOfResult(put(machine, `bad-${what}`, s)), 'EINVAL', what);
      assert.equal(objectOf(machine, `bad-${what}`), undefined, `${what}: nothing stored`);
    }
  });

  test('stripes under a customer key never go into an object without the record', () => {
    const machine = machineWithBucket();
    assert.equal(codeOfResult(put(machine, 'k', sealedUnder(KEY_1), meta())), 'EINVAL');
    const sse = { userMeta: {}, sse: 'AES256' as const };
    assert.equal(codeOfResult(put(machine, 'k', sealedUnder(KEY_1), sse)), 'EINVAL');
  });

  test('a malformed record, or SSE-C with SSE-S3, is refused', () => {
    const machine = machineWithBucket();
    const both = { ...meta(KEY_1), sse: 'AES256' as const };
    assert.equal(codeOfResult(put(machine, 'both', sealedUnder(KEY_1), both)), 'EINVAL');
    const raw = { userMeta: {}, sseCustomer: { algorithm: 'AES256', keyId: 'sse-c:zz' } };
    const bad = raw as unknown as Omit<ObjectMeta, 'etag'>;
    assert.equal(codeOfResult(put(machine, 'bad', sealedUnder(KEY_1), bad)), 'EINVAL');
  });

  test('SSE-C wins over the bucket default (the object is not SSE-S3)', () => {
    const machine = machineWithBucket();
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'encryption', value: 'AES256' });
    assert.equal(codeOfResult(put(machine, 'k', sealedUnder(KEY_1))), 'ok');
    assert.equal(objectOf(machine, 'k')?.sse, undefined);
    assert.deepEqual(objectOf(machine, 'k')?.sseCustomer, customer(KEY_1));
  });

  test('a copy shares stripes only under the same key id; other copies need new stripes', () => {
    const machine = machineWithBucket();
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'src',
      size: 10,
      extents: [extent(0, 10, sealedUnder(KEY_1))],
      object: { etag: 'e', ...meta(KEY_1) },
      caller: ROOT,
    });
    const src = machine.reader.resolvePath('/b/src') as Inode;
    const copy = (key: string, sseCustomer?: SseCustomer, rewrittenWith?: Stripe) =>
      run(machine, {
        op: 'copyObject',
        srcBucket: 'b',
        srcKey: 'src',
        bucket: 'b',
        key,
        caller: ROOT,
        sseCustomer,
        rewritten: rewrittenWith && {
          srcIno: src.ino,
          srcCtimeMs: src.ctimeMs,
          size: 10,
          extents: [extent(0, 10, rewrittenWith)],
        },
      });
    assert.equal(codeOfResult(copy('same', customer(KEY_1))), 'ok');
    assert.deepEqual(objectOf(machine, 'same')?.sseCustomer, customer(KEY_1));
    assert.equal(codeOfResult(copy('shared-other-key', customer(KEY_2))), 'EINVAL');
    assert.equal(codeOfResult(copy('shared-plain')), 'EINVAL', 'unreadable stripes, no record');
    assert.equal(codeOfResult(copy('rekeyed', customer(KEY_2), sealedUnder(KEY_2))), 'ok');
    assert.equal(codeOfResult(copy('plain', undefined, stripe(10))), 'ok');
    assert.equal(objectOf(machine, 'plain')?.sseCustomer, undefined, 'not inherited');
  });

  test('an SSE-C upload takes only parts sealed under its key', () => {
    const machine = machineWithBucket();
    const create = (uploadId: string, object: Omit<ObjectMeta, 'etag'>) =>
      run(machine, { op: 'createUpload', uploadId, bucket: 'b', key: 'mp', object, owner: 'o' });
    const raw = { userMeta: {}, sseCustomer: { algorithm: 'AES128', keyId: KEY_1 } };
    assert.equal(codeOfResult(create('bad', raw as unknown as ObjectMeta)), 'EINVAL');
    assert.equal(codeOfResult(create('u1', meta(KEY_1))), 'ok');
    const part = (uploadId: string, s: Stripe) =>
      run(machine, {
        op: 'putPart',
        uploadId,
        partNumber: 1,
        size: 10,
        etag: 'p',
        extents: [extent(0, 10, s)],
      });
    assert.equal(codeOfResult(part('u1', stripe(10))), 'EINVAL');
    assert.equal(codeOfResult(part('u1', sealedUnder(KEY_2))), 'EINVAL');
    assert.equal(codeOfResult(part('u1', sealedUnder(KEY_1))), 'ok');
    ok(machine, {
      op: 'createUpload',
      uploadId: 'u2',
      bucket: 'b',
      key: 'mp2',
      object: meta(),
      owner: 'o',
    });
    assert.equal(codeOfResult(part('u2', sealedUnder(KEY_1))), 'EINVAL', 'a plain upload');
  });

  test('a POSIX write into an SSE-C object is refused, and changes nothing', () => {
    const machine = machineWithBucket();
    assert.equal(codeOfResult(put(machine, 'k', sealedUnder(KEY_1))), 'ok');
    const before = machine.reader.resolvePath('/b/k') as Inode;
    const write = run(machine, {
      op: 'write',
      ino: before.ino,
      extents: [extent(0, 5, stripe(5))],
    });
    assert.equal(codeOfResult(write), 'EACCES');
    assert.deepEqual(machine.reader.resolvePath('/b/k'), before);
    // Nor may a write bring customer-key stripes into a plain file.
    assert.equal(codeOfResult(put(machine, 'plain', stripe(10), meta())), 'ok');
    const plain = machine.reader.resolvePath('/b/plain') as Inode;
    const sneaky = run(machine, {
      op: 'write',
      ino: plain.ino,
      extents: [extent(0, 5, sealedUnder(KEY_1, 5))],
    });
    assert.equal(codeOfResult(sneaky), 'EINVAL');
  });
});
