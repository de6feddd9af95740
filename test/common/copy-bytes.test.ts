// copyBytes against TypedArray.set, over every pairing of shared and unshared memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copyBytes } from '../../src/common/copy-bytes.ts';
import { SeededPrng } from '../../src/raft/prng.ts';

const SEEDS = process.env.COPY_BYTES_SEED
  ? [Number(process.env.COPY_BYTES_SEED)]
  : Array.from({ length: 200 }, (_, i) => i + 1);

const memory = (shared: boolean, bytes: number) =>
  shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);

test('copyBytes copies as set does, shared or not, at any offsets (COPY_BYTES_SEED=<n> replays)', () => {
  for (const seed of SEEDS) {
    const prng = new SeededPrng(seed);
    const int = (n: number) => Math.floor(prng.next() * n);
    const targetBytes = 1 + int(70_000);
    const targetOffset = int(64);
    const target = new Uint8Array(
      memory(int(2) === 1, targetBytes + 64),
      targetOffset,
      targetBytes,
    );
    const sourceBytes = int(targetBytes + 1);
    const source = new Uint8Array(memory(int(2) === 1, sourceBytes + 64), int(64), sourceBytes);
    for (let i = 0; i < source.length; i++) source[i] = int(256);
    for (let i = 0; i < target.length; i++) target[i] = int(256);
    const start = int(targetBytes - sourceBytes + 1);
    const expected = Uint8Array.from(target);
    expected.set(source, start);
    const before = new Uint8Array(target.buffer).slice(); // the memory around the view too
    assert.equal(copyBytes(target, start, source), sourceBytes, `seed ${seed}`);
    assert.deepEqual(target, expected, `seed ${seed}: the view`);
    const whole = new Uint8Array(target.buffer);
    for (let i = 0; i < whole.length; i++) {
      const inView = i >= targetOffset + start && i < targetOffset + start + sourceBytes;
      if (!inView) assert.equal(whole[i], before[i], `seed ${seed}: byte ${i} outside the copy`);
    }
  }
});

test('copyBytes refuses a copy past the target, and copies within one memory as set does', () => {
  const shared = new Uint8Array(new SharedArrayBuffer(16));
  assert.throws(() => copyBytes(shared, 10, new Uint8Array(7)), /7 bytes at 10 into 16/);
  assert.throws(() => copyBytes(shared, -1, new Uint8Array(1)));
  for (let i = 0; i < 16; i++) shared[i] = i;
  copyBytes(shared, 2, shared.subarray(0, 8)); // overlapping: memmove semantics
  assert.deepEqual([...shared], [0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15]);
});
