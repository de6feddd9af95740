import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import { DataClient, encodeShard, startDataService } from '../../src/data/index.ts';
import { shardReadsInline } from '../../src/observability/metrics.ts';
import { shardFileV1 } from '../helpers/shards.ts';
import '../helpers/cluster-token.ts';

const ID = 'ab'.repeat(16);
const OTHER_ID = 'cd'.repeat(16);

// Every service a test starts is closed after it, pass or fail (close is idempotent), so a failing
// test cannot keep the process alive.
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function withService() {
  const root = mkdtempSync(join(tmpdir(), 'strata-data-'));
  const disks = [join(root, 'd0'), join(root, 'd1')];
  const service = await startDataService({ serverId: 't', host: '127.0.0.1', port: 0, disks });
  const client = new DataClient(`127.0.0.1:${service.port}`);
  cleanups.push(async () => {
    await client.close();
    await service.close();
    rmSync(root, { recursive: true, force: true });
  });
  return {
    root,
    disks,
    service,
    client,
    async close() {
      await client.close();
      await service.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isStrataError(e) ? e.code : String(e)),
  );

describe('shard storage', () => {
  test('put then get over RPC, whole and ranged across 64 KiB blocks', async () => {
    const ctx = await withService();
    const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff));
    await ctx.client.putShard({ stripeId: ID, shardIndex: 2, disk: 1 }, body);
    assert.ok((await ctx.client.getShard({ stripeId: ID, shardIndex: 2, disk: 1 })).equals(body));
    for (const [offset, length] of [
      [0, 1],
      [65_535, 2],
      [65_536, 65_536],
      [299_999, 1],
      [100_000, 150_000],
    ]) {
      const got = await ctx.client.getShard({
        stripeId: ID,
        shardIndex: 2,
        disk: 1,
        offset,
        length,
      });
      assert.ok(got.equals(body.subarray(offset, offset + length)), `${offset}+${length}`);
    }
    await ctx.close();
  });

  test('a flipped byte is SHARD_CORRUPT, in the data or in the header; a missing file is SHARD_MISSING', async () => {
    const ctx = await withService();
    try {
      for (const [shardIndex, position] of [
        [0, 70_100],
        [1, 4],
      ]) {
        const address = { stripeId: ID, shardIndex, disk: 0 };
        await ctx.client.putShard(address, Buffer.alloc(200_000, 5));
        const path = ctx.service.store.pathOf(address);
        const bytes = readFileSync(path);
        bytes[position] ^= 0x10;
        writeFileSync(path, bytes);
        assert.equal(
          await codeOf(ctx.client.getShard(address)),
          'SHARD_CORRUPT',
          `byte ${position}`,
        );
      }
      const address = { stripeId: ID, shardIndex: 0, disk: 0 };
      rmSync(ctx.service.store.pathOf(address));
      assert.equal(await codeOf(ctx.client.getShard(address)), 'SHARD_MISSING');
      assert.deepEqual(
        await ctx.client.deleteShards({ shards: [address] }),
        { deleted: 0 },
        'idempotent delete',
      );
    } finally {
      await ctx.close();
    }
  });

  test('a range read verifies only what it reads: a bad block elsewhere does not fail it', async () => {
    const ctx = await withService();
    const address = { stripeId: ID, shardIndex: 1, disk: 0 };
    await ctx.client.putShard(address, Buffer.alloc(200_000, 1));
    const path = ctx.service.store.pathOf(address);
    const bytes = readFileSync(path);
    bytes[32 + 150_000] ^= 1; // block 2
    writeFileSync(path, bytes);
    assert.equal(
      (await ctx.client.getShard({ ...address, offset: 0, length: 65_536 })).length,
      65_536,
    );
    assert.equal(
      await codeOf(ctx.client.getShard({ ...address, offset: 140_000, length: 10 })),
      'SHARD_CORRUPT',
    );
    await ctx.close();
  });

  test("a put with its encoding computed elsewhere writes it, and refuses one of another shard's", async () => {
    const { service } = await withService();
    const data = Buffer.alloc(200_000, 3);
    const address = { disk: 0, stripeId: ID, shardIndex: 1 };
    // A repair thread's header and checksums, as encodeShard makes them (repair-thread.ts).
    await service.store.put(address, data, encodeShard(address, data));
    assert.ok((await service.store.get(address)).equals(data), 'read back, every block verified');
    const other = { disk: 0, stripeId: OTHER_ID, shardIndex: 1 };
    await assert.rejects(service.store.put(other, data, encodeShard(address, data)), (error) =>
      isStrataError(error, 'SHARD_CORRUPT'),
    );
    assert.equal(await service.store.exists(other), false, 'nothing written');
  });

  test('bad stripe ids, shard indexes and disks are EINVAL', async () => {
    const ctx = await withService();
    for (const header of [
      { stripeId: '../../etc/passwd', shardIndex: 0, disk: 0 },
      { stripeId: 'AB'.repeat(16), shardIndex: 0, disk: 0 },
      { stripeId: ID, shardIndex: 256, disk: 0 },
      { stripeId: ID, shardIndex: 0, disk: 2 },
    ]) {
      assert.equal(
        await codeOf(ctx.client.putShard(header, Buffer.from('x'))),
        'EINVAL',
        JSON.stringify(header),
      );
    }
    await ctx.close();
  });

  test('a shard cut short by a crash is refused as SHARD_CORRUPT; status counts shards', async () => {
    const ctx = await withService();
    const address = { stripeId: ID, shardIndex: 0, disk: 0 };
    await ctx.client.putShard(address, Buffer.alloc(100_000, 3));
    const status = await ctx.client.status();
    assert.equal(status.disks.length, 2);
    assert.equal(status.disks[0].shardCount, 1);
    assert.ok(
      status.disks.every((d) => d.online && d.totalBytes >= d.freeBytes && d.freeBytes > 0),
    );
    const path = ctx.service.store.pathOf(address);
    writeFileSync(path, readFileSync(path).subarray(0, 50_000)); // as if the writer died mid-write
    assert.equal(await codeOf(ctx.client.getShard(address)), 'SHARD_CORRUPT');
    await ctx.service.close();
    const reopened = await startDataService({
      serverId: 't',
      host: '127.0.0.1',
      port: 0,
      disks: ctx.disks,
    });
    assert.equal((await reopened.store.status())[0].shardCount, 1, 'counted again at open');
    await reopened.close();
    await ctx.client.close();
    rmSync(ctx.root, { recursive: true, force: true });
  });

  test('a shard is never overwritten: a second put of the same shard fails and keeps the first', async () => {
    const ctx = await withService();
    const address = { stripeId: ID, shardIndex: 4, disk: 1 };
    await ctx.client.putShard(address, Buffer.from('first'));
    assert.equal(await codeOf(ctx.client.putShard(address, Buffer.from('second'))), 'EEXIST');
    assert.equal((await ctx.client.getShard(address)).toString(), 'first');
    await ctx.close();
  });

  test('all 256 prefix directories exist from the start; one removed since is made again by a put', async () => {
    const ctx = await withService();
    for (const disk of ctx.disks) {
      const prefixes = readdirSync(join(disk, 'shards')).sort();
      assert.equal(prefixes.length, 256);
      assert.equal(prefixes[0], '00');
      assert.equal(prefixes[255], 'ff');
    }
    rmSync(join(ctx.disks[0], 'shards', ID.slice(0, 2)), { recursive: true });
    const address = { stripeId: ID, shardIndex: 0, disk: 0 };
    await ctx.client.putShard(address, Buffer.from('again'));
    assert.equal((await ctx.client.getShard(address)).toString(), 'again');
    await ctx.close();
  });
});

describe('shard identity', () => {
  const patterned = (seed: number) =>
    Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * seed + seed) & 0xff));

  test('a valid shard file of another stripe or another index, copied over a shard, is SHARD_CORRUPT', async () => {
    const ctx = await withService();
    const mine = { stripeId: ID, shardIndex: 0, disk: 0 };
    const sameStripe = { stripeId: ID, shardIndex: 1, disk: 1 };
    const otherStripe = { stripeId: OTHER_ID, shardIndex: 0, disk: 1 };
    await ctx.client.putShard(mine, patterned(3));
    await ctx.client.putShard(sameStripe, patterned(5));
    await ctx.client.putShard(otherStripe, patterned(7));
    const original = readFileSync(ctx.service.store.pathOf(mine));
    for (const [name, source] of [
      ['another stripe', otherStripe],
      ['the same stripe, another index', sameStripe],
    ] as const) {
      writeFileSync(ctx.service.store.pathOf(mine), readFileSync(ctx.service.store.pathOf(source)));
      assert.equal(await codeOf(ctx.client.getShard(mine)), 'SHARD_CORRUPT', name);
      assert.equal(
        await codeOf(ctx.client.getShard({ ...mine, offset: 70_000, length: 10 })),
        'SHARD_CORRUPT',
        `${name}, ranged`,
      );
    }
    writeFileSync(ctx.service.store.pathOf(mine), original);
    assert.ok((await ctx.client.getShard(mine)).equals(patterned(3)), 'the original reads');
    await ctx.close();
  });

  test('a sized ranged read through a kept handle reads its blocks alone, and still checks them', async () => {
    const ctx = await withService();
    const mine = { stripeId: ID, shardIndex: 3, disk: 0 };
    const other = { stripeId: OTHER_ID, shardIndex: 3, disk: 0 };
    await ctx.client.putShard(mine, patterned(3));
    await ctx.client.putShard(other, patterned(7));
    const path = ctx.service.store.pathOf(mine);
    const original = readFileSync(path);
    const headerBytes = original.length - 200_000 - 4 * 4;
    const sized = (offset: number, length: number) =>
      ctx.client.getShard({ ...mine, offset, length, shardSizeBytes: 200_000 });
    const expected = (offset: number, length: number) =>
      patterned(3).subarray(offset, offset + length);
    // The first read keeps the header and the checksum table with the handle.
    assert.ok((await sized(70_000, 10)).equals(expected(70_000, 10)));
    // The kept header is checked against each read's expectations.
    assert.equal(
      await codeOf(
        ctx.client.getShard({ ...mine, offset: 0, length: 10, shardSizeBytes: 100_000 }),
      ),
      'SHARD_CORRUPT',
      'another size',
    );
    assert.ok((await sized(70_000, 10)).equals(expected(70_000, 10)));
    // A block changed since is still found: it fails the kept table, and the file read again.
    const damaged = Buffer.from(original);
    damaged[headerBytes + 140_000] ^= 1; // block 2
    writeFileSync(path, damaged); // in place: the same inode, under the kept handle
    assert.equal(await codeOf(sized(140_000, 10)), 'SHARD_CORRUPT', 'a damaged block');
    // That failure dropped the handle; the intact file is read afresh, then its table damaged:
    // reads through the kept handle use the table as it was read, whole reads read it again.
    writeFileSync(path, original);
    assert.ok((await sized(0, 10)).equals(expected(0, 10)));
    const badTable = Buffer.from(original);
    badTable[headerBytes + 200_000 + 4] ^= 1; // block 1's CRC
    writeFileSync(path, badTable);
    assert.ok((await sized(65_536, 100)).equals(expected(65_536, 100)), 'the kept table');
    assert.equal(await codeOf(ctx.client.getShard(mine)), 'SHARD_CORRUPT', 'a whole read');
    assert.equal(await codeOf(sized(65_536, 100)), 'SHARD_CORRUPT', 'read afresh');
    // Another shard copied over it, after a read kept the notes: its blocks fail the kept table.
    writeFileSync(path, original);
    assert.ok((await sized(0, 10)).equals(expected(0, 10)));
    writeFileSync(path, readFileSync(ctx.service.store.pathOf(other)));
    assert.equal(await codeOf(sized(70_000, 10)), 'SHARD_CORRUPT', 'another shard');
    // A valid file of this very shard with other bytes, written in place under kept notes (as a
    // forger would): judged as the file is now, as a read without notes would judge it.
    writeFileSync(path, original);
    assert.ok((await sized(0, 10)).equals(expected(0, 10)));
    const forged = encodeShard(mine, patterned(9));
    writeFileSync(path, Buffer.concat([forged.head, patterned(9), forged.crcs]));
    assert.ok((await sized(70_000, 10)).equals(patterned(9).subarray(70_000, 70_010)), 'forged');
    await ctx.close();
  });

  test('a small read through a kept handle is done on the event loop only when no other read is in flight', async () => {
    const ctx = await withService();
    const mine = { stripeId: ID, shardIndex: 3, disk: 0 };
    await ctx.client.putShard(mine, patterned(3));
    const sized = (offset: number, length: number) =>
      ctx.service.store.get(mine, offset, length, { dataLength: 200_000 });
    const matches = async (offset: number, length: number) =>
      assert.ok(
        (await sized(offset, length)).equals(patterned(3).subarray(offset, offset + length)),
        `${offset}+${length}`,
      );
    const inlineReads = async () => (await shardReadsInline.get()).values[0]?.value ?? 0;
    await matches(70_000, 10); // opens the file and keeps its header and table: in the pool
    const before = await inlineReads();
    // One at a time: each on the event loop, one block or (across a boundary) two.
    for (const offset of [0, 65_500, 140_000]) await matches(offset, 100);
    assert.equal((await inlineReads()) - before, 3, 'alone');
    // Started together, each sees the others in flight and goes to the pool.
    await Promise.all([0, 10_000, 70_000, 130_000].map((offset) => matches(offset, 4096)));
    assert.equal((await inlineReads()) - before, 3, 'together');
    // More than two blocks go to the pool even alone.
    await matches(1, 199_000);
    assert.equal((await inlineReads()) - before, 3, 'large');
    await ctx.close();
  });

  test('a block spliced in from another shard, with its own CRC, is SHARD_CORRUPT', async () => {
    const ctx = await withService();
    const mine = { stripeId: ID, shardIndex: 2, disk: 0 };
    const other = { stripeId: OTHER_ID, shardIndex: 2, disk: 0 };
    await ctx.client.putShard(mine, patterned(3));
    await ctx.client.putShard(other, patterned(7));
    const file = readFileSync(ctx.service.store.pathOf(mine));
    const donor = readFileSync(ctx.service.store.pathOf(other));
    // Both files have the same layout: copy block 1 and its stored CRC from the donor.
    const headerBytes = file.length - 200_000 - 4 * 4;
    const blockAt = headerBytes + 65_536;
    donor.copy(file, blockAt, blockAt, blockAt + 65_536);
    const crcAt = headerBytes + 200_000 + 4;
    donor.copy(file, crcAt, crcAt, crcAt + 4);
    writeFileSync(ctx.service.store.pathOf(mine), file);
    assert.equal(
      await codeOf(ctx.client.getShard({ ...mine, offset: 65_536, length: 100 })),
      'SHARD_CORRUPT',
    );
    assert.equal((await ctx.client.getShard({ ...mine, offset: 0, length: 100 })).length, 100);
    await ctx.close();
  });

  test("a shard whose length is not the stripe's shard size is SHARD_CORRUPT", async () => {
    const ctx = await withService();
    const address = { stripeId: ID, shardIndex: 3, disk: 0 };
    const reply = await ctx.client.putShard(address, Buffer.alloc(1000, 9));
    assert.equal(reply.version, 2, 'new shards are written in format 2');
    assert.equal((await ctx.client.getShard({ ...address, shardSizeBytes: 1000 })).length, 1000);
    assert.equal(
      await codeOf(ctx.client.getShard({ ...address, shardSizeBytes: 2000, length: 10 })),
      'SHARD_CORRUPT',
    );
    assert.equal(
      await codeOf(ctx.client.getShard({ ...address, shardSizeBytes: -1 })),
      'EINVAL',
      "a malformed expectation is the caller's error",
    );
    await ctx.close();
  });

  test('a whole read at the known shard size (one read of the file) refuses every damage', async () => {
    const ctx = await withService();
    const data = patterned(13);
    const size = data.length; // 200,000: 4 blocks, the last one short
    const whole = (shardIndex: number) =>
      ctx.client.getShard({ stripeId: ID, shardIndex, disk: 0, shardSizeBytes: size });
    // Byte positions in a format 2 file: 64-byte header, data, then 4 CRCs.
    const damages: Array<[string, (bytes: Buffer) => Buffer]> = [
      ['a data byte of the last block', (b) => flip(b, 64 + size - 1)],
      ['a data byte of the first block', (b) => flip(b, 64)],
      ['the last CRC', (b) => flip(b, b.length - 1)],
      ['the header', (b) => flip(b, 20)],
      ['cut inside the checksums', (b) => b.subarray(0, b.length - 2)],
      ['cut inside the data', (b) => b.subarray(0, 64 + 1000)],
      ['cut inside the header', (b) => b.subarray(0, 10)],
    ];
    for (const [shardIndex, [what, damage]] of damages.entries()) {
      const address = { stripeId: ID, shardIndex, disk: 0 };
      await ctx.client.putShard(address, data);
      assert.ok((await whole(shardIndex)).equals(data), `intact before: ${what}`);
      const path = ctx.service.store.pathOf(address);
      writeFileSync(path, damage(readFileSync(path)));
      assert.equal(await codeOf(whole(shardIndex)), 'SHARD_CORRUPT', what);
      // A range at the known size (header, blocks and CRCs read at once) refuses it too, at
      // whichever end it lies.
      const first = { ...address, offset: 0, length: 1000, shardSizeBytes: size };
      const last = { ...address, offset: size - 1000, length: 1000, shardSizeBytes: size };
      const codes = [
        await codeOf(ctx.client.getShard(first)),
        await codeOf(ctx.client.getShard(last)),
      ];
      assert.ok(codes.includes('SHARD_CORRUPT'), `ranged: ${what}: ${codes.join(', ')}`);
    }
    const v1 = { stripeId: OTHER_ID, shardIndex: 0, disk: 0 };
    const v1Path = ctx.service.store.pathOf(v1);
    mkdirSync(dirname(v1Path), { recursive: true });
    writeFileSync(v1Path, shardFileV1(data));
    const read = await ctx.client.getShard({ ...v1, shardSizeBytes: size });
    assert.ok(read.equals(data), 'a version 1 file (shorter header) reads whole too');
    await ctx.close();
  });

  test('a read for a reader that authenticates every byte skips the block CRCs, and only them', async () => {
    const ctx = await withService();
    const data = patterned(17);
    const size = data.length;
    const bad = Buffer.from(data);
    bad[size - 1] ^= 0x40; // as flip() damages it
    // Whole at the known size (one read of the file), and a range of the damaged block.
    const reads = (shardIndex: number, readerAuthenticates?: boolean) => {
      const at = {
        stripeId: ID,
        shardIndex,
        disk: 0,
        ...(readerAuthenticates ? { readerAuthenticates } : {}),
      };
      return [
        ctx.client.getShard({ ...at, shardSizeBytes: size }),
        ctx.client.getShard({ ...at, offset: size - 10, length: 10 }),
      ];
    };
    const damages: Array<[string, (bytes: Buffer) => Buffer, 'ok' | 'SHARD_CORRUPT']> = [
      ['a data byte of the last block', (b) => flip(b, 64 + size - 1), 'ok'],
      ['the last CRC', (b) => flip(b, b.length - 1), 'ok'],
      ['the header', (b) => flip(b, 20), 'SHARD_CORRUPT'],
      ['cut inside the data', (b) => b.subarray(0, 64 + size - 5), 'SHARD_CORRUPT'],
    ];
    for (const [shardIndex, [what, damage, unchecked]] of damages.entries()) {
      const address = { stripeId: ID, shardIndex, disk: 0 };
      await ctx.client.putShard(address, data);
      const path = ctx.service.store.pathOf(address);
      writeFileSync(path, damage(readFileSync(path)));
      // Both reads of a pair are in flight at once: each gets its handler at once (a failure of
      // the second while the first was awaited was an unhandled rejection).
      for (const code of reads(shardIndex).map(codeOf))
        assert.equal(await code, 'SHARD_CORRUPT', `checked: ${what}`);
      for (const code of reads(shardIndex, true).map(codeOf))
        assert.equal(await code, unchecked, `unchecked: ${what}`);
    }
    // What an unchecked read gives is the bytes on disk as they are: the reader's to refuse.
    const [whole, range] = await Promise.all(reads(0, true));
    assert.ok(whole.equals(bad));
    assert.ok(range.equals(bad.subarray(size - 10)));
    await ctx.close();
  });

  test('version 1 shards stay readable, but not where the stripe was written in version 2', async () => {
    const ctx = await withService();
    const address = { stripeId: ID, shardIndex: 5, disk: 1 };
    const data = patterned(11);
    const path = ctx.service.store.pathOf(address);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, shardFileV1(data));
    assert.ok((await ctx.client.getShard(address)).equals(data), 'whole');
    assert.ok(
      (await ctx.client.getShard({ ...address, offset: 65_000, length: 1000 })).equals(
        data.subarray(65_000, 66_000),
      ),
      'ranged',
    );
    // Its size named, a range is first read where a version 2 file has it, then again from
    // this file's own header.
    const sized = { ...address, offset: 65_000, length: 1000, shardSizeBytes: data.length };
    assert.ok(
      (await ctx.client.getShard(sized)).equals(data.subarray(65_000, 66_000)),
      'ranged, its size named',
    );
    assert.equal(
      await codeOf(ctx.client.getShard({ ...address, shardVersion: 2 })),
      'SHARD_CORRUPT',
      'a version 1 file where version 2 was written is stale',
    );
    await ctx.close();
  });
});

function flip(bytes: Buffer, position: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[position] ^= 0x40;
  return copy;
}
