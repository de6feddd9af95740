// A body that brings its MD5 and CRC32C (src/common/body-digests.ts: the gateway's check of a
// PUT body takes them in its own hashing session) is not hashed again by the writer, inline or
// striped: what it brings is what the object records.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/index.ts';
import { BodyDigests, digestedBody } from '../../src/common/body-digests.ts';
import { crc32c } from '../../src/data/crc32c.ts';
import { patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const MiB = 1024 * 1024;

async function* pieces(bytes: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += 65_536) yield bytes.subarray(at, at + 65_536);
}

describe('bodies that bring their digests', () => {
  let server: StrataProcess;
  let client: StrataClient;
  before(async () => {
    server = await startStrata();
    client = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    await client.createBucket('digests', 'root');
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  async function readBack(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of (await client.getObject('digests', key)).body) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  test('hashed on the way in: the ETag is the MD5, the record the CRC32C, inline or striped', async () => {
    for (const size of [4096, 5 * MiB + 3]) {
      const bytes = patternBytes(size, size % 251);
      const digests = new BodyDigests();
      const key = `hashed-${size}`;
      const put = await client.putObject('digests', key, digestedBody(pieces(bytes), digests), {
        object: { userMeta: {} },
        digests,
      });
      assert.equal(put.etag, createHash('md5').update(bytes).digest('hex'), `${size}`);
      const inode = await client.headObject('digests', key);
      assert.equal(inode.object?.bytesCrc32c?.crc32c, crc32c(bytes), `${size}`);
      assert.ok((await readBack(key)).equals(bytes), `${size}`);
    }
  });

  test('the writer takes what the body brings and hashes nothing itself', async () => {
    for (const size of [4096, 5 * MiB + 3]) {
      const bytes = patternBytes(size, 7);
      const digests = new BodyDigests();
      // Digests of other bytes, set once the body has ended, as a producer sets them.
      const other = Buffer.from('other bytes');
      async function* body() {
        yield* pieces(bytes);
        digests.set([createHash('md5').update(other).digest(), u32(crc32c(other))]);
      }
      const put = await client.putObject('digests', `brought-${size}`, body(), {
        object: { userMeta: {} },
        digests,
      });
      assert.equal(put.etag, createHash('md5').update(other).digest('hex'), `${size}`);
    }
  });
});

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}
