// A PUT body's MD5 and CRC32C taken in the hashing session of its check (src/auth/body.ts with
// src/common/body-digests.ts), so the gateway copies its bytes to a hashing thread once: the
// digests are those of the bytes yielded, whatever else the session runs, and are set only for a
// body that passed every check.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { authenticate, unauthenticated } from '../../src/auth/authenticate.ts';
import { checksumBase64 } from '../../src/auth/checksums.ts';
import { BodyDigests } from '../../src/common/body-digests.ts';
import { SEGMENT_BYTES } from '../../src/common/hash-offload.ts';
import { crc32c } from '../../src/data/crc32c.ts';
import { drain, exampleOptions, fakeRequest, inPieces, urlOf } from './fake-request.ts';
import { signHeaders } from './sign.ts';

const host: [string, string] = ['Host', 'examplebucket.s3.amazonaws.com'];
const amzDate: [string, string] = ['x-amz-date', '20130524T000000Z'];

function put(payloadHash: string, extra: [string, string][]) {
  const headers: [string, string][] = [host, amzDate, ['x-amz-content-sha256', payloadHash]];
  const request = fakeRequest('PUT', '/photo.jpg', [
    ...signHeaders({
      method: 'PUT',
      target: '/photo.jpg',
      headers: [...headers, ...extra],
      payloadHash,
    }),
  ]);
  return authenticate(request, urlOf(request), exampleOptions());
}

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const expected = (b: Buffer) => ({
  md5Hex: createHash('md5').update(b).digest('hex'),
  crc32c: crc32c(b),
});

test('the MD5 and CRC32C of the bytes yielded, beside the signed payload hash and any declared checksum', async () => {
  const sizes = [0, 5, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES + 5];
  for (const size of sizes) {
    const payload = randomBytes(size);
    const pieces = Array.from({ length: Math.ceil(size / 65_536) }, (_, i) => 65_536 - (i % 3));
    const cases: Array<[string, [string, string][]]> = [
      ['signed payload', []],
      ['signed, CRC32 declared', [['x-amz-checksum-crc32', checksumBase64('CRC32', payload)]]],
      ['signed, Content-MD5', [['Content-MD5', checksumBase64('MD5', payload)]]],
      [
        'signed, CRC64NVME (off the thread)',
        [['x-amz-checksum-crc64nvme', checksumBase64('CRC64NVME', payload)]],
      ],
    ];
    for (const [name, extra] of cases) {
      const digests = new BodyDigests();
      const body = put(sha256Hex(payload), extra).body(inPieces(payload, pieces), digests);
      assert.deepEqual(await drain(body), payload, `${name}, ${size} bytes`);
      assert.deepEqual(digests.get(), expected(payload), `${name}, ${size} bytes`);
    }
    // UNSIGNED-PAYLOAD with nothing declared: the session runs the two digests alone.
    const digests = new BodyDigests();
    const body = put('UNSIGNED-PAYLOAD', []).body(inPieces(payload, pieces), digests);
    assert.deepEqual(await drain(body), payload);
    assert.deepEqual(digests.get(), expected(payload), `unsigned, ${size} bytes`);
  }
});

test('a body that fails its check never sets its digests', async () => {
  const payload = randomBytes(2 * SEGMENT_BYTES + 3);
  const failing: Array<[string, ReturnType<typeof put>]> = [
    ['payload hash of other bytes', put(sha256Hex(payload.subarray(1)), [])],
    [
      'a declared CRC32 of other bytes',
      put(sha256Hex(payload), [
        ['x-amz-checksum-crc32', checksumBase64('CRC32', payload.subarray(1))],
      ]),
    ],
  ];
  for (const [name, auth] of failing) {
    const digests = new BodyDigests();
    await assert.rejects(drain(auth.body(inPieces(payload, [65_536]), digests)), name);
    assert.throws(() => digests.get(), /hashed to its end/, name);
  }
});

test('a body no check reads (a POST form upload) is hashed on its way when digests are asked for', async () => {
  const payload = randomBytes(SEGMENT_BYTES * 2 + 17);
  const digests = new BodyDigests();
  const body = unauthenticated().body(inPieces(payload, [1000, 65_536]), digests);
  assert.deepEqual(await drain(body), payload);
  assert.deepEqual(digests.get(), expected(payload));
  // Without digests the body is passed as it is.
  const raw = inPieces(payload, []);
  assert.equal(unauthenticated().body(raw), raw);
});
