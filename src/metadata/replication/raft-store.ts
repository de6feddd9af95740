// The durable half of Raft for one metadata node: log entries, hard state (term, vote, commit) and
// the snapshot point, in an LMDB environment of their own (<data_dir>/raft). Every write of a
// Ready is one transaction that has reached the disk when persist() returns (overlappingSync off),
// which is what the core needs before its messages leave (src/raft/ready.ts). Each entry carries a
// CRC32C of its index, term, type and data: a mismatch on load stops the node instead of letting
// it serve state it cannot vouch for.
import assert from 'node:assert';
import { type Database, open } from 'lmdb';
import { StrataError } from '../../common/errors.ts';
import { crc32c } from '../../data/crc32c.ts';
import {
  type Entry,
  type EntryType,
  emptySnapshot,
  type HardState,
  type PersistedState,
  type Ready,
  type Snapshot,
} from '../../raft/index.ts';

const KEY_HARD_STATE = Buffer.from('h');
const KEY_SNAPSHOT = Buffer.from('n');
const KEY_NODE_ID = Buffer.from('i');
const ENTRY_TAG = 0x65; // 'e' + u64 index

interface StoredEntry {
  term: number;
  type: EntryType;
  data: Uint8Array;
  crc: number;
}

function entryKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = ENTRY_TAG;
  key.writeBigUInt64BE(BigInt(index), 1);
  return key;
}

function entryChecksum(index: number, term: number, type: EntryType, data: Uint8Array): number {
  const head = Buffer.allocUnsafe(17);
  head.writeBigUInt64BE(BigInt(index), 0);
  head.writeBigUInt64BE(BigInt(term), 8);
  head[16] = type === 'normal' ? 1 : type === 'confChange' ? 2 : 3;
  return crc32c(data, crc32c(head));
}

// The snapshot record: where the snapshot stands and its file's size and CRC32C (the bytes live in
// a file, snapshot-files.ts), with a CRC32C of the record itself.
function snapshotChecksum(snapshot: Snapshot): number {
  const { meta, sizeBytes, checksum } = snapshot;
  return crc32c(Buffer.from(JSON.stringify({ meta, sizeBytes, checksum })));
}

// Records written before snapshots became files held the bytes inline.
function legacySnapshotChecksum(meta: Snapshot['meta'], data: Uint8Array): number {
  return crc32c(data, crc32c(Buffer.from(JSON.stringify(meta))));
}

// Entries a compaction leaves behind are removed in batches of this many per call of
// removeCompacted(), so dropping a long log never holds the event loop in one transaction.
export const COMPACTED_REMOVAL_BATCH_ENTRIES = 1024;

export class RaftStore {
  private readonly db: Database<any, Buffer>;
  private firstIndex = 1; // first entry after the snapshot
  private lastIndex = 0;
  // Entries in [compactedFrom, firstIndex) are covered by the snapshot but still on disk.
  private compactedFrom = 1;
  // The newest hard state of a commit-only Ready, not yet on disk (persist()).
  private unsyncedHardState: HardState | undefined;

  private constructor(db: Database<any, Buffer>) {
    this.db = db;
  }

  static open(path: string): RaftStore {
    const db = open<any, Buffer>({
      path,
      keyEncoding: 'binary',
      compression: false,
      overlappingSync: false,
    });
    return new RaftStore(db);
  }

  // The node id this store belongs to: a data directory never changes identity.
  claimNodeId(nodeId: number): void {
    const stored = this.db.get(KEY_NODE_ID) as number | undefined;
    if (stored !== undefined && stored !== nodeId) {
      throw new StrataError(
        'EINVAL',
        `this data directory belongs to metadata node ${stored}, not ${nodeId} (node.id)`,
      );
    }
    if (stored === undefined) this.db.transactionSync(() => this.db.putSync(KEY_NODE_ID, nodeId));
  }

  isEmpty(): boolean {
    return this.db.get(KEY_HARD_STATE) === undefined;
  }

  // Everything Raft needs to restart. The entries come lazily, one at a time as the core takes
  // them, each checksum verified before it is handed over: a long log since the snapshot is never
  // in memory at once (the core keeps only its tail). The indexes are known at once from the
  // first and last keys.
  load(): PersistedState {
    const hardState = (this.db.get(KEY_HARD_STATE) as HardState | undefined) ?? {
      term: 0,
      vote: 0,
      commit: 0,
    };
    const snapshot = this.readSnapshot();
    const range = { start: entryKey(0), end: Buffer.of(ENTRY_TAG + 1), limit: 1 };
    const [first] = [...this.db.getKeys(range)] as Buffer[];
    const [last] = [
      ...this.db.getKeys({ ...range, reverse: true, start: range.end, end: range.start }),
    ] as Buffer[];
    const firstStored = first === undefined ? undefined : Number(first.readBigUInt64BE(1));
    const lastStored = last === undefined ? undefined : Number(last.readBigUInt64BE(1));
    this.firstIndex = snapshot.meta.index + 1;
    this.lastIndex = Math.max(snapshot.meta.index, lastStored ?? 0);
    // Compacted entries whose removal a crash interrupted are skipped, and removed later.
    this.compactedFrom = Math.min(this.firstIndex, firstStored ?? this.firstIndex);
    return { hardState, snapshot, entries: this.storedEntries(this.firstIndex, this.lastIndex) };
  }

  // Entries [from, to] as stored, checked: a bad checksum or a gap stops the reader with EIO.
  private *storedEntries(from: number, to: number): Generator<Entry> {
    let expected = from;
    for (const { key, value } of this.db.getRange({
      start: entryKey(from),
      end: entryKey(to + 1),
    })) {
      const index = Number((key as Buffer).readBigUInt64BE(1));
      const stored = value as StoredEntry;
      const data = new Uint8Array(stored.data);
      if (entryChecksum(index, stored.term, stored.type, data) !== stored.crc) {
        throw new StrataError(
          'EIO',
          `raft log entry ${index} fails its checksum: the disk returned different bytes than ` +
            'were written; refusing to start rather than serve possibly wrong state',
        );
      }
      if (index !== expected)
        throw new StrataError('EIO', `raft log has a gap: entry ${index} after ${expected - 1}`);
      yield { index, term: stored.term, type: stored.type, data };
      expected++;
    }
    if (expected !== to + 1)
      throw new StrataError('EIO', `raft log has a gap: it ends at ${expected - 1}, not ${to}`);
  }

  // The last index in the log (the snapshot's when no entry follows it).
  lastStoredIndex(): number {
    return this.lastIndex;
  }

  // Writes a Ready's snapshot, entries and hard state in one durable transaction. The indexes
  // kept in memory change only once it has committed: a write that fails (a full disk) leaves the
  // store as it was, to be retried with the same Ready.
  // A Ready that only moves the commit index (mustSync false) is not written at all: the commit
  // index is volatile in Raft (§5.3, Figure 2) and every member learns it again from its leader,
  // so its hard state waits in memory for the next durable write (or close). Writing it would cost
  // a second fsync per command on a leader (one for the entry, one for the commit), as etcd's
  // MustSync notes. A restart may then find a commit index behind what the state machine applied;
  // the replica starts from the higher of the two (entries are applied only once committed).
  persist(ready: Pick<Ready, 'snapshot' | 'entries' | 'hardState'> & { mustSync?: boolean }): void {
    if (ready.mustSync === false && !ready.snapshot && ready.entries.length === 0) {
      if (ready.hardState) this.unsyncedHardState = ready.hardState;
      return;
    }
    const hardState = ready.hardState ?? this.unsyncedHardState;
    let firstIndex = this.firstIndex;
    let lastIndex = this.lastIndex;
    let compactedFrom = this.compactedFrom;
    this.db.transactionSync(() => {
      if (ready.snapshot) {
        // The snapshot replaces the whole log: entries past it go now (a follower's conflicting
        // tail, short), the ones it covers in batches (removeCompacted).
        const index = ready.snapshot.meta.index;
        this.writeSnapshot(ready.snapshot);
        this.removeEntries(Math.max(firstIndex, index + 1), lastIndex);
        compactedFrom = Math.min(compactedFrom, firstIndex);
        firstIndex = index + 1;
        lastIndex = index;
      }
      if (ready.entries.length > 0) {
        const first = ready.entries[0].index;
        assert(first >= firstIndex && first <= lastIndex + 1, `log gap at ${first}`);
        // An entry replaces whatever was at its index and everything after it.
        this.removeEntries(first, lastIndex);
        for (const entry of ready.entries) {
          const stored: StoredEntry = {
            term: entry.term,
            type: entry.type,
            data: entry.data,
            crc: entryChecksum(entry.index, entry.term, entry.type, entry.data),
          };
          this.db.putSync(entryKey(entry.index), stored);
        }
        lastIndex = ready.entries[ready.entries.length - 1].index;
      }
      if (hardState) this.db.putSync(KEY_HARD_STATE, hardState);
    });
    this.unsyncedHardState = undefined;
    this.firstIndex = firstIndex;
    this.lastIndex = lastIndex;
    this.compactedFrom = compactedFrom;
  }

  // Log compaction: the snapshot (its file is durable already) replaces the entries it covers,
  // so a restart whose state machine lags starts from it. The covered entries are removed later,
  // in bounded batches (removeCompacted); load() skips them meanwhile.
  compact(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    assert(index >= this.firstIndex - 1 && index <= this.lastIndex, `compaction point ${index}`);
    this.db.transactionSync(() => this.writeSnapshot(snapshot));
    this.firstIndex = index + 1;
  }

  // Removes up to maxEntries entries that a snapshot covers; returns whether any remain.
  // The keys are found by a range scan, so a snapshot far ahead of a follower's log (indexes it
  // never held) costs nothing.
  removeCompacted(maxEntries = COMPACTED_REMOVAL_BATCH_ENTRIES): boolean {
    if (this.compactedFrom >= this.firstIndex) return false;
    const keys = [
      ...this.db.getKeys({
        start: entryKey(this.compactedFrom),
        end: entryKey(this.firstIndex),
        limit: maxEntries,
      }),
    ] as Buffer[];
    if (keys.length > 0)
      this.db.transactionSync(() => {
        for (const key of keys) this.db.removeSync(key);
      });
    const last = keys.length > 0 ? Number(keys[keys.length - 1].readBigUInt64BE(1)) : 0;
    this.compactedFrom = keys.length < maxEntries ? this.firstIndex : last + 1;
    return this.compactedFrom < this.firstIndex;
  }

  // The Raft core's LogStorage: entries [lo, hi) it evicted from memory, read back for a lagging
  // follower, at most maxCount and maxBytes (at least one). Checked like load() checks them.
  entries(lo: number, hi: number, maxCount: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex && hi <= this.lastIndex + 1, `entries [${lo}, ${hi}) not stored`);
    const out: Entry[] = [];
    let bytes = 0;
    for (const { key, value } of this.db.getRange({ start: entryKey(lo), end: entryKey(hi) })) {
      const index = Number((key as Buffer).readBigUInt64BE(1));
      const stored = value as StoredEntry;
      // A copy: lmdb's buffers are reused by the next read.
      const data = new Uint8Array(stored.data);
      if (entryChecksum(index, stored.term, stored.type, data) !== stored.crc) {
        throw new StrataError('EIO', `raft log entry ${index} fails its checksum on read`);
      }
      assert(index === lo + out.length, `raft log has a gap at ${lo + out.length}`);
      bytes += data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push({ index, term: stored.term, type: stored.type, data });
      if (out.length >= maxCount) break;
    }
    return out;
  }

  // Entries on disk, the compacted ones not yet removed included (a scan: for tests).
  storedEntryCount(): number {
    return this.db.getKeysCount({ start: entryKey(0), end: Buffer.of(ENTRY_TAG + 1) });
  }

  // A snapshot is stored with a CRC32C of its metadata and data, checked when it is read back.
  private writeSnapshot(snapshot: Snapshot): void {
    const { meta, sizeBytes, checksum } = snapshot;
    this.db.putSync(KEY_SNAPSHOT, { meta, sizeBytes, checksum, crc: snapshotChecksum(snapshot) });
  }

  private readSnapshot(): Snapshot {
    const stored = this.db.get(KEY_SNAPSHOT) as
      | (Snapshot & { crc: number; data?: Uint8Array })
      | undefined;
    if (stored === undefined) return emptySnapshot();
    const snapshot: Snapshot = {
      meta: stored.meta,
      sizeBytes: stored.sizeBytes ?? 0,
      checksum: stored.checksum ?? 0,
    };
    // A record from before snapshots were files: its meta stands; a file is taken when needed.
    const crc =
      stored.data === undefined
        ? snapshotChecksum(snapshot)
        : legacySnapshotChecksum(stored.meta, new Uint8Array(stored.data));
    if (crc !== stored.crc) {
      throw new StrataError(
        'EIO',
        `the raft snapshot at index ${stored.meta.index} fails its checksum; refusing to start ` +
          'rather than serve possibly wrong state',
      );
    }
    return snapshot;
  }

  private removeEntries(from: number, to: number): void {
    for (let index = from; index <= to; index++) this.db.removeSync(entryKey(index));
  }

  async close(): Promise<void> {
    // A clean stop keeps the commit index it reached.
    const hardState = this.unsyncedHardState;
    if (hardState) this.db.transactionSync(() => this.db.putSync(KEY_HARD_STATE, hardState));
    this.unsyncedHardState = undefined;
    await this.db.close();
  }
}
