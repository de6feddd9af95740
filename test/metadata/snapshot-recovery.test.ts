// Start-up after a crash in the middle of installing a snapshot (docs/architecture/raft.md,
// "Snapshots"): the Raft store has recorded a snapshot the state machine has not switched to yet.
// The replica switches to the received environment, or to a copy of its own snapshot file, and
// removes what an interrupted transfer left; with neither file it refuses to start (EIO).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import { checksumFile, SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { RaftTransport } from '../../src/metadata/replication/transport.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { tempDir } from '../helpers/server.ts';

const caller = { uid: 0, gid: 0 };

// A state with a bucket and ten files, copied as a snapshot; returns the copy and its index.
async function snapshotOfSomeState() {
  const dir = tempDir('strata-snaprec-src-');
  const source = MetadataStateMachine.open(join(dir, 'state'), { durable: false });
  const bucket = source.apply({ op: 'createBucket', nowMs: 1, name: 'b', owner: 'o', caller });
  const ino = (bucket as unknown as { inode: { ino: number } }).inode.ino;
  for (let i = 0; i < 10; i++) {
    source.apply({
      op: 'create',
      nowMs: 1,
      parent: ino,
      name: `f${i}`,
      mode: 0o644,
      caller,
      exclusive: true,
    });
  }
  mkdirSync(join(dir, 'copy'));
  await source.snapshotTo(join(dir, 'copy'));
  await source.close();
  const file = join(dir, 'copy', 'data.mdb');
  return {
    file,
    index: MetadataStateMachine.appliedIndexAt(join(dir, 'copy')),
    ...(await checksumFile(file)),
  };
}

// A data directory whose Raft store records the snapshot while the state machine is still empty.
async function crashedDataDir(place: (dataDir: string, file: string, index: number) => void) {
  const snap = await snapshotOfSomeState();
  const dataDir = tempDir('strata-snaprec-');
  place(dataDir, snap.file, snap.index);
  const store = RaftStore.open(join(dataDir, 'raft-log'));
  store.persistSync({
    snapshot: {
      meta: { index: snap.index, term: 1, confState: { voters: [1], learners: [] } },
      sizeBytes: snap.sizeBytes,
      checksum: snap.checksum,
    },
    entries: [],
    hardState: { term: 1, vote: 0, commit: snap.index },
  });
  return { dataDir, store, index: snap.index };
}

async function start(dataDir: string, store: RaftStore) {
  const files = new SnapshotFiles(dataDir);
  const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
  const close = async (replica?: MetadataReplica) => {
    replica?.close();
    await replica?.drained();
    await store.close();
    await stateMachine.close();
  };
  try {
    const replica = new MetadataReplica({
      nodeId: 1,
      store,
      stateMachine,
      transport: new RaftTransport(silentLogger),
      bootstrapVoters: undefined,
      log: silentLogger,
      tickMs: 100,
      electionTimeoutTicks: 10,
      seed: 1,
      snapshotLogBytes: 1024 * 1024,
      diskSpace: { paths: [dataDir], minFreeBytes: 0, checkIntervalMs: 60_000 },
      files,
    });
    return { stateMachine, replica, close: () => close(replica) };
  } catch (error) {
    await close();
    throw error;
  }
}

test('a crash after the snapshot was recorded, before the switch: the received environment becomes the state', async () => {
  const { dataDir, store, index } = await crashedDataDir((dataDir, file, index) => {
    mkdirSync(join(dataDir, `metadata-${index}`));
    copyFileSync(file, join(dataDir, `metadata-${index}`, 'data.mdb'));
    // Left by an older interrupted install and by a transfer cut short.
    mkdirSync(join(dataDir, 'metadata-3'));
    mkdirSync(join(dataDir, 'snapshots', 'incoming'), { recursive: true });
    writeFileSync(join(dataDir, 'snapshots', 'incoming', 'data.mdb'), 'partial');
  });
  const { stateMachine, close } = await start(dataDir, store);
  try {
    assert.equal(stateMachine.appliedIndex(), index);
    assert.equal(readFileSync(join(dataDir, 'metadata.current'), 'utf8'), `metadata-${index}`);
    const bucket = stateMachine.reader.resolvePath('/b');
    assert.ok(
      bucket && stateMachine.reader.lookup(bucket.ino, 'f9'),
      'the snapshot state is served',
    );
    assert.equal(existsSync(join(dataDir, 'metadata-3')), false, 'a stray state is removed');
    assert.equal(
      existsSync(join(dataDir, 'snapshots', 'incoming')),
      false,
      'a partial transfer too',
    );
  } finally {
    await close();
  }
});

test('a state machine behind its own snapshot (power loss after compaction) starts from a copy of the snapshot file', async () => {
  const { dataDir, store, index } = await crashedDataDir((dataDir, file, index) => {
    mkdirSync(join(dataDir, 'snapshots', `snap-${index}`), { recursive: true });
    copyFileSync(file, join(dataDir, 'snapshots', `snap-${index}`, 'data.mdb'));
  });
  const { stateMachine, close } = await start(dataDir, store);
  try {
    assert.equal(stateMachine.appliedIndex(), index);
    assert.ok(
      existsSync(join(dataDir, 'snapshots', `snap-${index}`, 'data.mdb')),
      'kept for sending',
    );
  } finally {
    await close();
  }
});

test('a state machine behind the recorded snapshot with no file of it refuses to start (EIO)', async () => {
  const { dataDir, store } = await crashedDataDir(() => {});
  await assert.rejects(start(dataDir, store), (error: { code?: string }) => error.code === 'EIO');
});
