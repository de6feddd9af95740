// 16 MiB GETs against servers started from two checkouts (before/after a change) with
// encryption at rest, and a plain one, round by round in turn so the machine's other load weighs
// on all alike. Medians of MiB/s per server.
//   node benches/encryption-open/get-ab.ts --before /path/to/other/checkout [--rounds 9]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../../test/helpers/s3.ts';
import { type StrataProcess, startStrata as startAfter } from '../../test/helpers/server.ts';

const { values } = parseArgs({
  options: { before: { type: 'string' }, rounds: { type: 'string', default: '9' } },
});
if (!values.before) throw new Error('--before CHECKOUT');
const { startStrata: startBefore } = (await import(
  join(values.before, 'test/helpers/server.ts')
)) as { startStrata: typeof startAfter };
const MiB = 1024 * 1024;
const OBJECTS = 8;
const env = { STRATA_ENCRYPTION_ENABLED: 'true' };
const servers: Array<[string, StrataProcess]> = [
  ['before, encrypted', await startBefore({ env })],
  ['after, encrypted', await startAfter({ env })],
  ['after, plain', await startAfter({})],
];
const body = patternBytes(16 * MiB, 7);
for (const [, server] of servers) {
  const s3 = s3Client(server);
  await s3.send(new CreateBucketCommand({ Bucket: 'abtest' }));
  for (let i = 0; i < OBJECTS; i++)
    await s3.send(new PutObjectCommand({ Bucket: 'abtest', Key: `o${i}`, Body: body }));
  s3.destroy();
}
const rates = new Map<string, number[]>(servers.map(([name]) => [name, []]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [name, server] of servers) {
    const s3 = s3Client(server);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: OBJECTS }, async (_, i) => {
        const got = await s3.send(new GetObjectCommand({ Bucket: 'abtest', Key: `o${i}` }));
        const bytes = await bodyBytes(got.Body);
        if (bytes.length !== body.length) throw new Error('short read');
      }),
    );
    rates.get(name)?.push((OBJECTS * 16) / ((performance.now() - started) / 1000));
    s3.destroy();
  }
}
await Promise.all(servers.map(([, s]) => s.stop()));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`| server | 16 MiB GET, c=8, MiB/s (median of ${values.rounds}) | each round |`);
console.log('|---|---|---|');
for (const [name, list] of rates)
  console.log(
    `| ${name} | ${median(list).toFixed(1)} | ${list.map((x) => x.toFixed(0)).join(' ')} |`,
  );
