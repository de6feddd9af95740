// CPU time per 16 MiB to seal and to open a stripe as a gateway does (4 MiB windows, k = 4), in
// this one process: process.cpuUsage, so the figure does not depend on the machine's other load.
// Beside it, the bare cipher over the same 64 KiB chunks (one createDecipheriv per chunk, output
// into one buffer): the floor the seal code can approach.
//   node benches/encryption-open/cpu.ts [--rounds 20] [--cipher aes-256-gcm]
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  type DataCipher,
  openWindow,
  sealedLayout,
  sealedWindow,
  sealStripe,
} from '../../src/crypto/index.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    cipher: { type: 'string', default: 'aes-256-gcm' },
  },
});
const MiB = 1024 * 1024;
const STRIPE_BYTES = 4 * MiB; // a 4+2 stripe of 1 MiB shards
const OBJECT_BYTES = 16 * MiB;
const K = 4;
const cipher = values.cipher as DataCipher;

const plain = randomBytes(STRIPE_BYTES);
const sk = { stripeId: 'ab'.repeat(16), key: randomBytes(32), cipher };
const layout = sealedLayout(K, STRIPE_BYTES);
const sealed = sealStripe(sk, layout, plain);
const window = sealedWindow(layout, 0, STRIPE_BYTES);
const sealedWindowBytes = sealed.subarray(window.start, window.end);
if (!openWindow(sk, window, sealedWindowBytes).equals(plain)) throw new Error('wrong bytes');

function cpuMs(work: () => void): number {
  const before = process.cpuUsage();
  for (let i = 0; i < OBJECT_BYTES / STRIPE_BYTES; i++) work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

// The bare cipher: one (de)cipher per 64 KiB chunk, nothing else.
const CHUNK = 65520;
const nonce = Buffer.alloc(12);
const aad = Buffer.alloc(64);
const out = Buffer.allocUnsafe(STRIPE_BYTES);
const options = { authTagLength: 16 } as const;
function bareSeal(): void {
  for (let at = 0; at < STRIPE_BYTES; at += CHUNK) {
    const c = createCipheriv(cipher as 'aes-256-gcm', sk.key, nonce, options);
    c.setAAD(aad);
    c.update(plain.subarray(at, Math.min(STRIPE_BYTES, at + CHUNK)));
    c.final();
    c.getAuthTag();
  }
}
const bareTag = Buffer.alloc(16);
function bareOpen(): void {
  for (let at = 0; at < STRIPE_BYTES; at += CHUNK) {
    const d = createDecipheriv(cipher as 'aes-256-gcm', sk.key, nonce, options);
    d.setAAD(aad);
    d.setAuthTag(bareTag);
    d.update(plain.subarray(at, Math.min(STRIPE_BYTES, at + CHUNK))).copy(out, at);
    try {
      d.final();
    } catch {
      // the bare loop's tag is made up: only the cost matters here
    }
  }
}

const runs: Record<string, () => void> = {
  sealStripe: () => sealStripe(sk, layout, plain),
  openWindow: () => openWindow(sk, window, sealedWindowBytes),
  'bare seal': bareSeal,
  'bare open': bareOpen,
};
const rows = new Map<string, number[]>(Object.keys(runs).map((name) => [name, []]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [name, work] of Object.entries(runs)) rows.get(name)?.push(cpuMs(work));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`| 16 MiB, ${cipher}, 4 MiB stripes, k = ${K} | CPU ms (median of ${values.rounds}) |`);
console.log('|---|---|');
for (const [name, list] of rows) console.log(`| ${name} | ${median(list).toFixed(1)} |`);
