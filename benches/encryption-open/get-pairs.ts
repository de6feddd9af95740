// Wall time of 16 MiB GETs, an encrypted and a plain single-node server (this checkout) in
// alternating batches: batch r of one server runs right before or after batch r of the other
// (the order swapped each round), so a burst of other load hits both sides of a pair alike. Per
// batch of `--concurrency` GETs: the time to all bodies read, and to the first response's
// headers. Prints the medians and the median of the pairs' ratios encrypted / plain.
// At --concurrency 1 this is a GET's latency: the gateway's main thread is its critical path
// (decryption, MD5, response writes), where a data server's work runs beside it.
//   node benches/encryption-open/get-pairs.ts [--concurrency 1] [--rounds 40]
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../../test/helpers/s3.ts';
import { startStrata } from '../../test/helpers/server.ts';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '40' },
  },
});
const MiB = 1024 * 1024;
const OBJECTS = 4;
const concurrency = Number(values.concurrency);
const body = patternBytes(16 * MiB, 3);
const servers = [
  await startStrata({ env: { STRATA_ENCRYPTION_ENABLED: 'true' } }),
  await startStrata({}),
];
const clients = servers.map((server) => s3Client(server));
const totalMs: [number[], number[]] = [[], []];
const headersMs: [number[], number[]] = [[], []];
try {
  for (const s3 of clients) {
    await s3.send(new CreateBucketCommand({ Bucket: 'pairs' }));
    for (let i = 0; i < OBJECTS; i++)
      await s3.send(new PutObjectCommand({ Bucket: 'pairs', Key: `o${i}`, Body: body }));
  }
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const side of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const started = performance.now();
      let firstMs = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async (_, j) => {
          const Key = `o${(r + j) % OBJECTS}`;
          const got = await clients[side].send(new GetObjectCommand({ Bucket: 'pairs', Key }));
          firstMs ||= performance.now() - started;
          if ((await bodyBytes(got.Body)).length !== body.length) throw new Error('short read');
        }),
      );
      headersMs[side].push(firstMs);
      totalMs[side].push(performance.now() - started);
    }
  }
} finally {
  for (const s3 of clients) s3.destroy();
  await Promise.all(servers.map((server) => server.stop()));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const pairRatio = ([a, b]: [number[], number[]]) => median(a.map((x, r) => x / b[r]));
const line = (what: string, ms: [number[], number[]]) =>
  `${what}: encrypted ${median(ms[0]).toFixed(1)} ms, plain ${median(ms[1]).toFixed(1)} ms, ` +
  `median of the pairs' ratios ${pairRatio(ms).toFixed(2)}`;
console.log(`${values.rounds} batches of ${concurrency} 16 MiB GETs per server, alternated`);
console.log(line('all bodies read', totalMs));
console.log(line('first headers', headersMs));
