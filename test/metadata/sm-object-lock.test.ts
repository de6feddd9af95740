// Object Lock in the state machine: retention (GOVERNANCE, COMPLIANCE), legal hold and default
// retention, enforced on every path that removes or changes a version: S3 deletes by versionId,
// and the POSIX commands of the mount and `strata fs` (write, truncate, unlink, rename). Time is
// the command's nowMs (run() stamps 1_000 unless told), never a clock.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { ObjectLockRequest } from '../../src/metadata/types.ts';
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

const DAY_MS = 86_400_000;
const NOW = 1_000;

function lockedBucket(): MetadataStateMachine {
  const machine = openMachineWithServers([]);
  ok(machine, { op: 'createBucket', name: 'w', owner: 'o', caller: ROOT, objectLock: true });
  return machine;
}

function put(machine: MetadataStateMachine, key: string, lock?: ObjectLockRequest, nowMs = NOW) {
  const result = run(machine, {
    op: 'putObject',
    bucket: 'w',
    key,
    size: 4,
    extents: [extent(0, 4)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
    lock,
    nowMs,
  });
  assert.ok(result.ok, `put ${key}: ${!result.ok && result.message}`);
  return result.versionId as string;
}

const deleteVersion = (
  machine: MetadataStateMachine,
  key: string,
  versionId: string,
  extra: { nowMs?: number; bypassGovernance?: boolean } = {},
) => {
  const result = run(machine, { op: 'deleteObject', bucket: 'w', key, versionId, ...extra });
  return result.ok ? 'ok' : result.code;
};

const retention = (mode: 'GOVERNANCE' | 'COMPLIANCE', untilMs: number) => ({ mode, untilMs });

describe('enabling Object Lock', () => {
  test('at creation it turns versioning on, and versioning can no longer be suspended', () => {
    const machine = lockedBucket();
    const info = machine.reader.getBucket('w');
    assert.equal(info?.versioning, 'Enabled');
    assert.deepEqual(info?.objectLock, {});
    const suspend = { op: 'setBucketAttr', name: 'w', attr: 'versioning', value: 'Suspended' };
    assert.equal(codeOf(machine, suspend as never), 'INVALID_BUCKET_STATE');
  });

  test('later only on a bucket with versioning Enabled', () => {
    const machine = openMachineWithServers([]);
    const config = { op: 'setObjectLockConfig', name: 'b', rule: null } as const;
    assert.equal(codeOf(machine, config), 'INVALID_BUCKET_STATE');
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
    ok(machine, config);
    assert.deepEqual(machine.reader.getBucket('b')?.objectLock, {});
  });

  test('a lock asked of a bucket without Object Lock is refused, and nothing is stored', () => {
    const machine = openMachineWithServers([]);
    const result = run(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'k',
      size: 4,
      extents: [extent(0, 4)],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
      lock: { legalHold: true },
    });
    assert.equal(result.ok ? 'ok' : result.code, 'OBJECT_LOCK_MISSING');
    assert.equal(machine.reader.resolvePath('/b/k'), undefined);
  });
});

describe('retention', () => {
  test('COMPLIANCE: the version survives deletes, with or without bypass, until its date', () => {
    const machine = lockedBucket();
    const until = NOW + DAY_MS;
    const v1 = put(machine, 'k', { retention: retention('COMPLIANCE', until) });
    assert.equal(deleteVersion(machine, 'k', v1), 'OBJECT_LOCKED');
    assert.equal(deleteVersion(machine, 'k', v1, { bypassGovernance: true }), 'OBJECT_LOCKED');
    // A DELETE without a versionId hides it behind a marker and keeps it, as on AWS.
    const marker = ok(machine, { op: 'deleteObject', bucket: 'w', key: 'k' });
    assert.equal(marker.deleteMarker, true);
    assert.equal(machine.reader.objectVersion('w', 'k', v1)?.retention?.mode, 'COMPLIANCE');
    // An overwrite makes a new version and keeps the locked one.
    put(machine, 'k');
    assert.equal(deleteVersion(machine, 'k', v1, { nowMs: until - 1 }), 'OBJECT_LOCKED');
    assert.equal(deleteVersion(machine, 'k', v1, { nowMs: until }), 'ok', 'its date has come');
    assert.equal(machine.reader.objectVersion('w', 'k', v1), undefined);
  });

  test('COMPLIANCE is never shortened, removed or turned into GOVERNANCE; it may be extended', () => {
    const machine = lockedBucket();
    const until = NOW + DAY_MS;
    const v1 = put(machine, 'k', { retention: retention('COMPLIANCE', until) });
    const set = (r: ReturnType<typeof retention> | null, bypassGovernance = true) =>
      codeOf(machine, {
        op: 'setObjectRetention',
        bucket: 'w',
        key: 'k',
        versionId: v1,
        retention: r,
        bypassGovernance,
      });
    assert.equal(set(retention('COMPLIANCE', until - 1)), 'OBJECT_LOCKED');
    assert.equal(set(retention('GOVERNANCE', until + DAY_MS)), 'OBJECT_LOCKED');
    assert.equal(set(null), 'OBJECT_LOCKED');
    assert.equal(set(retention('COMPLIANCE', until + DAY_MS), false), 'ok');
    const kept = machine.reader.objectVersion('w', 'k', v1)?.retention;
    assert.deepEqual(kept, retention('COMPLIANCE', until + DAY_MS));
  });

  test('GOVERNANCE: removed, shortened or deleted only with the bypass', () => {
    const machine = lockedBucket();
    const until = NOW + DAY_MS;
    const v1 = put(machine, 'k', { retention: retention('GOVERNANCE', until) });
    assert.equal(deleteVersion(machine, 'k', v1), 'OBJECT_LOCKED');
    const shorten = {
      op: 'setObjectRetention',
      bucket: 'w',
      key: 'k',
      retention: retention('GOVERNANCE', until - 1),
    } as const;
    assert.equal(codeOf(machine, shorten), 'OBJECT_LOCKED');
    const toCompliance = { ...shorten, retention: retention('COMPLIANCE', until) };
    assert.equal(codeOf(machine, toCompliance), 'OBJECT_LOCKED', 'a mode change needs bypass');
    ok(machine, { ...shorten, retention: retention('GOVERNANCE', until + 5) }); // extending
    ok(machine, { ...shorten, bypassGovernance: true });
    assert.equal(machine.reader.objectVersion('w', 'k')?.retention?.untilMs, until - 1);
    assert.equal(deleteVersion(machine, 'k', v1, { bypassGovernance: true }), 'ok');
  });

  test('a retain-until date must be in the future', () => {
    const machine = lockedBucket();
    const result = run(machine, {
      op: 'putObject',
      bucket: 'w',
      key: 'k',
      size: 4,
      extents: [extent(0, 4)],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
      lock: { retention: retention('GOVERNANCE', NOW) },
    });
    assert.equal(result.ok ? 'ok' : result.code, 'EINVAL');
  });
});

describe('legal hold', () => {
  test('blocks a delete, even with bypass, until it is removed', () => {
    const machine = lockedBucket();
    const v1 = put(machine, 'k');
    ok(machine, { op: 'setObjectLegalHold', bucket: 'w', key: 'k', on: true });
    assert.equal(machine.reader.objectVersion('w', 'k', v1)?.legalHold, true);
    assert.equal(deleteVersion(machine, 'k', v1, { bypassGovernance: true }), 'OBJECT_LOCKED');
    ok(machine, { op: 'setObjectLegalHold', bucket: 'w', key: 'k', versionId: v1, on: false });
    assert.equal(deleteVersion(machine, 'k', v1), 'ok');
  });
});

describe('default retention', () => {
  test('new versions get the rule, counted from the command time; older ones keep theirs', () => {
    const machine = lockedBucket();
    const before = put(machine, 'old');
    ok(machine, {
      op: 'setObjectLockConfig',
      name: 'w',
      rule: { mode: 'COMPLIANCE', days: 2 },
    });
    const v1 = put(machine, 'k', undefined, 5_000);
    assert.deepEqual(
      machine.reader.objectVersion('w', 'k', v1)?.retention,
      retention('COMPLIANCE', 5_000 + 2 * DAY_MS),
    );
    assert.equal(machine.reader.objectVersion('w', 'old', before)?.retention, undefined);
    assert.equal(deleteVersion(machine, 'k', v1), 'OBJECT_LOCKED');
    const own = put(machine, 'g', { retention: retention('GOVERNANCE', 9_000) });
    assert.equal(machine.reader.objectVersion('w', 'g', own)?.retention?.mode, 'GOVERNANCE');
  });

  test('a rule has a mode and either Days or Years, within AWS limits', () => {
    const machine = lockedBucket();
    for (const rule of [
      { mode: 'GOVERNANCE', days: 1, years: 1 },
      { mode: 'GOVERNANCE' },
      { mode: 'GOVERNANCE', days: 0 },
      { mode: 'GOVERNANCE', years: 101 },
      { mode: 'FOREVER', days: 1 },
    ])
      assert.equal(
        codeOf(machine, { op: 'setObjectLockConfig', name: 'w', rule: rule as never }),
        'EINVAL',
        JSON.stringify(rule),
      );
  });
});

describe('the POSIX view: a locked file is WORM', () => {
  function setup() {
    const machine = lockedBucket();
    const dir = machine.reader.resolvePath('/w') as { ino: number };
    put(machine, 'k', { retention: retention('COMPLIANCE', NOW + DAY_MS) });
    put(machine, 'free');
    const file = machine.reader.resolvePath('/w/k') as { ino: number };
    return { machine, dir: dir.ino, ino: file.ino };
  }

  test('write, truncate and punch get OBJECT_LOCKED (EPERM), and the data is unchanged', () => {
    const { machine, ino } = setup();
    const write = { op: 'write' as const, ino, extents: [extent(0, 4)], saveToken: 'm:1' };
    assert.equal(codeOf(machine, write), 'OBJECT_LOCKED');
    assert.equal(codeOf(machine, { op: 'setattr', ino, size: 0 }), 'OBJECT_LOCKED');
    const punch = { op: 'punch', ino, offset: 0, length: 4 } as const;
    assert.equal(codeOf(machine, punch), 'OBJECT_LOCKED');
    assert.equal(
      machine.reader.listObjectVersions({ bucket: 'w', prefix: 'k', maxKeys: 9 }).versions.length,
      1,
    );
    ok(machine, { op: 'setattr', ino, mode: 0o600 }); // attributes are not the version's data
  });

  test('unlink (strata fs rm, the mount) and rename from or over it get OBJECT_LOCKED', () => {
    const { machine, dir } = setup();
    assert.equal(codeOf(machine, { op: 'unlink', parent: dir, name: 'k' }), 'OBJECT_LOCKED');
    const rename = { op: 'rename', srcParent: dir, dstParent: dir } as const;
    assert.equal(codeOf(machine, { ...rename, srcName: 'k', dstName: 'x' }), 'OBJECT_LOCKED');
    assert.equal(codeOf(machine, { ...rename, srcName: 'free', dstName: 'k' }), 'OBJECT_LOCKED');
    assert.ok(machine.reader.resolvePath('/w/k'), 'the locked file is still there');
    assert.ok(machine.reader.resolvePath('/w/free'), 'and so is the one that would replace it');
  });

  test("a save's own version stays writable by that save, under default retention", () => {
    const machine = lockedBucket();
    ok(machine, { op: 'setObjectLockConfig', name: 'w', rule: { mode: 'GOVERNANCE', days: 1 } });
    const dir = machine.reader.resolvePath('/w') as { ino: number };
    const created = ok(machine, {
      op: 'create',
      parent: dir.ino,
      name: 'f',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
      saveToken: 'm:1',
    });
    const ino = created.inode?.ino as number;
    for (const at of [0, 4, 8])
      ok(machine, { op: 'write', ino, extents: [extent(at, 4)], saveToken: 'm:1' });
    assert.equal(machine.reader.getattr(ino)?.size, 12);
    const later = { op: 'write' as const, ino, extents: [extent(0, 4)], saveToken: 'm:2' };
    assert.equal(codeOf(machine, later), 'OBJECT_LOCKED', 'the next save is refused');
    ok(machine, { op: 'setObjectLegalHold', bucket: 'w', key: 'f', on: false });
    const same = { ...later, saveToken: 'm:1' };
    assert.equal(codeOf(machine, same), 'OBJECT_LOCKED', 'a lock request seals the version');
  });
});

// Seeded random commands over a few keys, with time moving forward: a version is removed exactly
// when the rules allow (no legal hold; retention past, or GOVERNANCE with the bypass), and a live
// COMPLIANCE retention is never shortened or changed, whatever is asked. Replays from its seed.
describe('invariants under random commands', () => {
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}: no version leaves early, no COMPLIANCE retention weakens`, () => {
      const random = seededRandom(seed);
      const machine = lockedBucket();
      const keys = ['a', 'b', 'c'];
      let now = NOW;
      const pickMode = () => (random(2) === 0 ? 'GOVERNANCE' : 'COMPLIANCE');
      const versionsOf = () =>
        machine.reader
          .listObjectVersions({ bucket: 'w', prefix: '', maxKeys: 1000 })
          .versions.filter((v) => !v.deleteMarker);
      for (let step = 0; step < 300; step++) {
        now += random(3) * 1_000;
        const key = keys[random(keys.length)];
        const action = random(5);
        const existing = versionsOf();
        const target = existing[random(Math.max(1, existing.length))];
        if (action === 0 || existing.length === 0) {
          const lock: ObjectLockRequest = {};
          if (random(2) === 0) lock.retention = retention(pickMode(), now + 1_000 + random(5_000));
          if (random(4) === 0) lock.legalHold = true;
          put(machine, key, lock, now);
        } else if (action === 1) {
          const bypass = random(2) === 0;
          const before = machine.reader.objectVersion('w', target.key, target.versionId);
          const r = before?.retention;
          const lockedNow =
            before?.legalHold === true ||
            (r !== undefined && r.untilMs > now && !(r.mode === 'GOVERNANCE' && bypass));
          const code = deleteVersion(machine, target.key, target.versionId, {
            nowMs: now,
            bypassGovernance: bypass,
          });
          assert.equal(code, lockedNow ? 'OBJECT_LOCKED' : 'ok', `step ${step}: ${code}`);
        } else if (action === 2) {
          const before = machine.reader.objectVersion('w', target.key, target.versionId)?.retention;
          const next = random(4) === 0 ? null : retention(pickMode(), now + 1 + random(6_000));
          run(machine, {
            op: 'setObjectRetention',
            bucket: 'w',
            key: target.key,
            versionId: target.versionId,
            retention: next,
            bypassGovernance: random(2) === 0,
            nowMs: now,
          });
          const after = machine.reader.objectVersion('w', target.key, target.versionId)?.retention;
          if (before?.mode === 'COMPLIANCE' && before.untilMs > now) {
            assert.equal(after?.mode, 'COMPLIANCE', `step ${step}: the mode changed`);
            assert.ok((after?.untilMs ?? 0) >= before.untilMs, `step ${step}: shortened`);
          }
        } else if (action === 3) {
          run(machine, {
            op: 'setObjectLegalHold',
            bucket: 'w',
            key: target.key,
            versionId: target.versionId,
            on: random(2) === 0,
            nowMs: now,
          });
        } else {
          run(machine, { op: 'deleteObject', bucket: 'w', key, nowMs: now });
        }
      }
    });
  }
});
