// S3 Select throughput and gateway memory: a generated CSV (1 GiB by default) is uploaded, then
// scanned by a filtering query through @aws-sdk/client-s3 (event stream decoded by the SDK) while
// the server process's RSS is sampled. The reference is a plain GET of the same object: the rate
// at which the gateway can read it at all. With --awscli the same query runs through awscli's
// select-object-content too, and its output must equal the SDK's byte for byte.
//   npm run bench:select [-- --mib 1024 --awscli]

import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../../test/helpers/s3.ts';
import { startStrata, tempDir } from '../../test/helpers/server.ts';
import { awsCli } from '../../test/helpers/tools.ts';
import { generateRows, sdkSelect, toCsv } from '../../test/s3/select/fixtures.ts';

const { values: opts } = parseArgs({
  options: {
    mib: { type: 'string', default: '1024' },
    awscli: { type: 'boolean', default: false },
  },
});
const MiB = 1024 * 1024;
const targetBytes = Math.round(Number(opts.mib) * MiB);
const QUERY = 'SELECT s.id, s.name, s.price FROM S3Object s WHERE CAST(s.price AS FLOAT) > 190';

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) / 1024;
}

// The CSV is written to a file in blocks of generated rows (ids keep counting), never held whole.
async function writeCsv(path: string): Promise<number> {
  const out = createWriteStream(path);
  const block = toCsv(generateRows(20_000, 11));
  const [header, ...rows] = block.split('\n').filter(Boolean);
  out.write(`${header}\n`);
  let written = header.length + 1;
  let id = 0;
  while (written < targetBytes) {
    let chunk = '';
    for (const row of rows) {
      id++;
      chunk += `${id}${row.slice(row.indexOf(','))}\n`;
    }
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return statSync(path).size;
}

const dir = tempDir('strata-bench-select-');
const csvPath = join(dir, 'rows.csv');
const sizeBytes = await writeCsv(csvPath);
const server = await startStrata({ dataDir: join(dir, 'data') });
const pid = server.process.pid as number;
const s3 = s3Client(server);
try {
  await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
  await s3.send(
    new PutObjectCommand({
      Bucket: 'bench',
      Key: 'rows.csv',
      Body: createReadStream(csvPath),
      ContentLength: sizeBytes,
    }),
  );
  console.log(`object ${(sizeBytes / MiB).toFixed(0)} MiB of CSV; query: ${QUERY}`);

  let started = performance.now();
  const got = await s3.send(new GetObjectCommand({ Bucket: 'bench', Key: 'rows.csv' }));
  let received = 0;
  for await (const chunk of got.Body as AsyncIterable<Uint8Array>) received += chunk.length;
  const getSeconds = (performance.now() - started) / 1000;
  if (received !== sizeBytes) throw new Error(`GET gave ${received} of ${sizeBytes} bytes`);

  let peakMiB = 0;
  const idleMiB = rssMiB(pid, 'VmRSS');
  const sampler = setInterval(() => {
    peakMiB = Math.max(peakMiB, rssMiB(pid, 'VmRSS'));
  }, 100);
  started = performance.now();
  const result = await sdkSelect(s3, {
    Bucket: 'bench',
    Key: 'rows.csv',
    Expression: QUERY,
    ExpressionType: 'SQL',
    InputSerialization: { CSV: { FileHeaderInfo: 'USE' }, CompressionType: 'NONE' },
    OutputSerialization: { CSV: {} },
  });
  const selectSeconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  if (result.stats?.BytesScanned !== sizeBytes) throw new Error('the query did not scan it all');
  const rows = result.text.split('\n').length - 1;
  const rate = (seconds: number) => (sizeBytes / MiB / seconds).toFixed(1);
  console.log('\n| read | MiB/s | seconds |');
  console.log('|---|---|---|');
  console.log(`| GET (reference) | ${rate(getSeconds)} | ${getSeconds.toFixed(1)} |`);
  console.log(`| SelectObjectContent | ${rate(selectSeconds)} | ${selectSeconds.toFixed(1)} |`);
  console.log(
    `\nselect/GET rate: ${(getSeconds / selectSeconds).toFixed(2)}; ${rows} rows returned`,
  );
  console.log(
    `gateway RSS during the query: idle ${idleMiB.toFixed(0)} MiB, sampled peak ${peakMiB.toFixed(0)} MiB`,
  );
  if (opts.awscli) {
    const out = join(dir, 'awscli-out.csv');
    started = performance.now();
    awsCli(
      server,
      ...['s3api', 'select-object-content', '--bucket', 'bench', '--key', 'rows.csv'],
      ...['--expression', QUERY, '--expression-type', 'SQL'],
      ...['--input-serialization', '{"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "NONE"}'],
      ...['--output-serialization', '{"CSV": {}}', out],
    );
    const cliSeconds = (performance.now() - started) / 1000;
    const same = readFileSync(out).equals(Buffer.from(result.text));
    console.log(
      `awscli select-object-content: ${rate(cliSeconds)} MiB/s, ${cliSeconds.toFixed(1)} s; ` +
        `output ${same ? 'equals' : 'DIFFERS FROM'} the SDK's`,
    );
    if (!same) process.exitCode = 1;
  }
} finally {
  s3.destroy();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
