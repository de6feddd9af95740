// Stripe writes from pooled buffers (the gateway's writeStream, the mount's batches): a stripe's
// buffer and its parity go back to the pool only once every shard write is done with them.
// Released buffers are poisoned here, so one given back while a shard was still being sent would
// store poison (with checksums the data server makes of it) and read back wrong.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/index.ts';
import { shardBuffers } from '../../src/common/buffer-pool.ts';
import { patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const MiB = 1024 * 1024;

async function readAll(client: StrataClient, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of client.readFile(path)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('stripe buffers from the pool', () => {
  let server: StrataProcess;
  let client: StrataClient;
  before(async () => {
    shardBuffers.poisonOnRelease = true;
    server = await startStrata();
    client = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    await client.mkdir('/pooled');
  });
  after(async () => {
    shardBuffers.poisonOnRelease = false;
    await client?.close();
    await server?.stop();
  });

  test('concurrent large writes read back whole, and every stripe buffer is given back', async () => {
    const files = Array.from({ length: 6 }, (_, i) => ({
      path: `/pooled/f${i}`,
      bytes: patternBytes(9 * MiB + i * 77_777, i + 3), // full stripes and a short last one
    }));
    const before = shardBuffers.counts;
    await Promise.all(files.map((f) => client.writeFile(f.path, f.bytes)));
    const after = shardBuffers.counts;
    // Three stripes a file (two full, one short), each a stripe buffer, full ones a parity one.
    assert.ok(
      after.allocated + after.reused - (before.allocated + before.reused) >= 5 * files.length,
      'the stripes were written from pooled buffers',
    );
    for (const f of files) assert.ok((await readAll(client, f.path)).equals(f.bytes), f.path);
    // The last sends end just after their replies: give the write callbacks a moment.
    for (let i = 0; i < 100 && shardBuffers.counts.out > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(shardBuffers.counts.out, 0, 'every stripe and parity buffer given back');
  });

  test('batches staged from one buffer reused at once after its sends: each batch its own bytes', async () => {
    // As the mount does: pack, stage with a tracker, reuse the buffer once the tracker is idle.
    const { SendTracker } = await import('../../src/client/send-tracker.ts');
    const packed = Buffer.allocUnsafe(8 * MiB);
    const expected: Buffer[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const bytes = patternBytes(packed.length, 100 + batch);
      bytes.copy(packed);
      expected.push(bytes);
      const inode = await client.create(`/pooled/batch${batch}`);
      const sends = new SendTracker();
      const extents = await client.stageWrites([{ offset: 0, data: packed }], packed, sends);
      await client.commitWrite(inode.ino, extents);
      await sends.idle();
      packed.fill(0xee); // reused: what a straggler still sending would now send
    }
    for (let batch = 0; batch < 4; batch++)
      assert.ok((await readAll(client, `/pooled/batch${batch}`)).equals(expected[batch]));
  });
});
