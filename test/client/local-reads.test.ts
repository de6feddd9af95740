// A client on its data servers' machine reads their shards straight from the disks
// (DataPool.readLocal, src/data/local-shard-reads.ts), and asks the server whenever a local read
// fails: a bad block or a missing file still reads back right, from the server and parity.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataPool } from '../../src/client/data-pool.ts';
import { readFileRange } from '../../src/client/file-reader.ts';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { shardBuffers } from '../../src/common/buffer-pool.ts';
import { LocalShardReads } from '../../src/data/local-shard-reads.ts';
import { hedgedShardReads, localShardReads } from '../../src/observability/metrics.ts';
import { patternBytes, s3Client } from '../helpers/s3.ts';
import { startStrata } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';

const POISON_BYTE = 0xa5; // what shardBuffers fills a released buffer with (poisonOnRelease)

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function count(result: 'ok' | 'fallback'): Promise<number> {
  const { values } = await localShardReads.get();
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function hedges(): Promise<number> {
  return (await hedgedShardReads.get()).values[0]?.value ?? 0;
}

test('shards of a data server on this machine are read from its disks, and from it when that fails', async () => {
  const server = await startStrata();
  const metadata = new MetadataClient([server.metadataAddr]);
  const pool = new DataPool(metadata, { localReads: new LocalShardReads() });
  const remoteOnly = new DataPool(metadata);
  try {
    const s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'local' }));
    const body = patternBytes(3 * 1024 * 1024 + 5, 43); // one stripe of 4+2
    for (const key of ['a', 'b', 'c', 'd', 'e'])
      await s3.send(new PutObjectCommand({ Bucket: 'local', Key: key, Body: body }));
    const stripeOf = async (key: string) => {
      const inode = await metadata.read('resolvePath', `/local/${key}`);
      assert.ok(inode);
      const [extent] = await metadata.read('extents', inode.ino, 0, body.length);
      assert.ok(extent.stripe);
      return { ino: inode.ino, stripe: extent.stripe };
    };
    const readBack = async (key: string, from = pool) => {
      const { ino } = await stripeOf(key);
      return collect(readFileRange(metadata, from, ino, 0, body.length));
    };

    // The disks are found here in the background (their identity files read): until then,
    // and in a pool without local reads, the server is asked.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const before = await count('ok');
      assert.ok((await readBack('a')).equals(body));
      if ((await count('ok')) === before + 4) break;
      assert.ok(Date.now() < deadline, 'local reads start once the disks are found here');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The disks of 'a''s data shards are known here now: the shards broken below are on them.
    const a = await stripeOf('a');
    const known = new Set(a.stripe.shards.slice(0, a.stripe.k).map((s) => s.disk));
    const onKnownDisk = (stripe: typeof a.stripe) =>
      stripe.shards.findIndex((s, index) => index < stripe.k && known.has(s.disk));
    // Leased, as the mount's read-ahead and the gateway's GETs read: the parts are views of
    // pooled buffers, whole until released, and given back by the caller's release (poisoned
    // here on release, so a buffer given back early shows as wrong bytes).
    shardBuffers.poisonOnRelease = true;
    try {
      const before = await count('ok');
      const releases: Array<() => void> = [];
      const held: Buffer[] = [];
      const { ino } = await stripeOf('a');
      const leases = (parts: Buffer[], release: () => void) => {
        held.push(...parts);
        releases.push(release);
      };
      const bytes = await collect(
        readFileRange(metadata, pool, ino, 0, body.length, undefined, undefined, undefined, leases),
      );
      assert.ok(bytes.equals(body), 'the leased read');
      assert.equal(await count('ok'), before + 4, 'from the disks');
      assert.ok(Buffer.concat(held).equals(body), 'the parts still whole before their release');
      for (const release of releases) release();
      assert.ok(
        held.every((part) => part.every((byte) => byte === POISON_BYTE)),
        'the parts were pooled buffers, given back',
      );
    } finally {
      shardBuffers.poisonOnRelease = false;
    }

    const okBefore = await count('ok');
    assert.ok((await readBack('a', remoteOnly)).equals(body));
    assert.equal(await count('ok'), okBefore, 'a pool without local reads asks the server');
    assert.ok((await readBack('a')).equals(body));
    assert.equal(await count('ok'), okBefore + 4, 'the four data shards, each from its disk');

    // A flipped byte in one data shard of 'b': that shard's local read fails its block check,
    // and the read goes to the server, which finds the same and decodes from parity.
    const b = await stripeOf('b');
    const files = shardsByStripe(server.dataDir).get(b.stripe.id);
    assert.ok(files);
    const fd = openSync(files[onKnownDisk(b.stripe)], 'r+');
    const at = 64 + 1000; // inside the first block, after the header
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] ^= 0x5a;
    writeSync(fd, byte, 0, 1, at);
    closeSync(fd);
    const fallbackBefore = await count('fallback');
    assert.ok((await readBack('b')).equals(body), 'the right bytes despite the bad block');
    assert.equal(await count('fallback'), fallbackBefore + 1, 'one local read given up');

    // A data shard of 'c' gone (never read, so no handle holds it): the same.
    const c = await stripeOf('c');
    const cFiles = shardsByStripe(server.dataDir).get(c.stripe.id);
    assert.ok(cFiles);
    rmSync(cFiles[onKnownDisk(c.stripe)]);
    assert.ok((await readBack('c')).equals(body), 'the right bytes without the file');
    assert.equal(await count('fallback'), fallbackBefore + 2);

    // A failure that is not the shard's own (here EISDIR: a directory where the file should be)
    // sends the whole disk's reads to the server: 'a''s shard on that disk is no longer read here.
    const d = await stripeOf('d');
    const dFiles = shardsByStripe(server.dataDir).get(d.stripe.id);
    assert.ok(dFiles);
    const index = onKnownDisk(d.stripe);
    rmSync(dFiles[index]);
    mkdirSync(dFiles[index]);
    assert.ok((await readBack('d')).equals(body), 'the right bytes from the server and parity');
    assert.equal(await count('fallback'), fallbackBefore + 3);
    const okBeforeA = await count('ok');
    const hedgesBeforeA = await hedges();
    assert.ok((await readBack('a')).equals(body));
    // A hedge (the server's answer slower than the hedge delay, as under load) reads a parity
    // shard, from its own disk here: counted, not the shard on the disk given up.
    assert.equal(
      await count('ok'),
      okBeforeA + 3 + ((await hedges()) - hedgesBeforeA),
      "a's shard on that disk read from the server",
    );

    // A read that never returns (a FIFO where the file should be: its open waits for a writer,
    // as a read from a hung disk waits): the stripe read's hedge reads parity meanwhile, and the
    // local read is given up after about a second, which sends the disk's reads to its server.
    const e = await stripeOf('e');
    const eFiles = shardsByStripe(server.dataDir).get(e.stripe.id);
    assert.ok(eFiles);
    const dDisk = d.stripe.shards[index].disk;
    const eIndex = e.stripe.shards.findIndex(
      (s, i) => i < e.stripe.k && known.has(s.disk) && s.disk !== dDisk,
    );
    rmSync(eFiles[eIndex]);
    assert.equal(spawnSync('mkfifo', [eFiles[eIndex]]).status, 0);
    try {
      assert.ok((await readBack('e')).equals(body), 'the right bytes past the hung read');
      const givenUpBy = Date.now() + 5_000;
      while ((await count('fallback')) < fallbackBefore + 4 && Date.now() < givenUpBy)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(await count('fallback'), fallbackBefore + 4, 'the hung read given up');
      const okBeforeA2 = await count('ok');
      assert.ok((await readBack('a')).equals(body));
      assert.equal(await count('ok'), okBeforeA2 + 2, 'the hung disk is read through its server');
    } finally {
      // Let the opens waiting on the FIFO (this process's pool thread, the server's) return.
      try {
        closeSync(openSync(eFiles[eIndex], constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {}
    }
  } finally {
    await pool.close();
    await remoteOnly.close();
    await metadata.close();
    await server.stop();
  }
});
