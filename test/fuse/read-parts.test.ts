// Reads answered in parts: the slices of a read-ahead block, and the reply that carries them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeReply, OUT_HEADER_BYTES, REPLY_PARTS_MAX } from '../../src/fuse/protocol.ts';
import { sliceParts } from '../../src/fuse/read-ahead.ts';
import { SeededPrng } from '../../src/raft/prng.ts';

const SEEDS = process.env.READ_PARTS_SEED
  ? [Number(process.env.READ_PARTS_SEED)]
  : Array.from({ length: 200 }, (_, i) => i + 1);

test('the slices of parts are the bytes of the joined parts, none empty (READ_PARTS_SEED=<n> replays)', () => {
  for (const seed of SEEDS) {
    const prng = new SeededPrng(seed);
    const next = () => prng.next();
    const parts = Array.from({ length: 1 + Math.floor(next() * 6) }, (_, p) =>
      Buffer.from(
        Array.from({ length: 1 + Math.floor(next() * 40) }, (_, i) => (p * 50 + i) & 0xff),
      ),
    );
    const joined = Buffer.concat(parts);
    const from = Math.floor(next() * (joined.length + 1));
    const to = from + Math.floor(next() * (joined.length - from + 1));
    const out: Buffer[] = [];
    sliceParts(parts, from, to, out);
    assert.ok(Buffer.concat(out).equals(joined.subarray(from, to)), `seed ${seed}`);
    assert.ok(
      out.every((slice) => slice.length > 0),
      `seed ${seed}: no empty slice`,
    );
  }
});

test('a reply in parts carries them after its header, its length their sum; many parts are joined', () => {
  const parts = [Buffer.from('abc'), Buffer.alloc(0), Buffer.from('defgh')];
  const reply = encodeReply(7n, 0, parts);
  assert.equal(reply.length, 3, 'the header and the two parts that have bytes');
  assert.equal(reply[0].readUInt32LE(0), OUT_HEADER_BYTES + 8);
  assert.equal(reply[0].readBigUInt64LE(8), 7n);
  assert.equal(Buffer.concat(reply.slice(1)).toString(), 'abcdefgh');
  const many = Array.from({ length: REPLY_PARTS_MAX + 1 }, (_, i) => Buffer.from([i]));
  const joined = encodeReply(8n, 0, many);
  assert.equal(joined.length, 2, 'one write of at most IOV_MAX buffers: the parts joined');
  assert.equal(joined[0].readUInt32LE(0), OUT_HEADER_BYTES + many.length);
  assert.ok(joined[1].equals(Buffer.concat(many)));
  assert.equal(encodeReply(9n, 2).length, 1, 'an error: the header alone');
});
