// The multi-stream MD5 (src/common/md5-lanes.ts) against node:crypto's, over seeded random
// interleavings of bodies: sizes around the block and padding boundaries and past a lane's
// buffer, lanes opened, fed, digested and dropped in any order. A failing seed replays with
// MD5_LANES_SEED=<seed>.
import assert from 'node:assert/strict';
import { createHash, type Hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { md5KernelWat } from '../../src/common/md5-kernel-source.ts';
import {
  CHUNK_BYTES,
  KERNEL_PAGES,
  LANES,
  Md5Lanes,
  POOL_CHUNKS,
} from '../../src/common/md5-lanes.ts';
import { assembleKernel } from '../../src/erasure/kernel-source.ts';

const LANE_BUFFER_BYTES = (CHUNK_BYTES * POOL_CHUNKS) / LANES;

import { seededRandom } from '../metadata/sm-helpers.ts';

describe('MD5 in SIMD lanes', () => {
  test('md5-kernel.wat and md5-kernel.wasm are what the generator builds', async () => {
    const wat = `${md5KernelWat(KERNEL_PAGES)}\n`;
    const at = (name: string) => new URL(`../../src/common/${name}`, import.meta.url);
    assert.equal(readFileSync(at('md5-kernel.wat'), 'utf8'), wat, 'stale: npm run build:md5');
    const built = Buffer.from(await assembleKernel(wat));
    assert.ok(built.equals(readFileSync(at('md5-kernel.wasm'))), 'md5-kernel.wasm differs');
  });

  test('single bodies at the block and padding boundaries, and past a lane buffer', () => {
    const lanes = new Md5Lanes();
    const random = seededRandom(7);
    const sizes = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, LANE_BUFFER_BYTES - 1];
    sizes.push(LANE_BUFFER_BYTES, LANE_BUFFER_BYTES + 1, 3 * LANE_BUFFER_BYTES + 77);
    for (const size of sizes) {
      const body = Buffer.from(Array.from({ length: size }, () => random(256)));
      const lane = lanes.open();
      assert.ok(lane !== undefined);
      lanes.update(lane, body);
      assert.equal(
        lanes.digest(lane).toString('hex'),
        createHash('md5').update(body).digest('hex'),
        `${size} bytes`,
      );
    }
  });

  test('eight bodies fed in turns, 1 MiB at a time, are hashed eight to a kernel call', () => {
    const lanes = new Md5Lanes();
    const bodies = Array.from({ length: LANES }, (_, i) => {
      const body = Buffer.alloc(16 * 1024 * 1024 + i * 1000);
      for (let at = 0; at < body.length; at += 4096) body[at] = (at / 4096 + i) & 0xff;
      return body;
    });
    const opened = bodies.map(() => lanes.open() as number);
    for (let at = 0; at < bodies[LANES - 1].length; at += 1024 * 1024)
      for (const [i, body] of bodies.entries())
        lanes.update(opened[i], body.subarray(at, Math.min(body.length, at + 1024 * 1024)));
    for (const [i, body] of bodies.entries())
      assert.equal(
        lanes.digest(opened[i]).toString('hex'),
        createHash('md5').update(body).digest('hex'),
      );
    assert.ok(lanes.usage.hashed / lanes.usage.run > 0.9, JSON.stringify(lanes.usage));
  });

  test('random interleavings of many bodies give each its own MD5', () => {
    const seeds = process.env.MD5_LANES_SEED ? [Number(process.env.MD5_LANES_SEED)] : [1, 2, 3, 4];
    for (const seed of seeds) {
      const random = seededRandom(seed);
      const lanes = new Md5Lanes();
      const open = new Map<number, Hash>(); // lane -> the oracle
      let digests = 0;
      for (let step = 0; step < 600; step++) {
        const action = random(10);
        if (action < 2 || open.size === 0) {
          const lane = lanes.open();
          if (lane === undefined) {
            assert.equal(open.size, LANES, 'only full when every lane is taken');
            continue;
          }
          assert.ok(!open.has(lane));
          open.set(lane, createHash('md5'));
          continue;
        }
        const busy = [...open.keys()];
        const lane = busy[random(busy.length)];
        if (action < 8) {
          // Mostly segment-sized pieces, as the hashing thread gets them; now and then odd ones.
          const size =
            random(3) === 0 ? random(200) : random(4) === 0 ? 1024 * 1024 : random(700_000);
          const piece = Buffer.alloc(size);
          for (let i = 0; i < size; i += 997) piece[i] = random(256);
          lanes.update(lane, piece);
          open.get(lane)?.update(piece);
        } else if (action < 9) {
          const want = open.get(lane)?.digest('hex');
          open.delete(lane);
          assert.equal(lanes.digest(lane).toString('hex'), want, `seed ${seed} step ${step}`);
          digests++;
        } else {
          lanes.drop(lane);
          open.delete(lane);
        }
      }
      for (const [lane, hash] of open)
        assert.equal(lanes.digest(lane).toString('hex'), hash.digest('hex'), `seed ${seed} end`);
      assert.equal(lanes.freeChunkCount, POOL_CHUNKS, 'every chunk given back');
      // Bodies fed side by side are hashed side by side.
      assert.ok(lanes.usage.hashed > lanes.usage.run / 4, JSON.stringify(lanes.usage));
      assert.ok(digests > 20, `seed ${seed}: ${digests} digests checked`);
    }
  });
});
