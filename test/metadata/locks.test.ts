// Cluster-wide locks and mount sessions in the metadata state machine (ops-locks.ts,
// ops-mounts.ts): Linux fcntl/flock semantics, and what a mount's session end releases.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import {
  type Command,
  type CommandResult,
  type FileLock,
  LOCK_END_MAX,
  type LockKind,
} from '../../src/metadata/types.ts';
import { type CommandInput, closeAll, extent, ok, openMachine, ROOT } from './sm-helpers.ts';

after(closeAll);

const MAX = LOCK_END_MAX;

function at(machine: MetadataStateMachine, nowMs: number, command: CommandInput): CommandResult {
  return machine.apply({ ...command, nowMs } as Command);
}

function codeAt(machine: MetadataStateMachine, nowMs: number, command: CommandInput): string {
  const result = at(machine, nowMs, command);
  return result.ok ? 'ok' : result.code;
}

// A machine with bucket "b", a file "f" in it, and mounts A and B open at t=1000 (ttl 1000).
function setup() {
  const machine = openMachine();
  const bucket = ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }).inode!;
  const ino = newFile(machine, bucket.ino, 'f');
  for (const mountId of ['A', 'B']) ok(machine, { op: 'mountOpen', mountId, ttlMs: 1000 });
  return { machine, bucket: bucket.ino, ino };
}

function newFile(machine: MetadataStateMachine, parent: number, name: string): number {
  const file = ok(machine, {
    op: 'create',
    parent,
    name,
    mode: 0o644,
    caller: ROOT,
    exclusive: true,
  });
  return file.inode!.ino;
}

interface Lk {
  mountId?: string;
  owner?: string;
  kind?: LockKind;
  type: 'read' | 'write' | 'unlock';
  start?: number;
  end?: number;
}

const lockCommand = (ino: number, l: Lk): CommandInput => ({
  op: 'setLock',
  mountId: l.mountId ?? 'A',
  ino,
  owner: l.owner ?? '1',
  kind: l.kind ?? 'posix',
  type: l.type,
  start: l.start ?? 0,
  end: l.end ?? MAX,
  pid: 42,
});

const lock = (machine: MetadataStateMachine, ino: number, l: Lk, nowMs = 1000) =>
  codeAt(machine, nowMs, lockCommand(ino, l));

// The table as [mount, owner, type, start, end] rows, in the table's order.
const table = (machine: MetadataStateMachine, ino: number, kind: LockKind = 'posix') =>
  machine.reader
    .locks(ino)
    .filter((l) => l.kind === kind)
    .map((l) => [l.mountId, l.owner, l.type, l.start, l.end]);

const pendingIds = (machine: MetadataStateMachine) =>
  machine.reader
    .pendingGc(1000)
    .map((s) => s.id)
    .sort();

describe('POSIX byte-range locks', () => {
  test('a write lock conflicts with any overlapping lock of another owner', () => {
    const { machine, ino } = setup();
    assert.equal(lock(machine, ino, { type: 'read', start: 0, end: 9 }), 'ok');
    assert.equal(lock(machine, ino, { mountId: 'B', type: 'write', start: 9, end: 20 }), 'EAGAIN');
    assert.equal(lock(machine, ino, { owner: '2', type: 'write', start: 5, end: 5 }), 'EAGAIN');
    assert.equal(lock(machine, ino, { mountId: 'B', type: 'write', start: 10, end: 20 }), 'ok');
  });

  test('read locks share; a read conflicts only with an overlapping write', () => {
    const { machine, ino } = setup();
    assert.equal(lock(machine, ino, { type: 'read', start: 0, end: 99 }), 'ok');
    assert.equal(lock(machine, ino, { mountId: 'B', type: 'read', start: 50, end: 150 }), 'ok');
    assert.equal(lock(machine, ino, { owner: '2', type: 'write', start: 200, end: 300 }), 'ok');
    assert.equal(
      lock(machine, ino, { mountId: 'B', type: 'read', start: 300, end: 300 }),
      'EAGAIN',
    );
  });

  test('an owner never conflicts with itself: its new range replaces what it held', () => {
    const { machine, ino } = setup();
    assert.equal(lock(machine, ino, { type: 'write', start: 0, end: 99 }), 'ok');
    assert.equal(lock(machine, ino, { type: 'read', start: 20, end: 29 }), 'ok');
    assert.deepEqual(table(machine, ino), [
      ['A', '1', 'write', 0, 19],
      ['A', '1', 'read', 20, 29],
      ['A', '1', 'write', 30, 99],
    ]);
  });

  test('adjacent and overlapping ranges of one owner and type merge', () => {
    const { machine, ino } = setup();
    lock(machine, ino, { type: 'read', start: 0, end: 9 });
    lock(machine, ino, { type: 'read', start: 10, end: 19 });
    lock(machine, ino, { type: 'read', start: 15, end: MAX });
    assert.deepEqual(table(machine, ino), [['A', '1', 'read', 0, MAX]]);
    lock(machine, ino, { type: 'write', start: 20, end: 29 });
    assert.deepEqual(table(machine, ino).length, 3, 'different types stay apart');
  });

  test('unlocking a middle range splits the lock in two', () => {
    const { machine, ino } = setup();
    lock(machine, ino, { type: 'write', start: 0, end: 99 });
    assert.equal(lock(machine, ino, { type: 'unlock', start: 40, end: 59 }), 'ok');
    assert.deepEqual(table(machine, ino), [
      ['A', '1', 'write', 0, 39],
      ['A', '1', 'write', 60, 99],
    ]);
    assert.equal(lock(machine, ino, { mountId: 'B', type: 'write', start: 40, end: 59 }), 'ok');
    lock(machine, ino, { type: 'unlock' });
    assert.deepEqual(table(machine, ino), [['B', '1', 'write', 40, 59]]);
  });

  test('a refused lock (EAGAIN) changes nothing, not even the session', () => {
    const { machine, ino } = setup();
    lock(machine, ino, { type: 'write', start: 0, end: 9 });
    const before = [machine.reader.locks(ino), machine.reader.mounts()];
    const refused = at(machine, 1500, lockCommand(ino, { mountId: 'B', type: 'read', end: 0 }));
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.code, 'EAGAIN');
    assert.match(!refused.ok ? refused.message : '', /held by mount A/);
    assert.deepEqual([machine.reader.locks(ino), machine.reader.mounts()], before);
  });

  test('F_GETLK answers the first conflicting lock, or nothing', () => {
    const { machine, ino } = setup();
    lock(machine, ino, { type: 'write', start: 10, end: 19 });
    const conflict = machine.reader.getLock(ino, 'B', '1', 'posix', 'read', 0, 10);
    assert.deepEqual(conflict, {
      mountId: 'A',
      owner: '1',
      kind: 'posix',
      type: 'write',
      start: 10,
      end: 19,
      pid: 42,
    });
    assert.equal(machine.reader.getLock(ino, 'A', '1', 'posix', 'write', 0, MAX), undefined);
    assert.equal(machine.reader.getLock(ino, 'B', '1', 'posix', 'read', 20, 30), undefined);
    assert.equal(machine.reader.getLock(ino, 'B', '1', 'flock', 'write', 0, 0), undefined);
  });

  test('bad requests are EINVAL; a missing inode ENOENT; no session ESTALE', () => {
    const { machine, ino } = setup();
    assert.equal(lock(machine, ino, { type: 'read', start: 5, end: 4 }), 'EINVAL');
    assert.equal(lock(machine, ino, { type: 'read', start: -1, end: 4 }), 'EINVAL');
    assert.equal(lock(machine, ino, { type: 'read', owner: '' }), 'EINVAL');
    assert.equal(lock(machine, ino + 100, { type: 'read' }), 'ENOENT');
    assert.equal(lock(machine, ino, { mountId: 'C', type: 'read' }), 'ESTALE');
    assert.equal(lock(machine, ino, { type: 'read' }, 2001), 'ESTALE', 'expired, not yet reaped');
  });
});

describe('flock locks', () => {
  test('whole-file, shared or exclusive, converted in place by their owner', () => {
    const { machine, ino } = setup();
    assert.equal(lock(machine, ino, { kind: 'flock', type: 'read', start: 5, end: 6 }), 'ok');
    assert.deepEqual(table(machine, ino, 'flock'), [['A', '1', 'read', 0, MAX]], 'whole file');
    assert.equal(lock(machine, ino, { kind: 'flock', mountId: 'B', type: 'read' }), 'ok');
    assert.equal(lock(machine, ino, { kind: 'flock', type: 'write' }), 'EAGAIN', 'B shares it');
    assert.equal(lock(machine, ino, { kind: 'flock', mountId: 'B', type: 'unlock' }), 'ok');
    assert.equal(lock(machine, ino, { kind: 'flock', type: 'write' }), 'ok', 'upgrade');
    assert.deepEqual(table(machine, ino, 'flock'), [['A', '1', 'write', 0, MAX]]);
    assert.equal(lock(machine, ino, { kind: 'flock', mountId: 'B', type: 'read' }), 'EAGAIN');
    assert.equal(lock(machine, ino, { kind: 'flock', type: 'read' }), 'ok', 'downgrade');
    assert.equal(lock(machine, ino, { kind: 'flock', mountId: 'B', type: 'read' }), 'ok');
  });

  test('flock and POSIX locks do not conflict with each other (Linux)', () => {
    const { machine, ino } = setup();
    assert.equal(lock(machine, ino, { kind: 'flock', type: 'write' }), 'ok');
    assert.equal(lock(machine, ino, { mountId: 'B', type: 'write' }), 'ok');
    assert.equal(lock(machine, ino, { mountId: 'B', kind: 'flock', type: 'read' }), 'EAGAIN');
    assert.equal(lock(machine, ino, { type: 'read' }), 'EAGAIN', "B's POSIX write lock");
  });
});

describe('mount sessions', () => {
  test('a heartbeat renews the session; after expiry it fails ESTALE', () => {
    const { machine, ino } = setup();
    assert.equal(codeAt(machine, 1900, { op: 'mountHeartbeat', mountId: 'A' }), 'ok');
    assert.equal(machine.reader.mounts().find((m) => m.mountId === 'A')?.lastSeenMs, 1900);
    lock(machine, ino, { type: 'write' }, 1900);
    assert.deepEqual(at(machine, 2500, { op: 'expireMounts' }), { ok: true, expired: ['B'] });
    assert.equal(codeAt(machine, 2901, { op: 'mountHeartbeat', mountId: 'A' }), 'ESTALE');
    assert.deepEqual(table(machine, ino), [], 'the failed heartbeat ended the expired session');
    assert.deepEqual(machine.reader.mounts(), []);
    assert.equal(codeAt(machine, 3000, { op: 'mountHeartbeat', mountId: 'A' }), 'ESTALE');
    assert.equal(codeAt(machine, 3000, { op: 'mountHeartbeat', mountId: 'B' }), 'ESTALE');
  });

  test('expiry and close release every lock of the mount, on every inode', () => {
    const { machine, bucket, ino } = setup();
    const other = newFile(machine, bucket, 'g');
    lock(machine, ino, { type: 'write', start: 0, end: 9 });
    lock(machine, other, { kind: 'flock', type: 'write' });
    lock(machine, ino, { mountId: 'B', type: 'read', start: 10, end: 19 });
    at(machine, 1500, { op: 'mountHeartbeat', mountId: 'B' });
    assert.deepEqual(at(machine, 2001, { op: 'expireMounts' }), { ok: true, expired: ['A'] });
    assert.deepEqual(table(machine, ino), [['B', '1', 'read', 10, 19]]);
    assert.deepEqual(machine.reader.locks(other), []);
    assert.equal(lock(machine, ino, { mountId: 'B', type: 'write', start: 0, end: 9 }, 2001), 'ok');
    ok(machine, { op: 'mountClose', mountId: 'B' });
    assert.deepEqual(machine.reader.locks(ino), []);
    assert.equal(codeAt(machine, 2001, { op: 'mountClose', mountId: 'B' }), 'ok', 'idempotent');
  });

  test('reopening an expired session starts it empty', () => {
    const { machine, ino } = setup();
    lock(machine, ino, { type: 'write' });
    assert.equal(codeAt(machine, 5000, { op: 'mountOpen', mountId: 'A', ttlMs: 1000 }), 'ok');
    assert.deepEqual(table(machine, ino), []);
    const session = machine.reader.mounts().find((m) => m.mountId === 'A');
    assert.deepEqual([session?.openedAtMs, session?.lastSeenMs], [5000, 5000]);
  });

  test('a freed inode takes its locks with it', () => {
    const { machine, bucket, ino } = setup();
    lock(machine, ino, { type: 'write' });
    ok(machine, { op: 'unlink', parent: bucket, name: 'f' });
    assert.deepEqual(machine.reader.locks(ino), []);
    ok(machine, { op: 'mountClose', mountId: 'A' });
  });
});

describe('unlink of an open file (orphans)', () => {
  function withData() {
    const s = setup();
    const e1 = extent(0, 100);
    const e2 = extent(100, 50);
    ok(s.machine, { op: 'write', ino: s.ino, extents: [e1, e2] });
    return { ...s, stripeIds: [e1.stripe.id, e2.stripe.id].sort() };
  }

  test('the last link kept for a mount leaves a readable, writable inode with nlink 0', () => {
    const { machine, bucket, ino } = withData();
    ok(machine, { op: 'unlink', parent: bucket, name: 'f', keepForMount: 'A' });
    assert.equal(machine.reader.lookup(bucket, 'f'), undefined);
    assert.equal(machine.reader.getattr(ino)?.nlink, 0);
    assert.deepEqual(machine.reader.orphans('A'), [ino]);
    assert.deepEqual(pendingIds(machine), [], 'no stripe is queued while the mount holds it');
    ok(machine, { op: 'write', ino, extents: [extent(150, 10)] });
    ok(machine, { op: 'setattr', ino, size: 120 });
    assert.equal(machine.reader.getattr(ino)?.size, 120);
    assert.equal(machine.reader.extents(ino, 0, 200).length, 2);
    assert.equal(codeAt(machine, 1000, { op: 'link', ino, parent: bucket, name: 'g' }), 'ENOENT');
  });

  test('releaseOrphan frees it exactly like a normal unlink, once', () => {
    const { machine, bucket, ino, stripeIds } = withData();
    ok(machine, { op: 'unlink', parent: bucket, name: 'f', keepForMount: 'A' });
    ok(machine, { op: 'releaseOrphan', mountId: 'A', ino });
    assert.equal(machine.reader.getattr(ino), undefined);
    assert.deepEqual(pendingIds(machine), stripeIds);
    assert.deepEqual(machine.reader.orphans('A'), []);
    ok(machine, { op: 'releaseOrphan', mountId: 'A', ino });

    const plain = withData();
    ok(plain.machine, { op: 'unlink', parent: plain.bucket, name: 'f' });
    assert.deepEqual(pendingIds(plain.machine), plain.stripeIds, 'the same path as unlink');
  });

  test('session expiry frees the orphans and queues their stripes', () => {
    const { machine, bucket, ino, stripeIds } = withData();
    lock(machine, ino, { type: 'write' });
    ok(machine, { op: 'unlink', parent: bucket, name: 'f', keepForMount: 'A' });
    at(machine, 1800, { op: 'mountHeartbeat', mountId: 'B' });
    assert.deepEqual(at(machine, 2001, { op: 'expireMounts' }), { ok: true, expired: ['A'] });
    assert.equal(machine.reader.getattr(ino), undefined);
    assert.deepEqual(machine.reader.locks(ino), []);
    assert.deepEqual(pendingIds(machine), stripeIds);
  });

  test('without a live session, or with other links, unlink behaves as before', () => {
    const { machine, bucket, ino, stripeIds } = withData();
    ok(machine, { op: 'link', ino, parent: bucket, name: 'g' });
    ok(machine, { op: 'unlink', parent: bucket, name: 'f', keepForMount: 'A' });
    assert.equal(machine.reader.getattr(ino)?.nlink, 1);
    assert.deepEqual(machine.reader.orphans('A'), []);
    at(machine, 5000, { op: 'unlink', parent: bucket, name: 'g', keepForMount: 'A' });
    assert.equal(machine.reader.getattr(ino), undefined, 'A expired at 2000');
    assert.deepEqual(pendingIds(machine), stripeIds);
  });

  test('rename over an open file keeps the replaced inode for the mount', () => {
    const { machine, bucket, ino, stripeIds } = withData();
    newFile(machine, bucket, 'new');
    ok(machine, {
      op: 'rename',
      srcParent: bucket,
      srcName: 'new',
      dstParent: bucket,
      dstName: 'f',
      keepReplacedForMount: 'B',
    });
    assert.equal(machine.reader.getattr(ino)?.nlink, 0);
    assert.deepEqual(machine.reader.orphans('B'), [ino]);
    ok(machine, { op: 'mountClose', mountId: 'B' });
    assert.equal(machine.reader.getattr(ino), undefined);
    assert.deepEqual(pendingIds(machine), stripeIds);
  });
});

// The POSIX table against a model with one cell per byte and owner: random lock and unlock
// sequences of three owners over 20 bytes (ranges ending at 15, or at LOCK_END_MAX: "to the end").
describe('POSIX lock table (property)', () => {
  const BYTES = 20;
  const OWNERS = [
    ['A', '1'],
    ['A', '2'],
    ['B', '1'],
  ] as const;
  type Cell = 'read' | 'write' | undefined;

  const requestArb = fc.record({
    who: fc.integer({ min: 0, max: OWNERS.length - 1 }),
    type: fc.constantFrom('read', 'write', 'unlock'),
    start: fc.integer({ min: 0, max: 15 }),
    length: fc.integer({ min: 1, max: 8 }),
    toEnd: fc.boolean(),
  });

  // What the table says each owner holds at each byte.
  function cellsOf(locks: FileLock[]): Cell[][] {
    const cells: Cell[][] = OWNERS.map(() => new Array<Cell>(BYTES).fill(undefined));
    for (const l of locks) {
      const who = OWNERS.findIndex(([m, o]) => m === l.mountId && o === l.owner);
      for (let b = l.start; b <= Math.min(l.end, BYTES - 1); b++) {
        assert.equal(cells[who][b], undefined, 'an owner holds overlapping ranges');
        cells[who][b] = l.type;
      }
    }
    return cells;
  }

  test('lock and unlock sequences match the byte model; tables stay merged', () => {
    const machine = openMachine();
    const bucket = ok(machine, { op: 'createBucket', name: 'p', owner: 'o', caller: ROOT });
    for (const mountId of ['A', 'B']) ok(machine, { op: 'mountOpen', mountId, ttlMs: 1000 });
    let files = 0;
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 30 }), (requests) => {
        const ino = newFile(machine, bucket.inode!.ino, `f${files++}`);
        const model: Cell[][] = OWNERS.map(() => new Array<Cell>(BYTES).fill(undefined));
        for (const r of requests) {
          const [mountId, owner] = OWNERS[r.who];
          const end = r.toEnd ? MAX : Math.min(15, r.start + r.length - 1);
          const last = Math.min(end, BYTES - 1);
          let conflict = false;
          for (let b = r.start; b <= last && r.type !== 'unlock'; b++)
            for (let o = 0; o < OWNERS.length; o++)
              if (o !== r.who && model[o][b] && (r.type === 'write' || model[o][b] === 'write'))
                conflict = true;
          const code = lock(machine, ino, { mountId, owner, type: r.type, start: r.start, end });
          assert.equal(code, conflict ? 'EAGAIN' : 'ok', JSON.stringify(r));
          if (!conflict)
            for (let b = r.start; b <= last; b++)
              model[r.who][b] = r.type === 'unlock' ? undefined : r.type;
          const locks = machine.reader.locks(ino);
          assert.deepEqual(cellsOf(locks), model);
          for (let i = 1; i < locks.length; i++) {
            const [p, l] = [locks[i - 1], locks[i]];
            const touching = p.mountId === l.mountId && p.owner === l.owner && p.end + 1 >= l.start;
            assert.ok(!(touching && p.type === l.type), 'touching ranges of one type are merged');
          }
        }
      }),
      { seed: 20261125, numRuns: 150 },
    );
  });
});
