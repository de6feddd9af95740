// The checksum hashers: known vectors, and incremental updates equal to one-shot digests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import {
  type ChecksumAlgorithm,
  checksumBase64,
  createHasher,
  decodeDeclaredChecksum,
} from '../../src/auth/checksums.ts';

const check = Buffer.from('123456789');

test('CRC32 and CRC32C of "123456789" are the catalogued check values, big-endian base64', () => {
  assert.equal(checksumBase64('CRC32', check), Buffer.from('cbf43926', 'hex').toString('base64'));
  assert.equal(checksumBase64('CRC32C', check), Buffer.from('e3069283', 'hex').toString('base64'));
});

test("CRC32C of AWS's 66560-byte example object is the documented sOO8/Q==", () => {
  assert.equal(checksumBase64('CRC32C', Buffer.alloc(66560, 'a')), 'sOO8/Q==');
});

test('SHA1, SHA256 and MD5 of the empty payload are the well-known digests', () => {
  const empty = Buffer.alloc(0);
  assert.equal(checksumBase64('SHA1', empty), '2jmj7l5rSw0yVb/vlWAYkK/YBwk=');
  assert.equal(checksumBase64('SHA256', empty), '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  assert.equal(checksumBase64('MD5', empty), '1B2M2Y8AsgTpgAmY7PhCfg==');
  assert.equal(checksumBase64('CRC32', empty), 'AAAAAA==');
});

test("CRC32 is node:zlib's CRC32 (the oracle; the hasher uses @node-rs/crc32's)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 70_000 }), (data) => {
      const expected = Buffer.alloc(4);
      expected.writeUInt32BE(zlibCrc32(data) >>> 0);
      assert.equal(checksumBase64('CRC32', data), expected.toString('base64'));
    }),
    { numRuns: 200 },
  );
});

test('every hasher gives the same digest however the data is split', () => {
  const algorithms: ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'MD5'];
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.nat({ max: 3000 }), { maxLength: 8 }),
      (data, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        for (const algorithm of algorithms) {
          const hasher = createHasher(algorithm);
          let from = 0;
          for (const to of [...points, data.length]) {
            hasher.update(data.subarray(from, to));
            from = to;
          }
          assert.equal(hasher.digest().toString('base64'), checksumBase64(algorithm, data));
        }
      },
    ),
  );
});

test('declared values must be canonical base64 of the digest size', () => {
  assert.ok(decodeDeclaredChecksum('CRC32', 'y/Q5Jg=='));
  assert.equal(decodeDeclaredChecksum('CRC32', 'y/Q5Jg'), undefined, 'unpadded');
  assert.equal(decodeDeclaredChecksum('CRC32', 'y/Q5Jgaa'), undefined, 'six bytes');
  assert.equal(decodeDeclaredChecksum('SHA256', 'y/Q5Jg=='), undefined, 'too short');
  assert.equal(decodeDeclaredChecksum('MD5', '1B2M2Y8AsgTpgAmY7PhCfg=!'), undefined);
});
