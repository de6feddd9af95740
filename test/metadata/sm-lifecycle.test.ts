// Lifecycle in the state machine: setBucketLifecycle checks a configuration as AWS does, and
// applyLifecycle carries out on the state as it is at apply time what the rules decide, with
// the command's nowMs as the only clock — a stale request changes nothing, a locked version is
// skipped and counted, an upload is aborted only once due.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type {
  LifecycleConfig,
  LifecycleOutcome,
  LifecycleRule,
  ObjectLockRequest,
} from '../../src/metadata/types.ts';
import { closeAll, codeOf, extent, ok, openMachineWithServers, ROOT, run } from './sm-helpers.ts';

after(closeAll);

const DAY = 1_000; // a test day: exact, no midnight rounding

// A command at a given nowMs, which must succeed.
function must(machine: MetadataStateMachine, command: Parameters<typeof run>[1]) {
  const result = run(machine, command);
  assert.ok(result.ok, `${command.op}: ${!result.ok && result.message}`);
  return result;
}

const TIMING = { dayMs: DAY, roundToMidnight: false };

function bucket(options: { versioned?: boolean; objectLock?: boolean } = {}) {
  const machine = openMachineWithServers([]);
  ok(machine, {
    op: 'createBucket',
    name: 'lc',
    owner: 'o',
    caller: ROOT,
    objectLock: options.objectLock,
  });
  if (options.versioned)
    ok(machine, { op: 'setBucketAttr', name: 'lc', attr: 'versioning', value: 'Enabled' });
  return machine;
}

function put(machine: MetadataStateMachine, key: string, nowMs: number, lock?: ObjectLockRequest) {
  const result = must(machine, {
    op: 'putObject',
    bucket: 'lc',
    key,
    size: 4,
    extents: [extent(0, 4)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
    nowMs,
    lock,
  });
  return result.versionId as string;
}

function rules(machine: MetadataStateMachine, list: LifecycleRule[]) {
  ok(machine, { op: 'setBucketLifecycle', name: 'lc', config: { rules: list } });
}

function apply(
  machine: MetadataStateMachine,
  target: { key?: string; uploadId?: string },
  nowMs: number,
): LifecycleOutcome {
  const result = run(machine, {
    op: 'applyLifecycle',
    bucket: 'lc',
    timing: TIMING,
    nowMs,
    ...target,
  });
  assert.ok(result.ok, `applyLifecycle: ${!result.ok && result.message}`);
  return result.lifecycle as LifecycleOutcome;
}

const versionIds = (machine: MetadataStateMachine, key: string) =>
  machine.reader
    .listObjectVersions({ bucket: 'lc', prefix: key, maxKeys: 1000 })
    .versions.filter((v) => v.key === key)
    .map((v) => (v.deleteMarker ? `marker ${v.versionId}` : v.versionId));

describe('setBucketLifecycle', () => {
  const rule = (extra: Partial<LifecycleRule>): LifecycleRule => ({
    id: 'r',
    enabled: true,
    filter: {},
    expiration: { days: 1 },
    ...extra,
  });
  test('stores a valid configuration and removes it with null', () => {
    const machine = bucket();
    const config: LifecycleConfig = {
      rules: [rule({}), rule({ id: 'r2', expiration: { dateMs: 86_400_000 * 20_000 } })],
    };
    ok(machine, { op: 'setBucketLifecycle', name: 'lc', config });
    assert.deepEqual(machine.reader.getBucket('lc')?.lifecycle, config);
    ok(machine, { op: 'setBucketLifecycle', name: 'lc', config: null });
    assert.equal(machine.reader.getBucket('lc')?.lifecycle, undefined);
  });
  test('refuses what AWS refuses, with EINVAL', () => {
    const machine = bucket();
    const bad: unknown[] = [
      [],
      Array.from({ length: 1001 }, (_, i) => rule({ id: `r${i}` })),
      [rule({}), rule({})],
      [rule({ id: '' })],
      [rule({ id: 'x'.repeat(256) })],
      [rule({ expiration: { days: 0 } })],
      [rule({ expiration: { days: 1.5 } })],
      [rule({ expiration: { days: 1, expiredObjectDeleteMarker: true } })],
      [rule({ expiration: { dateMs: 86_400_000 + 1 } })],
      [rule({ expiration: { expiredObjectDeleteMarker: true }, filter: { tags: { a: 'b' } } })],
      [rule({ expiration: undefined })],
      [rule({ noncurrentExpiration: { noncurrentDays: 1, newerNoncurrentVersions: 101 } })],
      [rule({ filter: { sizeGreaterThanBytes: 10, sizeLessThanBytes: 10 } })],
      [rule({ abortIncompleteUploadDays: 1, filter: { tags: { a: 'b' } } })],
    ];
    for (const list of bad)
      assert.equal(
        codeOf(machine, { op: 'setBucketLifecycle', name: 'lc', config: { rules: list } as never }),
        'EINVAL',
        JSON.stringify(list).slice(0, 120),
      );
    assert.equal(machine.reader.getBucket('lc')?.lifecycle, undefined, 'nothing was stored');
    assert.equal(
      codeOf(machine, { op: 'setBucketLifecycle', name: 'nope', config: null }),
      'NO_SUCH_BUCKET',
    );
  });
});

describe('applyLifecycle', () => {
  test('an unversioned object goes once due, and not a moment before', () => {
    const machine = bucket();
    put(machine, 'tmp/a', 10_000);
    rules(machine, [
      { id: 'r', enabled: true, filter: { prefix: 'tmp/' }, expiration: { days: 2 } },
    ]);
    assert.equal(apply(machine, { key: 'tmp/a' }, 11_999).objectsExpired, 0);
    assert.ok(machine.reader.resolvePath('/lc/tmp/a'), 'not due yet: kept');
    assert.equal(apply(machine, { key: 'tmp/a' }, 12_000).objectsExpired, 1);
    assert.equal(machine.reader.resolvePath('/lc/tmp/a'), undefined);
    assert.equal(apply(machine, { key: 'tmp/a' }, 12_001).objectsExpired, 0, 'idempotent');
  });

  test('a request made on a stale view changes nothing: the object was rewritten since', () => {
    const machine = bucket({ versioned: true });
    put(machine, 'k', 10_000);
    rules(machine, [{ id: 'r', enabled: true, filter: {}, expiration: { days: 1 } }]);
    const fresh = put(machine, 'k', 11_500); // the runner saw the old one, due at 11_000
    assert.deepEqual(apply(machine, { key: 'k' }, 11_600), {
      objectsExpired: 0,
      versionsExpired: 0,
      uploadsAborted: 0,
      skippedLocked: 0,
    });
    assert.equal(versionIds(machine, 'k')[0], fresh, 'the new version is still current');
  });

  test('a versioned current version gets a delete marker; noncurrent ones go, the newest kept', () => {
    const machine = bucket({ versioned: true });
    const ids = [1, 2, 3, 4].map((i) => put(machine, 'k', 10_000 + i * 100));
    rules(machine, [
      { id: 'cur', enabled: true, filter: {}, expiration: { days: 5 } },
      {
        id: 'nc',
        enabled: true,
        filter: {},
        noncurrentExpiration: { noncurrentDays: 1, newerNoncurrentVersions: 1 },
      },
    ]);
    // ids[0] noncurrent since 10_200, ids[1] since 10_300, ids[2] since 10_400 (the newest: kept).
    const first = apply(machine, { key: 'k' }, 11_250);
    assert.equal(first.versionsExpired, 1);
    assert.deepEqual(versionIds(machine, 'k'), [ids[3], ids[2], ids[1]]);
    const second = apply(machine, { key: 'k' }, 15_400);
    assert.deepEqual(second, {
      objectsExpired: 1,
      versionsExpired: 1,
      uploadsAborted: 0,
      skippedLocked: 0,
    });
    const left = versionIds(machine, 'k');
    assert.equal(left.length, 3);
    assert.match(left[0], /^marker /);
    assert.deepEqual(left.slice(1), [ids[3], ids[2]]);
  });

  test('a lone delete marker is removed by ExpiredObjectDeleteMarker', () => {
    const machine = bucket({ versioned: true });
    const id = put(machine, 'k', 10_000);
    must(machine, { op: 'deleteObject', bucket: 'lc', key: 'k', nowMs: 10_100 });
    must(machine, { op: 'deleteObject', bucket: 'lc', key: 'k', versionId: id, nowMs: 10_200 });
    rules(machine, [
      { id: 'm', enabled: true, filter: {}, expiration: { expiredObjectDeleteMarker: true } },
    ]);
    assert.equal(apply(machine, { key: 'k' }, 10_300).versionsExpired, 1);
    assert.deepEqual(versionIds(machine, 'k'), []);
  });

  test('a locked version is skipped and counted, and removed once its retention has passed', () => {
    const machine = bucket({ objectLock: true });
    const retention = { mode: 'COMPLIANCE' as const, untilMs: 50_000 };
    const locked = put(machine, 'k', 10_000, { retention });
    const current = put(machine, 'k', 10_100);
    rules(machine, [
      { id: 'nc', enabled: true, filter: {}, noncurrentExpiration: { noncurrentDays: 1 } },
    ]);
    assert.equal(apply(machine, { key: 'k' }, 20_000).skippedLocked, 1);
    assert.deepEqual(versionIds(machine, 'k'), [current, locked]);
    assert.equal(apply(machine, { key: 'k' }, 50_001).versionsExpired, 1);
    assert.deepEqual(versionIds(machine, 'k'), [current]);
  });

  test('an upload is aborted once DaysAfterInitiation have passed', () => {
    const machine = bucket();
    must(machine, {
      op: 'createUpload',
      uploadId: 'u1',
      bucket: 'lc',
      key: 'k',
      object: { userMeta: {} },
      owner: 'o',
      nowMs: 10_000,
    });
    rules(machine, [{ id: 'u', enabled: true, filter: {}, abortIncompleteUploadDays: 3 }]);
    assert.equal(apply(machine, { uploadId: 'u1' }, 12_999).uploadsAborted, 0);
    assert.ok(machine.reader.getUpload('u1'));
    assert.equal(apply(machine, { uploadId: 'u1' }, 13_000).uploadsAborted, 1);
    assert.equal(machine.reader.getUpload('u1'), undefined);
  });

  test('a day shorter than a second is refused', () => {
    const machine = bucket();
    const result = run(machine, {
      op: 'applyLifecycle',
      bucket: 'lc',
      key: 'k',
      timing: { dayMs: 1, roundToMidnight: false },
    });
    assert.equal(result.ok ? 'ok' : result.code, 'EINVAL');
  });
});
