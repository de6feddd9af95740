// The internal RPC layer beside node:http2 on the same two workloads, in one run:
//   small calls one after another (latency) and 1 MiB bodies with 8 in flight (throughput).
// Strata RPC runs twice: over plain TCP with the cluster token (a single node on loopback) and
// over TLS 1.3 with certificates from a throwaway cluster CA (a real cluster), so the table
// shows the cost of TLS against the same run without it.
//   npm run bench:rpc
import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCertificateAuthority, issueCertificate } from '../../src/rpc/certificates.ts';
import { RpcClient, type RpcSecurity, RpcServer } from '../../src/rpc/index.ts';

const SMALL_CALLS = 5_000;
const BIG_BODY_BYTES = 1024 * 1024;
const BIG_CALLS = 1024; // 1 GiB
const BIG_IN_FLIGHT = 8;

interface Result {
  smallCallsPerS: number;
  smallP50Us: number;
  bigMiBPerS: number;
}

async function measure(call: (body?: Buffer) => Promise<Buffer | undefined>): Promise<Result> {
  const latencies: number[] = [];
  for (let i = 0; i < 200; i++) await call(); // warm up
  const smallStart = performance.now();
  for (let i = 0; i < SMALL_CALLS; i++) {
    const t = performance.now();
    await call();
    latencies.push(performance.now() - t);
  }
  const smallSeconds = (performance.now() - smallStart) / 1000;
  latencies.sort((a, b) => a - b);
  const body = Buffer.alloc(BIG_BODY_BYTES, 7);
  let next = 0;
  const bigStart = performance.now();
  await Promise.all(
    Array.from({ length: BIG_IN_FLIGHT }, async () => {
      while (next++ < BIG_CALLS) {
        const echoed = await call(body);
        assert.equal(echoed?.length, 16, 'the server answers with a small header');
      }
    }),
  );
  const bigSeconds = (performance.now() - bigStart) / 1000;
  return {
    smallCallsPerS: SMALL_CALLS / smallSeconds,
    smallP50Us: latencies[Math.floor(latencies.length / 2)] * 1000,
    bigMiBPerS: BIG_CALLS / bigSeconds,
  };
}

async function ours(serverSecurity: RpcSecurity, clientSecurity: RpcSecurity): Promise<Result> {
  const server = new RpcServer({
    name: 'bench',
    security: serverSecurity,
    permissions: () => true,
  });
  server.handle('echo', async ({ body }) => ({
    header: { n: body?.length ?? 0 },
    body: Buffer.alloc(16),
  }));
  const { port } = await server.listen('127.0.0.1', 0);
  const client = new RpcClient(`127.0.0.1:${port}`, { security: clientSecurity });
  try {
    return await measure(async (body) => (await client.call('echo', { op: 'x' }, body)).body);
  } finally {
    await client.close();
    await server.close();
  }
}

async function h2(): Promise<Result> {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'x-n': String(Buffer.concat(chunks).length) });
      stream.end(Buffer.alloc(16));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const call = (body?: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/echo', 'x-op': 'x' });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
      req.end(body);
    });
  try {
    return await measure(call);
  } finally {
    session.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function tlsPair(): { server: RpcSecurity; client: RpcSecurity; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-ca-'));
  initCertificateAuthority(dir);
  const load = (name: string, role: 'data' | 'gateway'): RpcSecurity => {
    const files = issueCertificate(dir, name, role);
    const [ca, cert, key] = [join(dir, 'ca.crt'), files.cert, files.key].map((f) =>
      readFileSync(f),
    );
    return { mode: 'tls', ca, cert, key, role };
  };
  return {
    server: load('server', 'data'),
    client: load('client', 'gateway'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const token = randomBytes(32);
const plain = await ours(
  { mode: 'token', token, role: 'data' },
  { mode: 'token', token, role: 'gateway' },
);
const tls = tlsPair();
const secured = await ours(tls.server, tls.client);
tls.cleanup();
const b = await h2();
const row = (name: string, x: Result) =>
  `| ${name} | ${x.smallCallsPerS.toFixed(0)} | ${x.smallP50Us.toFixed(0)} | ${x.bigMiBPerS.toFixed(0)} |`;
const ratio = (name: string, x: Result, y: Result) =>
  `| ${name} | ${(x.smallCallsPerS / y.smallCallsPerS).toFixed(2)} | ` +
  `${(x.smallP50Us / y.smallP50Us).toFixed(2)} | ${(x.bigMiBPerS / y.bigMiBPerS).toFixed(2)} |`;
console.log(
  '| transport | small calls/s (1 in flight) | small p50 µs | 1 MiB bodies, 8 in flight: MiB/s |',
);
console.log('|---|---|---|---|');
console.log(row('Strata RPC, plain TCP + cluster token (loopback only)', plain));
console.log(row('Strata RPC, TLS 1.3 (mutual certificates)', secured));
console.log(row('node:http2 (plain)', b));
console.log(ratio('ratio TLS / plain', secured, plain));
console.log(ratio('ratio plain Strata / http2', plain, b));
