// MD5 of several bodies at once: the hashing thread's SIMD lanes (src/common/md5-lanes.ts, fed in
// turns 1 MiB at a time as hash-offload.ts's segments arrive) beside node:crypto's OpenSSL MD5 of
// the same bodies one after another, in one run, on one core.
//   npm run bench:md5 [-- --bodies 8 --mib 64 --rounds 3]
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { LANES, Md5Lanes } from '../../src/common/md5-lanes.ts';

const { values: opts } = parseArgs({
  options: {
    bodies: { type: 'string', default: String(LANES) },
    mib: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
const BODIES = Number(opts.bodies);
const MIB = Number(opts.mib);
const ROUNDS = Number(opts.rounds);
if (!(BODIES >= 1 && BODIES <= LANES) || !(MIB >= 1) || !(ROUNDS >= 1))
  throw new Error(`--bodies 1..${LANES}, --mib and --rounds at least 1`);
const SEGMENT = 1024 * 1024;

const bodies = Array.from({ length: BODIES }, (_, i) => {
  const body = Buffer.alloc(MIB * SEGMENT);
  for (let at = 0; at < body.length; at += 4) body.writeUInt32LE((at * 2654435761 + i) >>> 0, at);
  return body;
});
const totalMiB = BODIES * MIB;
const lanes = new Md5Lanes();

for (let round = 0; round < ROUNDS; round++) {
  let started = performance.now();
  const opened = bodies.map(() => lanes.open() as number);
  for (let at = 0; at < MIB * SEGMENT; at += SEGMENT)
    for (const [i, body] of bodies.entries())
      lanes.update(opened[i], body.subarray(at, at + SEGMENT));
  const fromLanes = opened.map((lane) => lanes.digest(lane).toString('hex'));
  const lanesS = (performance.now() - started) / 1000;
  started = performance.now();
  const fromOpenssl = bodies.map((body) => {
    const hash = createHash('md5');
    for (let at = 0; at < body.length; at += SEGMENT) hash.update(body.subarray(at, at + SEGMENT));
    return hash.digest('hex');
  });
  const opensslS = (performance.now() - started) / 1000;
  if (fromLanes.join() !== fromOpenssl.join()) throw new Error('the digests differ');
  const lanesRate = totalMiB / lanesS;
  const opensslRate = totalMiB / opensslS;
  console.log(
    `round ${round}: ${BODIES} bodies of ${MIB} MiB: lanes ${lanesRate.toFixed(0)} MiB/s, ` +
      `OpenSSL ${opensslRate.toFixed(0)} MiB/s, lanes / OpenSSL ${(lanesRate / opensslRate).toFixed(2)}`,
  );
}
