import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BufferPool, CAPACITY_STEP_BYTES, releaseOnce } from '../../src/common/buffer-pool.ts';

const MiB = 1024 * 1024;

describe('BufferPool', () => {
  test('a released buffer is handed out again for a size of its class', () => {
    const pool = new BufferPool({ idleBytesMax: 8 * MiB });
    const first = pool.acquire(MiB + 100);
    assert.equal(first.length, MiB + 100);
    pool.release(first);
    const again = pool.acquire(MiB + 64); // the same class: MiB + one step
    assert.equal(again.buffer, first.buffer);
    assert.equal(again.length, MiB + 64);
    const other = pool.acquire(MiB); // another class: a new allocation
    assert.notEqual(other.buffer, first.buffer);
    assert.deepEqual(pool.counts, { reused: 1, allocated: 2, out: 2 });
  });

  test('a buffer released twice fails; a release after the first is a no-op through releaseOnce', () => {
    const pool = new BufferPool({ idleBytesMax: 8 * MiB });
    const buffer = pool.acquire(MiB);
    pool.release(buffer.subarray(10)); // any view of it
    assert.throws(() => pool.release(buffer), /released twice/);
    const leased = pool.acquire(MiB);
    const release = releaseOnce(pool, leased);
    release();
    release();
    assert.equal(pool.counts.out, 0);
  });

  test('sizes outside the pooled range are plain allocations, and releasing them does nothing', () => {
    const pool = new BufferPool({ idleBytesMax: 8 * MiB, pooledBytesMax: 2 * MiB });
    const small = pool.acquire(CAPACITY_STEP_BYTES - 1);
    const large = pool.acquire(2 * MiB + 1);
    pool.release(small);
    pool.release(large);
    pool.release(Buffer.alloc(MiB)); // never the pool's
    assert.deepEqual(pool.counts, { reused: 0, allocated: 0, out: 0 });
    assert.equal(pool.idleBytes, 0);
  });

  test('idle buffers stay within idleBytesMax, other sizes dropped first', () => {
    const pool = new BufferPool({ idleBytesMax: 3 * MiB });
    const ones = [pool.acquire(MiB), pool.acquire(MiB), pool.acquire(MiB)];
    for (const b of ones) pool.release(b);
    assert.equal(pool.idleBytes, 3 * MiB);
    const two = pool.acquire(2 * MiB);
    pool.release(two); // room made by dropping two of the 1 MiB ones
    assert.equal(pool.idleBytes, 3 * MiB);
    assert.equal(pool.acquire(2 * MiB).buffer, two.buffer);
    const one = pool.acquire(MiB);
    assert.ok(
      ones.some((b) => b.buffer === one.buffer),
      'one 1 MiB buffer was kept',
    );
    assert.equal(pool.acquire(MiB).length, MiB); // the others were dropped: a new one
    assert.equal(pool.counts.allocated, 5);
  });

  test('poisonOnRelease overwrites a released buffer', () => {
    const pool = new BufferPool({ idleBytesMax: 8 * MiB });
    pool.poisonOnRelease = true;
    const buffer = pool.acquire(MiB);
    buffer.fill(1);
    pool.release(buffer);
    assert.ok(buffer.every((b) => b === 0xa5));
  });
});
