// The Raft store as it was kept before the segment log: an LMDB environment (<data_dir>/raft)
// with the node id ('i'), the hard state ('h'), the snapshot record ('n') and one key per entry
// ('e' + u64 index, a CRC32C of index, term, type and data beside it). Read once, at the first
// start of an upgraded member, to move its log into segments (raft-store.ts); every checksum is
// checked as the old store checked it, so a damaged log is refused rather than carried over.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, open } from 'lmdb';
import { StrataError } from '../../common/errors.ts';
import { crc32c } from '../../data/crc32c.ts';
import {
  type Entry,
  type EntryType,
  emptySnapshot,
  type HardState,
  type Snapshot,
} from '../../raft/index.ts';
import { entryChecksum, snapshotChecksum } from './wal-format.ts';

const ENTRY_TAG = 0x65;

interface StoredEntry {
  term: number;
  type: EntryType;
  data: Uint8Array;
  crc: number;
}

export interface LegacyRaftStore {
  nodeId: number | undefined;
  hardState: HardState | undefined;
  snapshot: Snapshot;
  // Entries after the snapshot, in order, each checked; a gap stops the reader with EIO.
  entries(): Generator<Entry>;
  close(): Promise<void>;
}

export function hasLegacyRaftStore(path: string): boolean {
  return existsSync(join(path, 'data.mdb'));
}

function entryKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = ENTRY_TAG;
  key.writeBigUInt64BE(BigInt(index), 1);
  return key;
}

export function openLegacyRaftStore(path: string): LegacyRaftStore {
  const db = open<any, Buffer>({ path, keyEncoding: 'binary', compression: false });
  const snapshot = readSnapshot(db);
  const last = [
    ...db.getKeys({ start: Buffer.of(ENTRY_TAG + 1), end: entryKey(0), reverse: true, limit: 1 }),
  ] as Buffer[];
  const lastIndex = Math.max(
    snapshot.meta.index,
    last[0] === undefined ? 0 : Number(last[0].readBigUInt64BE(1)),
  );
  return {
    nodeId: db.get(Buffer.from('i')) as number | undefined,
    hardState: db.get(Buffer.from('h')) as HardState | undefined,
    snapshot,
    entries: () => storedEntries(db, snapshot.meta.index + 1, lastIndex),
    close: () => db.close(),
  };
}

function* storedEntries(db: Database<any, Buffer>, from: number, to: number): Generator<Entry> {
  let expected = from;
  for (const { key, value } of db.getRange({ start: entryKey(from), end: entryKey(to + 1) })) {
    const index = Number((key as Buffer).readBigUInt64BE(1));
    const stored = value as StoredEntry;
    const data = new Uint8Array(stored.data);
    if (entryChecksum(index, stored.term, stored.type, data) !== stored.crc)
      throw new StrataError(
        'EIO',
        `the old raft store's entry ${index} fails its checksum; not migrating a damaged log`,
      );
    if (index !== expected)
      throw new StrataError(
        'EIO',
        `the old raft store has a gap: entry ${index} after ${expected - 1}`,
      );
    yield { index, term: stored.term, type: stored.type, data };
    expected++;
  }
  if (expected !== to + 1)
    throw new StrataError(
      'EIO',
      `the old raft store has a gap: it ends at ${expected - 1}, not ${to}`,
    );
}

function readSnapshot(db: Database<any, Buffer>): Snapshot {
  const stored = db.get(Buffer.from('n')) as
    | (Snapshot & { crc: number; data?: Uint8Array })
    | undefined;
  if (stored === undefined) return emptySnapshot();
  const snapshot: Snapshot = {
    meta: stored.meta,
    sizeBytes: stored.sizeBytes ?? 0,
    checksum: stored.checksum ?? 0,
  };
  // A record from before snapshots were files held the bytes inline: its meta stands, and a file
  // is taken when a follower needs one.
  const crc =
    stored.data === undefined
      ? snapshotChecksum(snapshot)
      : crc32c(new Uint8Array(stored.data), crc32c(Buffer.from(JSON.stringify(stored.meta))));
  if (crc !== stored.crc)
    throw new StrataError(
      'EIO',
      `the old raft store's snapshot at ${stored.meta.index} fails its checksum; not migrating`,
    );
  return snapshot;
}
