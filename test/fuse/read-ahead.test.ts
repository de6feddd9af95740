// The mount's read-ahead against a real server: its blocks sit in pooled buffers (shardBuffers),
// given back once the stream's map and every read answered from them let go. Released buffers
// are poisoned here, so a block given back under a reader shows as wrong bytes, and one given
// back when it should be shows as poison in the parts its last reader still has.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/index.ts';
import { shardBuffers } from '../../src/common/buffer-pool.ts';
import { ReadAhead, type ReadResult } from '../../src/fuse/read-ahead.ts';
import { patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const MiB = 1024 * 1024;
const BLOCK_BYTES = 4 * MiB; // the default stripe: 4 data shards of 1 MiB
const POISON = 0xa5;

const joined = (read: ReadResult) => Buffer.concat(read.parts);

describe('read-ahead blocks in pooled buffers', () => {
  let server: StrataProcess;
  let client: StrataClient;
  let ino: number;
  const file = patternBytes(20 * MiB + 12345, 7);
  before(async () => {
    shardBuffers.poisonOnRelease = true;
    server = await startStrata();
    client = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    await client.mkdir('/ra');
    await client.writeFile('/ra/file', file);
    ino = (await client.open('/ra/file')).ino;
  });
  after(async () => {
    shardBuffers.poisonOnRelease = false;
    await client?.close();
    await server?.stop();
  });

  // Every block read ahead has settled and been let go: no pooled buffer is still out.
  async function settled(readAhead: ReadAhead) {
    readAhead.drop(ino);
    for (let i = 0; i < 100 && shardBuffers.counts.out > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(shardBuffers.counts.out, 0, 'every block given back');
  }

  test('a sequential reader gets the file, three reads in flight; every block is given back', async () => {
    const readAhead = new ReadAhead(client, BLOCK_BYTES);
    const out = shardBuffers.counts.out;
    assert.equal(out, 0);
    const piece = MiB + 4096; // reads that straddle blocks now and then
    for (let offset = 0; offset < file.length; offset += 3 * piece) {
      const reads = [0, 1, 2].map((i) => readAhead.read(ino, offset + i * piece, piece));
      for (const [i, read] of (await Promise.all(reads)).entries()) {
        const at = offset + i * piece;
        assert.ok(joined(read).equals(file.subarray(at, at + piece)), `read at ${at}`);
        read.done();
      }
    }
    await settled(readAhead);
  });

  test('a block evicted while a reply still holds it is given back only once that reply is done', async () => {
    const readAhead = new ReadAhead(client, BLOCK_BYTES);
    const held = await readAhead.read(ino, 0, MiB); // block 0, held
    const expected = file.subarray(0, MiB);
    // Read on to the end: block 0 leaves the stream's map (it is far behind the reader).
    for (let offset = MiB; offset < file.length; offset += MiB) {
      const read = await readAhead.read(ino, offset, MiB);
      read.done();
    }
    assert.ok(joined(held).equals(expected), 'not given back under the held reply');
    held.done();
    assert.ok(
      held.parts.every((part) => part.every((byte) => byte === POISON)),
      'given back (and poisoned) once the reply was done',
    );
    await settled(readAhead);
  });

  test('a file dropped (changed) while a read holds its block: the read keeps its bytes', async () => {
    const readAhead = new ReadAhead(client, BLOCK_BYTES);
    await readAhead.read(ino, 0, 4096).then((r) => r.done());
    const held = await readAhead.read(ino, 4096, 2 * MiB);
    readAhead.drop(ino);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(joined(held).equals(file.subarray(4096, 4096 + 2 * MiB)));
    held.done();
    await settled(readAhead);
  });

  test('reads past the end give nothing and hold nothing', async () => {
    const readAhead = new ReadAhead(client, BLOCK_BYTES);
    await readAhead.read(ino, 0, 4096).then((r) => r.done());
    const tail = await readAhead.read(ino, file.length - 100, MiB);
    assert.ok(joined(tail).equals(file.subarray(file.length - 100)));
    tail.done();
    const past = await readAhead.read(ino, file.length + 5 * MiB, MiB);
    assert.equal(past.parts.length, 0);
    past.done();
    await settled(readAhead);
  });
});
