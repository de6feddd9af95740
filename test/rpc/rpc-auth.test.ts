// Internal RPC admits only cluster members, and each member only to the methods of its role
// (src/rpc/security.ts, handshake.ts, permissions.ts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { isStrataError } from '../../src/common/errors.ts';
import { DATA_RPC } from '../../src/data/types.ts';
import { RAFT_RPC } from '../../src/metadata/replication/transport.ts';
import { METADATA_RPC } from '../../src/metadata/types.ts';
import {
  encodeFrame,
  FrameDecoder,
  KIND_REQUEST,
  PERMISSIONS,
  RPC_METHODS,
  RpcClient,
  type RpcSecurity,
  RpcServer,
} from '../../src/rpc/index.ts';
import { testCa } from '../helpers/certs.ts';
import { CLUSTER_TOKEN } from '../helpers/cluster-token.ts';

const cluster = testCa('strata-ca-');
const foreign = testCa('strata-foreign-ca-');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// A data server's two methods that matter here; `ran` lists the calls that reached a handler.
async function dataServer(security: RpcSecurity) {
  const ran: string[] = [];
  const server = new RpcServer({ name: 'data test', security });
  server.handle(DATA_RPC.getShard, async () => {
    ran.push('getShard');
    return { header: { ok: true } };
  });
  server.handle(DATA_RPC.deleteShards, async () => {
    ran.push('deleteShards');
    return { header: { deleted: 1 } };
  });
  const { port } = await server.listen('127.0.0.1', 0);
  cleanups.push(() => server.close());
  return { ran, port, addr: `127.0.0.1:${port}` };
}

function client(addr: string, security: RpcSecurity): RpcClient {
  const rpc = new RpcClient(addr, { security, connectTimeoutMs: 5_000 });
  cleanups.push(() => rpc.close());
  return rpc;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    assert.ok(isStrataError(error), `a StrataError, got ${error}`);
    return error.code;
  }
}

// Sends a well-formed request on a socket and collects what comes back until it closes.
async function answersTo(socket: Socket, connectEvent: string): Promise<number> {
  const decoder = new FrameDecoder();
  let frames = 0;
  socket.on('data', (chunk: Buffer) => {
    frames += decoder.push(chunk).filter((f) => f.requestId !== 0).length;
  });
  socket.on('error', () => {});
  await once(socket, connectEvent);
  for (const b of encodeFrame(KIND_REQUEST, 1, { m: DATA_RPC.getShard, t: 5_000, h: {} }))
    socket.write(b);
  // Not events.once: it would reject on the 'error' (a TLS alert) that precedes the close.
  await new Promise((resolve) => socket.once('close', resolve));
  return frames;
}

describe('internal RPC over TLS', () => {
  test('a member with the cluster CA and the right role is served', async () => {
    const server = await dataServer(cluster.security('data'));
    const reply = await client(server.addr, cluster.security('gateway')).call(
      DATA_RPC.getShard,
      {},
    );
    assert.deepEqual(reply.header, { ok: true });
    assert.deepEqual(server.ran, ['getShard']);
  });

  test("a mount's certificate cannot delete shards: RPC_FORBIDDEN, no handler runs", async () => {
    const server = await dataServer(cluster.security('data'));
    const mount = client(server.addr, cluster.security('mount'));
    assert.equal(await codeOf(mount.call(DATA_RPC.deleteShards, { shards: [] })), 'RPC_FORBIDDEN');
    // The same connection still serves what a mount may do.
    assert.equal(await codeOf(mount.call(DATA_RPC.getShard, {})), 'ok');
    assert.deepEqual(server.ran, ['getShard']);
  });

  test('a certificate from another CA is refused with RPC_UNAUTHENTICATED', async () => {
    const server = await dataServer(cluster.security('data'));
    const stranger = client(server.addr, foreign.security('admin'));
    assert.equal(await codeOf(stranger.call(DATA_RPC.getShard, {})), 'RPC_UNAUTHENTICATED');
    assert.deepEqual(server.ran, []);
  });

  test('a server with a certificate from another CA is refused by the client', async () => {
    const server = await dataServer(foreign.security('data'));
    const member = client(server.addr, cluster.security('admin'));
    assert.equal(await codeOf(member.call(DATA_RPC.getShard, {})), 'RPC_UNAUTHENTICATED');
    assert.deepEqual(server.ran, []);
  });

  test('a TLS connection without a certificate gets no answer', async () => {
    const server = await dataServer(cluster.security('data'));
    const socket = connectTls({
      host: '127.0.0.1',
      port: server.port,
      ca: readFileSync(cluster.files('admin').ca),
      checkServerIdentity: () => undefined,
    });
    assert.equal(await answersTo(socket, 'secureConnect'), 0);
    assert.deepEqual(server.ran, []);
  });

  test('plain TCP with a hand-built frame gets no answer', async () => {
    const server = await dataServer(cluster.security('data'));
    const socket = connectTcp({ host: '127.0.0.1', port: server.port });
    assert.equal(await answersTo(socket, 'connect'), 0);
    assert.deepEqual(server.ran, []);
  });

  test('a client without TLS (the cluster token) is told at once, not left to retry', async () => {
    const server = await dataServer(cluster.security('data'));
    const tokenClient: RpcSecurity = { mode: 'token', token: CLUSTER_TOKEN, role: 'admin' };
    const call = client(server.addr, tokenClient).call(DATA_RPC.getShard, {});
    await assert.rejects(call, (error) => {
      assert.ok(isStrataError(error, 'RPC_UNAUTHENTICATED'), String(error));
      assert.match(error.message, /speaks TLS only/);
      return true;
    });
    assert.deepEqual(server.ran, []);
  });

  test("a gateway's certificate cannot pose as a server", async () => {
    const server = await dataServer(cluster.security('gateway'));
    const member = client(server.addr, cluster.security('admin'));
    assert.equal(await codeOf(member.call(DATA_RPC.getShard, {})), 'RPC_UNAUTHENTICATED');
    assert.deepEqual(server.ran, []);
  });
});

describe('internal RPC with the cluster token (loopback only)', () => {
  const tokenOf = (role: 'data' | 'mount' | 'gateway'): RpcSecurity => ({
    mode: 'token',
    token: CLUSTER_TOKEN,
    role,
  });

  test('the token admits a member, its role still limits it', async () => {
    const server = await dataServer(tokenOf('data'));
    assert.equal(
      await codeOf(client(server.addr, tokenOf('gateway')).call(DATA_RPC.getShard, {})),
      'ok',
    );
    const mount = client(server.addr, tokenOf('mount'));
    assert.equal(await codeOf(mount.call(DATA_RPC.deleteShards, {})), 'RPC_FORBIDDEN');
    assert.deepEqual(server.ran, ['getShard']);
  });

  test('a wrong token is refused with RPC_UNAUTHENTICATED', async () => {
    const server = await dataServer(tokenOf('data'));
    const wrong: RpcSecurity = { mode: 'token', token: randomBytes(32), role: 'admin' };
    assert.equal(
      await codeOf(client(server.addr, wrong).call(DATA_RPC.getShard, {})),
      'RPC_UNAUTHENTICATED',
    );
    assert.deepEqual(server.ran, []);
  });

  test('a hand-built frame without the token gets no answer', async () => {
    const server = await dataServer(tokenOf('data'));
    const socket = connectTcp({ host: '127.0.0.1', port: server.port });
    assert.equal(await answersTo(socket, 'connect'), 0);
    assert.deepEqual(server.ran, []);
  });

  test('without TLS a server refuses to listen beyond loopback', async () => {
    const server = new RpcServer({ name: 'wide', security: tokenOf('data') });
    await assert.rejects(server.listen('0.0.0.0', 0), (error) =>
      isStrataError(error, 'CONFIG_INVALID'),
    );
  });
});

describe('the permission table', () => {
  test('has a row for every method the services register, and no other', () => {
    const registered = [
      ...Object.values(RAFT_RPC),
      ...Object.values(METADATA_RPC),
      ...Object.values(DATA_RPC),
    ].sort();
    assert.deepEqual([...RPC_METHODS].sort(), registered);
  });

  test('a mount never deletes shards, and only metadata members speak Raft', () => {
    assert.ok(!PERMISSIONS['data.deleteShards'].includes('mount'));
    assert.deepEqual(PERMISSIONS['raft.step'], ['metadata']);
  });

  test('a server will not register a method without a row', () => {
    const server = new RpcServer({ name: 'x', security: cluster.security('data') });
    assert.throws(() => server.handle('data.secretBackdoor', async () => ({ header: {} })));
  });
});
