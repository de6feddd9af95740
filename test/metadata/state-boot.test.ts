// The power-loss check (src/metadata/replication/state-boot.ts): which starts trust the state
// written without syncs, and the rebuild from the snapshot file, which refuses a file that is not
// the one the Raft store records. The whole path with real members: test/e2e/raft-power-loss.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32c } from '../../src/data/crc32c.ts';
import { currentStateName, SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import {
  readBootId,
  readStateBootMarker,
  stateVerdict,
  writeStateBootMarker,
} from '../../src/metadata/replication/state-boot.ts';
import { tempDir } from '../helpers/server.ts';

test('a state is rebuilt only when written in another boot and not closed cleanly', () => {
  const cases: Array<[Parameters<typeof stateVerdict>[0], string | undefined, string]> = [
    [undefined, 'b', 'trusted'], // a new member, or one from before the marker
    [{ bootId: 'a', clean: false }, undefined, 'trusted'], // the check is off
    [{ bootId: 'b', clean: false }, 'b', 'trusted'], // a process crash: the page cache kept it
    [{ bootId: 'a', clean: true }, 'b', 'trusted'], // synced and closed before the reboot
    [{ bootId: 'a', clean: false }, 'b', 'rebuild'],
  ];
  for (const [marker, bootId, verdict] of cases)
    assert.equal(stateVerdict(marker, bootId), verdict, JSON.stringify({ marker, bootId }));
});

test('the marker and the boot id are read back as written; an empty boot id file is an error', () => {
  const dir = tempDir('strata-boot-marker-');
  assert.equal(readStateBootMarker(dir), undefined);
  writeStateBootMarker(dir, { bootId: 'x', clean: true });
  assert.deepEqual(readStateBootMarker(dir), { bootId: 'x', clean: true });
  writeFileSync(join(dir, 'boot'), 'abc\n');
  assert.equal(readBootId(join(dir, 'boot')), 'abc');
  assert.equal(readBootId(''), undefined);
  writeFileSync(join(dir, 'boot'), '\n');
  assert.throws(() => readBootId(join(dir, 'boot')), /empty/);
  // A path that cannot be read refuses the start, and says how to turn the check off.
  assert.throws(() => readBootId(join(dir, 'no-such-file')), /boot_id_file: cannot read .* ""/);
  writeFileSync(join(dir, 'state-boot.json'), '{"bootId":');
  assert.throws(() => readStateBootMarker(dir), /not a state boot marker/);
  writeFileSync(join(dir, 'state-boot.json'), '{"bootId":1}');
  assert.throws(() => readStateBootMarker(dir), /not a state boot marker/);
});

test('the rebuild copies the recorded snapshot file in, and refuses one that does not match', async () => {
  const dataDir = tempDir('strata-rebuild-');
  const files = new SnapshotFiles(dataDir, { stagingRoot: null });
  const bytes = Buffer.from('a snapshot file, as the store records it');
  mkdirSync(join(dataDir, 'snapshots', 'snap-7'));
  writeFileSync(join(dataDir, 'snapshots', 'snap-7', 'data.mdb'), bytes);
  mkdirSync(join(dataDir, 'metadata'));
  writeFileSync(join(dataDir, 'metadata', 'data.mdb'), 'what a power loss left');

  const recorded = { index: 7, sizeBytes: bytes.byteLength, checksum: crc32c(bytes) };
  await assert.rejects(
    files.rebuildLiveState({ ...recorded, checksum: recorded.checksum ^ 1 }),
    /CRC32C .* the Raft store records/,
  );
  await assert.rejects(files.rebuildLiveState({ ...recorded, index: 8 }), /is missing/);
  assert.equal(currentStateName(dataDir), 'metadata', 'a refused rebuild changes nothing');

  await files.rebuildLiveState(recorded);
  assert.equal(currentStateName(dataDir), 'metadata-7');
  assert.deepEqual(readFileSync(join(dataDir, 'metadata-7', 'data.mdb')), bytes);
  assert.ok(!existsSync(join(dataDir, 'metadata')), 'the old state is gone');

  // No snapshot yet: an empty state, the whole log replayed into it.
  await files.rebuildLiveState({ index: 0, sizeBytes: 0, checksum: 0 });
  assert.equal(currentStateName(dataDir), 'metadata-0');
  assert.ok(!existsSync(join(dataDir, 'metadata-0', 'data.mdb')));
  files.close();
});

test('at start, snapshot files the store does not record are removed, its own kept', () => {
  const dataDir = tempDir('strata-snapclean-');
  const files = new SnapshotFiles(dataDir, { stagingRoot: null });
  for (const index of [5, 7, 9]) {
    mkdirSync(join(dataDir, 'snapshots', `snap-${index}`));
    writeFileSync(join(dataDir, 'snapshots', `snap-${index}`, 'data.mdb'), 'x');
  }
  files.cleanUp(7);
  assert.deepEqual(readdirSync(join(dataDir, 'snapshots')), ['snap-7']);
  files.close();
});
