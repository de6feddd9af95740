// The member's side of a metadata backup, in process on a real state machine: the copy is the
// state at the index it records, and it is removed when nobody reads it any more (a CLI that
// died) or when the service closes.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32c } from '../../src/data/crc32c.ts';
import { BackupSource } from '../../src/metadata/replication/backup-source.ts';
import { SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { tempDir } from '../helpers/server.ts';

async function setUp(idleMs: number) {
  const dataDir = tempDir('strata-backup-source-');
  const files = new SnapshotFiles(dataDir, { stagingRoot: null });
  const machine = MetadataStateMachine.open(files.currentStatePath());
  const caller = { uid: 0, gid: 0 };
  assert.ok(machine.apply({ op: 'createBucket', nowMs: 1, name: 'b', owner: 'a', caller }).ok);
  const source = new BackupSource({
    files,
    stateMachine: machine,
    termAt: () => 7,
    nodeId: 1,
    addr: () => '127.0.0.1:1',
    minFreeBytes: 0,
    log: silentLogger,
    idleMs,
  });
  const copies = () => readdirSync(files.snapshotsDir).filter((n) => n.startsWith('tmp-'));
  return { dataDir, files, machine, source, copies };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(25);
  assert.ok(condition(), what);
}

test('the copy holds the state at its index, and is read back whole', async () => {
  const { dataDir, machine, source, copies } = await setUp(60_000);
  try {
    const opened = await source.open();
    assert.equal(opened.index, machine.appliedIndex());
    assert.equal(opened.term, 7);
    // Applied after the copy: not in it, and the copy does not change.
    const caller = { uid: 0, gid: 0 };
    assert.ok(machine.apply({ op: 'createBucket', nowMs: 2, name: 'c', owner: 'a', caller }).ok);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < opened.sizeBytes; offset += 4096) {
      const length = Math.min(4096, opened.sizeBytes - offset);
      chunks.push(await source.read(opened.id, offset, length));
    }
    const bytes = Buffer.concat(chunks);
    assert.equal(crc32c(bytes), opened.checksum, 'the bytes read are the ones checksummed');
    const readBack = join(dataDir, 'read-back');
    mkdirSync(readBack);
    writeFileSync(join(readBack, 'data.mdb'), bytes);
    assert.equal(MetadataStateMachine.appliedIndexAt(readBack), opened.index);
    assert.equal(machine.appliedIndex(), opened.index + 1, 'the later command is not in it');
    assert.equal(copies().length, 1);
  } finally {
    await source.closeAll();
    await machine.close();
  }
  assert.deepEqual(copies(), [], 'closing the service removes the copy');
  rmSync(dataDir, { recursive: true, force: true });
});

test('a backup nobody reads is abandoned and its copy removed', async () => {
  const { dataDir, machine, source, copies } = await setUp(50);
  try {
    const opened = await source.open();
    assert.equal(copies().length, 1);
    await until(() => copies().length === 0, 'the idle copy is removed');
    await assert.rejects(source.read(opened.id, 0, 1), { code: 'ENOENT' });
  } finally {
    await source.closeAll();
    await machine.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
