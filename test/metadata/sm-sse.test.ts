// SSE-S3 in the state machine (src/metadata/object-encryption.ts): an object records `sse` only
// while every stripe it reads from is sealed, whichever command writes it (put, multipart,
// copy, a POSIX write), and a bucket's default encryption makes every new object SSE-S3 or
// refuses it.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Inode, ObjectMeta, Stripe } from '../../src/metadata/types.ts';
import { closeAll, codeOf, extent, ok, openMachine, ROOT, run, stripe } from './sm-helpers.ts';

after(closeAll);

function sealed(length: number): Stripe {
  return {
    ...stripe(length),
    encryption: {
      cipher: 'aes-256-gcm',
      keyId: '0123456789abcdef',
      wrappedKey: Buffer.alloc(40, 'a').toString('base64'),
      plainLengthBytes: length,
    },
  };
}

const SSE: Omit<ObjectMeta, 'etag'> = { userMeta: {}, sse: 'AES256' };

function machineWithBucket(): MetadataStateMachine {
  const machine = openMachine();
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  return machine;
}

function putCommand(key: string, s: Stripe, object = SSE) {
  return {
    op: 'putObject' as const,
    bucket: 'b',
    key,
    size: 10,
    extents: [extent(0, 10, s)],
    object: { etag: 'e', ...object },
    caller: ROOT,
  };
}

const put = (machine: MetadataStateMachine, key: string, s: Stripe, object = SSE) =>
  run(machine, putCommand(key, s, object));

const objectOf = (machine: MetadataStateMachine, key: string) =>
  (machine.reader.resolvePath(`/b/${key}`) as Inode).object;

describe('SSE-S3 records follow the bytes', () => {
  test('a put asking for SSE-S3 with sealed stripes records it', () => {
    const machine = machineWithBucket();
    assert.equal(put(machine, 'k', sealed(10)).ok, true);
    assert.equal(objectOf(machine, 'k')?.sse, 'AES256');
  });

  test('a put asking for SSE-S3 with a plaintext stripe is refused and stores nothing', () => {
    const machine = machineWithBucket();
    const result = put(machine, 'k', stripe(10));
    assert.equal(result.ok ? 'ok' : result.code, 'EINVAL');
    assert.equal(machine.reader.resolvePath('/b/k'), undefined);
  });

  test('an unknown algorithm is refused', () => {
    const machine = machineWithBucket();
    const object = { userMeta: {}, sse: 'aws:kms:dsse' } as unknown as Omit<ObjectMeta, 'etag'>;
    const result = put(machine, 'k', sealed(10), object);
    assert.equal(result.ok ? 'ok' : result.code, 'EINVAL');
  });

  test('a bucket default applies to sealed objects and refuses plaintext ones', () => {
    const machine = machineWithBucket();
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'encryption', value: 'AES256' });
    const plainMeta = { userMeta: {} };
    assert.equal(put(machine, 'sealed', sealed(10), plainMeta).ok, true);
    assert.equal(objectOf(machine, 'sealed')?.sse, 'AES256');
    assert.equal(put(machine, 'clear', stripe(10), plainMeta).ok, false);
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'encryption', value: null });
    assert.equal(put(machine, 'clear', stripe(10), plainMeta).ok, true);
    assert.equal(objectOf(machine, 'clear')?.sse, undefined);
  });

  test('a default other than AES256 is refused', () => {
    const machine = machineWithBucket();
    const code = codeOf(machine, {
      op: 'setBucketAttr',
      name: 'b',
      attr: 'encryption',
      value: 'aws:kms',
    });
    assert.equal(code, 'EINVAL');
  });

  test('a copy takes its own request, never the source’s, and needs sealed source bytes', () => {
    const machine = machineWithBucket();
    ok(machine, putCommand('enc', sealed(10)));
    ok(machine, putCommand('clear', stripe(10), { userMeta: {} }));
    const copy = (srcKey: string, key: string, sse?: 'AES256') =>
      run(machine, {
        op: 'copyObject',
        srcBucket: 'b',
        srcKey,
        bucket: 'b',
        key,
        caller: ROOT,
        sse,
      });
    assert.equal(copy('enc', 'enc-plain').ok, true);
    assert.equal(objectOf(machine, 'enc-plain')?.sse, undefined, 'not inherited');
    assert.equal(copy('enc', 'enc-sse', 'AES256').ok, true);
    assert.equal(objectOf(machine, 'enc-sse')?.sse, 'AES256');
    const refused = copy('clear', 'clear-sse', 'AES256');
    assert.equal(refused.ok ? 'ok' : refused.code, 'EINVAL');
    // Onto itself (how an object is encrypted in place): the same check.
    assert.equal(copy('clear', 'clear', 'AES256').ok, false);
    assert.equal(copy('enc-plain', 'enc-plain', 'AES256').ok, true);
    assert.equal(objectOf(machine, 'enc-plain')?.sse, 'AES256');
  });

  test('a copy with its source rewritten sealed commits the new stripes, if the source is unchanged', () => {
    const machine = machineWithBucket();
    ok(machine, putCommand('clear', stripe(10), { userMeta: {} }));
    const src = machine.reader.resolvePath('/b/clear') as Inode;
    const rewrite = (key: string, srcCtimeMs: number) =>
      run(machine, {
        op: 'copyObject',
        srcBucket: 'b',
        srcKey: 'clear',
        bucket: 'b',
        key,
        caller: ROOT,
        sse: 'AES256',
        rewritten: { srcIno: src.ino, srcCtimeMs, size: 10, extents: [extent(0, 10, sealed(10))] },
      });
    const stale = rewrite('copy', src.ctimeMs - 1);
    assert.equal(stale.ok ? 'ok' : stale.code, 'PRECONDITION_FAILED');
    assert.equal(rewrite('copy', src.ctimeMs).ok, true);
    assert.equal(objectOf(machine, 'copy')?.sse, 'AES256');
    // Onto itself: the file keeps its inode and takes the sealed stripes.
    assert.equal(rewrite('clear', src.ctimeMs).ok, true);
    const after = machine.reader.resolvePath('/b/clear') as Inode;
    assert.equal(after.ino, src.ino);
    assert.equal(after.object?.sse, 'AES256');
    const extents = machine.reader.extents(src.ino, 0, 10);
    assert.ok(
      extents.every((e) => e.stripe?.encryption !== undefined),
      'the stripes are sealed',
    );
  });

  test('a part of an SSE-S3 upload must be sealed', () => {
    const machine = machineWithBucket();
    ok(machine, {
      op: 'createUpload',
      uploadId: 'u1',
      bucket: 'b',
      key: 'mp',
      object: SSE,
      owner: 'o',
    });
    const part = (s: Stripe) =>
      run(machine, {
        op: 'putPart',
        uploadId: 'u1',
        partNumber: 1,
        size: 10,
        etag: 'p',
        extents: [extent(0, 10, s)],
      });
    const refused = part(stripe(10));
    assert.equal(refused.ok ? 'ok' : refused.code, 'EINVAL');
    assert.equal(part(sealed(10)).ok, true);
  });

  test('a POSIX write of plaintext into an SSE-S3 object drops the record; sealed keeps it', () => {
    const machine = machineWithBucket();
    assert.equal(put(machine, 'k', sealed(10)).ok, true);
    const ino = (machine.reader.resolvePath('/b/k') as Inode).ino;
    ok(machine, { op: 'write', ino, extents: [extent(0, 5, sealed(5))] });
    assert.equal(objectOf(machine, 'k')?.sse, 'AES256');
    ok(machine, { op: 'write', ino, extents: [extent(5, 5, stripe(5))] });
    assert.equal(objectOf(machine, 'k')?.sse, undefined);
  });
});
