// Directory delegation and write-behind batches in the state machine (ops-delegation.ts): while a
// mount holds a directory, nothing else changes it; a mount's dirBatch applies whole or not at
// all; and a batch makes exactly what the same creates and unlinks sent one by one make.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { inodeFields } from '../../src/metadata/new-inode.ts';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Command, CommandResult, DirBatchOp } from '../../src/metadata/types.ts';
import { type CommandInput, closeAll, extent, ok, openMachine, ROOT } from './sm-helpers.ts';

after(closeAll);

const USER = { uid: 1000, gid: 1000 };
let batches = 0; // batch numbers, rising across the file (each mount's must rise)

function at(machine: MetadataStateMachine, nowMs: number, command: CommandInput): CommandResult {
  return machine.apply({ ...command, nowMs } as Command);
}

// Bucket "b" with directory "d" in it, mounts A and B open at t=1000 (ttl 1000).
function setup() {
  const machine = openMachine();
  const bucket = ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }).inode!;
  const dir = ok(machine, { op: 'mkdir', parent: bucket.ino, name: 'd', mode: 0o755, caller: ROOT })
    .inode!;
  for (const mountId of ['A', 'B']) ok(machine, { op: 'mountOpen', mountId, ttlMs: 1000 });
  return { machine, bucket: bucket.ino, dir: dir.ino };
}

function grant(machine: MetadataStateMachine, mountId: string, dir: number, inodes = 16) {
  const result = at(machine, 1000, { op: 'delegateDir', mountId, dir, inodes });
  assert.ok(result.ok, JSON.stringify(result));
  return result;
}

const createOp = (
  parent: number,
  name: string,
  ino: number,
  nowMs = 1500,
  mode = 0o640,
  op: 'create' | 'mkdir' = 'create',
): DirBatchOp => ({
  op,
  nowMs,
  parent,
  name,
  mode,
  caller: USER,
  ino,
});

describe('directory delegation', () => {
  test('a directory is one mount’s at a time; the holder gets a range of inode numbers', () => {
    const { machine, bucket, dir } = setup();
    const a = grant(machine, 'A', dir);
    assert.equal(a.delegated, true);
    const [range] = a.reserved!;
    assert.equal(range.end - range.next, 16);
    assert.equal(grant(machine, 'B', dir).delegated, false, 'held by A');
    const again = grant(machine, 'A', dir, 0);
    assert.deepEqual(again.reserved, a.reserved, 'no more asked: the same range');
    // Numbers reserved are not handed to anyone else.
    const other = ok(machine, {
      op: 'mkdir',
      parent: bucket,
      name: 'e',
      mode: 0o755,
      caller: ROOT,
    }).inode!;
    assert.ok(other.ino >= range.end, `${other.ino} is past A's range`);
    ok(machine, { op: 'releaseDirs', mountId: 'A', dirs: [dir] });
    assert.equal(grant(machine, 'B', dir).delegated, true, 'given back: B may have it');
  });

  test('no other client changes a delegated directory: EDELEGATED names it', () => {
    const { machine, bucket, dir } = setup();
    const file = ok(machine, {
      op: 'create',
      parent: dir,
      name: 'f',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    }).inode!;
    ok(machine, { op: 'mkdir', parent: dir, name: 'sub', mode: 0o755, caller: ROOT });
    grant(machine, 'A', dir);
    const refused: CommandInput[] = [
      { op: 'create', parent: dir, name: 'g', mode: 0o644, caller: ROOT, exclusive: true },
      { op: 'mkdir', parent: dir, name: 'h', mode: 0o755, caller: ROOT },
      { op: 'symlink', parent: dir, name: 's', target: 'f', caller: ROOT },
      { op: 'link', ino: file.ino, parent: dir, name: 'f2' },
      { op: 'unlink', parent: dir, name: 'f' },
      { op: 'rmdir', parent: dir, name: 'sub' },
      { op: 'rename', srcParent: dir, srcName: 'f', dstParent: bucket, dstName: 'f' },
      { op: 'setattr', ino: dir, mode: 0o2775 },
      {
        op: 'putObject',
        bucket: 'b',
        key: 'd/o',
        size: 1,
        extents: [extent(0, 1)],
        object: { etag: 'e', userMeta: {} },
        caller: ROOT,
      },
      { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' },
    ];
    for (const command of refused) {
      const result = at(machine, 1000, command);
      assert.equal(result.ok, false, command.op);
      assert.equal(!result.ok && result.code, 'EDELEGATED', command.op);
      assert.equal(!result.ok && result.delegatedDir, dir, command.op);
    }
    // An empty delegated directory is not removed either (its mount may have created in it).
    const empty = ok(machine, { op: 'mkdir', parent: bucket, name: 'e', mode: 0o755, caller: ROOT })
      .inode!;
    grant(machine, 'A', empty.ino);
    const rmdir = at(machine, 1000, { op: 'rmdir', parent: bucket, name: 'e' });
    assert.deepEqual(rmdir.ok ? 'ok' : [rmdir.code, rmdir.delegatedDir], ['EDELEGATED', empty.ino]);
    // The files in it are not the directory: their attributes and data still change.
    ok(machine, { op: 'setattr', ino: file.ino, mode: 0o600 });
    // Another directory of the same bucket is not delegated.
    ok(machine, { op: 'mkdir', parent: bucket, name: 'free', mode: 0o755, caller: ROOT });
    assert.deepEqual(
      machine.reader.readdir(dir, undefined, 10).map((e) => e.name),
      ['f', 'sub'],
    );
  });

  test('a batch makes the inodes the mount answered with, and applies whole or not at all', () => {
    const { machine, dir } = setup();
    const { next } = grant(machine, 'A', dir).reserved![0];
    const before = machine.reader.getattr(dir)!;
    ok(machine, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'A',
      ops: [createOp(dir, 'x', next), createOp(dir, 'y', next + 1, 1600)],
    });
    const x = machine.reader.lookup(dir, 'x')!;
    assert.deepEqual(
      { ...x, parent: undefined },
      { ...inodeFields(next, 'file', 0o640, USER, 1500, before), parent: undefined },
    );
    assert.equal(machine.reader.lookup(dir, 'y')!.ino, next + 1);
    assert.equal(machine.reader.getattr(dir)!.mtimeMs, 1600);
    // The same batch again (a retry whose answer was lost) is not applied again.
    const again = at(machine, 1000, {
      op: 'dirBatch',
      batch: batches,
      mountId: 'A',
      ops: [createOp(dir, 'again', next + 2)],
    });
    assert.ok(again.ok);
    assert.equal(machine.reader.lookup(dir, 'again'), undefined);
    // The third op fails (y exists): nothing of the batch is applied.
    const failed = at(machine, 1000, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'A',
      ops: [
        { op: 'unlink', nowMs: 1700, parent: dir, name: 'x' },
        createOp(dir, 'z', next + 2),
        createOp(dir, 'y', next + 3),
      ],
    });
    assert.deepEqual(failed.ok ? 'ok' : [failed.code, failed.failedOp], ['EEXIST', 2]);
    assert.deepEqual(
      machine.reader.readdir(dir, undefined, 10).map((e) => e.name),
      ['x', 'y'],
    );
    // The range's used numbers stay used; numbers below the last one used are refused.
    const reused = at(machine, 1000, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'A',
      ops: [createOp(dir, 'w', next)],
    });
    assert.equal(reused.ok ? 'ok' : reused.code, 'EINVAL');
    // A second range: numbers from it are taken, and the first one's rest is dropped with it.
    const more = at(machine, 1000, { op: 'reserveInodes', mountId: 'A', inodes: 16 });
    assert.ok(more.ok && more.reserved?.length === 2, JSON.stringify(more));
    const second = more.reserved![1];
    ok(machine, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'A',
      ops: [createOp(dir, 'from-second', second.next + 3)],
    });
    const dropped = at(machine, 1000, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'A',
      ops: [createOp(dir, 'w', next + 5)],
    });
    assert.equal(dropped.ok ? 'ok' : dropped.code, 'EINVAL', 'the first range was left behind');
    const outside = at(machine, 1000, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'A',
      ops: [createOp(dir, 'w', second.end)],
    });
    assert.equal(outside.ok ? 'ok' : outside.code, 'EINVAL');
  });

  test('a batch needs the directory delegated to its own live session', () => {
    const { machine, dir } = setup();
    const { next } = grant(machine, 'A', dir).reserved![0];
    const fromB = at(machine, 1000, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'B',
      ops: [{ op: 'unlink', nowMs: 1000, parent: dir, name: 'nothing' }],
    });
    assert.equal(fromB.ok ? 'ok' : fromB.code, 'ESTALE');
    const keepOther = at(machine, 1000, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'A',
      ops: [{ op: 'unlink', nowMs: 1000, parent: dir, name: 'x', keepForMount: 'B' }],
    });
    assert.equal(keepOther.ok ? 'ok' : keepOther.code, 'EINVAL');
    // A's session expires: its directories are free again, and its late batch is refused.
    assert.ok(at(machine, 1900, { op: 'mountHeartbeat', mountId: 'B' }).ok, 'B renewed');
    const expired = at(machine, 2500, { op: 'expireMounts' });
    assert.deepEqual(expired.ok && expired.expired, ['A']);
    const late = at(machine, 2500, {
      op: 'dirBatch',
      batch: ++batches,
      mountId: 'A',
      ops: [createOp(dir, 'x', next)],
    });
    assert.equal(late.ok ? 'ok' : late.code, 'ESTALE');
    ok(machine, { op: 'mkdir', parent: dir, name: 'now-free', mode: 0o755, caller: ROOT });
    assert.equal(grant(machine, 'B', dir).delegated, true, 'B may have it now');
  });

  test('versioned buckets and the top level are not delegated', () => {
    const { machine, bucket } = setup();
    ok(machine, { op: 'createBucket', name: 'v', owner: 'o', caller: ROOT });
    ok(machine, { op: 'setBucketAttr', name: 'v', attr: 'versioning', value: 'Enabled' });
    const versioned = machine.reader.getBucket('v')!.ino;
    assert.equal(grant(machine, 'A', versioned).delegated, false);
    const top = at(machine, 1000, { op: 'delegateDir', mountId: 'A', dir: 1, inodes: 16 });
    assert.equal(top.ok ? 'ok' : top.code, 'EINVAL');
    // Versioning waits until the bucket's directories are given back.
    grant(machine, 'A', bucket);
    const refused = at(machine, 1000, {
      op: 'setBucketAttr',
      name: 'b',
      attr: 'versioning',
      value: 'Enabled',
    });
    assert.equal(refused.ok ? 'ok' : refused.code, 'EDELEGATED');
    ok(machine, { op: 'releaseDirs', mountId: 'A', dirs: [bucket] });
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
  });
});

// The write-behind path's promise: any sequence of creates, mkdirs, unlinks and renames, cut into
// batches anywhere, leaves the directory and its entries as the same changes sent one by one do.
describe('a batch is the same as its changes one by one', () => {
  const change = fc.record({
    kind: fc.constantFrom('create', 'mkdir', 'unlink', 'rename'),
    name: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    to: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    mode: fc.constantFrom(0o600, 0o644, 0o755),
    cut: fc.boolean(),
  });
  test('property: same names, same attributes but the numbers', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 30 }), (changes) => {
        const direct = setup();
        const batched = setup();
        const { next } = grant(batched.machine, 'A', batched.dir, 64).reserved![0];
        // The mount's side: it knows what the directory holds, so it sends only changes that
        // succeed (a create or mkdir of an absent name, an unlink of a present file, a rename of
        // one over an absent name or another file).
        const present = new Map<string, 'file' | 'dir'>();
        let pending: DirBatchOp[] = [];
        let ino = next;
        const flush = () => {
          if (pending.length > 0)
            ok(batched.machine, { op: 'dirBatch', batch: ++batches, mountId: 'A', ops: pending });
          pending = [];
        };
        changes.forEach((c, i) => {
          const nowMs = 2000 + i;
          if (c.kind === 'mkdir' && !present.has(c.name)) {
            present.set(c.name, 'dir');
            const mode = c.mode;
            at(direct.machine, nowMs, {
              op: 'mkdir',
              parent: direct.dir,
              name: c.name,
              mode,
              caller: USER,
            });
            pending.push(createOp(batched.dir, c.name, ino++, nowMs, mode, 'mkdir'));
          } else if (c.kind === 'create' && !present.has(c.name)) {
            present.set(c.name, 'file');
            at(direct.machine, nowMs, {
              op: 'create',
              parent: direct.dir,
              name: c.name,
              mode: c.mode,
              caller: USER,
              exclusive: true,
            });
            pending.push(createOp(batched.dir, c.name, ino++, nowMs, c.mode));
          } else if (
            c.kind === 'rename' &&
            present.get(c.name) === 'file' &&
            c.to !== c.name &&
            present.get(c.to) !== 'dir'
          ) {
            present.delete(c.name);
            present.set(c.to, 'file');
            at(direct.machine, nowMs, {
              op: 'rename',
              srcParent: direct.dir,
              srcName: c.name,
              dstParent: direct.dir,
              dstName: c.to,
            });
            pending.push({ op: 'rename', nowMs, parent: batched.dir, name: c.name, newName: c.to });
          } else if (c.kind === 'unlink' && present.get(c.name) === 'file') {
            present.delete(c.name);
            at(direct.machine, nowMs, { op: 'unlink', parent: direct.dir, name: c.name });
            pending.push({ op: 'unlink', nowMs, parent: batched.dir, name: c.name });
          }
          if (c.cut) flush();
        });
        flush();
        const view = (machine: MetadataStateMachine, dir: number) => ({
          dir: { ...machine.reader.getattr(dir)!, ino: 0, parent: 0 },
          entries: machine.reader.readdir(dir, undefined, 100).map((e) => {
            const inode = machine.reader.getattr(e.ino)!;
            return { name: e.name, inode: { ...inode, ino: 0 } };
          }),
        });
        assert.deepEqual(view(batched.machine, batched.dir), view(direct.machine, direct.dir));
      }),
      { numRuns: 60 },
    );
  });
});
