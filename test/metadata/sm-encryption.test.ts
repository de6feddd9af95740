// The master key rotation's rewrapStripeKeys command: a stripe's wrapped data key is replaced
// once per stripe, for every extent sharing it; a commit planned against another wrapping, for a
// stripe no longer where it was found, or of a malformed key is refused without a change.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Stripe, StripeKeyRewrap } from '../../src/metadata/types.ts';
import { closeAll, codeOf, extent, ok, openMachine, ROOT, stripe } from './sm-helpers.ts';

after(closeAll);

const disks = Array.from({ length: 6 }, (_, disk) => ({ disk, path: `/d${disk}` }));
const OLD = '0123456789abcdef';
const NEW = 'fedcba9876543210';
const wrapped = (fill: string) => Buffer.alloc(40, fill).toString('base64');

function withSealedObject() {
  const machine = openMachine();
  ok(machine, { op: 'registerDataServer', server: { serverId: 's', addr: 'h:1', disks } });
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  const s: Stripe = {
    ...stripe(100),
    encryption: {
      cipher: 'aes-256-gcm',
      keyId: OLD,
      wrappedKey: wrapped('a'),
      plainLengthBytes: 90,
    },
  };
  for (const key of ['k', 'copy']) {
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key,
      size: 90,
      extents: [extent(0, 90, s)],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
    });
  }
  const ino = machine.reader.resolvePath('/b/k')!.ino;
  const copy = machine.reader.resolvePath('/b/copy')!.ino;
  return { machine, s, ino, copy };
}

const rewrap = (s: Stripe, ino: number, over: Partial<StripeKeyRewrap> = {}) => ({
  op: 'rewrapStripeKeys' as const,
  keys: [
    {
      stripeId: s.id,
      at: { ino, fileOffset: 0 },
      fromKeyId: OLD,
      keyId: NEW,
      wrappedKey: wrapped('b'),
      ...over,
    },
  ],
});

const refusal = (result: { rewrapped?: unknown[] }) =>
  (result.rewrapped?.[0] as { code?: string } | undefined)?.code;

const keyOf = (machine: MetadataStateMachine, ino: number) => {
  const enc = machine.reader.extents(ino, 0, 90)[0].stripe!.encryption;
  return `${enc?.keyId}:${enc?.wrappedKey}`;
};

test('a re-wrapped key is seen by every extent of the stripe; a retry changes nothing', () => {
  const { machine, s, ino, copy } = withSealedObject();
  const result = ok(machine, rewrap(s, ino));
  assert.deepEqual(result.rewrapped, [{ ok: true }]);
  assert.equal(keyOf(machine, ino), `${NEW}:${wrapped('b')}`);
  assert.equal(keyOf(machine, copy), `${NEW}:${wrapped('b')}`, 'the copy shares the stripe');
  assert.equal(machine.reader.extents(ino, 0, 90)[0].stripe!.encryption?.plainLengthBytes, 90);
  assert.deepEqual(ok(machine, rewrap(s, copy)).rewrapped, [{ ok: true }], 'a retry');
  assert.equal(keyOf(machine, ino), `${NEW}:${wrapped('b')}`);
});

test('a re-wrap planned against another wrapping, or elsewhere, is refused alone', () => {
  const { machine, s, ino } = withSealedObject();
  const stale = ok(machine, rewrap(s, ino, { fromKeyId: 'aaaaaaaaaaaaaaaa' }));
  assert.equal(refusal(stale), 'PRECONDITION_FAILED');
  const gone = ok(machine, rewrap(s, ino, { at: { ino, fileOffset: 4096 } }));
  assert.equal(refusal(gone), 'PRECONDITION_FAILED');
  const bad = ok(machine, rewrap(s, ino, { wrappedKey: 'short' }));
  assert.equal(refusal(bad), 'EINVAL');
  assert.equal(keyOf(machine, ino), `${OLD}:${wrapped('a')}`, 'unchanged');
  assert.equal(codeOf(machine, { op: 'rewrapStripeKeys', keys: [] }), 'EINVAL');
});

test('an unencrypted stripe has no key to re-wrap', () => {
  const machine = openMachine();
  ok(machine, { op: 'registerDataServer', server: { serverId: 's', addr: 'h:1', disks } });
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  const s = stripe(100);
  ok(machine, {
    op: 'putObject',
    bucket: 'b',
    key: 'k',
    size: 100,
    extents: [extent(0, 100, s)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });
  const ino = machine.reader.resolvePath('/b/k')!.ino;
  const result = ok(machine, rewrap(s, ino));
  assert.equal(refusal(result), 'EINVAL');
});

test('a sealed stripe record of the wrong shape, or an extent past its plaintext, is refused', () => {
  const machine = openMachine();
  ok(machine, { op: 'registerDataServer', server: { serverId: 's', addr: 'h:1', disks } });
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  const put = (encryption: Stripe['encryption'], length = 90) => ({
    op: 'putObject' as const,
    bucket: 'b',
    key: 'k',
    size: length,
    extents: [extent(0, length, { ...stripe(100), encryption })],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });
  const good = { cipher: 'aes-256-gcm' as const, keyId: OLD, wrappedKey: wrapped('a') };
  assert.equal(codeOf(machine, put({ ...good, plainLengthBytes: 90 }, 95)), 'EINVAL');
  assert.equal(codeOf(machine, put({ ...good, plainLengthBytes: 200 })), 'EINVAL');
  const rot13 = { ...good, cipher: 'rot13' } as unknown as typeof good;
  assert.equal(codeOf(machine, put({ ...rot13, plainLengthBytes: 90 })), 'EINVAL');
  assert.equal(codeOf(machine, put({ ...good, keyId: 'x', plainLengthBytes: 90 })), 'EINVAL');
  assert.equal(codeOf(machine, put({ ...good, plainLengthBytes: 90 })), 'ok');
});
