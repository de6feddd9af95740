// The client library's file operations against a real server: offsets, holes, overwrites across
// stripe boundaries, truncation, and the namespace calls the FUSE mount will use.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { StrataClient } from '../../src/client/index.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const MiB = 1024 * 1024;

describe('client library file operations', () => {
  let server: StrataProcess;
  let client: StrataClient;
  before(async () => {
    server = await startStrata();
    client = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    await client.mkdir('/posix');
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  test('create is exclusive when asked; open gives a handle on the file', async () => {
    const inode = await client.create('/posix/new', { exclusive: true, mode: 0o600 });
    assert.equal(inode.mode, 0o600);
    await assert.rejects(client.create('/posix/new', { exclusive: true }), (e: unknown) =>
      isStrataError(e, 'EEXIST'),
    );
    assert.equal(
      (await client.create('/posix/new')).ino,
      inode.ino,
      'non-exclusive create opens it',
    );
    assert.equal((await client.open('/posix/new')).ino, inode.ino);
    await assert.rejects(client.open('/posix'), (e: unknown) => isStrataError(e, 'EISDIR'));
  });

  test('writes at offsets leave holes that read as zeros', async () => {
    await client.create('/posix/sparse');
    const file = await client.open('/posix/sparse');
    await file.write(0, Buffer.from('hello'));
    await file.write(10, Buffer.from('world'));
    assert.equal((await file.stat()).size, 15);
    assert.deepEqual(await file.read(0, 100), Buffer.from('hello\0\0\0\0\0world'));
    await file.write(9 * MiB, Buffer.from('far'));
    const tail = await file.read(9 * MiB - 2, 10);
    assert.deepEqual(tail, Buffer.from('\0\0far'));
  });

  test('overwrites across stripe boundaries match a byte model', async () => {
    await client.create('/posix/model');
    const file = await client.open('/posix/model');
    const model = Buffer.alloc(9 * MiB);
    const apply = async (offset: number, data: Buffer) => {
      data.copy(model, offset);
      await file.write(offset, data);
    };
    await apply(0, patternBytes(9 * MiB, 1));
    await apply(4 * MiB - 50, patternBytes(100, 2)); // across the first stripe boundary
    await apply(123_457, patternBytes(5 * MiB, 3)); // spans two boundaries, unaligned
    await apply(8 * MiB + 1, patternBytes(10, 4));
    const back = await file.read(0, 9 * MiB);
    assert.ok(back.equals(model), 'file content equals the model');
    assert.deepEqual(
      await file.read(4 * MiB - 60, 120),
      model.subarray(4 * MiB - 60, 4 * MiB + 60),
    );
  });

  test('truncate down drops bytes; truncate up reads zeros', async () => {
    await client.create('/posix/trunc');
    const file = await client.open('/posix/trunc');
    const data = patternBytes(5 * MiB, 9);
    await file.write(0, data);
    await file.truncate(3 * MiB + 1);
    assert.equal((await file.stat()).size, 3 * MiB + 1);
    await file.truncate(6 * MiB);
    const back = await file.read(0, 6 * MiB);
    assert.ok(back.subarray(0, 3 * MiB + 1).equals(data.subarray(0, 3 * MiB + 1)));
    assert.ok(
      back.subarray(3 * MiB + 1).every((b) => b === 0),
      'the regrown tail is zeros',
    );
  });

  test('mkdir -p, readdir, rename, unlink and rmdir', async () => {
    await client.mkdir('/posix/a/b/c', { recursive: true });
    await client.writeFile('/posix/a/b/c/f', Buffer.from('x'));
    assert.deepEqual(
      (await client.readdir('/posix/a/b/c')).map((e) => e.name),
      ['f'],
    );
    await client.rename('/posix/a/b/c/f', '/posix/a/g');
    assert.deepEqual((await client.readdir('/posix/a')).map((e) => e.name).sort(), ['b', 'g']);
    await assert.rejects(client.rmdir('/posix/a/b'), (e: unknown) => isStrataError(e, 'ENOTEMPTY'));
    await client.rmdir('/posix/a/b/c');
    await client.rmdir('/posix/a/b');
    await client.unlink('/posix/a/g');
    assert.deepEqual(await client.readdir('/posix/a'), []);
    await assert.rejects(client.stat('/posix/a/g'), (e: unknown) => isStrataError(e, 'ENOENT'));
  });

  test('a file written at offsets is readable through S3', async () => {
    await client.create('/posix/via-s3');
    const file = await client.open('/posix/via-s3');
    await file.write(0, Buffer.from('0123456789'));
    await file.write(3, Buffer.from('abc'));
    const s3 = s3Client(server);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'posix', Key: 'via-s3' }));
    assert.equal((await bodyBytes(got.Body)).toString(), '012abc6789');
    assert.match(got.ETag ?? '', /^"[0-9a-f]{32}-0"$/, 'POSIX-written files have a stand-in ETag');
    s3.destroy();
  });
});
