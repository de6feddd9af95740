// The in-memory log's bound: applied, persisted entries beyond the tail leave memory and are read
// back from storage; terms, byte counts and membership changes stay exact. A seeded model check
// against a plain array, and the cases by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Entry, type LogStorage, RaftLog, SeededPrng } from '../../src/raft/index.ts';

// The driver's disk: whatever was persisted, with a count of reads.
class MemoryStorage implements LogStorage {
  readonly byIndex = new Map<number, Entry>();
  reads = 0;
  entries(lo: number, hi: number, maxCount: number, maxBytes: number): Entry[] {
    this.reads++;
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi && out.length < maxCount; index++) {
      const entry = this.byIndex.get(index);
      assert.ok(entry, `entry ${index} read but never persisted`);
      bytes += entry.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }
}

function entry(index: number, term: number, size = 10): Entry {
  return { index, term, type: 'normal', data: new Uint8Array(size).fill(index & 0xff) };
}

// The driver's side of a Ready: persist the unstable entries, apply the committed ones, advance.
function persistAndApply(log: RaftLog, storage: MemoryStorage): void {
  for (const e of log.unstableEntries()) storage.byIndex.set(e.index, e);
  log.unstableFrom = log.lastIndex() + 1;
  log.applying = log.committed;
  log.applied = log.committed;
  log.evict();
}

test('entries behind the in-memory tail are read from storage, with their terms', () => {
  const storage = new MemoryStorage();
  const log = new RaftLog({ storage, maxEntries: 4, maxBytes: 1 << 20 });
  log.append(Array.from({ length: 20 }, (_, i) => entry(i + 1, i < 10 ? 1 : 2)));
  log.commitTo(20);
  persistAndApply(log, storage);
  assert.equal(log.memoryUse().entries, 4, 'only the tail stays');
  assert.equal(log.term(3), 1, 'terms need no read');
  assert.equal(log.term(15), 2);
  assert.equal(storage.reads, 0);
  assert.deepEqual(log.entry(5), storage.byIndex.get(5));
  assert.equal(storage.reads, 1, 'an evicted entry comes from storage');
  const slice = log.slice(10, 21, 100);
  assert.deepEqual(
    slice.map((e) => e.index),
    [10, 11, 12, 13, 14, 15, 16],
    'a slice from storage stops where the tail starts',
  );
  assert.deepEqual(
    log.slice(17, 21).map((e) => e.index),
    [17, 18, 19, 20],
  );
  assert.equal(log.bytesAfterSnapshot(), 200, 'byte count covers evicted entries');
});

test('the byte bound evicts too, and nothing unapplied or unpersisted leaves memory', () => {
  const storage = new MemoryStorage();
  const log = new RaftLog({ storage, maxEntries: 1000, maxBytes: 50 });
  log.append(Array.from({ length: 10 }, (_, i) => entry(i + 1, 1)));
  log.evict();
  assert.equal(log.memoryUse().entries, 10, 'nothing persisted or applied yet');
  for (const e of log.unstableEntries()) storage.byIndex.set(e.index, e);
  log.unstableFrom = 11;
  log.evict();
  assert.equal(log.memoryUse().entries, 10, 'persisted but not applied');
  log.commitTo(8);
  persistAndApply(log, storage);
  assert.deepEqual(log.memoryUse(), { entries: 5, bytes: 50 });
  assert.equal(log.slice(9, 11).length, 2, 'unapplied entries are in memory');
});

test('compaction behind the tail drops the evicted entries, their terms and bytes', () => {
  const storage = new MemoryStorage();
  const log = new RaftLog({ storage, maxEntries: 2, maxBytes: 1 << 20 });
  log.append([entry(1, 1), entry(2, 1), entry(3, 2, 30), entry(4, 3), entry(5, 3), entry(6, 3)]);
  log.commitTo(6);
  persistAndApply(log, storage);
  log.compact(3);
  assert.equal(log.snapshotTerm, 2);
  assert.equal(log.term(3), 2);
  assert.equal(log.term(2), undefined);
  assert.equal(log.term(4), 3);
  assert.equal(log.bytesAfterSnapshot(), 30);
  assert.deepEqual(log.entry(4), storage.byIndex.get(4));
  log.compact(6);
  assert.equal(log.bytesAfterSnapshot(), 0);
  assert.equal(log.lastTerm(), 3);
  log.append([entry(7, 4)]);
  assert.equal(log.term(7), 4);
});

test('membership changes stay known after their entries leave memory', () => {
  const storage = new MemoryStorage();
  const log = new RaftLog({ storage, maxEntries: 0, maxBytes: 0 });
  const change: Entry = { index: 2, term: 1, type: 'confChange', data: new Uint8Array([1]) };
  log.append([entry(1, 1), change, entry(3, 1)]);
  log.commitTo(3);
  persistAndApply(log, storage);
  assert.equal(log.memoryUse().entries, 0);
  assert.deepEqual(log.confChangesAfterSnapshot(), [change]);
  log.compact(2);
  assert.deepEqual(log.confChangesAfterSnapshot(), []);
});

// A seeded run of appends (with term changes and follower truncations), commits, Readies and
// compactions; after each step every index's term and entry, the byte count and the memory bound
// agree with a plain array of everything.
test('seeded: the bounded log answers like the unbounded one', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const prng = new SeededPrng(seed);
    const storage = new MemoryStorage();
    const maxEntries = prng.pick([0, 1, 3, 16]);
    const maxBytes = prng.pick([0, 40, 1 << 20]);
    const log = new RaftLog({ storage, maxEntries, maxBytes });
    let model: Entry[] = []; // entries after model's snapshot
    let snapshotIndex = 0;
    let term = 1;
    for (let step = 0; step < 200; step++) {
      const op = prng.nextInt(10);
      if (op < 4) {
        if (prng.chance(0.1)) term++;
        const count = 1 + prng.nextInt(4);
        const fresh = Array.from({ length: count }, (_, i) =>
          entry(log.lastIndex() + 1 + i, term, prng.nextInt(30)),
        );
        log.append(fresh);
        model.push(...fresh);
      } else if (op < 5 && log.lastIndex() > log.committed) {
        // A new leader's entries replace the uncommitted suffix (always in memory).
        term++;
        const from = log.committed + 1 + prng.nextInt(log.lastIndex() - log.committed);
        const replacement = [entry(from, term, prng.nextInt(30))];
        log.appendAfterMatch(replacement);
        model = model.slice(0, from - snapshotIndex - 1).concat(replacement);
        for (const index of [...storage.byIndex.keys()])
          if (index >= from) storage.byIndex.delete(index);
      } else if (op < 8) {
        log.commitTo(log.committed + prng.nextInt(log.lastIndex() - log.committed + 1));
        persistAndApply(log, storage);
      } else if (log.applied > snapshotIndex) {
        const index = snapshotIndex + 1 + prng.nextInt(log.applied - snapshotIndex);
        log.compact(index);
        model = model.slice(index - snapshotIndex);
        snapshotIndex = index;
        for (const key of [...storage.byIndex.keys()])
          if (key <= index) storage.byIndex.delete(key);
      }
      const where = `seed ${seed} step ${step}`;
      assert.equal(log.lastIndex(), snapshotIndex + model.length, where);
      assert.equal(
        log.bytesAfterSnapshot(),
        model.reduce((sum, e) => sum + e.data.byteLength, 0),
        where,
      );
      for (const e of model) {
        assert.equal(log.term(e.index), e.term, `${where}: term ${e.index}`);
        assert.deepEqual(log.entry(e.index), e, `${where}: entry ${e.index}`);
      }
      const { entries, bytes } = log.memoryUse();
      if (op >= 5 && op < 8) {
        // Right after a Ready: within both bounds, or all that is left is not applied yet.
        const unevictable = log.lastIndex() - log.applied;
        assert.ok(
          (entries <= maxEntries && bytes <= maxBytes) || entries <= unevictable,
          `${where}: ${entries} entries, ${bytes} bytes in memory`,
        );
      }
      assert.ok(entries <= model.length, where);
    }
    assert.ok(maxEntries > 16 || storage.reads > 0, `seed ${seed} never read from storage`);
  }
});
