// An upgraded member keeps its log: the old LMDB Raft store (<data_dir>/raft) is read once at
// start into segment files (<data_dir>/raft-log), built aside in raft-log.migrating and renamed
// into place only when complete, so a crash during the move leaves the old store untouched and
// the move starts over. The old directory is removed once the new log is in place.
import assert from 'node:assert';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import type { Entry } from '../../raft/index.ts';
import { hasLegacyRaftStore, openLegacyRaftStore } from './legacy-raft-lmdb.ts';
import { RaftStore, type RaftStoreOptions } from './raft-store.ts';

// Entries per batch written during the move: bounded so no batch is larger than a segment needs.
const MIGRATION_BATCH_ENTRIES = 1024;
const MIGRATION_BATCH_BYTES = 4 * 1024 * 1024;

export interface MigrationResult {
  migrated: boolean;
  entries: number;
  lastIndex: number;
}

export async function migrateLegacyRaftStore(options: {
  from: string; // <data_dir>/raft (LMDB)
  to: string; // <data_dir>/raft-log
  log: Logger;
  store?: RaftStoreOptions;
}): Promise<MigrationResult> {
  const { from, to, log } = options;
  const none = { migrated: false, entries: 0, lastIndex: 0 };
  if (!hasLegacyRaftStore(from)) return none;
  if (existsSync(to)) {
    // A crash after the rename, before the old store was removed.
    rmSync(from, { recursive: true, force: true });
    return none;
  }
  const building = `${to}.migrating`;
  rmSync(building, { recursive: true, force: true });
  const legacy = openLegacyRaftStore(from);
  let entries = 0;
  let lastIndex = 0;
  try {
    const store = RaftStore.open(building, options.store);
    try {
      if (legacy.nodeId !== undefined) store.claimNodeId(legacy.nodeId);
      if (legacy.hardState !== undefined) {
        // The snapshot record first (it starts the log), then the entries, then the hard state.
        store.persistSync({ snapshot: legacy.snapshot, entries: [] });
        let batch: Entry[] = [];
        let batchBytes = 0;
        for (const entry of legacy.entries()) {
          batch.push(entry);
          batchBytes += entry.data.byteLength;
          entries++;
          if (batch.length >= MIGRATION_BATCH_ENTRIES || batchBytes >= MIGRATION_BATCH_BYTES) {
            store.persistSync({ entries: batch });
            [batch, batchBytes] = [[], 0];
          }
        }
        store.persistSync({ entries: batch, hardState: legacy.hardState });
        lastIndex = store.lastStoredIndex();
        assert(!store.isEmpty(), 'the moved log has its hard state');
      }
    } finally {
      await store.close();
    }
  } finally {
    await legacy.close();
  }
  // Read back before the old store goes: the new log must open and end where the old one did.
  const check = RaftStore.open(building, options.store);
  try {
    assert(check.lastStoredIndex() === lastIndex, 'the moved log ends where the old one did');
    let count = 0;
    for (const _entry of check.load().entries) count++;
    assert(count === entries, 'every entry was moved');
  } finally {
    await check.close();
  }
  renameSync(building, to);
  syncDir(dirname(to));
  rmSync(from, { recursive: true, force: true });
  log.info('moved the raft log from its LMDB store into segment files', { entries, lastIndex });
  return { migrated: true, entries, lastIndex };
}

function syncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
