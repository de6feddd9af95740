// A cluster whose internal traffic is TLS (metadata, data server and S3 gateway, each its own
// process with its own role's certificate): S3 works end to end through it, and each internal
// port refuses whoever is not a member, and a mount what its role may not do.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { userLogin } from '../../src/client/user-login.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { DATA_RPC } from '../../src/data/types.ts';
import type { Stripe } from '../../src/metadata/types.ts';
import { METADATA_RPC } from '../../src/metadata/types.ts';
import {
  encodeFrame,
  FrameDecoder,
  KIND_REQUEST,
  RpcClient,
  type RpcSecurity,
} from '../../src/rpc/index.ts';
import { testCa } from '../helpers/certs.ts';
import { runProcess } from '../helpers/process.ts';
import { s3Client } from '../helpers/s3.ts';
import { STRATA_BIN, type StrataProcess, startStrata } from '../helpers/server.ts';

const ca = testCa('strata-ca-');
const foreign = testCa('strata-foreign-ca-');
const processes: StrataProcess[] = [];
const clients: RpcClient[] = [];
let metadata: StrataProcess;
let dataAddr: string;
let gateway: StrataProcess;

before(async () => {
  metadata = await startStrata({
    args: ['--role', 'metadata'],
    ready: ['metadata'],
    env: ca.env('metadata'),
  });
  processes.push(metadata);
  const data = await startStrata({
    args: ['--role', 'data', '--metadata-addr', metadata.metadataAddr],
    ready: [],
    env: ca.env('data'),
  });
  processes.push(data);
  dataAddr = /^ {2}data +(\S+)/m.exec(data.output())?.[1] ?? '';
  assert.match(dataAddr, /^127\.0\.0\.1:\d+$/, data.output());
  gateway = await startStrata({
    args: ['--role', 's3', '--metadata-addr', metadata.metadataAddr],
    ready: ['s3'],
    env: ca.env('gateway'),
  });
  processes.push(gateway);
});

after(async () => {
  for (const client of clients) await client.close();
  for (const p of processes.reverse()) await p.stop();
});

function client(addr: string, security: RpcSecurity): RpcClient {
  const rpc = new RpcClient(addr, { security });
  clients.push(rpc);
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

// A well-formed request on a socket; the answers it got before the server closed it.
async function answersTo(socket: Socket, connectEvent: string, method: string): Promise<number> {
  const decoder = new FrameDecoder();
  let answers = 0;
  socket.on('data', (chunk: Buffer) => {
    answers += decoder.push(chunk).filter((f) => f.requestId !== 0).length;
  });
  socket.on('error', () => {});
  await once(socket, connectEvent);
  for (const b of encodeFrame(KIND_REQUEST, 1, { m: method, t: 5_000, h: {} })) socket.write(b);
  // Not events.once: it would reject on the 'error' (a TLS alert) that precedes the close.
  await new Promise((resolve) => socket.once('close', resolve));
  return answers;
}

const [host, portOf] = ['127.0.0.1', (addr: string) => Number(addr.split(':')[1])];

describe('a cluster with TLS between its members', () => {
  test('S3 PUT and GET go through the gateway, data servers and metadata', async () => {
    const s3 = s3Client(gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'tls' }));
    const body = Buffer.from('over TLS, end to end\n'.repeat(50_000));
    await s3.send(new PutObjectCommand({ Bucket: 'tls', Key: 'a/b.txt', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'tls', Key: 'a/b.txt' }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body));
    s3.destroy();
  });

  for (const port of ['metadata', 'data'] as const) {
    const addr = () => (port === 'metadata' ? metadata.metadataAddr : dataAddr);
    const method = port === 'metadata' ? METADATA_RPC.config : DATA_RPC.status;

    test(`the ${port} port answers an administrator's certificate`, async () => {
      assert.equal(await codeOf(client(addr(), ca.security('admin')).call(method, {})), 'ok');
    });

    test(`the ${port} port gives nothing to plain TCP`, async () => {
      const socket = connectTcp({ host, port: portOf(addr()) });
      assert.equal(await answersTo(socket, 'connect', method), 0);
    });

    test(`the ${port} port gives nothing to TLS without a certificate`, async () => {
      const socket = connectTls({
        host,
        port: portOf(addr()),
        ca: readFileSync(ca.files('admin').ca),
        checkServerIdentity: () => undefined,
      });
      assert.equal(await answersTo(socket, 'secureConnect', method), 0);
    });

    test(`the ${port} port refuses a certificate from another CA`, async () => {
      const stranger = client(addr(), foreign.security('admin'));
      assert.equal(await codeOf(stranger.call(method, {})), 'RPC_UNAUTHENTICATED');
    });
  }

  test("a mount's certificate cannot delete shards, and the object stays whole", async () => {
    const admin = client(metadata.metadataAddr, ca.security('admin'));
    const page = await admin.call<{ value: { stripes: Array<{ stripe: Stripe }> } }>(
      METADATA_RPC.read,
      { fn: 'scanStripes', args: [undefined, 10] },
    );
    const stripe = page.header.value.stripes[0]?.stripe;
    assert.ok(stripe, 'the PUT above wrote a stripe');
    const shards = stripe.shards.map((s, shardIndex) => ({
      stripeId: stripe.id,
      shardIndex,
      disk: s.disk,
    }));
    const mount = client(dataAddr, ca.security('mount'));
    const refused = mount.call(DATA_RPC.deleteShards, { shards });
    assert.equal(await codeOf(refused), 'RPC_FORBIDDEN');
    const s3 = s3Client(gateway);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'tls', Key: 'a/b.txt' }));
    assert.equal((await got.Body!.transformToByteArray()).length, 21 * 50_000);
    s3.destroy();
  });

  test('the CLI works with an admin certificate and is refused without one', async () => {
    const args = [STRATA_BIN, 'cluster', 'status', '--metadata-addr', metadata.metadataAddr];
    const withCert = await runProcess(process.execPath, args, {
      env: { ...process.env, STRATA_CONFIG: '', ...ca.env('admin') },
    });
    assert.equal(withCert.status, 0, withCert.stderr);
    assert.match(withCert.stdout, /data servers: 1/);
    // No certificate, and no token either: the CLI has nothing to present and says so.
    const without = await runProcess(process.execPath, args, {
      env: { ...process.env, STRATA_CONFIG: '', STRATA_TLS_TOKEN_FILE: `${ca.dir}/none.token` },
    });
    assert.equal(without.status, 1, without.stderr);
    assert.match(without.stderr, /no cluster credentials.*RPC_UNAUTHENTICATED/s);
    // The cluster token of a single machine is no credential for a TLS cluster.
    const withToken = await runProcess(process.execPath, args, {
      env: { ...process.env, STRATA_CONFIG: '' },
    });
    assert.equal(withToken.status, 1, withToken.stderr);
    assert.match(withToken.stderr, /speaks TLS only.*RPC_UNAUTHENTICATED/s);
  });
});

// A mount's certificate is no operator's: it reaches the namespace only as a user, logged in on
// its connection with a proof bound to that TLS connection (src/metadata/user-login.ts).
describe('mounts as users over TLS', () => {
  const bob = { accessKeyId: 'BOBKEY0000000001', secretKey: 'bob-secret-000001' };
  const readBuckets = (rpc: RpcClient) =>
    rpc.call<{ value: Array<{ name: string }> }>(METADATA_RPC.read, {
      fn: 'listBuckets',
      args: [],
    });

  before(async () => {
    const admin = client(metadata.metadataAddr, ca.security('admin'));
    const command = { op: 'createUser', nowMs: 0, name: 'bob', admin: false, ...bob };
    const created = await admin.call<{ ok: boolean }>(METADATA_RPC.userApply, { command });
    assert.equal(created.header.ok, true);
    await admin.call(METADATA_RPC.apply, {
      command: {
        op: 'createBucket',
        nowMs: Date.now(),
        name: 'bobs',
        owner: 'bob',
        caller: { uid: 0, gid: 0 },
      },
    });
  });

  test("a mount's certificate without a user is refused the namespace", async () => {
    const mount = client(metadata.metadataAddr, ca.security('mount'));
    assert.equal(await codeOf(readBuckets(mount)), 'RPC_FORBIDDEN');
    // What is not the namespace still answers it.
    assert.equal(await codeOf(mount.call(METADATA_RPC.config, {})), 'ok');
  });

  test("logged in as bob, it sees bob's bucket only; a wrong secret is refused", async () => {
    const asBob = new RpcClient(metadata.metadataAddr, {
      security: ca.security('mount'),
      onConnect: userLogin(bob),
    });
    clients.push(asBob);
    const { header } = await readBuckets(asBob);
    assert.deepEqual(
      header.value.map((b) => b.name),
      ['bobs'],
    );
    const wrong = new RpcClient(metadata.metadataAddr, {
      security: ca.security('mount'),
      onConnect: userLogin({ ...bob, secretKey: 'not-bobs-secret' }),
    });
    clients.push(wrong);
    assert.equal(await codeOf(readBuckets(wrong)), 'RPC_UNAUTHENTICATED');
  });

  test("a proof not bound to this connection's TLS session is refused", async () => {
    const login = userLogin(bob);
    const replayed = new RpcClient(metadata.metadataAddr, {
      security: ca.security('mount'),
      // Right secret, but bound to other keying material than this connection's.
      onConnect: (call) => login(call, Buffer.alloc(32, 7)),
    });
    clients.push(replayed);
    assert.equal(await codeOf(readBuckets(replayed)), 'RPC_UNAUTHENTICATED');
  });
});
