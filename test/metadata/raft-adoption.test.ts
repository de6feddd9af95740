// A data directory whose metadata was written before the metadata service ran on Raft: on first
// start the existing state becomes the log's first snapshot, nothing is lost, and new commands
// after it apply and survive a restart.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { startStrata, tempDir } from '../helpers/server.ts';

test('metadata written before Raft is adopted as the first snapshot', async () => {
  const dataDir = tempDir();
  const machine = MetadataStateMachine.open(join(dataDir, 'metadata'));
  const caller = { uid: 0, gid: 0 };
  const made = machine.apply({ op: 'createBucket', nowMs: 1, name: 'old', owner: 'admin', caller });
  assert.ok(made.ok);
  const ino = made.bucket?.ino as number;
  for (const name of ['a', 'b', 'c']) {
    const result = machine.apply({ op: 'mkdir', nowMs: 2, parent: ino, name, mode: 0o755, caller });
    assert.ok(result.ok);
  }
  await machine.close();

  for (const round of [1, 2]) {
    const server = await startStrata({ dataDir });
    const client = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    try {
      const names = (await client.readdir('/old')).map((e) => e.name).sort();
      assert.deepEqual(
        names,
        round === 1 ? ['a', 'b', 'c'] : ['a', 'b', 'c', 'new'],
        `round ${round}`,
      );
      if (round === 1) await client.mkdir('/old/new');
    } finally {
      await client.close();
      await server.stop();
    }
  }
});
