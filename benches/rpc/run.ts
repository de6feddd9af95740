// The internal RPC layer beside node:http2 on the same two workloads, in one run:
//   small calls one after another (latency) and 1 MiB bodies with 8 in flight (throughput).
//   npm run bench:rpc
import assert from 'node:assert';
import http2 from 'node:http2';
import { RpcClient, RpcServer } from '../../src/rpc/index.ts';

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

async function ours(): Promise<Result> {
  const server = new RpcServer({ name: 'bench' });
  server.handle('echo', async ({ body }) => ({
    header: { n: body?.length ?? 0 },
    body: Buffer.alloc(16),
  }));
  const { port } = await server.listen('127.0.0.1', 0);
  const client = new RpcClient(`127.0.0.1:${port}`);
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

const a = await ours();
const b = await h2();
const row = (name: string, x: Result) =>
  `| ${name} | ${x.smallCallsPerS.toFixed(0)} | ${x.smallP50Us.toFixed(0)} | ${x.bigMiBPerS.toFixed(0)} |`;
console.log(
  '| transport | small calls/s (1 in flight) | small p50 µs | 1 MiB bodies, 8 in flight: MiB/s |',
);
console.log('|---|---|---|---|');
console.log(row('Strata RPC (TCP frames + msgpack)', a));
console.log(row('node:http2', b));
console.log(
  `| ratio Strata / http2 | ${(a.smallCallsPerS / b.smallCallsPerS).toFixed(2)} | ` +
    `${(a.smallP50Us / b.smallP50Us).toFixed(2)} | ${(a.bigMiBPerS / b.bigMiBPerS).toFixed(2)} |`,
);
