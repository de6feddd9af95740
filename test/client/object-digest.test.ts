// The whole-object check of a GET (src/client/object-digest.ts): which digest an object is checked
// against, and that damage anywhere in the bytes is refused before the chunk that completes the
// object goes out, however the read is cut into chunks. OBJECT_DIGEST_SEED=<n> replays one seed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  type DigestPlan,
  digestPlan,
  ObjectDigestMismatch,
  verifyWholeObject,
} from '../../src/client/object-digest.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { crc32c } from '../../src/data/crc32c.ts';
import type { ObjectMeta } from '../../src/metadata/types.ts';
import { crc32cTable } from '../helpers/crc32c-table.ts';
import { patternBytes } from '../helpers/s3.ts';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function meta(fields: Partial<ObjectMeta>): ObjectMeta {
  return { etag: '', userMeta: {}, ...fields };
}

// Cuts `bytes` into chunks of random lengths (a seeded generator: mulberry32).
function chunked(bytes: Buffer, seed: number): Buffer[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(next() * 300_000));
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

async function* stream(chunks: Buffer[]): AsyncIterable<Buffer> {
  for (const chunk of chunks) yield chunk;
}

// The chunks the check passed on before it threw (or all of them), and what it threw.
async function drain(chunks: Buffer[], plan: DigestPlan) {
  const out: Buffer[] = [];
  try {
    for await (const chunk of verifyWholeObject(stream(chunks), plan)) out.push(chunk);
    return { out: Buffer.concat(out), error: undefined };
  } catch (error) {
    return { out: Buffer.concat(out), error };
  }
}

test('a single-part object with a CRC32C taken beside its ETag is checked against the CRC', () => {
  const bytes = patternBytes(100_000, 3);
  const etag = md5(bytes);
  const object = meta({ etag, bytesCrc32c: { etag, crc32c: crc32c(bytes) } });
  assert.deepEqual(digestPlan(object, bytes.length), {
    kind: 'crc32c',
    etag,
    crc32c: crc32cTable(bytes),
    sizeBytes: bytes.length,
  });
});

test('an object without the CRC, or with one taken beside another ETag, is checked against its MD5', () => {
  const bytes = patternBytes(1000, 5);
  const etag = md5(bytes);
  const md5Plan = { kind: 'md5', etag, partSizes: [1000] };
  assert.deepEqual(digestPlan(meta({ etag }), 1000), md5Plan, 'written before the CRC');
  const stale = meta({ etag, bytesCrc32c: { etag: md5(Buffer.from('old')), crc32c: 7 } });
  assert.deepEqual(digestPlan(stale, 1000), md5Plan, 'a new etag, the old CRC carried along');
  const multipart = meta({ etag: `${'a'.repeat(32)}-2`, partSizes: [600, 400] });
  assert.deepEqual(digestPlan(multipart, 1000), {
    kind: 'md5',
    etag: multipart.etag,
    partSizes: [600, 400],
  });
  const written = { etag: '', bytesCrc32c: { etag: '', crc32c: 0 } };
  assert.equal(digestPlan(meta(written), 1000), undefined, 'no digest of the bytes (the mount)');
});

test('whole-object reads pass unchanged and one flipped byte anywhere is refused before the last chunk', async () => {
  const only = process.env.OBJECT_DIGEST_SEED;
  const seeds = only === undefined ? Array.from({ length: 40 }, (_, i) => i + 1) : [Number(only)];
  for (const seed of seeds) {
    const bytes = patternBytes(6 * 1024 * 1024 + seed * 977, seed);
    const etag = md5(bytes);
    const withCrc = meta({ etag, bytesCrc32c: { etag, crc32c: crc32c(bytes) } });
    const plans = [digestPlan(withCrc, bytes.length), digestPlan(meta({ etag }), bytes.length)];
    for (const plan of plans) {
      assert.ok(plan !== undefined);
      const label = `seed ${seed} (OBJECT_DIGEST_SEED=${seed}), ${plan.kind}`;
      const chunks = chunked(bytes, seed);
      const read = await drain(chunks, plan);
      assert.equal(read.error, undefined, label);
      assert.ok(read.out.equals(bytes), `${label}: the bytes pass unchanged`);
      const damaged = Buffer.from(bytes);
      const at = (seed * 104_729) % bytes.length;
      damaged[at] ^= 1 << (seed % 8);
      const bad = await drain(chunked(damaged, seed), plan);
      assert.ok(bad.error instanceof ObjectDigestMismatch, `${label}: refused`);
      assert.ok(isStrataError(bad.error, 'DATA_DAMAGED'), label);
      assert.ok(bad.out.length < bytes.length, `${label}: the last bytes held back`);
    }
  }
});

test('a read shorter than the object is an error, whichever digest', async () => {
  const bytes = patternBytes(5000, 9);
  const etag = md5(bytes);
  const withCrc = meta({ etag, bytesCrc32c: { etag, crc32c: crc32c(bytes) } });
  for (const plan of [digestPlan(withCrc, 5000), digestPlan(meta({ etag }), 5000)]) {
    assert.ok(plan !== undefined);
    const { error } = await drain([bytes.subarray(0, 4000)], plan);
    assert.ok(isStrataError(error, 'EIO'), `${plan.kind}: ${error}`);
  }
});

test('an empty object passes against either digest', async () => {
  const etag = md5(Buffer.alloc(0));
  const withCrc = meta({ etag, bytesCrc32c: { etag, crc32c: 0 } });
  for (const plan of [digestPlan(withCrc, 0), digestPlan(meta({ etag }), 0)]) {
    assert.ok(plan !== undefined);
    const read = await drain([], plan);
    assert.equal(read.error, undefined);
    assert.equal(read.out.length, 0);
  }
});
