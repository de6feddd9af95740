// CPU time per 16 MiB to seal and to open a stripe as a gateway does (4 MiB stripes of k = 4, one
// window each), in this one process: process.cpuUsage, less dependent on the machine's other load
// than wall time. Each sample seals or opens 64 MiB (so a GC lands in every sample alike), the
// variants alternate sample by sample. With --before CHECKOUT, that checkout's seal code runs
// beside this one's (the ratio is the median of the paired samples). Beside them, the bare cipher
// over the same 64 KiB chunks (one createDecipheriv each, output copied into one buffer, the key
// a KeyObject): the floor the seal code can approach.
//   node benches/encryption-open/cpu.ts [--before CHECKOUT] [--rounds 30] [--cipher aes-256-gcm]
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as after from '../../src/crypto/index.ts';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    rounds: { type: 'string', default: '30' },
    cipher: { type: 'string', default: 'aes-256-gcm' },
  },
});
type Seal = Pick<typeof after, 'openWindow' | 'sealStripe'>;
const before: Seal | undefined =
  values.before === undefined
    ? undefined
    : ((await import(join(values.before, 'src/crypto/index.ts'))) as Seal);
const MiB = 1024 * 1024;
const STRIPE_BYTES = 4 * MiB; // a 4+2 stripe of 1 MiB shards: one GET piece
const SAMPLE_STRIPES = 16;
const K = 4;
const cipher = values.cipher as after.DataCipher;

const plain = randomBytes(STRIPE_BYTES);
const sk = { stripeId: 'ab'.repeat(16), key: randomBytes(32), cipher };
const layout = after.sealedLayout(K, STRIPE_BYTES);
const sealed = after.sealStripe(sk, layout, plain);
const window = after.sealedWindow(layout, 0, STRIPE_BYTES);
const sealedBytes = sealed.subarray(window.start, window.end);
for (const code of before ? [after, before] : [after]) {
  if (!code.openWindow(sk, window, sealedBytes).equals(plain)) throw new Error('wrong bytes');
  if (!code.sealStripe(sk, layout, plain).equals(sealed)) throw new Error('another seal');
}

// The bare cipher: one (de)cipher per 64 KiB chunk, nothing else.
const CHUNK = after.PLAIN_CHUNK_BYTES;
const key = createSecretKey(sk.key);
const nonce = Buffer.alloc(12);
const aad = Buffer.alloc(64);
const out = Buffer.allocUnsafe(STRIPE_BYTES);
const options = { authTagLength: after.TAG_BYTES } as const;
function bareSeal(): void {
  for (let at = 0; at < STRIPE_BYTES; at += CHUNK) {
    const c = createCipheriv(cipher as 'aes-256-gcm', key, nonce, options);
    c.setAAD(aad);
    c.update(plain.subarray(at, Math.min(STRIPE_BYTES, at + CHUNK))).copy(out, at);
    c.final();
    c.getAuthTag();
  }
}
const bareTag = Buffer.alloc(after.TAG_BYTES);
function bareOpen(): void {
  for (let at = 0; at < STRIPE_BYTES; at += CHUNK) {
    const d = createDecipheriv(cipher as 'aes-256-gcm', key, nonce, options);
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
  'openWindow, this checkout': () => after.openWindow(sk, window, sealedBytes),
  // As a GET reads: each chunk's plaintext handed on, no window buffer (in shard parts).
  'openWindowParts, this checkout': () => after.openWindowParts(sk, window, sealedBytes),
  'sealStripe, this checkout': () => after.sealStripe(sk, layout, plain),
  'bare open': bareOpen,
  'bare seal': bareSeal,
};
if (before) {
  runs['openWindow, --before'] = () => before.openWindow(sk, window, sealedBytes);
  runs['sealStripe, --before'] = () => before.sealStripe(sk, layout, plain);
}
const samples = new Map<string, number[]>(Object.keys(runs).map((name) => [name, []]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [name, work] of Object.entries(runs)) {
    const started = process.cpuUsage();
    for (let i = 0; i < SAMPLE_STRIPES; i++) work();
    const used = process.cpuUsage(started);
    const per16MiB = ((used.user + used.system) / 1000) * (16 / (SAMPLE_STRIPES * 4));
    samples.get(name)?.push(per16MiB);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(
  `| ${cipher}, 4 MiB stripes, k = ${K} | CPU ms per 16 MiB (median of ${values.rounds}) |`,
);
console.log('|---|---|');
for (const [name, list] of samples) console.log(`| ${name} | ${median(list).toFixed(1)} |`);
if (before) {
  for (const op of ['openWindow', 'sealStripe']) {
    const now = samples.get(`${op}, this checkout`) ?? [];
    const then = samples.get(`${op}, --before`) ?? [];
    const ratio = median(now.map((x, i) => x / then[i]));
    console.log(`${op}: this checkout / --before, median of paired samples ${ratio.toFixed(2)}`);
  }
}
