// The NOSPACE alarm's rules: which failed writes mean "disk full" (retry once space is back) and
// which are real I/O errors (fail-stop), and when the alarm is raised and cleared.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  classifyWriteFailure,
  DiskSpaceAlarm,
  systemErrorName,
} from '../../src/metadata/replication/disk-space.ts';
import { silentLogger } from '../../src/observability/logger.ts';

const MIB = 1024 * 1024;
const lmdbError = (code: number) => Object.assign(new Error(`lmdb ${code}`), { code });

test('ENOSPC, EDQUOT and MDB_MAP_FULL are a full disk whatever the free space', () => {
  for (const code of [28, 122, -30792])
    assert.equal(classifyWriteFailure(lmdbError(code), 10 * MIB, MIB), 'nospace', `code ${code}`);
  const fsError = Object.assign(new Error('x'), { code: 'ENOSPC' });
  assert.equal(classifyWriteFailure(fsError, 10 * MIB, MIB), 'nospace');
});

test('EIO is a full disk only while the disk is below the reserve (LMDB short write)', () => {
  assert.equal(classifyWriteFailure(lmdbError(5), 0, MIB), 'nospace');
  assert.equal(classifyWriteFailure(lmdbError(5), MIB - 1, MIB), 'nospace');
});

test('EIO with room on the disk is a real I/O error: fail-stop, never retried (fsyncgate)', () => {
  assert.equal(classifyWriteFailure(lmdbError(5), MIB, MIB), 'fatal');
  assert.equal(classifyWriteFailure(lmdbError(5), 0, 0), 'fatal', 'no reserve: EIO is EIO');
});

test('anything else (a broken invariant) is fatal', () => {
  assert.equal(classifyWriteFailure(new assert.AssertionError({ message: 'x' }), 0, MIB), 'fatal');
  assert.equal(classifyWriteFailure(new Error('no code'), 0, MIB), 'fatal');
});

test('the alarm rises below the reserve, refuses with ENOSPC, and clears above it', () => {
  let free = 10 * MIB;
  const changes: boolean[] = [];
  const alarm = new DiskSpaceAlarm({
    paths: ['/raft', '/metadata'],
    minFreeBytes: MIB,
    checkIntervalMs: 60_000,
    log: silentLogger,
    onChange: (active) => changes.push(active),
    freeBytes: (path) => (path === '/raft' ? free : 100 * MIB),
  });
  try {
    assert.equal(alarm.active, false);
    free = MIB - 1;
    alarm.check();
    assert.equal(alarm.active, true, 'the fullest of the paths counts');
    assert.equal(alarm.refusal().code, 'ENOSPC');
    alarm.check();
    free = MIB;
    alarm.check();
    assert.equal(alarm.active, false);
    assert.deepEqual(changes, [true, false], 'one change each way');
    assert.equal(alarm.absorb(lmdbError(28), 'write'), true, 'a failed write raises it');
    assert.equal(alarm.active, true);
    assert.equal(alarm.absorb(lmdbError(5), 'write'), false, 'EIO with room: not absorbed');
  } finally {
    alarm.close();
  }
});

test('a system error is named by its errno, from lmdb-js numbers or node:fs names', () => {
  assert.equal(systemErrorName(lmdbError(5)), 'EIO');
  assert.equal(systemErrorName(lmdbError(30)), 'EROFS');
  assert.equal(systemErrorName(Object.assign(new Error('x'), { code: 'EIO' })), 'EIO');
  assert.equal(systemErrorName(lmdbError(-30792)), undefined, 'an LMDB code is not an errno');
  assert.equal(systemErrorName(new assert.AssertionError({ message: 'x' })), undefined);
});
