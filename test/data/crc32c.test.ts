import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { crc32c } from '../../src/data/crc32c.ts';
import { crc32cTable } from '../helpers/crc32c-table.ts';

// One bit at a time, straight from the definition: the JavaScript tables must agree with it.
function crc32cBitwise(data: Uint8Array, initial = 0): number {
  let crc = ~initial >>> 0;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('CRC32C', () => {
  test('known vectors (RFC 3720 B.4, the "123456789" check value)', () => {
    const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const descending = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(ascending), 0x46dd794e);
    assert.equal(crc32c(descending), 0x113fdb5c);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(Buffer.from('a')), 0xc1d04330);
  });

  test('a running value continues the CRC across any cut', () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
    for (const cut of [0, 1, 3, 64, 999, 1000]) {
      assert.equal(
        crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))),
        crc32c(data),
        `cut ${cut}`,
      );
    }
  });

  test('the JavaScript table agrees with the bitwise definition at any alignment', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 600 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (bytes, shift, initial) => {
          // Copy into a larger buffer at `shift`, so the word-reading path starts unaligned.
          const backing = new Uint8Array(bytes.length + 8);
          backing.set(bytes, shift);
          const view = backing.subarray(shift, shift + bytes.length);
          assert.equal(crc32cTable(view, initial), crc32cBitwise(bytes, initial));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('native agrees with the JavaScript table: any bytes, alignment and running value', () => {
    fc.assert(
      fc.property(
        // Up to 70 KiB: past a shard block (64 KiB), odd sizes and empty ones included.
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 17 }),
          fc.uint8Array({ minLength: 0, maxLength: 70 * 1024 }),
        ),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (bytes, shift, initial) => {
          const backing = new Uint8Array(bytes.length + 16);
          backing.set(bytes, shift);
          const view = backing.subarray(shift, shift + bytes.length);
          assert.equal(crc32c(view, initial), crc32cTable(bytes, initial));
          assert.equal(crc32c(Buffer.from(bytes), initial), crc32cTable(bytes, initial));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('native chaining over random cuts equals one pass and the table chained alike', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 4096 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (bytes, rawCuts, initial) => {
          const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort(
            (a, b) => a - b,
          );
          let native = initial;
          let table = initial;
          let from = 0;
          for (const to of [...cuts, bytes.length]) {
            native = crc32c(bytes.subarray(from, to), native);
            table = crc32cTable(bytes.subarray(from, to), table);
            from = to;
          }
          assert.equal(native, crc32c(bytes, initial));
          assert.equal(native, table);
        },
      ),
      { numRuns: 300 },
    );
  });
});
