import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { BufferPool } from '../../src/common/buffer-pool.ts';
import { DIRECT_ALIGN_BYTES, DirectStaging, GRANULE_BYTES } from '../../src/data/direct-staging.ts';
import { SHARD_DATA_AT, shardFileBytes } from '../../src/data/shard-file.ts';
import { StagedBodies } from '../../src/data/staged-bodies.ts';
import { RpcClient, RpcServer } from '../../src/rpc/index.ts';
import '../helpers/cluster-token.ts';

// `n` bytes that differ by seed and position.
const patterned = (n: number, seed: number) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff));

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// A server whose large request bodies go through `bodies`; its handler reports where each body
// lay: in place for its file (an aligned region, the body at the file header's length into it,
// room after it for the block checksums and padding), and whether its bytes were the ones sent.
async function serveBodies(bodies: StagedBodies, ownReads: boolean) {
  const server = new RpcServer({
    name: 'staged',
    permissions: () => true,
    requestBodyPool: bodies,
    ownReads,
  });
  server.handle('put', async ({ header, body }) => {
    const { seed } = header as { seed: number };
    assert.ok(body !== undefined);
    const file = bodies.fileFor(body);
    return {
      header: {
        intact: body.equals(patterned(body.length, seed)),
        inPlace:
          file !== undefined &&
          file.buffer === body.buffer &&
          file.byteOffset % DIRECT_ALIGN_BYTES === 0 &&
          body.byteOffset === file.byteOffset + SHARD_DATA_AT &&
          file.length >= shardFileBytes(body.length),
      },
    };
  });
  cleanups.push(() => server.close());
  const { port } = await server.listen('127.0.0.1', 0);
  const client = new RpcClient(`127.0.0.1:${port}`);
  cleanups.push(() => client.close());
  return client;
}

describe('putShard bodies read in place (staged-bodies.ts)', () => {
  // Both ways a token server reads (into chosen buffers; as a stream, as TLS connections are).
  for (const ownReads of [true, false])
    test(`a large body lands where its file's direct write takes it from; every lease comes back (${ownReads ? 'own reads' : 'stream reads'})`, async () => {
      const staging = new DirectStaging(64 * GRANULE_BYTES);
      staging.poisonOnRelease = true;
      const pool = new BufferPool({ idleBytesMax: 16 * 1024 * 1024 });
      const bodies = new StagedBodies(staging, pool);
      const client = await serveBodies(bodies, ownReads);
      // Over the reader's 64 KiB scratch, odd and whole-block lengths, several at once.
      const sizes = [70_000, 1024 * 1024, 65_537, 300_000, 1024 * 1024 - 3];
      const replies = await Promise.all(
        sizes.map((n, seed) => client.call('put', { seed }, patterned(n, seed))),
      );
      for (const [i, reply] of replies.entries())
        assert.deepEqual(reply.header, { intact: true, inPlace: true }, `size ${sizes[i]}`);
      assert.deepEqual(bodies.counts, { staged: sizes.length, pooled: 0, out: 0 });
      assert.equal(staging.leasedBytes, 0, 'the slab all free');
    });

  test('with no room in the slab a body goes to the pool, and is not taken as in place', async () => {
    const staging = new DirectStaging(16 * GRANULE_BYTES); // 1 MiB: no 1 MiB shard file fits
    const pool = new BufferPool({ idleBytesMax: 16 * 1024 * 1024 });
    pool.poisonOnRelease = true;
    const bodies = new StagedBodies(staging, pool);
    const client = await serveBodies(bodies, true);
    const small = await client.call('put', { seed: 1 }, patterned(100_000, 1));
    assert.deepEqual(small.header, { intact: true, inPlace: true });
    const large = await client.call('put', { seed: 2 }, patterned(1024 * 1024, 2));
    assert.deepEqual(large.header, { intact: true, inPlace: false });
    assert.deepEqual(bodies.counts, { staged: 1, pooled: 1, out: 0 });
    assert.equal(pool.counts.out, 0, 'the pooled buffer given back');
    assert.equal(staging.leasedBytes, 0);
  });

  test('a frame whose header claims more than the frame holds is not staged', () => {
    const staging = new DirectStaging(16 * GRANULE_BYTES);
    const bodies = new StagedBodies(staging, new BufferPool({ idleBytesMax: 0 }));
    const frame = bodies.acquire(100_000, 100_013); // the body would start past the frame's end
    assert.equal(frame.length, 100_000);
    assert.deepEqual(bodies.counts, { staged: 0, pooled: 1, out: 0 });
    assert.equal(bodies.fileFor(frame.subarray(50_000)), undefined);
    bodies.release(frame);
    assert.equal(staging.leasedBytes, 0);
  });
});
