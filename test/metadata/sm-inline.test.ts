// Small files inline (docs/architecture/overview.md, "Small files inline"): the rules the state
// machine keeps whatever a client sends.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Extent, FileExtent, InlineExtent, ObjectMeta } from '../../src/metadata/types.ts';
import {
  closeAll,
  codeOf,
  extent,
  ok,
  openMachine,
  openMachineWithServers,
  ROOT,
  run,
  stripe,
} from './sm-helpers.ts';

const LIMIT = 100;
const META: ObjectMeta = { etag: 'e', userMeta: {} };

function withLimit(limit = LIMIT): MetadataStateMachine {
  const machine = openMachineWithServers([]);
  const config = {
    erasure: { k: 4, m: 2, shardSizeBytes: 1024, inlineMaxBytes: limit },
    placement: { strategy: 'random' as const },
  };
  ok(machine, { op: 'initClusterConfig', config });
  return machine;
}

const inline = (fileOffset: number, text: string): InlineExtent => ({
  fileOffset,
  length: Buffer.byteLength(text),
  inline: new Uint8Array(Buffer.from(text)),
});

const put = (machine: MetadataStateMachine, key: string, extents: FileExtent[], size: number) =>
  codeOf(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size,
    extents,
    object: META,
    caller: ROOT,
  });

// The file's bytes as its extents describe them (stripe extents as '#', holes as '.').
function contentOf(machine: MetadataStateMachine, key: string): string {
  const inode = machine.reader.resolvePath(`/b/${key}`);
  assert.ok(inode, `${key} exists`);
  const out = Buffer.alloc(inode.size, '.');
  for (const e of machine.reader.extents(inode.ino, 0, inode.size)) {
    if (e.inline !== undefined) Buffer.from(e.inline).copy(out, e.fileOffset);
    else out.fill('#', e.fileOffset, e.fileOffset + e.length);
  }
  return out.toString();
}

const inoOf = (machine: MetadataStateMachine, key: string) =>
  machine.reader.resolvePath(`/b/${key}`)?.ino as number;

after(closeAll);

describe('inline data in the state machine', () => {
  test('a cluster that recorded no threshold refuses inline bytes (INLINE_LIMIT)', () => {
    const machine = openMachineWithServers([]);
    assert.equal(put(machine, 'k', [inline(0, 'hello')], 5), 'INLINE_LIMIT');
    assert.equal(machine.reader.resolvePath('/b/k'), undefined, 'nothing was stored');
  });

  test('a PUT within the threshold keeps its bytes in the metadata and references no stripe', () => {
    const machine = withLimit();
    assert.equal(put(machine, 'k', [inline(0, 'hello')], 5), 'ok');
    assert.equal(contentOf(machine, 'k'), 'hello');
    assert.deepEqual(machine.reader.shardCounts(), [], 'no shard is counted on any disk');
    assert.deepEqual(machine.reader.scanStripes(undefined, 100).stripes, []);
    assert.equal(put(machine, 'k', [extent(0, 10)], 10), 'ok', 'overwritten by stripes');
    assert.equal(contentOf(machine, 'k'), '##########');
    assert.equal(put(machine, 'k', [inline(0, 'ab')], 2), 'ok', 'and back');
    assert.deepEqual(machine.reader.pendingGc(10).length, 1, "the stripe's shards are collected");
    assert.equal(contentOf(machine, 'k'), 'ab');
  });

  test('inline bytes past the threshold, or in a file larger than it, are refused', () => {
    const machine = withLimit();
    const big = 'x'.repeat(LIMIT + 1);
    assert.equal(put(machine, 'k', [inline(0, big)], LIMIT + 1), 'INLINE_LIMIT');
    assert.equal(put(machine, 'k', [inline(LIMIT - 1, 'ab')], LIMIT + 1), 'INLINE_LIMIT');
    // Within [0, threshold) but the object is larger (its tail in a stripe): refused too.
    const tail = extent(10, LIMIT);
    assert.equal(put(machine, 'k', [inline(0, '0123456789'), tail], LIMIT + 10), 'INLINE_LIMIT');
    // Many small extents that add up to more than the threshold in one command.
    const many = Array.from({ length: 11 }, () => inline(0, '0123456789'));
    assert.equal(put(machine, 'k', many, 10), 'INLINE_LIMIT');
    const bad = { fileOffset: 0, length: 6, inline: new Uint8Array(5) };
    assert.equal(put(machine, 'k', [bad], 6), 'EINVAL', 'bytes that do not fill the extent');
    assert.equal(machine.reader.resolvePath('/b/k'), undefined);
  });

  test('POSIX writes: overwrite inside, growth refused until the bytes are spilled', () => {
    const machine = withLimit();
    assert.equal(put(machine, 'f', [inline(0, 'abcdefghij')], 10), 'ok');
    const ino = inoOf(machine, 'f');
    ok(machine, { op: 'write', ino, extents: [inline(3, 'XY')] });
    assert.equal(contentOf(machine, 'f'), 'abcXYfghij');
    // An append past the threshold while inline bytes remain.
    const grow = { op: 'write' as const, ino, extents: [extent(10, LIMIT)] };
    assert.equal(codeOf(machine, grow), 'INLINE_LIMIT');
    assert.equal(contentOf(machine, 'f'), 'abcXYfghij', 'the refused write changed nothing');
    // The spill: stripes over the inline range, applied only at the ctime its bytes were read.
    const ctime = machine.reader.resolvePath('/b/f')?.ctimeMs as number;
    const spill = { op: 'write' as const, ino, extents: [extent(0, 10)] };
    assert.equal(codeOf(machine, { ...spill, ifCtimeMs: ctime - 1 }), 'PRECONDITION_FAILED');
    // Another change in the same millisecond keeps the ctime: the bytes read tell it apart.
    const asRead = machine.reader
      .extents(ino, 0, LIMIT)
      .filter((e): e is InlineExtent => e.inline !== undefined);
    const last = asRead[asRead.length - 1];
    const changed = [...asRead.slice(0, -1), { ...last, inline: last.inline.map((b) => b ^ 1) }];
    assert.equal(
      codeOf(machine, { ...spill, ifCtimeMs: ctime, ifInline: changed }),
      'PRECONDITION_FAILED',
    );
    assert.equal(codeOf(machine, { ...spill, ifCtimeMs: ctime, ifInline: asRead }), 'ok');
    assert.equal(codeOf(machine, grow), 'ok');
    assert.equal(contentOf(machine, 'f'), '#'.repeat(LIMIT + 10));
  });

  test('truncate: down cuts the inline bytes, up past the threshold needs a spill', () => {
    const machine = withLimit();
    assert.equal(put(machine, 'f', [inline(0, 'abcdefghij')], 10), 'ok');
    const ino = inoOf(machine, 'f');
    ok(machine, { op: 'setattr', ino, size: 4 });
    assert.equal(contentOf(machine, 'f'), 'abcd');
    ok(machine, { op: 'setattr', ino, size: LIMIT });
    assert.equal(contentOf(machine, 'f'), `abcd${'.'.repeat(LIMIT - 4)}`, 'a hole after them');
    assert.equal(codeOf(machine, { op: 'setattr', ino, size: LIMIT + 1 }), 'INLINE_LIMIT');
    ok(machine, { op: 'punch', ino, offset: 1, length: 2 });
    assert.equal(contentOf(machine, 'f').slice(0, 5), 'a..d.');
  });

  test('versions keep their own inline bytes; copies and deletes leave the others whole', () => {
    const machine = withLimit();
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
    const v1 = run(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'k',
      size: 3,
      extents: [inline(0, 'one')],
      object: META,
      caller: ROOT,
    });
    assert.ok(v1.ok);
    assert.equal(put(machine, 'k', [inline(0, 'two!')], 4), 'ok');
    const old = machine.reader.objectVersion('b', 'k', v1.versionId);
    assert.ok(old?.inode);
    const oldBytes = machine.reader.extents(old.inode.ino, 0, 3)[0];
    assert.equal(Buffer.from(oldBytes.inline as Uint8Array).toString(), 'one');
    assert.equal(contentOf(machine, 'k'), 'two!');
    ok(machine, {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'k',
      bucket: 'b',
      key: 'c',
      caller: ROOT,
    });
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k', versionId: v1.versionId });
    assert.equal(contentOf(machine, 'c'), 'two!');
    assert.equal(contentOf(machine, 'k'), 'two!');
  });

  test('SSE-S3 objects and multipart parts are never inline', () => {
    const machine = withLimit();
    const sse: ObjectMeta = { ...META, sse: 'AES256' };
    const command = {
      op: 'putObject' as const,
      bucket: 'b',
      key: 'k',
      size: 2,
      extents: [inline(0, 'ab')],
      object: sse,
      caller: ROOT,
    };
    assert.equal(codeOf(machine, command), 'EINVAL');
    ok(machine, {
      op: 'createUpload',
      uploadId: 'u1',
      bucket: 'b',
      key: 'm',
      object: { userMeta: {} },
      owner: 'o',
    });
    const part = { op: 'putPart' as const, uploadId: 'u1', partNumber: 1, size: 2, etag: 'x' };
    // What the command's type forbids, as a client could still send it.
    const inlinePart = [inline(0, 'ab')] as unknown as Extent[];
    assert.equal(codeOf(machine, { ...part, extents: inlinePart }), 'INLINE_LIMIT');
    assert.equal(codeOf(machine, { ...part, extents: [extent(0, 2, stripe(2))] }), 'ok');
  });

  test('SSE-KMS and SSE-C objects are never inline, nor copies of inline objects into them', () => {
    const machine = withLimit();
    const kmsKey = '11111111-1111-4111-8111-111111111111';
    ok(machine, {
      op: 'createKmsKey',
      id: kmsKey,
      alias: 'alias/k',
      description: '',
      masterKeyId: '0123456789abcdef',
      wrappedMaterial: Buffer.alloc(40, 'w').toString('base64'),
    });
    const kms: ObjectMeta = { ...META, sse: 'aws:kms', kmsKeyId: kmsKey };
    const customer: ObjectMeta = {
      ...META,
      sseCustomer: { algorithm: 'AES256', keyId: `sse-c:${'1'.repeat(32)}:${'a'.repeat(32)}` },
    };
    const putAs = (key: string, object: ObjectMeta) =>
      codeOf(machine, {
        op: 'putObject',
        bucket: 'b',
        key,
        size: 2,
        extents: [inline(0, 'ab')],
        object,
        caller: ROOT,
      });
    assert.equal(putAs('kms', kms), 'EINVAL', 'SSE-KMS inline');
    assert.equal(putAs('c', customer), 'EINVAL', 'SSE-C inline');
    assert.equal(machine.reader.resolvePath('/b/kms'), undefined, 'nothing was stored');
    assert.equal(machine.reader.resolvePath('/b/c'), undefined);
    // The same bytes unencrypted are inline: the refusals above are the encryption's.
    assert.equal(putAs('plain', META), 'ok');
    assert.equal(contentOf(machine, 'plain'), 'ab');
    // A metadata-only copy of that inline object into any encrypted mode would keep plaintext
    // in the metadata: refused (the client rewrites it into sealed stripes instead).
    const copy = {
      op: 'copyObject' as const,
      srcBucket: 'b',
      srcKey: 'plain',
      bucket: 'b',
      caller: ROOT,
    };
    assert.equal(codeOf(machine, { ...copy, key: 'c1', sse: 'AES256' }), 'EINVAL');
    assert.equal(
      codeOf(machine, { ...copy, key: 'c2', sse: 'aws:kms', kmsKeyId: kmsKey }),
      'EINVAL',
    );
    const sseCustomer = customer.sseCustomer;
    assert.equal(codeOf(machine, { ...copy, key: 'c3', sseCustomer }), 'EINVAL');
    assert.equal(codeOf(machine, { ...copy, key: 'c4' }), 'ok', 'a plain copy stays inline');
    assert.equal(contentOf(machine, 'c4'), 'ab');
    // A bucket default of SSE-KMS refuses inline bytes of an object that names nothing.
    const value = { sseAlgorithm: 'aws:kms', kmsKeyId: kmsKey };
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'encryption', value });
    assert.equal(putAs('by-default', META), 'EINVAL');
    assert.equal(machine.reader.resolvePath('/b/by-default'), undefined);
  });

  test('a threshold above the hard maximum is refused when the cluster records it', () => {
    const machine = openMachine();
    const config = {
      erasure: { k: 4, m: 2, shardSizeBytes: 1024, inlineMaxBytes: 256 * 1024 + 1 },
      placement: { strategy: 'random' as const },
    };
    assert.equal(codeOf(machine, { op: 'initClusterConfig', config }), 'EINVAL');
  });
});
