// Opening a sealed 16 MiB stripe as a gateway's GET does (4 MiB windows, AES-256-GCM): on the
// event loop (openWindow) beside the worker pool (OpenPool), rounds in turn. Prints
// the wall time per 16 MiB and the event loop's busy time (eventLoopUtilization), which is what
// a gateway's other requests and socket reads wait behind.
//   node benches/encryption-open/run.ts [--rounds 10]
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  OpenPool,
  openWindow,
  sealedLayout,
  sealedWindow,
  sealStripe,
} from '../../src/crypto/index.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const MiB = 1024 * 1024;
const STRIPE_BYTES = 16 * MiB;
const WINDOW_BYTES = 4 * MiB; // src/client/file-reader.ts, READ_PIECE_BYTES_MAX
const K = 4;

const pool = new OpenPool();
const plain = randomBytes(STRIPE_BYTES);
const sk = { stripeId: 'ab'.repeat(16), key: randomBytes(32), cipher: 'aes-256-gcm' as const };
const layout = sealedLayout(K, STRIPE_BYTES);
const sealed = sealStripe(sk, layout, plain);
const windows = Array.from({ length: STRIPE_BYTES / WINDOW_BYTES }, (_, i) => {
  const w = sealedWindow(layout, i * WINDOW_BYTES, WINDOW_BYTES);
  return { w, bytes: sealed.subarray(w.start, w.end) };
});

async function measure(open: 'sync' | 'pool'): Promise<{ wallMs: number; loopBusyMs: number }> {
  const elu = performance.eventLoopUtilization();
  const started = performance.now();
  // The pieces of one GET are fetched ahead a few at a time: all four windows at once here.
  const parts = await Promise.all(
    windows.map(async ({ w, bytes }) =>
      open === 'sync' ? openWindow(sk, w, bytes) : pool.open(sk, w, bytes),
    ),
  );
  const wallMs = performance.now() - started;
  const used = performance.eventLoopUtilization(elu);
  if (!Buffer.concat(parts).equals(plain)) throw new Error(`${open}: wrong bytes`);
  return { wallMs, loopBusyMs: used.active };
}

const rows: Record<'sync' | 'pool', Array<{ wallMs: number; loopBusyMs: number }>> = {
  sync: [],
  pool: [],
};
for (let r = 0; r < Number(values.rounds); r++) {
  rows.sync.push(await measure('sync'));
  rows.pool.push(await measure('pool'));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`| 16 MiB, AES-256-GCM, 4 MiB windows | wall ms | event loop busy ms |`);
console.log('|---|---|---|');
for (const [name, list] of Object.entries(rows)) {
  const label = name === 'sync' ? 'openWindow (event loop)' : 'OpenPool (worker threads)';
  const wall = median(list.map((x) => x.wallMs)).toFixed(1);
  const busy = median(list.map((x) => x.loopBusyMs)).toFixed(1);
  console.log(`| ${label} | ${wall} | ${busy} |`);
}
console.log(`medians of ${values.rounds} rounds each, alternating`);
await pool.close();
