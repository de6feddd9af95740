// fsx (test/fuse/fsx/) checked against a local file system, where the kernel is the reference:
// the model agrees with ext4/tmpfs over thousands of random operations, one seed replays one
// run exactly, and a file system that silently loses a byte or a truncate is caught and reported
// with the seed, the operation and the bytes. The FUSE tests reuse runFsx on the mount path.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type FsxIo, FsxMismatchError, nodeFsIo, runFsx } from './fsx/checker.ts';
import { FileModel, MODEL_CHUNK_BYTES } from './fsx/model.ts';

const dir = mkdtempSync(join(tmpdir(), 'strata-fsx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('fsx model', () => {
  test('a write past the end leaves a hole of zeros and extends the size', () => {
    const model = new FileModel();
    model.write(10, Buffer.from([1, 2, 3]));
    assert.equal(model.sizeBytes, 13);
    assert.deepEqual([...model.read(0, 100)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
  });

  test('truncate down then up reads zeros where the old bytes were', () => {
    const model = new FileModel();
    model.write(0, Buffer.alloc(MODEL_CHUNK_BYTES * 2 + 5, 0xab));
    model.truncate(MODEL_CHUNK_BYTES + 7);
    model.truncate(MODEL_CHUNK_BYTES * 3);
    const bytes = model.read(0, MODEL_CHUNK_BYTES * 3);
    const kept = bytes.subarray(0, MODEL_CHUNK_BYTES + 7);
    assert(
      kept.every((b) => b === 0xab),
      'bytes below the cut are kept',
    );
    assert(
      bytes.subarray(kept.length).every((b) => b === 0),
      'bytes regrown past the cut are 0',
    );
  });

  test('a read past the end is short, and empty at or beyond the end', () => {
    const model = new FileModel();
    model.write(0, Buffer.from('hello'));
    assert.equal(model.read(3, 10).toString(), 'lo');
    assert.equal(model.read(5, 10).length, 0);
    assert.equal(model.read(2 ** 33, 10).length, 0);
  });

  test('a write beyond 4 GiB costs only its chunks and reads back', () => {
    const model = new FileModel();
    model.write(2 ** 32 + 3, Buffer.from('far'));
    assert.equal(model.sizeBytes, 2 ** 32 + 6);
    assert.equal(model.read(2 ** 32, 6).toString('latin1'), '\0\0\0far');
    model.truncate(0);
    assert.equal(model.sizeBytes, 0);
  });
});

describe('fsx against the local file system', () => {
  for (const seed of [1, 2, 3, 0xdeadbeef]) {
    test(`seed ${seed}: 2,000 operations match the model`, async () => {
      const result = await runFsx({ path: join(dir, `seed-${seed}`), seed, ops: 2_000 });
      assert.equal(result.ops, 2_000);
      const total = Object.values(result.counts).reduce((sum, count) => sum + count, 0);
      assert.equal(total, 2_000);
      for (const kind of ['writeSmall', 'readPastEof', 'truncate', 'append', 'reopen'] as const) {
        assert(result.counts[kind] > 0, `no ${kind} in 2,000 operations`);
      }
    });
  }

  test('big offsets: sparse writes beyond 4 GiB and truncates back match the model', async () => {
    const result = await runFsx({
      path: join(dir, 'big'),
      seed: 11,
      ops: 2_000,
      maxFileSize: 1024 * 1024,
      bigOffsets: true,
    });
    assert(result.counts.bigOffset > 0);
  });

  test('the same seed replays the same operations', async () => {
    const first = await runFsx({ path: join(dir, 'replay-a'), seed: 42, ops: 1_000 });
    const second = await runFsx({ path: join(dir, 'replay-b'), seed: 42, ops: 1_000 });
    assert.deepEqual(second.counts, first.counts);
    assert.equal(second.sizeBytes, first.sizeBytes);
  });
});

describe('fsx catches a broken file system', () => {
  test('a write that silently drops one byte is reported with seed, op and bytes', async () => {
    let writes = 0;
    let droppedAt = -1;
    const io: FsxIo = {
      ...nodeFsIo,
      async write(fd, data, position) {
        writes++;
        if (position === null || data.length < 3 || droppedAt >= 0 || writes < 50) {
          return nodeFsIo.write(fd, data, position);
        }
        // Both halves land, the byte between them never does; the caller is told all went well.
        const middle = data.length >> 1;
        droppedAt = position + middle;
        await nodeFsIo.write(fd, data.subarray(0, middle), position);
        await nodeFsIo.write(fd, data.subarray(middle + 1), droppedAt + 1);
        return data.length;
      },
    };
    const run = runFsx({ path: join(dir, 'dropped'), seed: 7, ops: 2_000, io });
    const error = await run.then(
      () => assert.fail('runFsx passed over a dropped byte'),
      (caught: unknown) => caught,
    );
    assert(error instanceof FsxMismatchError, `expected FsxMismatchError, got ${error}`);
    assert.equal(error.code, 'FSX_MISMATCH');
    assert.equal(error.seed, 7);
    assert.equal(error.offset, droppedAt);
    assert.match(error.message, /seed 7/);
    assert.match(error.message, /first differing byte at file offset/);
    assert.match(error.message, /expected: [0-9a-f ]+\n {2}actual: {3}[0-9a-f ]+/);
    assert.match(error.message, /reproduce: node scripts\/fsx.ts --dir <dir> --seed 7 --ops \d+/);
    assert.match(error.message, /last 20 operations/);
  });

  test('a truncate that is silently ignored is reported as a size mismatch', async () => {
    let truncates = 0;
    const io: FsxIo = {
      ...nodeFsIo,
      async ftruncate(fd, sizeBytes) {
        truncates++;
        if (truncates !== 5) await nodeFsIo.ftruncate(fd, sizeBytes);
      },
    };
    await assert.rejects(runFsx({ path: join(dir, 'lost-truncate'), seed: 8, ops: 2_000, io }), {
      code: 'FSX_MISMATCH',
      message: /size after truncate: fstat size \d+, expected \d+/,
    });
  });
});
