import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isStrataError, StrataError } from '../../src/common/errors.ts';
import {
  encodeFrame,
  FrameDecoder,
  KIND_REQUEST,
  RpcClient,
  RpcServer,
} from '../../src/rpc/index.ts';

async function serve(setup: (server: RpcServer) => void, port = 0) {
  const server = new RpcServer({ name: 'test' });
  setup(server);
  const bound = await server.listen('127.0.0.1', port);
  return { server, addr: `127.0.0.1:${bound.port}`, port: bound.port };
}

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (e: unknown) => (isStrataError(e) ? e.code : String(e)),
  );

describe('internal RPC', () => {
  test('a 5 MiB body round-trips byte for byte, header and all', async () => {
    const { server, addr } = await serve((s) =>
      s.handle('echo', async ({ header, body }) => ({ header, body })),
    );
    const client = new RpcClient(addr);
    const body = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 131) & 0xff;
    const reply = await client.call('echo', { a: 1, s: 'x' }, body);
    assert.deepEqual(reply.header, { a: 1, s: 'x' });
    assert.ok(reply.body?.equals(body));
    await client.close();
    await server.close();
  });

  test('200 concurrent calls answered out of order each get their own answer', async () => {
    const { server, addr } = await serve((s) =>
      s.handle('delay', async ({ header }) => {
        await sleep((header.n * 7) % 23);
        return { header: { n: header.n } };
      }),
    );
    const client = new RpcClient(addr);
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, n) => client.call('delay', { n })),
    );
    assert.deepEqual(
      replies.map((r) => r.header.n),
      Array.from({ length: 200 }, (_, n) => n),
    );
    await client.close();
    await server.close();
  });

  test('errors keep their codes: remote StrataError, INTERNAL, RPC_NO_METHOD, RPC_TIMEOUT', async () => {
    const { server, addr } = await serve((s) => {
      s.handle('enoent', async () => {
        throw new StrataError('ENOENT', 'no such thing');
      });
      s.handle('boom', async () => {
        throw new Error('unexpected');
      });
      s.handle('slow', async () => {
        await sleep(300);
        return { header: {} };
      });
    });
    const client = new RpcClient(addr);
    const remote = await client.call('enoent', {}).catch((e) => e);
    assert.equal(remote.code, 'ENOENT');
    assert.match(remote.message, /no such thing/);
    assert.equal(await codeOf(client.call('boom', {})), 'INTERNAL');
    assert.equal(await codeOf(client.call('nope', {})), 'RPC_NO_METHOD');
    assert.equal(
      await codeOf(client.call('slow', {}, undefined, { timeoutMs: 50 })),
      'RPC_TIMEOUT',
    );
    await client.close();
    await server.close();
  });

  test('nothing listening is RPC_UNAVAILABLE; a server that goes away mid-call is RPC_CONNECTION_LOST', async () => {
    const probe = await serve(() => {});
    await probe.server.close();
    const idle = new RpcClient(probe.addr);
    assert.equal(await codeOf(idle.call('x', {})), 'RPC_UNAVAILABLE');
    await idle.close();

    const { server, addr, port } = await serve((s) =>
      s.handle('hang', () => new Promise(() => {})),
    );
    const client = new RpcClient(addr);
    const pending = codeOf(client.call('hang', {}));
    await sleep(50);
    await server.close();
    assert.equal(await pending, 'RPC_CONNECTION_LOST');
    const again = await serve((s) => s.handle('ping', async () => ({ header: 'pong' })), port);
    assert.equal(
      (await client.call('ping', {})).header,
      'pong',
      'the client reconnects on the next call',
    );
    await client.close();
    await again.server.close();
  });

  test('the frame decoder gives the same frames however the stream is cut', () => {
    const frames = [
      encodeFrame(KIND_REQUEST, 1, { m: 'a', h: [1, 2] }),
      encodeFrame(KIND_REQUEST, 2, { m: 'b' }, Buffer.from('body bytes')),
      encodeFrame(KIND_REQUEST, 3, null, Buffer.alloc(70_000, 9)),
    ];
    const stream = Buffer.concat(frames.flat());
    for (const cut of [1, 2, 3, 7, 13, 64, 1000, stream.length]) {
      const decoder = new FrameDecoder();
      const got = [];
      for (let at = 0; at < stream.length; at += cut)
        got.push(...decoder.push(stream.subarray(at, at + cut)));
      assert.deepEqual(
        got.map((f) => f.requestId),
        [1, 2, 3],
        `cut ${cut}`,
      );
      assert.equal(got[1].body?.toString(), 'body bytes');
      assert.equal(got[2].body?.length, 70_000);
    }
  });

  test('a frame length above the limit is RPC_BAD_FRAME', () => {
    const decoder = new FrameDecoder();
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xfffffff0, 0);
    assert.throws(
      () => decoder.push(huge),
      (e: unknown) => isStrataError(e, 'RPC_BAD_FRAME'),
    );
  });
});
