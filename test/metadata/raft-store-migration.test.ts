// An upgraded member keeps its log: the LMDB Raft store of earlier versions (<data_dir>/raft) is
// moved once into segment files (<data_dir>/raft-log) at start, checked as it is read, and the
// old directory is removed only once the new log is in place.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import { migrateLegacyRaftStore } from '../../src/metadata/replication/raft-store-migration.ts';
import type { MetadataReplica } from '../../src/metadata/replication/replica.ts';
import { entryChecksum, snapshotChecksum } from '../../src/metadata/replication/wal-format.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Entry, HardState, Snapshot } from '../../src/raft/index.ts';
import { tempDir } from '../helpers/server.ts';
import { startSingleReplica } from '../helpers/single-replica.ts';

const caller = { uid: 0, gid: 0 };

function entryKey(index: number): Buffer {
  const key = Buffer.alloc(9);
  key[0] = 0x65;
  key.writeBigUInt64BE(BigInt(index), 1);
  return key;
}

// A store written the way the LMDB RaftStore wrote it (keys i, h, n and e + u64 index).
async function writeLegacyStore(
  path: string,
  state: { nodeId: number; hardState: HardState; snapshot?: Snapshot; entries: Entry[] },
): Promise<void> {
  const db = open<any, Buffer>({ path, keyEncoding: 'binary', compression: false });
  db.transactionSync(() => {
    db.putSync(Buffer.from('i'), state.nodeId);
    db.putSync(Buffer.from('h'), state.hardState);
    if (state.snapshot) {
      const { meta, sizeBytes, checksum } = state.snapshot;
      const crc = snapshotChecksum(state.snapshot);
      db.putSync(Buffer.from('n'), { meta, sizeBytes, checksum, crc });
    }
    for (const { index, term, type, data } of state.entries) {
      const crc = entryChecksum(index, term, type, data);
      db.putSync(entryKey(index), { term, type, data, crc });
    }
  });
  await db.close();
}

const entry = (index: number, term: number): Entry => ({
  index,
  term,
  type: 'normal',
  data: Buffer.from(`entry ${index}`),
});
const snapshot: Snapshot = {
  meta: { index: 10, term: 1, confState: { voters: [3], learners: [] } },
  sizeBytes: 4096,
  checksum: 77,
};

test('the LMDB log moves into segments: entries, hard state, snapshot record and node id', async () => {
  const dataDir = tempDir('strata-migrate-');
  const entries = Array.from({ length: 3000 }, (_, i) => entry(11 + i, i < 1500 ? 1 : 2));
  await writeLegacyStore(join(dataDir, 'raft'), {
    nodeId: 3,
    hardState: { term: 2, vote: 3, commit: 2000 },
    snapshot,
    entries,
  });
  // What an earlier interrupted move left is discarded.
  mkdirSync(join(dataDir, 'raft-log.migrating'));
  writeFileSync(join(dataDir, 'raft-log.migrating', 'junk'), 'x');
  const result = await migrateLegacyRaftStore({
    from: join(dataDir, 'raft'),
    to: join(dataDir, 'raft-log'),
    log: silentLogger,
  });
  assert.deepEqual(result, { migrated: true, entries: 3000, lastIndex: 3010 });
  assert.equal(existsSync(join(dataDir, 'raft')), false, 'the old store is removed');
  assert.equal(existsSync(join(dataDir, 'raft-log.migrating')), false);
  const store = RaftStore.open(join(dataDir, 'raft-log'));
  const state = store.load();
  assert.deepEqual(state.hardState, { term: 2, vote: 3, commit: 2000 });
  assert.deepEqual(state.snapshot, snapshot);
  const moved = [...state.entries];
  assert.equal(moved.length, 3000);
  for (const [i, e] of moved.entries()) {
    assert.equal(e.index, entries[i].index);
    assert.equal(e.term, entries[i].term);
    assert.deepEqual(Buffer.from(e.data), Buffer.from(entries[i].data));
  }
  assert.throws(() => store.claimNodeId(4), /belongs to metadata node 3/);
  store.claimNodeId(3);
  await store.close();
  // A second start finds nothing to move.
  const again = await migrateLegacyRaftStore({
    from: join(dataDir, 'raft'),
    to: join(dataDir, 'raft-log'),
    log: silentLogger,
  });
  assert.equal(again.migrated, false);
});

test('a damaged LMDB log is not moved: EIO, and the old store stays', async () => {
  const dataDir = tempDir('strata-migrate-');
  await writeLegacyStore(join(dataDir, 'raft'), {
    nodeId: 1,
    hardState: { term: 1, vote: 1, commit: 3 },
    entries: [entry(1, 1), entry(2, 1), entry(3, 1)],
  });
  const db = open<any, Buffer>({ path: join(dataDir, 'raft'), keyEncoding: 'binary' });
  const stored = db.get(entryKey(2));
  await db.put(entryKey(2), { ...stored, data: Buffer.from('changed') });
  await db.close();
  await assert.rejects(
    migrateLegacyRaftStore({
      from: join(dataDir, 'raft'),
      to: join(dataDir, 'raft-log'),
      log: silentLogger,
    }),
    (e: { code?: string }) => e.code === 'EIO',
  );
  assert.ok(existsSync(join(dataDir, 'raft', 'data.mdb')), 'the old store is kept');
  assert.equal(existsSync(join(dataDir, 'raft-log')), false, 'no half-moved log');
});

function startReplica(dataDir: string) {
  return startSingleReplica(dataDir);
}

async function proposeAsLeader(
  replica: MetadataReplica,
  command: Parameters<MetadataReplica['propose']>[0]['command'],
) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await replica.propose({ command });
    } catch (error) {
      if (attempt > 200) throw error;
      await new Promise((r) => setTimeout(r, 10)); // not the leader yet
    }
  }
}

test('an upgraded member starts from its moved log, replays it and commits new commands', async () => {
  const dataDir = tempDir('strata-migrate-member-');
  // A member's life before the upgrade: its log, as the LMDB store held it.
  const first = startReplica(dataDir);
  const bucket = await proposeAsLeader(first.replica, {
    op: 'createBucket',
    nowMs: 1,
    name: 'b',
    owner: 'o',
    caller,
  });
  assert.ok(bucket.ok && bucket.inode);
  for (let i = 0; i < 5; i++) {
    const created = await proposeAsLeader(first.replica, {
      op: 'create',
      nowMs: 1,
      parent: bucket.inode.ino,
      name: `f${i}`,
      mode: 0o644,
      caller,
      exclusive: true,
    });
    assert.ok(created.ok);
  }
  const state = first.store.load();
  const entries = [...state.entries];
  await first.close();
  rmSync(join(dataDir, 'raft-log'), { recursive: true });
  await writeLegacyStore(join(dataDir, 'raft'), { nodeId: 1, hardState: state.hardState, entries });
  // The state machine lost what it had not synced (it runs without fsync): the log brings it back.
  rmSync(join(dataDir, 'metadata'), { recursive: true, force: true });
  for (const name of ['metadata.current']) rmSync(join(dataDir, name), { force: true });

  const result = await migrateLegacyRaftStore({
    from: join(dataDir, 'raft'),
    to: join(dataDir, 'raft-log'),
    log: silentLogger,
  });
  assert.equal(result.entries, entries.length);
  const second = startReplica(dataDir);
  try {
    const more = await proposeAsLeader(second.replica, {
      op: 'create',
      nowMs: 2,
      parent: bucket.inode.ino,
      name: 'after',
      mode: 0o644,
      caller,
      exclusive: true,
    });
    assert.ok(more.ok, 'the upgraded member commits new commands');
    const dir = second.stateMachine.reader.resolvePath('/b');
    assert.ok(dir, 'the bucket from the moved log is there');
    for (const name of ['f0', 'f4', 'after'])
      assert.ok(second.stateMachine.reader.lookup(dir.ino, name), `${name} is there`);
  } finally {
    await second.close();
  }
});
