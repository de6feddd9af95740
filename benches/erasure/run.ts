// Reed-Solomon throughput on one core, in one run: encode and reconstruct (2 missing data shards)
// for 4+2, 8+3 and 10+4 with 1 MiB shards, in MB/s of data bytes, for our WASM SIMD kernel (shards
// in wasm memory, and caller buffers copied through its window), our TypeScript fallback, the
// reed-solomon-erasure Rust crate's WASM build, the @ronomon/reed-solomon native addon, and
// Buffer.copy of the same bytes; then the worker pool's aggregate on all cores.
//   npm run bench:erasure [-- --seconds 1]
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { ReedSolomon } from '../../src/erasure/index.ts';
import { kernelVariant } from '../../src/erasure/wasm-kernel.ts';
import { ErasurePool } from '../../src/erasure/worker-pool.ts';
import { rustCrate } from '../../test/erasure/oracle.ts';

const { values: opts } = parseArgs({ options: { seconds: { type: 'string', default: '1' } } });
const SECONDS = Number(opts.seconds);
const SHARD_BYTES = 1024 * 1024;
const CONFIGS: Array<[number, number]> = [
  [4, 2],
  [8, 3],
  [10, 4],
];
const require = createRequire(import.meta.url);

// Runs fn repeatedly for SECONDS; MB/s of `dataBytes` per call (1 MB = 10^6 bytes).
function rate(dataBytes: number, fn: () => void): number {
  fn(); // warm up
  let calls = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < SECONDS * 1000) {
    fn();
    calls++;
    elapsed = performance.now() - started;
  }
  return (calls * dataBytes) / 1e6 / (elapsed / 1000);
}

function fill(shards: Uint8Array[], k: number) {
  for (let i = 0; i < k; i++)
    for (let b = 0; b < shards[i].length; b += 7) shards[i][b] = (b * 13 + i) & 255;
}

type Row = { name: string; encode: number; reconstruct: number };

function ours(k: number, m: number, kernel: 'wasm-simd' | 'ts', inPlace: boolean): Row {
  const codec = new ReedSolomon(k, m, { kernel });
  const shards = inPlace
    ? codec.allocateShards(SHARD_BYTES)
    : Array.from({ length: k + m }, () => Buffer.alloc(SHARD_BYTES));
  fill(shards, k);
  const data = k * SHARD_BYTES;
  const encode = rate(data, () => codec.encode(shards));
  const present = shards.map((_, i) => i >= 2);
  const reconstruct = rate(data, () => codec.reconstruct(shards, present, { dataOnly: true }));
  const label =
    kernel === 'ts'
      ? 'Strata TS fallback'
      : `Strata ${kernelVariant} (${inPlace ? 'in wasm memory' : 'copied'})`;
  return { name: label, encode, reconstruct };
}

function crate(k: number, m: number): Row {
  const rs = rustCrate();
  const flat = new Uint8Array(SHARD_BYTES * (k + m));
  for (let b = 0; b < k * SHARD_BYTES; b += 7) flat[b] = b & 255;
  const data = k * SHARD_BYTES;
  const encode = rate(data, () => rs.encode(flat, k, m));
  const present = Array.from({ length: k + m }, (_, i) => i >= 2);
  const reconstruct = rate(data, () => rs.reconstruct(flat, k, m, present));
  return { name: 'reed-solomon-erasure (Rust crate, WASM)', encode, reconstruct };
}

async function rateCallback(dataBytes: number, call: (done: (error?: Error) => void) => void) {
  const once = () =>
    new Promise<void>((resolve, reject) => call((error) => (error ? reject(error) : resolve())));
  await once();
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    await once();
    calls++;
  }
  return (calls * dataBytes) / 1e6 / ((performance.now() - started) / 1000);
}

async function ronomonRow(k: number, m: number): Promise<Row | undefined> {
  let rs: any;
  try {
    rs = require('@ronomon/reed-solomon');
  } catch {
    return undefined;
  }
  const context = rs.create(k, m);
  const buffer = Buffer.alloc(SHARD_BYTES * k);
  const parity = Buffer.alloc(SHARD_BYTES * m);
  for (let b = 0; b < buffer.length; b += 7) buffer[b] = b & 255;
  const dataBits = (1 << k) - 1;
  const parityBits = ((1 << m) - 1) << k;
  const code = (sources: number, targets: number) => (done: (error?: Error) => void) =>
    rs.encode(context, sources, targets, buffer, 0, buffer.length, parity, 0, parity.length, done);
  const encode = await rateCallback(k * SHARD_BYTES, code(dataBits, parityBits));
  const reconstruct = await rateCallback(k * SHARD_BYTES, code((dataBits & ~3) | parityBits, 3));
  return { name: '@ronomon/reed-solomon (native C)', encode, reconstruct };
}

function copyRow(k: number): Row {
  const from = Buffer.alloc(k * SHARD_BYTES, 1);
  const to = Buffer.alloc(k * SHARD_BYTES);
  const copy = rate(k * SHARD_BYTES, () => from.copy(to));
  return { name: 'Buffer.copy of the data (context)', encode: copy, reconstruct: copy };
}

console.log(
  `one core, ${SHARD_BYTES / 1024} KiB shards, MB/s of data (10^6 bytes), ${SECONDS} s per figure\n`,
);
for (const [k, m] of CONFIGS) {
  const rows: Row[] = [
    ours(k, m, 'wasm-simd', true),
    ours(k, m, 'wasm-simd', false),
    ours(k, m, 'ts', false),
    crate(k, m),
  ];
  const native = await ronomonRow(k, m);
  if (native) rows.push(native);
  rows.push(copyRow(k));
  const best = rows[0];
  console.log(`### ${k}+${m}\n`);
  console.log(
    '| implementation | encode MB/s | reconstruct (2 data lost) MB/s | ours (in wasm memory) / this, encode | reconstruct |',
  );
  console.log('|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.name} | ${row.encode.toFixed(0)} | ${row.reconstruct.toFixed(0)} | ${(best.encode / row.encode).toFixed(2)} | ${(best.reconstruct / row.reconstruct).toFixed(2)} |`,
    );
  }
  console.log('');
}

const cores = availableParallelism();
const pool = new ErasurePool({ workers: cores });
try {
  const [k, m] = [4, 2];
  const stripes = Array.from({ length: cores * 2 }, () => pool.allocateStripe(k, m, SHARD_BYTES));
  for (const stripe of stripes) fill(stripe.shards, k);
  await Promise.all(stripes.map((s) => pool.encode(s)));
  let done = 0;
  const started = performance.now();
  const endAt = started + SECONDS * 1000 * 2;
  await Promise.all(
    stripes.map(async (stripe) => {
      while (performance.now() < endAt) {
        await pool.encode(stripe);
        done++;
      }
    }),
  );
  const mbs = (done * k * SHARD_BYTES) / 1e6 / ((performance.now() - started) / 1000);
  console.log(
    `worker pool, ${cores} workers, 4+2 encode, shared memory: ${mbs.toFixed(0)} MB/s aggregate`,
  );
} finally {
  await pool.close();
}
