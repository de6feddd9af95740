// The mount's change feed (src/fuse/change-feed.ts) against a real metadata state machine, on a
// clock of the test's: what it lets the kernel keep long, what it drops when another client's
// change is reported, and everything it drops when answers stop, the changes are no longer known
// or its own changes were refused. The kernel's side is the list of notifications it was sent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StrataError } from '../../src/common/errors.ts';
import {
  ChangeFeed,
  FEED_POLL_MS,
  FEED_STALE_MS,
  LONG_VALID_MS,
} from '../../src/fuse/change-feed.ts';
import { NOTIFY } from '../../src/fuse/protocol.ts';
import type { ChangesAnswer } from '../../src/metadata/change-journal.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Command } from '../../src/metadata/types.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { fuseFeedFailures } from '../../src/observability/metrics.ts';
import type { CommandInput } from '../metadata/sm-helpers.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const OWN = 'own-session';
const OTHER = 'other-session';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'strata-feed-'));
  dirs.push(dir);
  let machine = MetadataStateMachine.open(join(dir, 'metadata'));
  let seq = 0;
  const apply = (command: CommandInput, session: string) => {
    seq += 1;
    const result = machine.apply({ nowMs: 1000, ...command } as Command, undefined, {
      id: session,
      seq,
      ackBelow: seq,
    });
    assert.ok(result.ok, JSON.stringify(result));
    return result;
  };
  let nowMs = 1_000_000;
  // The service's answer; `hang` leaves the next questions unanswered (the leader unreachable).
  let hang = false;
  let refuse = false;
  const asked: number[] = [];
  const ask = (since: number): Promise<ChangesAnswer> => {
    asked.push(since);
    if (hang) return new Promise(() => {});
    if (refuse) return Promise.reject(new StrataError('RPC_UNAVAILABLE', 'no member answered'));
    return Promise.resolve(machine.reader.namespaceChanges(since, OWN));
  };
  const notices: string[] = [];
  const leases: string[] = [];
  const feed = new ChangeFeed(
    ask,
    {
      notify: async (code, body) => {
        const ino = Number(body.readBigUInt64LE(0));
        if (code === NOTIFY.INVAL_ENTRY) {
          const nameBytes = body.readUInt32LE(8);
          notices.push(`entry ${ino}/${body.subarray(16, 16 + nameBytes).toString()}`);
        } else {
          assert.equal(code, NOTIFY.INVAL_INODE);
          assert.equal(body.readBigInt64LE(8), -1n, 'attributes only, no pages');
          notices.push(`attr ${ino}`);
        }
      },
      inodeChanged: (ino) => leases.push(`inode ${ino}`),
      directoryChanged: (d) => leases.push(`dir ${d}`),
      everythingChanged: () => leases.push('all'),
    },
    silentLogger,
    () => nowMs,
  );
  const bucket = apply(
    { op: 'createBucket', name: 'b', owner: 'o', caller: { uid: 0, gid: 0 } },
    OTHER,
  ).inode!.ino;
  const create = (name: string, session: string) =>
    apply(
      {
        op: 'create',
        parent: bucket,
        name,
        mode: 0o644,
        caller: { uid: 0, gid: 0 },
        exclusive: true,
      },
      session,
    ).inode!.ino;
  return {
    feed,
    apply,
    create,
    bucket,
    notices,
    leases,
    asked,
    advance: (ms: number) => {
      nowMs += ms;
    },
    hang: (on: boolean) => {
      hang = on;
    },
    refuse: (on: boolean) => {
      refuse = on;
    },
    reopen: async () => {
      await machine.close();
      machine = MetadataStateMachine.open(join(dir, 'metadata'));
    },
    close: () => machine.close(),
  };
}

describe('the change feed of a mount', () => {
  test('long times only once answers come, and not for a reply an answer naming it overtook', async () => {
    const s = setup();
    const f = s.create('f', OTHER);
    const g = s.create('g', OTHER);
    assert.equal(
      s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f),
      undefined,
      'no answer yet',
    );
    await s.feed.tick();
    assert.deepEqual(s.leases, ['all'], 'the first answer is a reset: leases read afresh');
    const before = s.feed.position;
    assert.equal(s.feed.entryValidMs(before, s.bucket, 'f', f), LONG_VALID_MS);
    // Answers applied while requests begun at `before` were served: one naming nothing of them,
    // then one naming g (another client's chmod), which g's reply may predate.
    await s.feed.tick();
    assert.equal(s.feed.entryValidMs(before, s.bucket, 'f', f), LONG_VALID_MS);
    s.apply({ op: 'setattr', ino: g, mode: 0o600 }, OTHER);
    await s.feed.tick();
    assert.equal(s.feed.attrValidMs(before, g), undefined);
    assert.equal(s.feed.entryValidMs(before, s.bucket, 'g', g), undefined);
    assert.equal(s.feed.attrValidMs(before, f), LONG_VALID_MS, 'f was not named');
    assert.equal(s.feed.attrValidMs(s.feed.position, g), LONG_VALID_MS, 'a request begun after');
    assert.deepEqual(s.notices, []);
    await s.close();
  });

  test("another client's changes drop what is held of them; this mount's own are left out", async () => {
    const s = setup();
    const f = s.create('f', OTHER);
    const g = s.create('g', OTHER);
    await s.feed.tick();
    s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f);
    s.feed.entryValidMs(s.feed.position, s.bucket, 'g', g);
    // This mount's own change: the kernel has it already.
    s.apply({ op: 'setattr', ino: g, mode: 0o600 }, OWN);
    s.create('mine', OWN);
    await s.feed.tick();
    assert.deepEqual(s.notices, []);
    // Another client's: a chmod of f, then an unlink of g.
    s.apply({ op: 'setattr', ino: f, mode: 0o600 }, OTHER);
    s.apply({ op: 'unlink', parent: s.bucket, name: 'g' }, OTHER);
    s.leases.length = 0;
    await s.feed.tick();
    assert.deepEqual(s.notices.sort(), [`attr ${f}`, `attr ${g}`, `entry ${s.bucket}/g`].sort());
    assert.ok(s.leases.includes(`dir ${s.bucket}`) && s.leases.includes(`inode ${f}`));
    // Dropped once: a second change of g's name is not sent again (the kernel asks anew first).
    s.notices.length = 0;
    s.create('g', OTHER);
    await s.feed.tick();
    assert.deepEqual(s.notices, []);
    await s.close();
  });

  test("a rename here moves the held name with the kernel's entry", async () => {
    const s = setup();
    const f = s.create('f', OTHER);
    await s.feed.tick();
    s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f);
    s.apply(
      {
        op: 'rename',
        srcParent: s.bucket,
        srcName: 'f',
        dstParent: s.bucket,
        dstName: 'h',
      },
      OWN,
    );
    s.feed.renamed(s.bucket, 'f', s.bucket, 'h');
    await s.feed.tick();
    assert.equal(s.notices.length, 0, 'its own rename');
    s.apply({ op: 'unlink', parent: s.bucket, name: 'h' }, OTHER);
    await s.feed.tick();
    assert.ok(s.notices.includes(`entry ${s.bucket}/h`), s.notices.join());
    await s.close();
  });

  test('no answer for the stale time: everything held goes, and no long times until an answer', async () => {
    const s = setup();
    const f = s.create('f', OTHER);
    await s.feed.tick();
    s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f);
    s.hang(true);
    s.advance(FEED_POLL_MS);
    void s.feed.tick(); // asked; never answered
    s.advance(FEED_POLL_MS);
    await s.feed.tick(); // still waiting: too soon to drop
    assert.deepEqual(s.notices, []);
    assert.equal(s.feed.attrValidMs(s.feed.position, f), LONG_VALID_MS, 'still within the bound');
    s.advance(FEED_STALE_MS - 2 * FEED_POLL_MS);
    await s.feed.tick();
    assert.deepEqual(s.notices.sort(), [`attr ${f}`, `entry ${s.bucket}/f`].sort());
    assert.equal(s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f), undefined);
    await s.close();
  });

  test('a restart of the member (changes no longer known) drops everything; so do refused own changes', async () => {
    const s = setup();
    const f = s.create('f', OTHER);
    await s.feed.tick();
    s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f);
    s.create('unseen', OTHER); // applied after the last answer, forgotten with the restart
    await s.reopen();
    s.leases.length = 0;
    await s.feed.tick();
    assert.deepEqual(s.leases, ['all']);
    assert.deepEqual(s.notices.sort(), [`attr ${f}`, `entry ${s.bucket}/f`].sort());
    // Held again, then this mount's changes answered behind are refused.
    s.notices.length = 0;
    s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f);
    await s.feed.ownChangesLost();
    assert.deepEqual(s.notices.sort(), [`attr ${f}`, `entry ${s.bucket}/f`].sort());
    await s.close();
  });

  test('failed questions are counted, and past the stale time everything held goes', async () => {
    const s = setup();
    const f = s.create('f', OTHER);
    await s.feed.tick();
    s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f);
    const failures = async () => (await fuseFeedFailures.get()).values[0]?.value ?? 0;
    const before = await failures();
    s.refuse(true);
    s.advance(FEED_POLL_MS);
    await s.feed.tick();
    assert.equal(await failures(), before + 1);
    assert.deepEqual(s.notices, [], 'not yet stale');
    s.advance(FEED_STALE_MS);
    await s.feed.tick();
    assert.equal(await failures(), before + 2);
    assert.deepEqual(s.notices.sort(), [`attr ${f}`, `entry ${s.bucket}/f`].sort());
    s.refuse(false);
    await s.feed.tick();
    assert.equal(
      s.feed.attrValidMs(s.feed.position, f),
      LONG_VALID_MS,
      'held again after an answer',
    );
    await s.close();
  });

  test('grants the kernel has let go of are not held any more', async () => {
    const s = setup();
    const f = s.create('f', OTHER);
    await s.feed.tick();
    s.feed.entryValidMs(s.feed.position, s.bucket, 'f', f);
    // Answers keep coming for longer than the grant lasts.
    for (let t = 0; t <= LONG_VALID_MS; t += FEED_POLL_MS * 50) {
      s.advance(FEED_POLL_MS * 50);
      await s.feed.tick();
    }
    s.apply({ op: 'setattr', ino: f, mode: 0o600 }, OTHER);
    await s.feed.tick();
    assert.deepEqual(s.notices, []);
    await s.close();
  });

  test('a grant renewed is held until the last renewal ends, and let go of after', async () => {
    const s = setup();
    const f = s.create('f', OTHER);
    const g = s.create('g', OTHER);
    await s.feed.tick();
    const run = async (ms: number) => {
      for (let t = 0; t < ms; t += FEED_POLL_MS) {
        s.advance(FEED_POLL_MS);
        await s.feed.tick();
      }
    };
    s.feed.attrValidMs(s.feed.position, f);
    await run(LONG_VALID_MS / 2);
    s.feed.attrValidMs(s.feed.position, g); // placed after f
    s.feed.attrValidMs(s.feed.position, f); // renewed: kept in its place, moved once it is reached
    await run((3 * LONG_VALID_MS) / 4); // past f's first grant, within its renewal
    s.apply({ op: 'setattr', ino: f, mode: 0o600 }, OTHER);
    await s.feed.tick();
    assert.deepEqual(s.notices, [`attr ${f}`], 'still held: the kernel is told');
    s.feed.attrValidMs(s.feed.position, f);
    await run(LONG_VALID_MS + FEED_POLL_MS);
    s.apply({ op: 'setattr', ino: f, mode: 0o644 }, OTHER);
    s.apply({ op: 'setattr', ino: g, mode: 0o600 }, OTHER);
    await s.feed.tick();
    assert.deepEqual(s.notices, [`attr ${f}`], 'both let go of: nothing more');
    await s.close();
  });
});
