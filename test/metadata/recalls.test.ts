// The leader's recalls (src/metadata/recalls.ts): which held directories a mount is told to give
// back, and the hold-off after an ask during which the directory is granted to no one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StrataClient } from '../../src/client/index.ts';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { RECALL_HOLD_OFF_MS, Recalls } from '../../src/metadata/recalls.ts';
import type { MetadataReader } from '../../src/metadata/types.ts';
import { startStrata } from '../helpers/server.ts';

// A reader that knows only delegations (all that Recalls reads).
const readerOf = (held: Map<number, string>) =>
  ({
    delegation: (dir: number) => {
      const mountId = held.get(dir);
      return mountId === undefined ? undefined : { mountId, grantedMs: 0 };
    },
  }) as unknown as MetadataReader;

test('a mount is told of the directories it holds that others asked for', () => {
  const held = new Map([
    [10, 'm1'],
    [11, 'm2'],
  ]);
  const recalls = new Recalls();
  recalls.ask(10, 0);
  recalls.ask(11, 0);
  recalls.ask(12, 0); // held by no one (given back already)
  assert.deepEqual(recalls.of(readerOf(held), 'm1'), [10]);
  assert.deepEqual(recalls.of(readerOf(held), 'm2'), [11]);
  assert.equal(recalls.size, 2, 'the directory no one holds is forgotten');
  held.delete(10);
  assert.deepEqual(recalls.of(readerOf(held), 'm1'), []);
});

test('a directory asked for is held off for RECALL_HOLD_OFF_MS after the last ask', () => {
  const recalls = new Recalls();
  assert.equal(recalls.heldOff(7, 1000), false);
  recalls.ask(7, 1000);
  assert.equal(recalls.heldOff(7, 1000), true);
  assert.equal(recalls.heldOff(7, 1000 + RECALL_HOLD_OFF_MS - 1), true);
  assert.equal(recalls.heldOff(7, 1000 + RECALL_HOLD_OFF_MS), false);
  recalls.ask(7, 1500); // asked again: the hold-off runs from the new ask
  assert.equal(recalls.heldOff(7, 1500 + RECALL_HOLD_OFF_MS - 1), true);
  assert.equal(recalls.heldOff(8, 1500), false, 'only the directory asked for');
});

test('under a flood of asks the newest are held off and the old ones expire', () => {
  const recalls = new Recalls();
  for (let dir = 1; dir <= 20_000; dir++) recalls.ask(dir, 5000);
  assert.equal(recalls.heldOff(20_000, 5000), true, 'the newest ask is held off');
  for (let dir = 1; dir <= 100; dir++) recalls.ask(dir, 5000 + RECALL_HOLD_OFF_MS * 2);
  assert.equal(recalls.heldOff(20_000, 5000 + RECALL_HOLD_OFF_MS * 2), false, 'expired');
  assert.equal(recalls.heldOff(100, 5000 + RECALL_HOLD_OFF_MS * 2), true);
});

// The hold-off on a real metadata service: another mount is refused the directory for a while
// after a client waited for it, but the mount that holds it already (a grant whose answer it
// lost) is told so, or it would never know to give the directory back.
describe('the hold-off on a metadata service', () => {
  test('a directory waited for is not granted to another mount, and is to its holder', async () => {
    const server = await startStrata();
    const client = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    // Gives up on EDELEGATED after its short deadline (its create only has to be refused).
    const waiter = new MetadataClient([server.metadataAddr], { timeoutMs: 300 });
    try {
      await client.createBucket('held', 'root');
      const dir = (await client.mkdir('/held/dir')).ino;
      for (const mountId of ['A', 'B']) await client.mountOpen(mountId, 60_000);
      const grant = (mountId: string) =>
        client.metadata.applyNow({ op: 'delegateDir', nowMs: Date.now(), mountId, dir, inodes: 0 });
      assert.equal((await grant('A')).delegated, true);
      await assert.rejects(
        waiter.apply({
          op: 'create',
          nowMs: Date.now(),
          parent: dir,
          name: 'f',
          mode: 0o644,
          caller: { uid: 0, gid: 0 },
          exclusive: true,
        }),
        { code: 'EDELEGATED' },
      );
      // Asked for just now: A, which holds it, is told so; B is not granted it, held off.
      assert.equal((await grant('A')).delegated, true);
      await client.metadata.applyNow({
        op: 'releaseDirs',
        nowMs: Date.now(),
        mountId: 'A',
        dirs: [dir],
      });
      assert.equal((await grant('B')).delegated, false);
      const metrics = await (await fetch(server.metricsUrl)).text();
      assert.match(
        metrics,
        /strata_metadata_commands_total\{op="delegateDir",code="held_off"\} [1-9]/,
      );
    } finally {
      await waiter.close();
      await client.close();
      await server.stop();
    }
  });
});
