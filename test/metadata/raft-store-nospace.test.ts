// A Raft log write that fails for lack of space is never acknowledged and can be retried with the
// same Ready once space is back (the replica's NOSPACE path, disk-space.ts): the store's
// in-memory log does not move, and after the retry, and a restart, the log is whole. The log
// lives on a small tmpfs (root only) that a filler file fills to the last block.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RaftStore } from '../../src/metadata/replication/raft-store.ts';
import type { Entry } from '../../src/raft/index.ts';
import { fillDisk } from '../helpers/disk.ts';
import { tempDir } from '../helpers/server.ts';

const isRoot = process.getuid?.() === 0;
const mounted: string[] = [];

after(() => {
  for (const disk of mounted) execFileSync('umount', ['-l', disk]);
});

const entry = (index: number): Entry => ({
  index,
  term: 1,
  type: 'normal',
  data: Buffer.alloc(16 * 1024, index % 251),
});

// A new segment that cannot be made (64 KiB segments), and zeros ahead of the data that cannot be
// written in the segment in use (8 MiB segments, 4 MiB written ahead at a time).
for (const { segmentBytes, tmpfsSize } of [
  { segmentBytes: 64 * 1024, tmpfsSize: '1m' },
  { segmentBytes: 8 * 1024 * 1024, tmpfsSize: '10m' },
]) {
  test(`a write that finds the disk full is refused with ENOSPC, changes nothing, and succeeds when retried (${segmentBytes} B segments)`, {
    skip: isRoot ? false : 'needs root to mount a small tmpfs',
  }, async () => {
    const disk = join(tempDir('strata-raft-nospace-'), 'disk');
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsSize}`, 'tmpfs', disk]);
    mounted.push(disk);
    const path = join(disk, 'raft-log');
    const store = RaftStore.open(path, { segmentBytes });
    await store.persist({ entries: [entry(1)], hardState: { term: 1, vote: 1, commit: 1 } });
    fillDisk(join(disk, 'filler'));
    // Appends go on inside the zeros written ahead, then a new segment needs space: ENOSPC.
    let index = 2;
    let refusal: NodeJS.ErrnoException | undefined;
    for (; index < 1000; index++) {
      const before = store.lastStoredIndex();
      try {
        await store.persist({ entries: [entry(index)] });
      } catch (error) {
        refusal = error as NodeJS.ErrnoException;
        assert.equal(store.lastStoredIndex(), before, 'a failed write changes nothing in memory');
        break;
      }
    }
    assert.equal(refusal?.code, 'ENOSPC', `the disk filled up (${refusal?.message})`);
    // Space is back: the same Ready is retried and goes through; the log goes on after it.
    rmSync(join(disk, 'filler'));
    await store.persist({ entries: [entry(index)] });
    await store.persist({
      entries: [entry(index + 1)],
      hardState: { term: 1, vote: 1, commit: 3 },
    });
    await store.close();
    const reopened = RaftStore.open(path, { segmentBytes });
    const state = reopened.load();
    const indexes = [...state.entries].map((e) => e.index);
    assert.deepEqual(
      indexes,
      Array.from({ length: index + 1 }, (_, i) => i + 1),
    );
    assert.deepEqual(state.hardState, { term: 1, vote: 1, commit: 3 });
    await reopened.close();
  });
}
