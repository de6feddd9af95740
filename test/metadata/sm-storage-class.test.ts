// Storage classes in the state machine, judged on the command's nowMs only: a restore of an
// archived version is ongoing, then complete, extended, expired; one of a version that is not
// archived is refused; a transition commit swaps the version's extents only when the version
// still has the stripes its runner read and the rules still move it, releases the old stripes in
// the same command (so they are collected after it), and works on a locked version; a copy of
// an archived version is refused until it is restored; a stripe placed in a pool is judged
// against that pool's servers.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Extent, LifecycleRule, Stripe } from '../../src/metadata/types.ts';
import {
  closeAll,
  codeOf,
  EIGHT_DISKS,
  extent,
  ok,
  openMachineWithServers,
  ROOT,
  run,
} from './sm-helpers.ts';

after(closeAll);

const DAY = 1_000;
const TIMING = { dayMs: DAY, roundToMidnight: false };

function must(machine: MetadataStateMachine, command: Parameters<typeof run>[1]) {
  const result = run(machine, command);
  assert.ok(result.ok, `${command.op}: ${!result.ok && `${result.code} ${result.message}`}`);
  return result;
}

function put(
  machine: MetadataStateMachine,
  key: string,
  options: { nowMs?: number; storageClass?: 'GLACIER'; extents?: Extent[] } = {},
) {
  const extents = options.extents ?? [extent(0, 4)];
  const result = must(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size: 4,
    extents,
    object: { etag: 'e', userMeta: {}, storageClass: options.storageClass },
    caller: ROOT,
    nowMs: options.nowMs ?? 1_000,
  });
  return result;
}

const restore = (days: number, delayMs: number, nowMs: number) =>
  ({
    op: 'restoreObject',
    bucket: 'b',
    key: 'k',
    days,
    tier: 'Standard',
    delayMs,
    timing: TIMING,
    nowMs,
  }) as const;

// An 8+3 stripe over the 6 disks of 's' and 5 of 't' (pool: absent or given).
function wideStripe(id: string, dataLengthBytes: number, pool?: string): Stripe {
  const shards = [
    ...Array.from({ length: 6 }, (_, disk) => ({ serverId: 's', disk })),
    ...Array.from({ length: 5 }, (_, disk) => ({ serverId: 't', disk })),
  ];
  return {
    id,
    k: 8,
    m: 3,
    shardSizeBytes: Math.ceil(dataLengthBytes / 8),
    dataLengthBytes,
    shards,
    ...(pool !== undefined ? { pool } : {}),
  };
}

const TRANSITION: LifecycleRule = {
  id: 'cold',
  enabled: true,
  filter: {},
  transitions: [{ days: 1, storageClass: 'GLACIER' }],
};

describe('restoreObject', () => {
  test('ongoing, complete, extended, expired: all on the command clock', () => {
    const machine = openMachineWithServers(['t']);
    put(machine, 'k', { storageClass: 'GLACIER' });
    const first = must(machine, restore(2, 500, 10_000));
    assert.equal(first.ok && first.restore, 'started');
    assert.equal(codeOf(machine, restore(1, 0, 10_499)), 'RESTORE_IN_PROGRESS');
    const extended = must(machine, restore(5, 500, 10_600));
    assert.equal(extended.ok && extended.restore, 'extended');
    const file = machine.reader.resolvePath('/b/k');
    assert.deepEqual(file?.object?.restore, {
      tier: 'Standard',
      requestedAtMs: 10_000,
      readyAtMs: 10_500,
      expiresAtMs: 10_600 + 5 * DAY,
    });
    // Expired: a new restore starts over.
    const again = must(machine, restore(1, 500, 10_600 + 5 * DAY));
    assert.equal(again.ok && again.restore, 'started');
  });

  test('an archived file is not written in place until restored', () => {
    const machine = openMachineWithServers(['t']);
    put(machine, 'k', { storageClass: 'GLACIER' });
    const ino = machine.reader.resolvePath('/b/k')?.ino as number;
    const write = { op: 'write' as const, ino, extents: [extent(0, 4)] };
    assert.equal(codeOf(machine, write), 'INVALID_OBJECT_STATE');
    assert.equal(codeOf(machine, { op: 'setattr', ino, size: 1 }), 'INVALID_OBJECT_STATE');
    assert.equal(
      codeOf(machine, { op: 'punch', ino, offset: 0, length: 2 }),
      'INVALID_OBJECT_STATE',
    );
    must(machine, restore(1, 0, 2_000));
    must(machine, { ...write, nowMs: 2_100 });
  });

  test('a version that is not archived is INVALID_OBJECT_STATE', () => {
    const machine = openMachineWithServers(['t']);
    put(machine, 'k');
    assert.equal(codeOf(machine, restore(1, 0, 2_000)), 'INVALID_OBJECT_STATE');
  });

  test('a copy of an archived version waits for its restore', () => {
    const machine = openMachineWithServers(['t']);
    put(machine, 'k', { storageClass: 'GLACIER' });
    const copy = { op: 'copyObject', srcBucket: 'b', srcKey: 'k', bucket: 'b', key: 'c' } as const;
    assert.equal(codeOf(machine, { ...copy, caller: ROOT }), 'INVALID_OBJECT_STATE');
    must(machine, restore(1, 0, 2_000));
    must(machine, { ...copy, caller: ROOT, nowMs: 2_100 });
    const copied = machine.reader.resolvePath('/b/c');
    assert.equal(copied?.object?.storageClass, undefined, 'a copy is STANDARD unless named');
    assert.equal(copied?.object?.restore, undefined, 'and has no restore of its own');
  });
});

describe('transitionObject', () => {
  function setUp() {
    const machine = openMachineWithServers(['t']);
    const old = extent(0, 4);
    put(machine, 'k', { extents: [old] });
    ok(machine, { op: 'setBucketLifecycle', name: 'b', config: { rules: [TRANSITION] } });
    const ino = machine.reader.resolvePath('/b/k')?.ino as number;
    return { machine, old, ino };
  }
  const commit = (ino: number, from: string[], extents: Extent[], nowMs: number) =>
    ({
      op: 'transitionObject',
      bucket: 'b',
      key: 'k',
      versionId: 'null',
      ino,
      fromStripeIds: from,
      storageClass: 'GLACIER',
      extents,
      timing: TIMING,
      nowMs,
    }) as const;

  test('swaps the extents once due, releases the old stripe, and is refused when repeated', () => {
    const { machine, old, ino } = setUp();
    const wide = {
      fileOffset: 0,
      length: 4,
      stripe: wideStripe('a'.repeat(32), 4),
      stripeOffset: 0,
    };
    assert.equal(
      codeOf(machine, commit(ino, [old.stripe.id], [wide], 1_500)),
      'PRECONDITION_FAILED',
      'not due yet',
    );
    assert.equal(
      codeOf(machine, commit(ino, ['f'.repeat(32)], [wide], 5_000)),
      'PRECONDITION_FAILED',
      'the version has other stripes than the runner read',
    );
    must(machine, commit(ino, [old.stripe.id], [wide], 5_000));
    const file = machine.reader.resolvePath('/b/k');
    assert.equal(file?.object?.storageClass, 'GLACIER');
    assert.deepEqual(
      machine.reader.extents(ino, 0, 4).map((e) => [e.stripe?.id, e.stripe?.k, e.stripe?.m]),
      [['a'.repeat(32), 8, 3]],
    );
    assert.equal(machine.reader.stripeState(old.stripe.id), 'collecting', 'old shards go now');
    assert.equal(machine.reader.stripeState(wide.stripe.id), 'referenced');
    assert.equal(
      codeOf(machine, commit(ino, [old.stripe.id], [wide], 6_000)),
      'PRECONDITION_FAILED',
      'a repeated commit changes nothing',
    );
  });

  test("a transition keeps the object's encryption; an SSE-C version is never due", () => {
    const machine = openMachineWithServers(['t']);
    const kmsKey = '11111111-1111-4111-8111-111111111111';
    const wrappedKey = Buffer.alloc(40, 'w').toString('base64');
    ok(machine, {
      op: 'createKmsKey',
      id: kmsKey,
      alias: 'alias/k',
      description: '',
      masterKeyId: '0123456789abcdef',
      wrappedMaterial: wrappedKey,
    });
    const sealed = (s: Stripe, keyId: string, kms?: { version: number }): Stripe => ({
      ...s,
      encryption: { cipher: 'aes-256-gcm', keyId, wrappedKey, plainLengthBytes: 4, kms },
    });
    const old = { ...extent(0, 4), stripe: sealed(extent(0, 4).stripe, kmsKey, { version: 1 }) };
    must(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'k',
      size: 4,
      extents: [old],
      object: { etag: 'e', userMeta: {}, sse: 'aws:kms', kmsKeyId: kmsKey },
      caller: ROOT,
      nowMs: 1_000,
    });
    ok(machine, { op: 'setBucketLifecycle', name: 'b', config: { rules: [TRANSITION] } });
    const ino = machine.reader.resolvePath('/b/k')?.ino as number;
    const wide = (id: string, enc: (s: Stripe) => Stripe) => ({
      fileOffset: 0,
      length: 4,
      stripe: enc(wideStripe(id, 4)),
      stripeOffset: 0,
    });
    const plain = wide('1'.repeat(32), (s) => s);
    const master = wide('2'.repeat(32), (s) => sealed(s, '0123456789abcdef'));
    const underKms = wide('3'.repeat(32), (s) => sealed(s, kmsKey, { version: 1 }));
    for (const re of [plain, master])
      assert.equal(codeOf(machine, commit(ino, [old.stripe.id], [re], 5_000)), 'EINVAL');
    assert.equal(machine.reader.resolvePath('/b/k')?.object?.storageClass, undefined);
    must(machine, commit(ino, [old.stripe.id], [underKms], 5_000));
    const file = machine.reader.resolvePath('/b/k');
    assert.equal(file?.object?.storageClass, 'GLACIER');
    assert.equal(file?.object?.sse, 'aws:kms');
    // SSE-C: nobody but the customer can read it to re-encode it, so the rules leave it.
    const keyId = `sse-c:${'1'.repeat(32)}:${'a'.repeat(32)}`;
    const mine = { ...extent(0, 4), stripe: sealed(extent(0, 4).stripe, keyId) };
    must(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'c',
      size: 4,
      extents: [mine],
      object: { etag: 'e', userMeta: {}, sseCustomer: { algorithm: 'AES256', keyId } },
      caller: ROOT,
      nowMs: 1_000,
    });
    const theirs = wide('4'.repeat(32), (s) => sealed(s, keyId));
    const commitC = { ...commit(0, [mine.stripe.id], [theirs], 5_000), key: 'c' };
    commitC.ino = machine.reader.resolvePath('/b/c')?.ino as number;
    assert.equal(codeOf(machine, commitC), 'PRECONDITION_FAILED', 'the rules do not move it');
    assert.equal(machine.reader.resolvePath('/b/c')?.object?.storageClass, undefined);
  });

  test('re-encoded data must cover the file exactly', () => {
    const { machine, old, ino } = setUp();
    const short = {
      fileOffset: 0,
      length: 3,
      stripe: wideStripe('b'.repeat(32), 3),
      stripeOffset: 0,
    };
    assert.equal(codeOf(machine, commit(ino, [old.stripe.id], [short], 5_000)), 'EINVAL');
    assert.equal(machine.reader.stripeState(old.stripe.id), 'referenced');
  });

  test('a COMPLIANCE-locked version transitions and stays locked', () => {
    const machine = openMachineWithServers(['t']);
    ok(machine, { op: 'createBucket', name: 'v', owner: 'o', caller: ROOT, objectLock: true });
    const old = extent(0, 4);
    const made = must(machine, {
      op: 'putObject',
      bucket: 'v',
      key: 'k',
      size: 4,
      extents: [old],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
      lock: { retention: { mode: 'COMPLIANCE', untilMs: 1_000_000_000 } },
    });
    const versionId = made.ok ? (made.versionId as string) : '';
    ok(machine, { op: 'setBucketLifecycle', name: 'v', config: { rules: [TRANSITION] } });
    const ino = machine.reader.resolvePath('/v/k')?.ino as number;
    const wide = {
      fileOffset: 0,
      length: 4,
      stripe: wideStripe('c'.repeat(32), 4),
      stripeOffset: 0,
    };
    must(machine, {
      ...commit(ino, [old.stripe.id], [wide], 5_000),
      bucket: 'v',
      versionId,
    });
    const version = machine.reader.objectVersion('v', 'k', versionId);
    assert.equal(version?.inode?.object?.storageClass, 'GLACIER');
    assert.equal(version?.retention?.mode, 'COMPLIANCE');
    assert.equal(
      codeOf(machine, { op: 'deleteObject', bucket: 'v', key: 'k', versionId }),
      'OBJECT_LOCKED',
    );
  });

  test("a stripe placed in a pool is judged against that pool's servers", () => {
    const machine = openMachineWithServers([]);
    ok(machine, {
      op: 'registerDataServer',
      server: {
        serverId: 't',
        addr: 'h:2',
        disks: EIGHT_DISKS,
        domain: { zone: 'z', rack: 'r', host: 't', pool: 'cold' },
      },
    });
    const inCold = {
      fileOffset: 0,
      length: 4,
      stripe: {
        ...wideStripe('d'.repeat(32), 4, 'cold'),
        k: 4,
        m: 2,
        shards: Array.from({ length: 6 }, (_, disk) => ({ serverId: 't', disk })),
      },
      stripeOffset: 0,
    };
    put(machine, 'ok', { extents: [inCold] });
    const outside = { ...inCold, stripe: { ...wideStripe('e'.repeat(32), 4, 'cold'), k: 4, m: 2 } };
    outside.stripe.shards = Array.from({ length: 6 }, (_, disk) => ({ serverId: 's', disk }));
    assert.equal(
      codeOf(machine, {
        op: 'putObject',
        bucket: 'b',
        key: 'bad',
        size: 4,
        extents: [outside],
        object: { etag: 'e', userMeta: {} },
        caller: ROOT,
      }),
      'PLACEMENT_VIOLATION',
    );
  });
});
