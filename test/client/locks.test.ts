// Cluster-wide locks between two clients (two "mounts") of a real server: a conflicting lock is
// refused with EAGAIN until the holder's session expires, which the leader notices by itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LOCK_END_MAX, type LockSpec, StrataClient } from '../../src/client/index.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const TTL_MS = 600;

describe('cluster-wide locks between mounts', () => {
  let server: StrataProcess;
  let one: StrataClient;
  let two: StrataClient;
  before(async () => {
    server = await startStrata();
    one = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    two = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    await one.mkdir('/locks');
  });
  after(async () => {
    await one?.close();
    await two?.close();
    await server?.stop();
  });

  test("a write lock refuses another mount's until the holder's session expires", async () => {
    const file = await one.create('/locks/f');
    const write = (owner: string): LockSpec => ({
      ino: file.ino,
      owner,
      kind: 'posix',
      type: 'write',
      start: 0,
      end: LOCK_END_MAX,
      pid: 1,
    });
    await one.mountOpen('mount-one', TTL_MS, 'test');
    await two.mountOpen('mount-two', 60_000);
    await one.setLock('mount-one', write('7'));
    await assert.rejects(two.setLock('mount-two', write('9')), (e: unknown) =>
      isStrataError(e, 'EAGAIN'),
    );
    const holder = await two.getLock('mount-two', { ...write('9'), type: 'read' });
    assert.equal(holder?.mountId, 'mount-one');

    // mount-one stops heartbeating: the leader expires it within about a second of its ttl.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await two.setLock('mount-two', write('9'));
        break;
      } catch (error) {
        if (!isStrataError(error, 'EAGAIN') || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await assert.rejects(one.mountHeartbeat('mount-one'), (e: unknown) =>
      isStrataError(e, 'ESTALE'),
    );
    assert.equal(
      await one.getLock('mount-one', { ...write('7'), type: 'read' }).then((l) => l?.mountId),
      'mount-two',
    );
    await two.mountClose('mount-two');
  });

  test('a file unlinked while open stays readable until the mount releases it', async () => {
    await one.mountOpen('mount-three', 60_000);
    const file = await one.create('/locks/open');
    await one.write(file.ino, 0, Buffer.from('still here'));
    const dir = await one.stat('/locks');
    await one.unlinkAt(dir.ino, 'open', { keepForMount: 'mount-three' });
    await assert.rejects(one.stat('/locks/open'), (e: unknown) => isStrataError(e, 'ENOENT'));
    assert.equal((await one.read(file.ino, 0, 100)).toString(), 'still here');
    await one.releaseOrphan('mount-three', file.ino);
    await assert.rejects(one.getattr(file.ino), (e: unknown) => isStrataError(e, 'ENOENT'));
    await one.mountClose('mount-three');
  });
});
