import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isStrataError } from '../../src/common/errors.ts';
import { rpcRequests } from '../../src/observability/metrics.ts';
import { tokenPreamble } from '../../src/rpc/handshake.ts';
import { FRAME_BYTES_MAX, RpcClient, RpcServer } from '../../src/rpc/index.ts';
import { CLUSTER_TOKEN } from '../helpers/cluster-token.ts';

// How long after the client's own timeout the queued-call test waits for the server's copy of
// the deadline to pass too, and how long it waits for the server's answer to that call.
const SERVER_DEADLINE_MARGIN_MS = 250;
const ANSWER_WAIT_MS = 10_000;

// These tests' methods are their own: any member may call them.
const anyMethod = () => true;
// What a hand-built client sends before its frames (src/rpc/handshake.ts).
const PREAMBLE = tokenPreamble(CLUSTER_TOKEN, 'admin');

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (e: unknown) => (isStrataError(e) ? e.code : String(e)),
  );

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

async function serve(setup: (server: RpcServer) => void, inFlightPerConnectionMax?: number) {
  const server = new RpcServer({ name: 'test', inFlightPerConnectionMax, permissions: anyMethod });
  setup(server);
  cleanups.push(() => server.close());
  const bound = await server.listen('127.0.0.1', 0);
  return { server, addr: `127.0.0.1:${bound.port}`, port: bound.port };
}

const RPC_URL = new URL('../../src/rpc/index.ts', import.meta.url).href;

// An RPC server in its own process, whose handler never answers, so it can be killed mid-call.
async function serverProcess() {
  const script = `
    const { RpcServer } = await import(${JSON.stringify(RPC_URL)});
    const token = Buffer.from(${JSON.stringify(CLUSTER_TOKEN.toString('hex'))}, 'hex');
    const security = { mode: 'token', token, role: 'metadata' };
    const server = new RpcServer({ name: 'child', security, permissions: () => true });
    server.handle('hang', () => new Promise(() => {}));
    const { port } = await server.listen('127.0.0.1', 0);
    process.stdout.write(port + '\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  return { child, addr: `127.0.0.1:${Number(line.toString().trim())}` };
}

describe('internal RPC limits and failures', () => {
  test('a server process killed mid-call fails the call with RPC_CONNECTION_LOST', async () => {
    const { child, addr } = await serverProcess();
    const client = rpcClient(addr);
    try {
      const pending = codeOf(client.call('hang', {}, Buffer.alloc(1024)));
      // A second call proves the connection is up and the first request went out on it.
      const probe = codeOf(client.call('missing', {}));
      assert.equal(await probe, 'RPC_NO_METHOD');
      child.kill('SIGKILL');
      assert.equal(await pending, 'RPC_CONNECTION_LOST');
    } finally {
      child.kill('SIGKILL');
      await client.close();
    }
  });

  test('a frame announcing more than 72 MiB makes the server close the connection', async () => {
    let handled = 0;
    const { server, port } = await serve((s) =>
      s.handle('x', async () => {
        handled++;
        return { header: {} };
      }),
    );
    const socket = connect({ host: '127.0.0.1', port });
    cleanups.push(() => socket.destroy());
    await once(socket, 'connect');
    const prefix = Buffer.alloc(13);
    prefix.writeUInt32BE(FRAME_BYTES_MAX, 0); // + 4 prefix bytes = one over the limit
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.write(PREAMBLE);
    socket.write(prefix);
    await once(socket, 'close');
    assert.equal(Buffer.concat(received).length, 0, 'no answer, just a closed connection');
    assert.equal(handled, 0);
    await server.close();
  });

  test('a body over the frame limit is RPC_BAD_FRAME before any connection is made', async () => {
    const probe = await serve(() => {});
    await probe.server.close();
    const client = rpcClient(probe.addr); // nothing listens: connecting would be UNAVAILABLE
    const body = Buffer.alloc(FRAME_BYTES_MAX);
    assert.equal(await codeOf(client.call('x', {}, body)), 'RPC_BAD_FRAME');
    await client.close();
  });

  test('a request whose deadline passed while it queued is answered RPC_TIMEOUT unrun', async () => {
    const ran: string[] = [];
    const gate = Promise.withResolvers<void>();
    const { server, addr } = await serve((s) => {
      s.handle('block', async () => {
        ran.push('block');
        await gate.promise;
        return { header: 'done' };
      });
      s.handle('quick', async () => {
        ran.push('quick');
        return { header: 'quick' };
      });
    }, 1);
    const client = rpcClient(addr);
    const blocking = client.call('block', {});
    const queued = codeOf(client.call('quick', {}, undefined, { timeoutMs: 30 }));
    assert.equal(await queued, 'RPC_TIMEOUT', 'the caller gives up while the call queues');
    // The server's copy of the deadline runs from its receipt of the call, which on a loaded
    // machine may come well after the client sent it: wait long enough for that copy to pass.
    await sleep(SERVER_DEADLINE_MARGIN_MS);
    const before = (await rpcRequests.get()).values.find(
      (v) => v.labels.method === 'quick' && v.labels.code === 'RPC_TIMEOUT',
    );
    gate.resolve();
    assert.equal((await blocking).header, 'done');
    // The server answers the queued call itself once the slot frees; wait for that answer.
    // (Bounded: a call that ran after all never brings that answer, and must fail, not hang.)
    const waitUntilMs = Date.now() + ANSWER_WAIT_MS;
    for (;;) {
      const after = (await rpcRequests.get()).values.find(
        (v) => v.labels.method === 'quick' && v.labels.code === 'RPC_TIMEOUT',
      );
      if ((after?.value ?? 0) > (before?.value ?? 0)) break;
      assert.ok(Date.now() < waitUntilMs, `no RPC_TIMEOUT answer; handlers run: ${ran.join(', ')}`);
      await sleep(5);
    }
    assert.deepEqual(ran, ['block'], 'the expired request never reached its handler');
    assert.equal((await client.call('quick', {})).header, 'quick', 'the slot is free again');
    await client.close();
    await server.close();
  });

  test('handlers see their deadline; metrics count calls, unknown methods under one label', async () => {
    let seenDeadlineMs = 0;
    const { server, addr } = await serve((s) =>
      s.handle('metered', async ({ deadlineMs }) => {
        seenDeadlineMs = deadlineMs;
        return { header: null };
      }),
    );
    const client = rpcClient(addr);
    const count = async (method: string, code: string) =>
      (await rpcRequests.get()).values.find(
        (v) => v.labels.method === method && v.labels.code === code,
      )?.value ?? 0;
    const okBefore = await count('metered', 'ok');
    const unknownBefore = await count('(unknown)', 'RPC_NO_METHOD');
    const sentMs = Date.now();
    await client.call('metered', {}, undefined, { timeoutMs: 60_000 });
    assert.ok(seenDeadlineMs > sentMs && seenDeadlineMs <= Date.now() + 60_000, 'deadline');
    await codeOf(client.call('no.such.method.1', {}));
    await codeOf(client.call('no.such.method.2', {}));
    assert.equal(await count('metered', 'ok'), okBefore + 1);
    assert.equal(await count('(unknown)', 'RPC_NO_METHOD'), unknownBefore + 2);
    assert.equal(await count('no.such.method.1', 'RPC_NO_METHOD'), 0);
    await client.close();
    await server.close();
  });
});
