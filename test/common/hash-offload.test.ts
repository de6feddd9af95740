import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { isStrataError } from '../../src/common/errors.ts';
import {
  type HashAlgorithm,
  OffloadedHash,
  SEGMENT_BYTES,
  SEGMENTS_MAX,
  terminateHashThreads,
} from '../../src/common/hash-offload.ts';
import { crc32cTable } from '../helpers/crc32c-table.ts';

// `bytes` cut into chunks of 1 byte to 200 KiB (a seeded walk, so a failure replays).
function chunked(bytes: Buffer, seed: number): Buffer[] {
  const chunks: Buffer[] = [];
  let state = seed;
  for (let at = 0; at < bytes.length; ) {
    state = (state * 1_103_515_245 + 12_345) >>> 0;
    const size = 1 + (state % (200 * 1024));
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

async function offloadedAll(algorithms: HashAlgorithm[], chunks: Buffer[]): Promise<Buffer[]> {
  const hash = new OffloadedHash(algorithms);
  for (const chunk of chunks) await hash.update(chunk);
  return hash.digest();
}

async function offloaded(algorithm: HashAlgorithm, chunks: Buffer[]): Promise<Buffer> {
  const [digest] = await offloadedAll([algorithm], chunks);
  return digest;
}

const bigEndian = (value: number) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
};

// The oracles: node:crypto's digests, node:zlib's CRC32, the table CRC32C in JavaScript.
const expected = (algorithm: HashAlgorithm, bytes: Buffer) =>
  algorithm === 'crc32'
    ? bigEndian(crc32(bytes))
    : algorithm === 'crc32c'
      ? bigEndian(crc32cTable(bytes))
      : createHash(algorithm).update(bytes).digest();

describe('hashes on a thread of their own', () => {
  test('the digest is node:crypto’s at every size around the segment, for MD5 and SHA-256', async () => {
    const sizes = [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 5.5 * SEGMENT_BYTES];
    for (const algorithm of ['md5', 'sha256'] as const) {
      for (const [i, size] of sizes.entries()) {
        const bytes = randomBytes(size);
        const digest = await offloaded(algorithm, chunked(bytes, i + 1));
        assert.ok(digest.equals(expected(algorithm, bytes)), `${algorithm} of ${size} bytes`);
      }
    }
  });

  test('one session runs every algorithm over the body, digests in the order asked, at every size', async () => {
    const algorithms: HashAlgorithm[] = ['sha256', 'crc32', 'md5', 'crc32c', 'sha1'];
    const sizes = [0, 7, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3.25 * SEGMENT_BYTES];
    // Two bodies at once, so MD5 runs in the SIMD lanes as well as alone.
    for (const [i, size] of sizes.entries()) {
      const bodies = [randomBytes(size), randomBytes(size + 3)];
      const digests = await Promise.all(
        bodies.map((bytes, b) => offloadedAll(algorithms, chunked(bytes, 10 * i + b + 1))),
      );
      for (const [b, bytes] of bodies.entries())
        for (const [a, algorithm] of algorithms.entries())
          assert.ok(
            digests[b][a].equals(expected(algorithm, bytes)),
            `${algorithm} of body ${b} (${bytes.length} bytes)`,
          );
    }
  });

  test('more large bodies at once than there are segments all finish, each with its own digest', async () => {
    // 24 bodies of 3 MiB need 72 segments over their lifetimes and 32 exist: updates wait for
    // segments the thread gives back, and bodies abandoned halfway give theirs back too.
    const bodies = Array.from({ length: 24 }, (_, i) => randomBytes(3 * SEGMENT_BYTES + i));
    const abandoned = Array.from({ length: 8 }, async (_, i) => {
      const hash = new OffloadedHash(['md5']);
      for (const chunk of chunked(bodies[i], 100 + i).slice(0, 20)) await hash.update(chunk);
      hash.abort();
    });
    const digests = await Promise.all(
      bodies.map((bytes, i) => offloaded(i % 2 === 0 ? 'md5' : 'sha256', chunked(bytes, i))),
    );
    await Promise.all(abandoned);
    for (const [i, digest] of digests.entries())
      assert.ok(digest.equals(expected(i % 2 === 0 ? 'md5' : 'sha256', bodies[i])), `body ${i}`);
    // Every segment came back: a body that needs them all still finishes.
    const big = randomBytes(40 * SEGMENT_BYTES);
    assert.ok((await offloaded('sha256', chunked(big, 7))).equals(expected('sha256', big)));
  });

  test('a body that finds every segment taken at its start is hashed on the calling thread', async () => {
    // Each started hash holds a segment until its digest; the next one finds none (were it to
    // wait for one, it would wait forever: the holders give theirs back only after it).
    const holders = Array.from({ length: SEGMENTS_MAX }, () => new OffloadedHash(['sha256']));
    for (const holder of holders) await holder.update(Buffer.from('x'));
    const late = randomBytes(3 * SEGMENT_BYTES);
    const lateDigest = offloaded('md5', chunked(late, 3));
    assert.ok((await lateDigest).equals(expected('md5', late)));
    for (const holder of holders)
      assert.ok((await holder.digest())[0].equals(expected('sha256', Buffer.from('x'))));
  });

  test('a hashing thread that dies fails the bodies on it, and the next body hashes on a new one', async () => {
    const body = randomBytes(4 * SEGMENT_BYTES);
    const dying = new OffloadedHash(['sha256']);
    await dying.update(body.subarray(0, 2 * SEGMENT_BYTES)); // on the thread by now
    await terminateHashThreads();
    await assert.rejects(
      (async () => {
        await dying.update(body.subarray(2 * SEGMENT_BYTES));
        return dying.digest();
      })(),
      (error: Error) => isStrataError(error, 'EIO') && /exited/.test(error.message),
    );
    assert.ok((await offloaded('sha256', chunked(body, 9))).equals(expected('sha256', body)));
  });
});
