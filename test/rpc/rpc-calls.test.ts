import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BufferPool, shardBuffers } from '../../src/common/buffer-pool.ts';
import { isStrataError, StrataError } from '../../src/common/errors.ts';
import { PREAMBLE_BYTES, tokenPreamble } from '../../src/rpc/handshake.ts';
import {
  encodeFrame,
  FRAME_SCRATCH_BYTES,
  type Frame,
  FrameDecoder,
  FrameReader,
  KIND_REQUEST,
  KIND_RESPONSE_OK,
  LARGE_FRAME_BYTES,
  RpcClient,
  RpcServer,
} from '../../src/rpc/index.ts';
import { processRpcSecurity } from '../../src/rpc/security.ts';
import '../helpers/cluster-token.ts';

// `n` bytes that differ by seed and position.
const patterned = (n: number, seed: number) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff));

// These tests' methods are their own: any member may call them.
const anyMethod = () => true;

// Everything a test opens is closed after it, pass or fail, so a failing test cannot keep the
// process alive.
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function rpcClient(addr: string): RpcClient {
  const client = new RpcClient(addr);
  cleanups.push(() => client.close());
  return client;
}

async function serve(setup: (server: RpcServer) => void, port = 0) {
  const server = new RpcServer({ name: 'test', permissions: anyMethod });
  setup(server);
  cleanups.push(() => server.close());
  const bound = await server.listen('127.0.0.1', port);
  return { server, addr: `127.0.0.1:${bound.port}`, port: bound.port };
}

// A TCP relay in front of a server that can cut every connection while it keeps listening.
async function startProxy(target: string) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.split(':')[1])];
  const pairs = new Set<[Socket, Socket]>();
  const replies: Frame[] = [];
  let accepted = 0;
  const relay = createServer((inbound) => {
    accepted++;
    const outbound = connect({ host, port });
    const decoder = new FrameDecoder();
    outbound.on('data', (chunk: Buffer) => replies.push(...decoder.push(chunk)));
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    inbound.pipe(outbound).pipe(inbound);
    for (const end of pair) {
      end.on('error', () => {});
      end.on('close', () => {
        for (const other of pair) other.destroy();
        pairs.delete(pair);
      });
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => relay.close(() => resolve())));
  const { port: relayPort } = relay.address() as { port: number };
  return {
    addr: `127.0.0.1:${relayPort}`,
    // The frames the server sent back through the relay so far.
    replies: () => replies,
    accepted: () => accepted,
    dropAll: () => {
      for (const pair of pairs) for (const end of pair) end.destroy();
    },
    close: () => new Promise<void>((resolve) => relay.close(() => resolve())),
  };
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
    const client = rpcClient(addr);
    const body = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 131) & 0xff;
    const reply = await client.call('echo', { a: 1, s: 'x' }, body);
    assert.deepEqual(reply.header, { a: 1, s: 'x' });
    assert.ok(reply.body?.equals(body));
    await client.close();
    await server.close();
  });

  test('100 concurrent calls answered in reverse order each get their own answer', async () => {
    const release: Array<() => void> = [];
    const { server, addr } = await serve((s) =>
      s.handle('gate', ({ header, body }) => {
        const { promise, resolve } = Promise.withResolvers<void>();
        release[header.n] = resolve;
        return promise.then(() => ({ header: { n: header.n }, body }));
      }),
    );
    const client = rpcClient(addr);
    const answered: number[] = [];
    const calls = Array.from({ length: 100 }, (_, n) =>
      client.call('gate', { n }, Buffer.from(`body ${n}`)).then((reply) => {
        answered.push(n);
        return reply;
      }),
    );
    while (release.filter(Boolean).length < 100) await sleep(5);
    for (let n = 99; n >= 0; n--) {
      release[n]();
      await sleep(0);
    }
    const replies = await Promise.all(calls);
    assert.deepEqual(
      answered,
      Array.from({ length: 100 }, (_, n) => 99 - n),
      'answers arrived last-first',
    );
    replies.forEach((reply, n) => {
      assert.equal(reply.header.n, n);
      assert.equal(reply.body?.toString(), `body ${n}`);
    });
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
    const client = rpcClient(addr);
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

  test('nothing listening is RPC_UNAVAILABLE', async () => {
    // Our listener holds 127.0.0.1:port, so no other test can bind the wildcard address on that
    // port, and nobody listens on 127.0.0.2:port: the refusal is certain, not a port-reuse race.
    const holder = await serve(() => {});
    const idle = rpcClient(`127.0.0.2:${holder.port}`);
    assert.equal(await codeOf(idle.call('x', {})), 'RPC_UNAVAILABLE');
    await idle.close();
    await holder.server.close();
  });

  test('bodySent: once the socket is done with the body, not when the call gives up', async () => {
    // A peer that accepts and never reads: an 8 MiB body stays queued on the connection, far
    // beyond what the kernel's socket buffers take.
    const held: Socket[] = [];
    const sink = createServer((socket) => {
      socket.pause();
      held.push(socket);
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of held) socket.destroy();
          sink.close(() => resolve());
        }),
    );
    const client = rpcClient(`127.0.0.1:${(sink.address() as { port: number }).port}`);
    let sent = 0;
    const body = Buffer.alloc(8 * 1024 * 1024, 1);
    const call = codeOf(client.call('x', {}, body, { timeoutMs: 200, bodySent: () => sent++ }));
    assert.equal(await call, 'RPC_TIMEOUT');
    await sleep(100);
    assert.equal(sent, 0, 'the call timed out with its body still queued on the socket');
    for (const socket of held) socket.destroy();
    for (let i = 0; i < 100 && sent === 0; i++) await sleep(20);
    assert.equal(sent, 1, 'the connection failed under the body: the socket is done with it');
    // A call that never writes its body says so at once; an answered one once.
    await client.close();
    let closedSent = 0;
    assert.equal(
      await codeOf(client.call('x', {}, body, { bodySent: () => closedSent++ })),
      'RPC_UNAVAILABLE',
    );
    assert.equal(closedSent, 1);
    const { addr } = await serve((s) =>
      s.handle('echo', async ({ body: b }) => ({ header: b?.length })),
    );
    const echo = rpcClient(addr);
    let echoSent = 0;
    const reply = await echo.call('echo', {}, body, { bodySent: () => echoSent++ });
    assert.equal(reply.header, body.length);
    await sleep(20);
    assert.equal(echoSent, 1);
  });

  test('a server that goes away mid-call is RPC_CONNECTION_LOST', async () => {
    const arrived = Promise.withResolvers<void>();
    const { server, addr } = await serve((s) =>
      s.handle('hang', () => {
        arrived.resolve();
        return new Promise(() => {});
      }),
    );
    const client = rpcClient(addr);
    const pending = codeOf(client.call('hang', {}));
    await arrived.promise;
    await server.close();
    assert.equal(await pending, 'RPC_CONNECTION_LOST');
    await client.close();
  });

  test('a dropped connection fails its calls and the next call reconnects', async () => {
    const arrived = Promise.withResolvers<void>();
    const { server, addr } = await serve((s) => {
      s.handle('hang', () => {
        arrived.resolve();
        return new Promise(() => {});
      });
      s.handle('ping', async () => ({ header: 'pong' }));
    });
    const proxy = await startProxy(addr);
    const client = rpcClient(proxy.addr);
    const pending = codeOf(client.call('hang', {}));
    await arrived.promise;
    proxy.dropAll();
    assert.equal(await pending, 'RPC_CONNECTION_LOST');
    assert.equal((await client.call('ping', {})).header, 'pong', 'reconnected');
    assert.equal(proxy.accepted(), 2, 'one new connection, not one per call');
    assert.equal((await client.call('ping', {})).header, 'pong');
    assert.equal(proxy.accepted(), 2);
    await client.close();
    await proxy.close();
    await server.close();
  });

  test('a one-way request runs its handler and nothing comes back, failures included', async () => {
    const seen: unknown[] = [];
    const { addr } = await serve((s) => {
      s.handle('note', async ({ header }) => {
        seen.push(header);
        return { header: 'unwanted' };
      });
      s.handle('broken', async () => {
        throw new StrataError('EINVAL', 'no');
      });
      s.handle('echo', async ({ header }) => ({ header }));
    });
    const proxy = await startProxy(addr);
    const client = rpcClient(proxy.addr);
    await client.notify('note', { n: 1 }); // opens the connection
    await client.notify('broken', {});
    await client.notify('nowhere', {}); // RPC_NO_METHOD, said only in the server's log
    await client.notify('note', { n: 2 });
    // Handlers run in the order their frames arrive, and each reply is written when its handler
    // is done: the echo's answer is the first frame back unless a one-way request got one.
    const reply = await client.call('echo', 'after');
    assert.equal(reply.header, 'after');
    assert.deepEqual(seen, [{ n: 1 }, { n: 2 }]);
    assert.equal(proxy.replies().length, 1, 'only the call was answered');
    assert.equal(proxy.replies()[0].kind, KIND_RESPONSE_OK);
    assert.equal(proxy.replies()[0].header, 'after');
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

  test('the frame decoder fills large frames into supplied buffers however the stream is cut', () => {
    const pattern = (n: number, seed: number) =>
      Buffer.from(Array.from({ length: n }, (_, i) => (i * 29 + seed) & 0xff));
    // Around the large-frame size: frames that stay in the chunks and frames that move out.
    const sizes = [10, LARGE_FRAME_BYTES - 40, LARGE_FRAME_BYTES, 300_000, 5, 70_000, 1];
    const bodies = sizes.map((n, i) => pattern(n, i));
    const frames = bodies.map((body, i) => encodeFrame(KIND_REQUEST, i + 1, { i }, body));
    const stream = Buffer.concat(frames.flat());
    for (const cut of [1, 3, 4, 13, 1000, 65_536, 100_000, stream.length]) {
      const supplied: Buffer[] = [];
      const decoder = new FrameDecoder((frameBytes) => {
        const buffer = Buffer.alloc(frameBytes, 0xee);
        supplied.push(buffer);
        return buffer;
      });
      const got = [];
      for (let at = 0; at < stream.length; at += cut)
        got.push(...decoder.push(stream.subarray(at, at + cut)));
      assert.deepEqual(
        got.map((f) => f.requestId),
        sizes.map((_, i) => i + 1),
        `cut ${cut}`,
      );
      got.forEach((frame, i) => {
        assert.deepEqual(frame.header, { i }, `cut ${cut} frame ${i}`);
        assert.ok((frame.body ?? Buffer.alloc(0)).equals(bodies[i]), `cut ${cut} body ${i}`);
        // A large frame that did not come in one chunk is in a supplied buffer, and only then.
        if (frame.leased !== undefined) {
          assert.ok(supplied.includes(frame.leased), `cut ${cut} frame ${i}: supplied`);
          assert.equal(frame.body?.buffer, frame.leased.buffer, 'the body is a view of it');
        }
      });
      const leased = got.filter((f) => f.leased !== undefined).length;
      assert.equal(leased, supplied.length, `cut ${cut}: every supplied buffer is a frame's`);
      const large = frames.filter((f) => Buffer.concat(f).length > LARGE_FRAME_BYTES).length;
      assert.equal(leased, cut >= stream.length ? 0 : large, `cut ${cut}: large frames leased`);
    }
  });

  test('the frame reader gives the same frames and bytes however the socket reads fall', () => {
    const pattern = (n: number, seed: number) =>
      Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
    // Around the scratch size: frames that fit it, that just do not, and far larger ones.
    const sizes = [0, 10, FRAME_SCRATCH_BYTES - 40, FRAME_SCRATCH_BYTES, 300_000, 5, 70_000, 1];
    const bodies = sizes.map((n, i) => pattern(n, i));
    const frames = bodies.map((body, i) =>
      encodeFrame(KIND_REQUEST, i + 1, { m: 'x', i }, body.length > 0 ? body : undefined),
    );
    const stream = Buffer.concat(frames.flat());
    for (const cut of [1, 3, 4, 13, 1000, 65_536, 100_000, stream.length]) {
      const reader = new FrameReader();
      const got = [];
      for (let at = 0; at < stream.length; ) {
        const into = reader.nextBuffer();
        const n = Math.min(cut, into.length, stream.length - at);
        stream.copy(into, 0, at, at + n);
        at += n;
        got.push(...reader.read(n, into));
      }
      assert.deepEqual(
        got.map((f) => f.requestId),
        sizes.map((_, i) => i + 1),
        `cut ${cut}`,
      );
      // Checked after every read is done: a body parsed from the reused scratch is a copy.
      got.forEach((frame, i) => {
        assert.deepEqual(frame.header, { m: 'x', i }, `cut ${cut} frame ${i}`);
        assert.ok((frame.body ?? Buffer.alloc(0)).equals(bodies[i]), `cut ${cut} body ${i}`);
      });
    }
  });

  test('replies of every size interleave on one connection, each with its own bytes', async () => {
    const { addr } = await serve((s) =>
      s.handle('make', async ({ header }) => {
        const { n, seed } = header as { n: number; seed: number };
        return { header: { n }, body: Buffer.alloc(n, seed) };
      }),
    );
    const client = rpcClient(addr);
    const sizes = [1, 70_000, 12, 1024 * 1024, 65_536, 3, 2_000_000, 64_000];
    const replies = await Promise.all(
      sizes.map((n, seed) => client.call('make', { n, seed: seed + 1 })),
    );
    replies.forEach((reply, i) => {
      assert.equal(reply.header.n, sizes[i]);
      assert.ok(reply.body?.equals(Buffer.alloc(sizes[i], i + 1)), `reply ${i} of ${sizes[i]}`);
    });
  });

  // Both ways a token server reads: into buffers it chooses (socket-reads.ts), and as a stream
  // (what a socket or a Node without those reads gets).
  for (const ownReads of [true, false])
    test(`a server reading into its request body pool gets every request whole, however the bytes arrive (${ownReads ? 'own reads' : 'stream reads'})`, async () => {
      const pool = new BufferPool({ idleBytesMax: 64 * 1024 * 1024 });
      const server = new RpcServer({
        name: 'test',
        permissions: anyMethod,
        requestBodyPool: pool,
        ownReads,
      });
      server.handle('sum', async ({ header, body }) => {
        const { seed } = header as { seed: number };
        const expected = patterned(body?.length ?? 0, seed);
        return {
          header: { same: body === undefined || body.equals(expected), n: body?.length ?? 0 },
        };
      });
      cleanups.push(() => server.close());
      const { port } = await server.listen('127.0.0.1', 0);
      // Through the client: every size at once on one connection.
      const client = rpcClient(`127.0.0.1:${port}`);
      const sizes = [0, 1, 70_000, 12, 1024 * 1024, 65_536, 3, 2_000_000, 64_000];
      const replies = await Promise.all(
        sizes.map((n, seed) =>
          client.call('sum', { seed }, n === 0 ? undefined : patterned(n, seed)),
        ),
      );
      for (const [i, reply] of replies.entries())
        assert.deepEqual(reply.header, { same: true, n: sizes[i] });
      // The large ones were read into the pool's buffers, given back once answered.
      assert.ok(pool.idleBytes >= 2_000_000, `${pool.idleBytes} bytes idle in the pool`);
      // By hand: the preamble and two requests (one small, one large) cut into pieces of 1 to 700
      // bytes, each written on its own.
      const { token } = processRpcSecurity() as { token: Buffer };
      const bytes = Buffer.concat([
        tokenPreamble(token, 'gateway'),
        ...encodeFrame(KIND_REQUEST, 7, { m: 'sum', t: 10_000, h: { seed: 5 } }, patterned(10, 5)),
        ...encodeFrame(
          KIND_REQUEST,
          8,
          { m: 'sum', t: 10_000, h: { seed: 6 } },
          patterned(90_000, 6),
        ),
      ]);
      const socket = connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      cleanups.push(() => socket.destroy());
      const decoder = new FrameDecoder();
      const answers: Frame[] = [];
      const answered = new Promise<void>((resolve) =>
        socket.on('data', (chunk: Buffer) => {
          answers.push(...decoder.push(chunk));
          if (answers.length === 2) resolve();
        }),
      );
      let at = 0;
      for (let piece = 1; at < bytes.length; piece = (piece * 7 + 3) % 701) {
        const end = Math.min(bytes.length, at + Math.max(1, piece));
        socket.write(bytes.subarray(at, end));
        at = end;
        if (end < 200 || piece % 5 === 0) await sleep(1);
      }
      await answered;
      assert.deepEqual(
        answers.map((a) => [a.requestId, a.kind, a.header]),
        [
          [7, KIND_RESPONSE_OK, { same: true, n: 10 }],
          [8, KIND_RESPONSE_OK, { same: true, n: 90_000 }],
        ],
      );
    });

  test('a frame reader reads a large frame into the buffer its caller supplies for that request', () => {
    const body = Buffer.alloc(200_000, 7);
    const stream = Buffer.concat([
      ...encodeFrame(KIND_REQUEST, 41, { m: 'x' }, body),
      ...encodeFrame(KIND_REQUEST, 42, { m: 'y' }, body),
    ]);
    for (const cut of [1, 5, 9, 13, 65_536, stream.length]) {
      const supplied: Buffer[] = [];
      let suppliedBodyAt = -1;
      // Request 41's frame goes into a supplied buffer; 42's into the reader's own.
      const reader = new FrameReader((requestId, frameBytes, bodyAt) => {
        if (requestId !== 41) return undefined;
        suppliedBodyAt = bodyAt;
        supplied.push(Buffer.alloc(frameBytes));
        return supplied.at(-1);
      });
      const got = [];
      for (let at = 0; at < stream.length; ) {
        const into = reader.nextBuffer();
        const n = Math.min(cut, into.length, stream.length - at);
        stream.copy(into, 0, at, at + n);
        at += n;
        got.push(...reader.read(n, into));
      }
      assert.equal(supplied.length, 1, `cut ${cut}: asked once, for request 41`);
      assert.equal(got[0].leased, supplied[0], `cut ${cut}`);
      assert.equal(got[0].body?.buffer, supplied[0].buffer, 'the body is a view of it');
      assert.equal(got[0].body?.byteOffset, supplied[0].byteOffset + suppliedBodyAt, 'bodyAt');
      assert.equal(got[1].leased, undefined);
      for (const frame of got) assert.ok(frame.body?.equals(body), `cut ${cut}`);
    }
  });

  for (const ownReads of [true, false])
    test(`a server gives back the buffers of requests it drops: half read, queued, undecodable (${ownReads ? 'own reads' : 'stream reads'})`, async () => {
      // Every large request buffer is acquired here and must come back (a data server's hold room
      // in its direct-write slab: a lost one is lost for the process's life).
      const out = new Set<Buffer>();
      let acquired = 0;
      const bodies = {
        acquire: (frameBytes: number) => {
          const buffer = Buffer.alloc(frameBytes);
          out.add(buffer);
          acquired++;
          return buffer;
        },
        release: (buffer: Buffer) => {
          assert.ok(out.delete(buffer), 'a buffer acquired here, given back once');
        },
      };
      let handlerStarted!: () => void;
      const started = new Promise<void>((resolve) => {
        handlerStarted = resolve;
      });
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const server = new RpcServer({
        name: 'test',
        permissions: anyMethod,
        requestBodyPool: bodies,
        inFlightPerConnectionMax: 1,
        ownReads,
      });
      server.handle('hold', async () => {
        handlerStarted();
        await finished;
        return { header: {} };
      });
      cleanups.push(() => server.close());
      const { port } = await server.listen('127.0.0.1', 0);
      const { token } = processRpcSecurity() as { token: Buffer };
      // Request 3's frame is longer than the others: its buffer is told apart by its length.
      const large = (requestId: number) =>
        Buffer.concat(
          encodeFrame(
            KIND_REQUEST,
            requestId,
            { m: 'hold', h: {} },
            patterned(requestId === 3 ? 120_000 : 100_000, requestId),
          ),
        );
      const send = async (bytes: Buffer) => {
        const socket = connect({ host: '127.0.0.1', port });
        cleanups.push(() => socket.destroy());
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        socket.write(Buffer.concat([tokenPreamble(token, 'gateway'), bytes]));
        return socket;
      };
      const allBack = async (what: string) => {
        for (let i = 0; i < 200 && out.size > 0; i++) await sleep(10);
        assert.equal(out.size, 0, `${what}: every buffer given back`);
      };
      // One in the handler (held) and one queued behind it (the connection reads no more while its
      // queue is full); on another connection, one half read. Then both clients go.
      const third = large(3);
      const holding = await send(Buffer.concat([large(1), large(2)]));
      const halfway = await send(third.subarray(0, third.length >> 1));
      await started;
      for (let i = 0; i < 200 && acquired < 3; i++) await sleep(10);
      assert.equal(acquired, 3, 'three large frames begun');
      holding.destroy();
      halfway.destroy();
      // The half-read frame comes back at its close. (The holding connection, read into chosen
      // buffers, reads nothing while its queue is full, so it sees its close only once the
      // handler answers and it reads again; read as a stream, it sees it at once.)
      const halfRead = () => [...out].some((b) => b.length === third.length);
      for (let i = 0; i < 200 && halfRead(); i++) await sleep(10);
      assert.ok(!halfRead(), 'the half-read frame given back at the close');
      // The server closing drops the holding connection: its queued frame comes back then.
      await server.close();
      for (let i = 0; i < 200 && out.size > 1; i++) await sleep(10);
      assert.equal(out.size, 1, 'the queued frame given back when its connection is dropped');
      finish();
      await allBack('after the handler answered');
      // A large frame whose header does not decode (its length runs past the frame).
      await server.listen('127.0.0.1', port);
      const bad = large(4);
      bad.writeUInt32BE(bad.length, 9);
      await send(bad);
      for (let i = 0; i < 200 && acquired < 4; i++) await sleep(10);
      assert.equal(acquired, 4);
      await allBack('a frame that did not decode');
    });

  test('a leased reply is read into a pooled buffer that release gives back, late ones too', async () => {
    let releasedAtServer = 0;
    const { addr } = await serve((s) =>
      s.handle('make', async ({ header }) => {
        const { n, delayMs } = header as { n: number; delayMs: number };
        await sleep(delayMs);
        return {
          header: {},
          body: Buffer.alloc(n, 3),
          release: () => {
            releasedAtServer++;
          },
        };
      }),
    );
    const client = rpcClient(addr);
    const outBefore = shardBuffers.counts.out;
    const reply = await client.call('make', { n: 300_000, delayMs: 0 }, undefined, {
      leaseReply: true,
    });
    assert.ok(reply.body?.equals(Buffer.alloc(300_000, 3)));
    assert.equal(shardBuffers.counts.out, outBefore + 1, 'the reply holds a pooled buffer');
    reply.release?.();
    reply.release?.(); // once only
    assert.equal(shardBuffers.counts.out, outBefore);
    // The server does not send a reply past its deadline, and releases its body all the same.
    await assert.rejects(
      client.call('make', { n: 300_000, delayMs: 300 }, undefined, {
        leaseReply: true,
        timeoutMs: 100,
      }),
      (e: unknown) => isStrataError(e, 'RPC_TIMEOUT'),
    );
    for (let i = 0; i < 100 && releasedAtServer < 2; i++) await sleep(20);
    assert.equal(releasedAtServer, 2, 'the server released both bodies, sent or not');
    // A small reply is not pooled, and its release does nothing.
    const small = await client.call('make', { n: 100, delayMs: 0 }, undefined, {
      leaseReply: true,
    });
    small.release?.();
    assert.equal(shardBuffers.counts.out, outBefore);
  });

  test('a leased reply that lands after its call timed out is given back to the pool', async () => {
    // A server that starts its answer at once and ends it 300 ms later, deadline or not: the
    // reply's buffer is leased while the call waits, and whole only after it timed out.
    let answered = 0;
    const late = createServer((socket) => {
      let preamble = Buffer.alloc(0);
      const decoder = new FrameDecoder();
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        let rest = chunk;
        if (preamble.length < PREAMBLE_BYTES) {
          preamble = Buffer.concat([preamble, chunk]);
          if (preamble.length < PREAMBLE_BYTES) return;
          rest = preamble.subarray(PREAMBLE_BYTES);
        }
        for (const frame of decoder.push(rest)) {
          const reply = Buffer.concat(
            encodeFrame(KIND_RESPONSE_OK, frame.requestId, {}, Buffer.alloc(300_000)),
          );
          socket.write(reply.subarray(0, 100));
          setTimeout(() => socket.write(reply.subarray(100), () => answered++), 300);
        }
      });
    });
    await new Promise<void>((resolve) => late.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => late.close(resolve)));
    const client = rpcClient(`127.0.0.1:${(late.address() as { port: number }).port}`);
    const before = shardBuffers.counts;
    await assert.rejects(
      client.call('make', {}, undefined, { leaseReply: true, timeoutMs: 100 }),
      (e: unknown) => isStrataError(e, 'RPC_TIMEOUT'),
    );
    assert.equal(shardBuffers.counts.out, before.out + 1, 'the reply is being read into it');
    for (let i = 0; i < 100 && answered === 0; i++) await sleep(20);
    assert.equal(answered, 1);
    for (let i = 0; i < 100 && shardBuffers.counts.out !== before.out; i++) await sleep(20);
    assert.equal(shardBuffers.counts.out, before.out, 'nobody took it: given back');
  });

  test('a frame reader refuses a frame length above the limit (RPC_BAD_FRAME)', () => {
    const reader = new FrameReader();
    const into = reader.nextBuffer();
    into.writeUInt32BE(0xfffffff0, 0);
    assert.throws(
      () => reader.read(8, into),
      (e: unknown) => isStrataError(e, 'RPC_BAD_FRAME'),
    );
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
