// Random 4 KiB shard reads from one data server (in process, over its RPC port): the path of a
// FUSE 4 KiB random read or a ranged GET once the client knows the stripe. Reads per second and
// CPU per read, for this checkout or another (--repo), so a change to the data server's read path
// can be measured before and after on the same machine in the same minutes.
//   node benches/data-read/run.ts [--repo DIR] [--shards 256] [--seconds 10] [--concurrency 16]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    repo: { type: 'string', default: resolve(import.meta.dirname, '..', '..') },
    shards: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const shardCount = Number(values.shards);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
for (const [name, n] of Object.entries({ shardCount, seconds, concurrency }))
  if (!(Number.isSafeInteger(n) && n > 0)) throw new Error(`${name}: a positive integer`);

const load = (path: string) => import(join(values.repo, path));
await load('test/helpers/cluster-token.ts');
const { DataClient, startDataService } = await load('src/data/index.ts');

const SHARD_BYTES = 1024 * 1024;
const READ_BYTES = 4096;
const root = mkdtempSync(join(values.dir, 'strata-bench-data-read-'));
const disks = [join(root, 'd0'), join(root, 'd1')];
const service = await startDataService({ serverId: 's1', host: '127.0.0.1', port: 0, disks });
const client = new DataClient(`127.0.0.1:${service.port}`);
try {
  const shards = Array.from({ length: shardCount }, (_, i) => ({
    stripeId: randomBytes(16).toString('hex'),
    shardIndex: 0,
    disk: i % disks.length,
  }));
  for (const shard of shards) await client.putShard(shard, randomBytes(SHARD_BYTES));
  const readOne = () => {
    const shard = shards[Math.floor(Math.random() * shards.length)];
    const blocks = SHARD_BYTES / READ_BYTES;
    const offset = Math.floor(Math.random() * blocks) * READ_BYTES;
    return client.getShard({ ...shard, offset, length: READ_BYTES, shardSizeBytes: SHARD_BYTES });
  };
  for (let i = 0; i < 2000; i++) await readOne(); // warm: page cache, connections, JIT
  const endAt = performance.now() + seconds * 1000;
  const cpuBefore = process.cpuUsage();
  let reads = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < endAt) {
        await readOne();
        reads++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const cpuUs = cpu.user + cpu.system;
  console.log(
    `data-read ${values.repo}: ${shardCount} shards of 1 MiB on 2 disks, 4 KiB random reads, ` +
      `${concurrency} in flight, ${seconds} s: ${(reads / seconds).toFixed(0)} reads/s, ` +
      `${(cpuUs / reads).toFixed(0)} µs CPU per read (server and client, one process)`,
  );
} finally {
  await client.close();
  await service.close();
  rmSync(root, { recursive: true, force: true });
}
