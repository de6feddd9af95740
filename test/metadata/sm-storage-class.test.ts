// Storage classes in the state machine, judged on the command's nowMs only: a restore of an
// archived version is ongoing until the restore runner commits its copy (only a copy of the
// stripes the version has, for the restore it was made for), then readable for Days, extended,
// expired and its copy released; the copy lives and dies with its version; one of a version that
// is not archived is refused; a transition commit swaps the version's extents only when the version
// still has the stripes its runner read and the rules still move it, releases the old stripes in
// the same command (so they are collected after it), and works on a locked version; a copy of
// an archived version is refused until it is restored; a stripe placed in a pool is judged
// against that pool's servers.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Extent, Inode, LifecycleRule, Stripe } from '../../src/metadata/types.ts';
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

function codeAt(machine: MetadataStateMachine, command: Parameters<typeof run>[1], nowMs: number) {
  const result = run(machine, { ...command, nowMs });
  return result.ok ? 'ok' : result.code;
}

// The restore runner's commands, as it proposes them.
const commitCopy = (ino: number, from: string[], extents: Extent[], requestedAtMs: number) =>
  ({
    op: 'commitRestoredCopy',
    ino,
    requestedAtMs,
    fromStripeIds: from,
    extents,
    timing: TIMING,
  }) as const;
const expireCopy = (ino: number, nowMs: number) =>
  ({ op: 'expireRestoredCopy', ino, nowMs }) as const;

// A GLACIER object 'k' with a restore requested at 10,000 for `days` (delay 500) and its
// archive's stripe.
function archivedAndRestoring(days = 2) {
  const machine = openMachineWithServers(['t']);
  const archive = extent(0, 4);
  put(machine, 'k', { storageClass: 'GLACIER', extents: [archive] });
  const first = must(machine, restore(days, 500, 10_000));
  assert.equal(first.ok && first.restore, 'started');
  const ino = machine.reader.resolvePath('/b/k')?.ino as number;
  return { machine, archive, ino };
}

describe('restoreObject', () => {
  test('ongoing until the copy commits, then readable for Days from the commit, extended, expired', () => {
    const { machine, archive, ino } = archivedAndRestoring(2);
    const copy = extent(0, 4);
    const inProgress = (nowMs: number) => codeOf(machine, restore(1, 0, nowMs));
    assert.equal(inProgress(10_499), 'RESTORE_IN_PROGRESS');
    assert.equal(inProgress(10_600), 'RESTORE_IN_PROGRESS', 'past the delay, still no copy');
    const at = (nowMs: number, c: ReturnType<typeof commitCopy>) => ({ ...c, nowMs });
    const good = commitCopy(ino, [archive.stripe.id], [copy], 10_000);
    assert.equal(codeOf(machine, at(10_400, good)), 'PRECONDITION_FAILED', 'before the delay');
    assert.equal(
      codeOf(machine, at(11_000, { ...good, fromStripeIds: [copy.stripe.id] })),
      'PRECONDITION_FAILED',
      'the copy was made from other stripes than the version has',
    );
    assert.equal(
      codeOf(machine, at(11_000, { ...good, requestedAtMs: 9_000 })),
      'PRECONDITION_FAILED',
      'the copy was made for another restore',
    );
    assert.equal(machine.reader.stripeState(copy.stripe.id), 'unknown', 'refused: no reference');
    must(machine, at(11_000, good));
    const restored = machine.reader.resolvePath('/b/k')?.object?.restore;
    const copyIno = restored?.copyIno as number;
    assert.equal(restored?.expiresAtMs, 11_000 + 2 * DAY, 'Days count from the commit');
    assert.equal(machine.reader.getattr(copyIno)?.restoredCopyOf, ino);
    assert.deepEqual(
      machine.reader.extents(ino, 0, 4).map((e) => e.stripe?.id),
      [copy.stripe.id],
      'reads use the copy',
    );
    assert.deepEqual(
      machine.reader.extents(ino, 0, 4, true).map((e) => e.stripe?.id),
      [archive.stripe.id],
      'the archive stays',
    );
    assert.equal(codeOf(machine, at(11_100, good)), 'PRECONDITION_FAILED', 'a second copy');
    const extended = must(machine, restore(5, 500, 11_500));
    assert.equal(extended.ok && extended.restore, 'extended');
    const after = machine.reader.resolvePath('/b/k')?.object?.restore;
    assert.equal(after?.copyIno, copyIno, 'extending copies nothing');
    assert.equal(after?.expiresAtMs, 11_500 + 5 * DAY);
    assert.equal(codeOf(machine, expireCopy(ino, 11_000 + 2 * DAY)), 'PRECONDITION_FAILED');
    assert.equal(machine.reader.stripeState(copy.stripe.id), 'referenced');
    must(machine, expireCopy(ino, 11_500 + 5 * DAY));
    assert.equal(machine.reader.stripeState(copy.stripe.id), 'collecting', 'the copy goes');
    assert.equal(machine.reader.stripeState(archive.stripe.id), 'referenced', 'not the archive');
    assert.equal(machine.reader.getattr(copyIno), undefined);
    assert.equal(machine.reader.resolvePath('/b/k')?.object?.restore, undefined);
    assert.deepEqual(machine.reader.pendingRestores(0, 10), [], 'no restore left to run');
    const again = must(machine, restore(1, 500, 11_500 + 5 * DAY));
    assert.equal(again.ok && again.restore, 'started');
  });

  test('the restore index lists exactly the files with a restore', () => {
    const { machine, ino } = archivedAndRestoring();
    put(machine, 'other', { storageClass: 'GLACIER' });
    assert.deepEqual(
      machine.reader.pendingRestores(0, 10).map((f) => f.ino),
      [ino],
    );
    assert.deepEqual(machine.reader.pendingRestores(ino, 10), [], 'paged by inode number');
    ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k' });
    assert.deepEqual(machine.reader.pendingRestores(0, 10), []);
  });

  test('a copy goes with its version: deleted, overwritten, or kept as a noncurrent version', () => {
    const { machine, archive, ino } = archivedAndRestoring();
    const copy = extent(0, 4);
    must(machine, { ...commitCopy(ino, [archive.stripe.id], [copy], 10_000), nowMs: 11_000 });
    put(machine, 'k', { nowMs: 12_000 }); // unversioned: the version and its copy go
    assert.equal(machine.reader.stripeState(copy.stripe.id), 'collecting', 'overwritten');

    const versioned = archivedAndRestoring();
    const m = versioned.machine;
    ok(m, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
    const copy2 = extent(0, 4);
    const c2 = commitCopy(versioned.ino, [versioned.archive.stripe.id], [copy2], 10_000);
    must(m, { ...c2, nowMs: 11_000 });
    put(m, 'k', { nowMs: 12_000 }); // the restored version becomes noncurrent, copy and all
    assert.equal(m.reader.stripeState(copy2.stripe.id), 'referenced', 'kept by the old version');
    const [old] = m.reader.pendingRestores(0, 10);
    assert.notEqual(old.ino, versioned.ino, 'the noncurrent version is a frozen inode');
    assert.equal(m.reader.getattr(old.object?.restore?.copyIno as number)?.restoredCopyOf, old.ino);
    assert.deepEqual(
      m.reader.extents(old.ino, 0, 4).map((e) => e.stripe?.id),
      [copy2.stripe.id],
    );
    const versions = m.reader.listObjectVersions({ bucket: 'b', prefix: '', maxKeys: 10 });
    const oldId = versions.versions.find((v) => !v.isLatest)?.versionId as string;
    ok(m, { op: 'deleteObject', bucket: 'b', key: 'k', versionId: oldId });
    assert.equal(m.reader.stripeState(copy2.stripe.id), 'collecting', 'the version is gone');
  });

  test('an archived file is not written in place, restored or not', () => {
    const { machine, archive, ino } = archivedAndRestoring();
    const write = { op: 'write' as const, ino, extents: [extent(0, 4)] };
    assert.equal(codeOf(machine, write), 'INVALID_OBJECT_STATE');
    assert.equal(codeOf(machine, { op: 'setattr', ino, size: 1 }), 'INVALID_OBJECT_STATE');
    assert.equal(
      codeOf(machine, { op: 'punch', ino, offset: 0, length: 2 }),
      'INVALID_OBJECT_STATE',
    );
    must(machine, {
      ...commitCopy(ino, [archive.stripe.id], [extent(0, 4)], 10_000),
      nowMs: 11_000,
    });
    assert.equal(codeAt(machine, write, 11_100), 'INVALID_OBJECT_STATE');
  });

  test('a version that is not archived is INVALID_OBJECT_STATE', () => {
    const machine = openMachineWithServers(['t']);
    put(machine, 'k');
    assert.equal(codeOf(machine, restore(1, 0, 2_000)), 'INVALID_OBJECT_STATE');
  });

  test("a copy of an archived version waits for its restore and shares the copy's stripes", () => {
    const { machine, archive, ino } = archivedAndRestoring();
    const copyOf = {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'k',
      bucket: 'b',
      key: 'c',
    } as const;
    assert.equal(codeAt(machine, { ...copyOf, caller: ROOT }, 10_600), 'INVALID_OBJECT_STATE');
    const copy = extent(0, 4);
    must(machine, { ...commitCopy(ino, [archive.stripe.id], [copy], 10_000), nowMs: 11_000 });
    must(machine, { ...copyOf, caller: ROOT, nowMs: 11_100 });
    const copied = machine.reader.resolvePath('/b/c');
    assert.equal(copied?.object?.storageClass, undefined, 'a copy is STANDARD unless named');
    assert.equal(copied?.object?.restore, undefined, 'and has no restore of its own');
    assert.deepEqual(
      machine.reader.extents(copied?.ino as number, 0, 4, true).map((e) => e.stripe?.id),
      [copy.stripe.id],
      'the STANDARD stripes of the restored copy',
    );
  });
});

describe('copyObject into and out of archive classes', () => {
  test('a copy into GLACIER holds stripes of its code only', () => {
    const machine = openMachineWithServers(['t']);
    ok(machine, {
      op: 'initClusterConfig',
      config: {
        erasure: { k: 4, m: 2, shardSizeBytes: 1 << 20 },
        placement: { strategy: 'spread-domains' },
        storageClasses: { GLACIER: { k: 8, m: 3 }, DEEP_ARCHIVE: { k: 10, m: 4 } },
      },
    });
    put(machine, 'k');
    const src = machine.reader.resolvePath('/b/k') as Inode;
    const copy = {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'k',
      bucket: 'b',
      key: 'g',
      storageClass: 'GLACIER',
      caller: ROOT,
    } as const;
    const shared = run(machine, copy);
    assert.ok(!shared.ok && /written with its 8\+3 code/.test(shared.message), 'not 4+2 shared');
    const wide = {
      fileOffset: 0,
      length: 4,
      stripe: wideStripe('c'.repeat(32), 4),
      stripeOffset: 0,
    };
    const rewritten = { srcIno: src.ino, srcCtimeMs: src.ctimeMs, size: 4 };
    must(machine, { ...copy, rewritten: { ...rewritten, extents: [wide] } });
    const copied = machine.reader.resolvePath('/b/g') as Inode;
    assert.equal(copied.object?.storageClass, 'GLACIER');
    assert.deepEqual(
      machine.reader.extents(copied.ino, 0, 4).map((e) => e.stripe?.id),
      [wide.stripe.id],
    );
  });

  test('a restored object copied onto itself as STANDARD keeps the copy and drops the archive', () => {
    const { machine, archive, ino } = archivedAndRestoring();
    const copy = extent(0, 4);
    must(machine, { ...commitCopy(ino, [archive.stripe.id], [copy], 10_000), nowMs: 11_000 });
    const copyIno = machine.reader.resolvePath('/b/k')?.object?.restore?.copyIno as number;
    const self = { op: 'copyObject', srcBucket: 'b', srcKey: 'k', bucket: 'b', key: 'k' } as const;
    must(machine, { ...self, storageClass: 'STANDARD', caller: ROOT, nowMs: 11_100 });
    const file = machine.reader.resolvePath('/b/k') as Inode;
    assert.equal(file.ino, ino, 'in place (unversioned)');
    assert.equal(file.object?.storageClass, undefined, 'STANDARD now');
    assert.equal(file.object?.restore, undefined);
    assert.deepEqual(
      machine.reader.extents(ino, 0, 4, true).map((e) => e.stripe?.id),
      [copy.stripe.id],
      "the copy's stripes are the file's own",
    );
    assert.equal(machine.reader.stripeState(archive.stripe.id), 'collecting', 'the archive goes');
    assert.equal(machine.reader.stripeState(copy.stripe.id), 'referenced');
    assert.equal(machine.reader.getattr(copyIno), undefined, 'the copy inode is gone');
    assert.deepEqual(machine.reader.pendingRestores(0, 10), []);
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

  test('a transition to STANDARD_IA only records the class; to GLACIER it must re-encode', () => {
    const machine = openMachineWithServers(['t']);
    const old = extent(0, 4);
    put(machine, 'k', { extents: [old] });
    const rule: LifecycleRule = {
      id: 'ia',
      enabled: true,
      filter: {},
      transitions: [
        { days: 30, storageClass: 'STANDARD_IA' },
        { days: 60, storageClass: 'GLACIER' },
      ],
    };
    ok(machine, { op: 'setBucketLifecycle', name: 'b', config: { rules: [rule] } });
    const ino = machine.reader.resolvePath('/b/k')?.ino as number;
    const ia = {
      ...commit(ino, [old.stripe.id], [], 0),
      storageClass: 'STANDARD_IA',
      relabel: true,
    } as const;
    assert.equal(codeAt(machine, ia, 1_000 + 29 * DAY), 'PRECONDITION_FAILED', 'not due yet');
    assert.equal(codeAt(machine, ia, 1_000 + 30 * DAY), 'ok');
    const file = machine.reader.resolvePath('/b/k');
    assert.equal(file?.object?.storageClass, 'STANDARD_IA');
    assert.deepEqual(
      machine.reader.extents(ino, 0, 4).map((e) => e.stripe?.id),
      [old.stripe.id],
      'the same stripes',
    );
    assert.equal(machine.reader.stripeState(old.stripe.id), 'referenced');
    const glacier = { ...ia, storageClass: 'GLACIER' } as const;
    assert.equal(codeAt(machine, glacier, 1_000 + 60 * DAY), 'EINVAL', 'an archive re-encodes');
  });

  test('the rules: STANDARD_IA after 30 days at least, NewerNoncurrentVersions 1 and up', () => {
    const machine = openMachineWithServers(['t']);
    const set = (rule: Omit<LifecycleRule, 'id' | 'enabled' | 'filter'>) =>
      codeOf(machine, {
        op: 'setBucketLifecycle',
        name: 'b',
        config: { rules: [{ id: 'r', enabled: true, filter: {}, ...rule }] },
      });
    assert.equal(set({ transitions: [{ days: 29, storageClass: 'STANDARD_IA' }] }), 'EINVAL');
    assert.equal(set({ transitions: [{ days: 30, storageClass: 'STANDARD_IA' }] }), 'ok');
    const nc = (noncurrentDays: number, newerNoncurrentVersions?: number) =>
      set({
        noncurrentTransitions: [
          { noncurrentDays, storageClass: 'STANDARD_IA', newerNoncurrentVersions },
        ],
      });
    assert.equal(nc(29), 'EINVAL');
    assert.equal(nc(30, 0), 'EINVAL');
    assert.equal(nc(30, 2), 'ok');
    assert.equal(
      machine.reader.getBucket('b')?.lifecycle?.rules[0].noncurrentTransitions?.[0]
        .newerNoncurrentVersions,
      2,
      'kept with the rule',
    );
    assert.equal(set({ transitions: [{ days: 1, storageClass: 'STANDARD' }] }), 'EINVAL');
  });

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
