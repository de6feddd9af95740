// Shard reads from a data server's disk directories by another process on its machine
// (src/data/local-shard-reads.ts): the bytes the server serves, checked as the server checks
// them, refused where the server's file is not what the reader expects.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { isStrataError, StrataError } from '../../src/common/errors.ts';
import { DataClient, startDataService } from '../../src/data/index.ts';
import {
  boundedLocalRead,
  diskIdentityAt,
  LocalShardReads,
} from '../../src/data/local-shard-reads.ts';
import { shardPathIn } from '../../src/data/shard-store.ts';
import { patternBytes } from '../helpers/s3.ts';
import '../helpers/cluster-token.ts';

const ID = 'ef'.repeat(16);
const SHARD_BYTES = 300 * 1024; // five 64 KiB blocks, the last short

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serverWithShard() {
  const root = mkdtempSync(join(tmpdir(), 'strata-local-reads-'));
  const disks = [join(root, 'd0')];
  const service = await startDataService({ serverId: 't', host: '127.0.0.1', port: 0, disks });
  const client = new DataClient(`127.0.0.1:${service.port}`);
  const local = new LocalShardReads(4, 60_000);
  cleanups.push(async () => {
    await local.close();
    await client.close();
    await service.close();
    rmSync(root, { recursive: true, force: true });
  });
  const data = patternBytes(SHARD_BYTES, 7);
  await client.putShard({ stripeId: ID, shardIndex: 2, disk: 0 }, data);
  return { disk: disks[0], client, local, data };
}

const request = (disk: string, offset: number, length: number) => ({
  diskPath: disk,
  stripeId: ID,
  shardIndex: 2,
  offset,
  length,
  expect: { dataLength: SHARD_BYTES },
  blockChecks: true,
});

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isStrataError(e) ? e.code : ((e as NodeJS.ErrnoException).code ?? String(e))),
  );

test('local reads give the bytes the server gives, for ranges across blocks', async () => {
  const { disk, client, local, data } = await serverWithShard();
  assert.match((await diskIdentityAt(disk)) ?? '', /^[0-9a-f]{32}$/, 'the server wrote one');
  for (const [offset, length] of [
    [0, 4096],
    [65_530, 20],
    [100_000, 150_000],
    [SHARD_BYTES - 10, 10],
    [0, SHARD_BYTES],
  ]) {
    const read = await local.read(request(disk, offset, length), undefined);
    const served = await client.getShard({
      stripeId: ID,
      shardIndex: 2,
      disk: 0,
      offset,
      length,
      shardSizeBytes: SHARD_BYTES,
    });
    assert.ok(read.data.equals(data.subarray(offset, offset + length)), `${offset}+${length}`);
    assert.ok(read.data.equals(served));
    read.release();
  }
  assert.equal(await diskIdentityAt(join(disk, 'nowhere')), undefined);
});

test('a bad block, a missing file, a wrong length or address is refused, never served', async () => {
  const { disk, local } = await serverWithShard();
  const path = shardPathIn(disk, ID, 2);
  // One byte of the third block flipped in place (the same file: a kept handle sees it too).
  const fd = openSync(path, 'r+');
  const at = 64 + 2 * 65_536 + 100; // the header, two blocks, into the third
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, at);
  byte[0] ^= 0xff;
  writeSync(fd, byte, 0, 1, at);
  const bad = await codeOf(local.read(request(disk, 0, SHARD_BYTES), undefined));
  assert.equal(bad, 'SHARD_CORRUPT', 'the whole shard crosses the flipped block');
  assert.equal(
    await codeOf(local.read(request(disk, 0, 4096), undefined)),
    'ok',
    'block 0 is fine',
  );
  readSync(fd, byte, 0, 1, at);
  byte[0] ^= 0xff;
  writeSync(fd, byte, 0, 1, at);
  closeSync(fd);
  assert.equal(await codeOf(local.read(request(disk, 0, SHARD_BYTES), undefined)), 'ok');

  const wrongLength = { ...request(disk, 0, 4096), expect: { dataLength: SHARD_BYTES + 1 } };
  assert.equal(await codeOf(local.read(wrongLength, undefined)), 'SHARD_CORRUPT');
  const missing = { ...request(disk, 0, 4096), shardIndex: 3 };
  assert.equal(await codeOf(local.read(missing, undefined)), 'ENOENT');
  const traversal = { ...request(disk, 0, 4096), stripeId: '../../etc/passwd' };
  assert.equal(await codeOf(local.read(traversal, undefined)), 'EINVAL');
});

test('handles idle past their time are closed, so a removed shard is not held open', async () => {
  const { disk, local } = await serverWithShard();
  const read = await local.read(request(disk, 0, 4096), undefined);
  read.release();
  assert.equal(local.openHandles, 1);
  const short = new LocalShardReads(4, 50);
  cleanups.push(() => short.close());
  (await short.read(request(disk, 0, 4096), undefined)).release();
  assert.equal(short.openHandles, 1);
  const deadline = Date.now() + 5_000;
  while (short.openHandles > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(short.openHandles, 0, 'closed by the sweep');
  assert.equal(local.openHandles, 1, 'a longer idle time keeps it');
});

// The bookkeeping both kinds of local reads share (a gateway's or mount's, a data server's of
// its peers' disks), driven by reads whose answers the test holds back.
test('a local read past its time stalls its disk until it returns, and its late buffer is given back', async () => {
  const disk = { here: true, checkedAtMs: 0, inFlight: 0, stalled: false };
  let answer: (leased: { data: Buffer; release: () => void }) => void = () => {};
  let released = 0;
  const slow = boundedLocalRead(disk, () => new Promise((resolve) => (answer = resolve)), 20);
  assert.equal(disk.inFlight, 1);
  const error = await slow.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isStrataError(error, 'EIO'), 'given up at its time');
  assert.deepEqual([disk.stalled, disk.here, disk.inFlight], [true, false, 1]);
  answer({ data: Buffer.alloc(4), release: () => released++ });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([disk.stalled, disk.inFlight, released], [false, 0, 1], 'returned, given back');
});

test("a local read's answer is the caller's; a shard's own trouble leaves its disk here", async () => {
  const disk = { here: true, checkedAtMs: 0, inFlight: 0, stalled: false };
  const data = Buffer.from('shard');
  const leased = await boundedLocalRead(disk, async () => ({ data, release: () => {} }), 1_000);
  assert.equal(leased.data, data);
  for (const code of ['ENOENT', 'SHARD_MISSING', 'SHARD_CORRUPT'] as const) {
    const failed = boundedLocalRead(disk, () => Promise.reject(new StrataError(code, code)), 1_000);
    await assert.rejects(failed, (e: unknown) => isStrataError(e, code));
    assert.deepEqual([disk.here, disk.inFlight], [true, 0], code);
  }
  const denied = Object.assign(new Error('denied'), { code: 'EACCES' });
  await assert.rejects(boundedLocalRead(disk, () => Promise.reject(denied), 1_000));
  assert.equal(disk.here, false, "the disk's own trouble: read through its server for now");
});
