import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, test } from 'node:test';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Command } from '../../src/metadata/types.ts';
import { type CommandInput, codeOf, extent, ok, openMachine, ROOT, stripe } from './sm-helpers.ts';

function withFile() {
  const machine = openMachine();
  const bucket = ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }).inode!;
  const file = ok(machine, {
    op: 'create',
    parent: bucket.ino,
    name: 'f',
    mode: 0o644,
    caller: ROOT,
    exclusive: true,
  }).inode!;
  return { machine, bucket: bucket.ino, ino: file.ino };
}

const layout = (machine: MetadataStateMachine, ino: number) =>
  machine.reader
    .extents(ino, 0, 1e12)
    .map((e) => [e.fileOffset, e.length, e.stripe && e.stripeOffset, e.stripe?.id.slice(-2)]);

const pendingIds = (machine: MetadataStateMachine) =>
  machine.reader
    .pendingGc(100)
    .map((s) => s.id)
    .sort();

describe('metadata extents and stripe references', () => {
  test('overwriting the middle of an extent splits it in three, all on live stripes', () => {
    const { machine, ino } = withFile();
    const big = stripe(100);
    ok(machine, { op: 'write', ino, extents: [extent(0, 100, big)] });
    const patch = stripe(10);
    ok(machine, { op: 'write', ino, extents: [extent(40, 10, patch)] });
    assert.deepEqual(layout(machine, ino), [
      [0, 40, 0, big.id.slice(-2)],
      [40, 10, 0, patch.id.slice(-2)],
      [50, 50, 50, big.id.slice(-2)],
    ]);
    assert.equal(machine.reader.getattr(ino)?.size, 100);
    assert.deepEqual(pendingIds(machine), [], 'both stripes are still referenced');
  });

  test('a stripe whose bytes are all overwritten is queued for collection, then forgotten', () => {
    const { machine, ino } = withFile();
    const first = stripe(30);
    ok(machine, { op: 'write', ino, extents: [extent(0, 30, first)] });
    ok(machine, { op: 'write', ino, extents: [extent(0, 10), extent(10, 20)] });
    assert.deepEqual(pendingIds(machine), [first.id]);
    ok(machine, { op: 'gcDone', stripeIds: [first.id] });
    assert.deepEqual(pendingIds(machine), []);
  });

  test('reads of a range return the overlapping extents in order, holes left out', () => {
    const { machine, ino } = withFile();
    ok(machine, { op: 'write', ino, extents: [extent(0, 10), extent(20, 10), extent(50, 10)] });
    assert.deepEqual(
      machine.reader.extents(ino, 5, 20).map((e) => e.fileOffset),
      [0, 20],
    );
    assert.deepEqual(
      machine.reader.extents(ino, 30, 20).map((e) => e.fileOffset),
      [],
    );
    assert.deepEqual(
      machine.reader.extents(ino, 55, 100).map((e) => e.fileOffset),
      [50],
    );
    assert.equal(machine.reader.getattr(ino)?.size, 60, 'size grows to the last byte written');
  });

  test('truncate down trims and frees; truncate up only grows the size', () => {
    const { machine, ino } = withFile();
    const a = stripe(50);
    const b = stripe(50);
    ok(machine, { op: 'write', ino, extents: [extent(0, 50, a), extent(50, 50, b)] });
    ok(machine, { op: 'setattr', ino, size: 30 });
    assert.deepEqual(layout(machine, ino), [[0, 30, 0, a.id.slice(-2)]]);
    assert.deepEqual(pendingIds(machine), [b.id]);
    ok(machine, { op: 'setattr', ino, size: 1000 });
    assert.equal(machine.reader.getattr(ino)?.size, 1000);
    assert.equal(layout(machine, ino).length, 1);
  });

  test('unlinking the last link frees every stripe of the file', () => {
    const { machine, bucket, ino } = withFile();
    const a = stripe(10);
    ok(machine, { op: 'write', ino, extents: [extent(0, 10, a)] });
    ok(machine, { op: 'unlink', parent: bucket, name: 'f' });
    assert.deepEqual(pendingIds(machine), [a.id]);
  });

  test('writes to a directory are EISDIR', () => {
    const { machine, bucket } = withFile();
    assert.equal(codeOf(machine, { op: 'write', ino: bucket, extents: [extent(0, 1)] }), 'EISDIR');
  });

  test('the same commands on two stores give the same state (determinism), and it survives a reopen', async () => {
    const commands: CommandInput[] = [{ op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }];
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 300; i++) {
      const key = `k${random(20)}/${random(5)}`;
      const pick = random(4);
      if (pick === 0) commands.push({ op: 'deleteObject', bucket: 'b', key });
      else {
        const len = 1 + random(100);
        commands.push({
          op: 'putObject',
          bucket: 'b',
          key,
          size: len,
          extents: [extent(0, len, stripe(len))],
          object: { etag: `e${i}`, userMeta: {} },
          caller: ROOT,
        });
      }
    }
    const one = openMachine();
    const two = openMachine();
    const results = commands.map((c, i) => [
      one.apply({ ...c, nowMs: i } as Command),
      two.apply({ ...c, nowMs: i } as Command),
    ]);
    for (const [a, b] of results) assert.deepEqual(a, b);
    const list = (m: MetadataStateMachine) =>
      m.reader.listObjects({ bucket: 'b', prefix: '', maxKeys: 1000 });
    assert.deepEqual(list(one), list(two));
    assert.deepEqual(pendingIds(one), pendingIds(two));
    assert.equal(one.appliedIndex(), two.appliedIndex());
    const snapshot = list(one);
    const path = (one as unknown as { db: { path: string } }).db.path;
    await one.close();
    const reopened = MetadataStateMachine.open(path);
    assert.deepEqual(list(reopened), snapshot);
    await reopened.close();
    await two.close();
    rmSync(dirname(path), { recursive: true, force: true });
  });
});

describe('orphan marking', () => {
  test('only unknown stripes are marked, and a marked stripe can never be referenced', () => {
    const { machine, ino } = withFile();
    const live = stripe(10);
    const queued = stripe(10);
    ok(machine, { op: 'write', ino, extents: [extent(0, 10, live)] });
    ok(machine, { op: 'write', ino, extents: [extent(20, 10, queued)] });
    ok(machine, { op: 'setattr', ino, size: 15 }); // frees `queued`: now pending collection
    const stray = stripe(10);
    const result = ok(machine, { op: 'markOrphans', stripeIds: [live.id, queued.id, stray.id] });
    assert.deepEqual(result.marked, [stray.id]);
    assert.equal(codeOf(machine, { op: 'write', ino, extents: [extent(40, 10, stray)] }), 'EIO');
    assert.equal(machine.reader.getattr(ino)?.size, 15, 'the refused write changed nothing');
  });
});
