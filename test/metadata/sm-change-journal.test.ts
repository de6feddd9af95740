import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ChangeJournal,
  type ChangesAnswer,
  CommandChanges,
} from '../../src/metadata/change-journal.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Command } from '../../src/metadata/types.ts';
import { closeAll, ok, openMachine, ROOT, run, seededRandom } from './sm-helpers.ts';

after(closeAll);

function changes(answer: ChangesAnswer) {
  assert.ok(!('reset' in answer), 'a list of changes, not a reset');
  return {
    inos: [...answer.inos].sort((a, b) => a - b),
    entries: answer.entries.map(([parent, name]) => `${parent}/${name}`).sort(),
  };
}

describe('the namespace change journal', () => {
  test('names and inodes each command changed, from any index on; failures change nothing', () => {
    const machine = openMachine();
    const bucket = ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }).inode!;
    const start = machine.appliedIndex();
    const createF = {
      op: 'create',
      parent: bucket.ino,
      name: 'f',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    } as const;
    const file = ok(machine, createF).inode!;
    const afterCreate = machine.appliedIndex();
    assert.deepEqual(changes(machine.reader.namespaceChanges(start)), {
      inos: [bucket.ino, file.ino].sort((a, b) => a - b),
      entries: [`${bucket.ino}/f`],
    });
    // EEXIST: the transaction is aborted, nothing is recorded.
    const refused = run(machine, createF);
    assert.equal(refused.ok, false);
    assert.deepEqual(changes(machine.reader.namespaceChanges(afterCreate)), {
      inos: [],
      entries: [],
    });
    ok(machine, { op: 'setattr', ino: file.ino, mode: 0o600 });
    const afterChmod = machine.appliedIndex();
    assert.deepEqual(changes(machine.reader.namespaceChanges(afterCreate)).inos, [file.ino]);
    ok(machine, {
      op: 'rename',
      srcParent: bucket.ino,
      srcName: 'f',
      dstParent: bucket.ino,
      dstName: 'g',
    });
    ok(machine, { op: 'unlink', parent: bucket.ino, name: 'g' });
    const seen = changes(machine.reader.namespaceChanges(afterChmod));
    assert.deepEqual(seen.entries, [`${bucket.ino}/f`, `${bucket.ino}/g`]);
    assert.ok(seen.inos.includes(file.ino) && seen.inos.includes(bucket.ino), 'file and directory');
    const answer = machine.reader.namespaceChanges(afterChmod);
    assert.equal(answer.index, machine.appliedIndex(), 'the next question starts here');
    assert.deepEqual(changes(machine.reader.namespaceChanges(answer.index)), {
      inos: [],
      entries: [],
    });
  });

  test("a session's own changes are left out for it, and shown to everyone else", () => {
    const machine = openMachine();
    const bucket = ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }).inode!;
    const start = machine.appliedIndex();
    const mkdir: Command = {
      op: 'mkdir',
      nowMs: 1000,
      parent: bucket.ino,
      name: 'mine',
      mode: 0o755,
      caller: ROOT,
    };
    assert.ok(machine.apply(mkdir, undefined, { id: 'mount-a', seq: 1, ackBelow: 1 }).ok);
    assert.deepEqual(changes(machine.reader.namespaceChanges(start, 'mount-a')), {
      inos: [],
      entries: [],
    });
    assert.deepEqual(changes(machine.reader.namespaceChanges(start, 'mount-b')).entries, [
      `${bucket.ino}/mine`,
    ]);
    assert.deepEqual(changes(machine.reader.namespaceChanges(start)).entries, [
      `${bucket.ino}/mine`,
    ]);
  });

  test('after a restart nothing before it is known: older questions get a reset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-journal-'));
    try {
      let machine = MetadataStateMachine.open(join(dir, 'metadata'));
      ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
      const before = machine.appliedIndex();
      ok(machine, { op: 'createBucket', name: 'c', owner: 'o', caller: ROOT });
      const atClose = machine.appliedIndex();
      await machine.close();
      machine = MetadataStateMachine.open(join(dir, 'metadata'));
      assert.ok('reset' in machine.reader.namespaceChanges(before), 'from before the restart');
      assert.deepEqual(changes(machine.reader.namespaceChanges(atClose)), {
        inos: [],
        entries: [],
      });
      for (const since of [-1, atClose + 1, 0.5, Number.NaN])
        assert.ok('reset' in machine.reader.namespaceChanges(since), `since ${since}`);
      await machine.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Seeded: a failing seed replays with JOURNAL_SEED=<seed>.
  test('random histories: each answer is the union of the changes after its index, or a reset when they are no longer all kept', () => {
    const seeds = process.env.JOURNAL_SEED ? [Number(process.env.JOURNAL_SEED)] : [1, 2, 3, 4, 5];
    for (const seed of seeds) {
      const random = seededRandom(seed);
      // Small bounds, so that old changes are pushed out and answers refused for size often.
      const keptMax = 300;
      const answerMax = 120;
      const journal = new ChangeJournal(10, keptMax, answerMax);
      const history: Array<{ index: number; session: string; inos: number[]; names: string[] }> =
        [];
      let index = 10;
      for (let step = 0; step < 2000; step++) {
        index += 1 + random(3);
        const c = new CommandChanges();
        // Mostly small commands, now and then one large enough to push old ones out.
        const size = random(20) === 0 ? random(keptMax / 2) : random(6);
        for (let i = 0; i < size; i++) {
          if (random(2) === 0) c.inos.add(random(1000));
          else c.entries.push([random(20), `n${random(100)}`]);
        }
        const session = `s${random(3)}`;
        journal.record(index, session, c);
        history.push({
          index,
          session,
          inos: [...c.inos],
          names: c.entries.map(([p, n]) => `${p}/${n}`),
        });
        const since = random(2) === 0 ? index - random(5) : 10 + random(index - 10);
        const except = random(2) === 0 ? undefined : `s${random(3)}`;
        const answer = journal.since(since, index, except);
        assert.equal(answer.index, index);
        const wanted = history.filter((h) => h.index > since && h.session !== except);
        const inos = [...new Set(wanted.flatMap((h) => h.inos))].sort((a, b) => a - b);
        const names = [...new Set(wanted.flatMap((h) => h.names))].sort();
        // Which records are still kept: those after the last one pushed out.
        let kept = 0;
        let floor = 10;
        for (let i = history.length - 1; i >= 0; i--) {
          kept += history[i].inos.length + history[i].names.length;
          if (kept > keptMax) {
            floor = history[i].index;
            break;
          }
        }
        if (since < floor || inos.length + names.length > answerMax) {
          // A reset is always allowed once the answer would be partial or too large.
          if ('reset' in answer) continue;
        }
        assert.deepEqual(changes(answer), { inos, entries: names }, `seed ${seed} step ${step}`);
      }
    }
  });
});
