// A directory delegated to one client (a mount's write-behind path) against another client of a
// real server: the other's reads and changes there wait until the holder gives it back, the
// holder learns that it is wanted from its next batch's answer, and what it sent is what the
// other then sees (close-to-open between two mounts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/index.ts';
import type { DirBatchOp } from '../../src/metadata/types.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const CALLER = { uid: 0, gid: 0 };

describe('a delegated directory between two clients', () => {
  let server: StrataProcess;
  let holder: StrataClient;
  let other: StrataClient;
  before(async () => {
    server = await startStrata();
    holder = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    other = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    await holder.mkdir('/deleg');
    await holder.mkdir('/deleg/d');
    await holder.mountOpen('holder', 10_000, 'test');
  });
  after(async () => {
    await holder?.close();
    await other?.close();
    await server?.stop();
  });

  const recalls = async (kind: string) => {
    const metrics = await (await fetch(server.metricsUrl)).text();
    const pattern = new RegExp(
      `strata_metadata_delegation_recalls_total\\{kind="${kind}"\\} (\\d+)`,
    );
    return Number(metrics.match(pattern)?.[1] ?? 0);
  };

  const settled = async (promise: Promise<unknown>, ms: number) =>
    Promise.race([
      promise.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
    ]);

  test('the other client waits for the holder, and then sees what it made', async () => {
    const dir = (await holder.stat('/deleg/d')).ino;
    const nowMs = Date.now();
    const granted = await holder.metadata.apply({
      op: 'delegateDir',
      nowMs,
      mountId: 'holder',
      dir,
      inodes: 64,
    });
    assert.equal(granted.delegated, true);
    const { next } = granted.reserved![0];
    const create = (name: string, ino: number): DirBatchOp => ({
      op: 'create',
      nowMs: Date.now(),
      parent: dir,
      name,
      mode: 0o644,
      caller: CALLER,
      ino,
    });
    const first = await holder.metadata.apply({
      op: 'dirBatch',
      nowMs,
      mountId: 'holder',
      batch: 1,
      ops: [create('x', next)],
    });
    assert.equal(first.recalled, undefined, 'no one waits yet');

    // Another client's read and change of the directory wait.
    const read = other.stat('/deleg/d/x');
    const change = other.create('/deleg/d/z');
    assert.equal(await settled(read, 300), false, 'the read waits while the holder has it');
    assert.equal(await settled(change, 1), false, 'so does the change');

    // The holder's next batch is told, and it gives the directory back after it.
    const second = await holder.metadata.apply({
      op: 'dirBatch',
      nowMs,
      mountId: 'holder',
      batch: 2,
      ops: [create('y', next + 1)],
    });
    assert.deepEqual(second.recalled, [dir]);
    await holder.metadata.apply({ op: 'releaseDirs', nowMs, mountId: 'holder', dirs: [dir] });

    assert.equal((await read).ino, next, 'the file the holder made, by the number it chose');
    await change;
    const names = (await other.metadata.read('readdir', dir, undefined, 10)).map((e) => e.name);
    assert.deepEqual(names, ['x', 'y', 'z']);

    assert.ok((await recalls('read')) >= 1);
    assert.ok((await recalls('command')) >= 1);
  });

  test('a holder that goes away frees its directories with its session', async () => {
    const dir = (await holder.stat('/deleg')).ino;
    await holder.mountOpen('short', 300, 'test');
    const granted = await holder.metadata.apply({
      op: 'delegateDir',
      nowMs: Date.now(),
      mountId: 'short',
      dir,
      inodes: 8,
    });
    assert.equal(granted.delegated, true);
    // No batch, no release, no heartbeat: the leader expires the session and the read goes on.
    const refusedBefore = await recalls('read');
    const names = (await other.metadata.read('readdir', dir, undefined, 10)).map((e) => e.name);
    assert.deepEqual(names, ['d']);
    assert.ok((await recalls('read')) > refusedBefore, 'the read met the delegation first');
  });
});
