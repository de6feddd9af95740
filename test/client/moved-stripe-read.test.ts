// A read that holds a stripe record from before a repair or a rebalance moved the stripe's shards
// (and deleted the old files) reads the stripe again from its new record, rather than failing
// (src/client/file-reader.ts, fetchCurrent). Against a real server: the shards are moved as a
// repair moves them (the file written at the new place, relocateShard committed, the old file
// deleted) after the reader took the extents, with more shards moved than parity covers.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataPool } from '../../src/client/data-pool.ts';
import { readFileRange } from '../../src/client/file-reader.ts';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { stripeReadsRetriedMoved } from '../../src/observability/metrics.ts';
import { patternBytes, s3Client } from '../helpers/s3.ts';
import { configWriter, startStrata, tempDir } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';

const configDir = tempDir('strata-moved-read-');
after(() => rmSync(configDir, { recursive: true, force: true }));

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function counterValue(): Promise<number> {
  return (await stripeReadsRetriedMoved.get()).values[0]?.value ?? 0;
}

test('a read whose stripe moved under it reads the new places; one whose shards are only gone still fails', async () => {
  // Nine disks: six hold the stripe, the other three take the moved shards.
  const env = configWriter(configDir)('node', ['[data]', 'disk_count = 9']);
  const server = await startStrata({ env });
  const metadata = new MetadataClient([server.metadataAddr]);
  const pool = new DataPool(metadata);
  try {
    const s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'moved' }));
    const body = patternBytes(3 * 1024 * 1024 + 5, 41); // one stripe of 4+2
    await s3.send(new PutObjectCommand({ Bucket: 'moved', Key: 'o', Body: body }));
    const inode = await metadata.read('resolvePath', '/moved/o');
    assert.ok(inode);
    // What a reader holds from its start: the extents as they are now.
    const extents = await metadata.read('extents', inode.ino, 0, body.length);
    const held = { offset: 0, length: body.length, extents };
    const [extent] = extents;
    assert.ok(extent.stripe);
    const stripe = extent.stripe;
    const files = shardsByStripe(server.dataDir, 9).get(stripe.id);
    assert.ok(files);

    // Three shards (one more than parity rebuilds) move to the three disks that hold none of the
    // stripe, as a repair moves them.
    const used = new Set(stripe.shards.map((s) => s.disk));
    const free = Array.from({ length: 9 }, (_, disk) => disk).filter((disk) => !used.has(disk));
    assert.equal(free.length, 3);
    for (const index of [0, 1, 2]) {
      const from = stripe.shards[index];
      const to = { serverId: from.serverId, disk: free[index] };
      const source = files[index];
      const target = source.replace(`/disks/d${from.disk}/`, `/disks/d${to.disk}/`);
      assert.notEqual(target, source);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(source, target);
      await metadata.apply({
        op: 'relocateShard',
        nowMs: Date.now(),
        stripeId: stripe.id,
        shardIndex: index,
        from,
        to,
        at: { ino: inode.ino, fileOffset: 0 },
      });
      rmSync(source);
    }

    const before = await counterValue();
    const read = await collect(
      readFileRange(metadata, pool, inode.ino, 0, body.length, undefined, undefined, held),
    );
    assert.ok(read.equals(body), 'the bytes, from the shards at their new places');
    assert.equal(await counterValue(), before + 1, 'counted as a read done again');

    // Shards gone with nothing moved (another object, never read, so that no server holds its
    // files open): the record is the same, so the first error stands.
    await s3.send(new PutObjectCommand({ Bucket: 'moved', Key: 'p', Body: body }));
    const lost = await metadata.read('resolvePath', '/moved/p');
    assert.ok(lost);
    const lostExtents = await metadata.read('extents', lost.ino, 0, body.length);
    const lostStripe = lostExtents[0].stripe;
    assert.ok(lostStripe);
    const lostFiles = shardsByStripe(server.dataDir, 9).get(lostStripe.id);
    assert.ok(lostFiles);
    for (const index of [0, 1, 2]) rmSync(lostFiles[index]);
    const failed = await collect(
      readFileRange(metadata, pool, lost.ino, 0, body.length, undefined, undefined, {
        offset: 0,
        length: body.length,
        extents: lostExtents,
      }),
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(isStrataError(failed, 'DATA_DAMAGED'), `damaged: ${failed}`);
    assert.equal(await counterValue(), before + 1, 'not read again');
  } finally {
    await pool.close();
    await metadata.close();
    await server.stop();
  }
});
