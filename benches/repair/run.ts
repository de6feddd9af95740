// benches/repair (issue 12): repair throughput and time to full redundancy after one of six data
// servers is lost, beside a plain copy of the same bytes between the same disks.
//   npm run bench:repair [-- --bytes 2GiB --object-mib 64 --profile]
// 1. Start 3 metadata members, 6 data servers (2 disks each, one host label each) and a gateway;
//    4+2 stripes; server_down_after_seconds 5; repair throttle raised (max_concurrent 16,
//    bandwidth 10 GiB/s; --max-concurrent, --bandwidth-mib) so that the bench measures
//    capability, not the throttle.
// 2. Fill: --bytes of objects of --object-mib MiB, plus 64 small objects (1 MiB) for the
//    foreground GET loop; GET p99 at rest over 15 s.
// 3. kill -9 the data server holding the most shards; wait until it is recorded down; measure
//    until every stripe has its k+m shards on servers recorded up (the stripe records, polled
//    every 0.5 s): time to full redundancy from the kill and from the down record, bytes rebuilt
//    (the lost shards' sizes), MiB/s. The foreground GET loop runs throughout; its p99 while
//    repair runs (down record to full redundancy) is compared with the one at rest.
// 4. Plain copy: the lost server's shard files (still on its disk) read and written, fsynced, to
//    a surviving server's disk directory, 16 at a time; MiB/s and the ratio repair / copy.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import type { DataServerInfo, Stripe } from '../../src/metadata/types.ts';
import { patternBytes, s3Client } from '../../test/helpers/s3.ts';
import { tempDir } from '../../test/helpers/server.ts';
import { startBenchCluster } from './cluster.ts';
import { plainCopy, shardFiles } from './copy.ts';
import { percentile, startGetLoop, within } from './foreground.ts';

const { values: opts } = parseArgs({
  options: {
    bytes: { type: 'string', default: '2GiB' },
    'object-mib': { type: 'string', default: '64' },
    profile: { type: 'boolean', default: false },
    // The repair throttle; the defaults are raised far above the configuration's (4, 100 MiB/s).
    'max-concurrent': { type: 'string', default: '16' },
    'bandwidth-mib': { type: 'string', default: '10240' },
  },
});

const MiB = 1024 * 1024;
const DOWN_AFTER_SECONDS = 5;
const MAX_CONCURRENT = Number(opts['max-concurrent']);
const BANDWIDTH = Number(opts['bandwidth-mib']) * MiB;
const COPY_CONCURRENCY = 16;
const REST_SECONDS = 15;
const FOREGROUND_LOOPS = 2;
const FOREGROUND_OBJECTS = 64;
const POLL_MS = 500;
const LIMIT_MS = 60 * 60_000; // an upper bound on the wait, never a figure

function parseBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!match) throw new Error(`--bytes: expected e.g. 2GiB or 512MiB, got ${text}`);
  const unit = { b: 1, kib: 1024, mib: MiB, gib: 1024 * MiB }[
    (match[2] ?? 'B').toLowerCase() as 'b'
  ];
  return Math.round(Number(match[1]) * unit);
}

async function allStripes(metadata: MetadataClient): Promise<Stripe[]> {
  const stripes = new Map<string, Stripe>();
  let cursor: string | undefined;
  do {
    const page = await metadata.read('scanStripes', cursor, 1000);
    for (const { stripe } of page.stripes) stripes.set(stripe.id, stripe);
    cursor = page.next;
  } while (cursor !== undefined);
  return [...stripes.values()];
}

// Stripes with a shard on a server not recorded up.
function degraded(stripes: Stripe[], servers: DataServerInfo[]): number {
  const up = new Set(servers.filter((s) => s.state === 'up').map((s) => s.serverId));
  return stripes.filter((s) => s.shards.some((l) => !up.has(l.serverId))).length;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + LIMIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`bench: ${what} not reached`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const mibps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const fmt = (n: number, digits = 1) => n.toFixed(digits);

async function main(): Promise<void> {
  const totalBytes = parseBytes(opts.bytes);
  const objectBytes = Number(opts['object-mib']) * MiB;
  const configDir = tempDir('strata-bench-repair-');
  const profileDir = opts.profile ? join(configDir, 'cpu-profiles') : undefined;
  console.log(
    `repair bench: ${fmt(totalBytes / MiB, 0)} MiB in ${fmt(objectBytes / MiB, 0)} MiB objects, ` +
      `3 metadata + 6 data servers (2 disks each) + gateway, 4+2; repair throttle ` +
      `max_concurrent ${MAX_CONCURRENT}, ${BANDWIDTH / MiB} MiB/s (configuration defaults 4 and ` +
      `100 MiB/s; the bench's are raised so that it measures capability); ` +
      `server_down_after_seconds ${DOWN_AFTER_SECONDS}`,
  );
  const cluster = await startBenchCluster({
    configDir,
    dataServers: 6,
    downAfterSeconds: DOWN_AFTER_SECONDS,
    repairMaxConcurrent: MAX_CONCURRENT,
    repairBandwidthBytesPerSecond: BANDWIDTH,
    cpuProfileDir: profileDir,
  });
  const metadata = new MetadataClient(cluster.metadataAddrs);
  try {
    await until('six data servers up with their disks reported', async () => {
      const servers = await metadata.read('dataServers');
      const ready = servers.filter((s) => s.state === 'up' && s.disks.every((d) => d.freeBytes));
      return ready.length === 6 ? true : undefined;
    });
    const s3 = s3Client(cluster.gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const fillStartedMs = performance.now();
    const objects = Math.ceil(totalBytes / objectBytes);
    const body = patternBytes(objectBytes, 7);
    let nextObject = 0;
    const putter = async () => {
      for (let i = nextObject++; i < objects; i = nextObject++)
        await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: `big/${i}`, Body: body }));
    };
    await Promise.all([putter(), putter(), putter(), putter()]);
    const small = patternBytes(MiB, 9);
    const smallKeys = Array.from({ length: FOREGROUND_OBJECTS }, (_, i) => `small/${i}`);
    for (const Key of smallKeys)
      await s3.send(new PutObjectCommand({ Bucket: 'bench', Key, Body: small }));
    const fillMs = performance.now() - fillStartedMs;
    console.log(
      `fill: ${objects} objects (${fmt((objects * objectBytes) / MiB, 0)} MiB) + ` +
        `${FOREGROUND_OBJECTS} x 1 MiB in ${fmt(fillMs / 1000)} s ` +
        `(${fmt(mibps(objects * objectBytes, fillMs))} MiB/s)`,
    );

    let resting = true;
    const restRun = startGetLoop(s3, 'bench', smallKeys, FOREGROUND_LOOPS, () => resting);
    const restFromMs = performance.now();
    await new Promise((r) => setTimeout(r, REST_SECONDS * 1000));
    resting = false;
    await restRun.done;
    const atRest = within(restRun, restFromMs, performance.now());

    const stripes = await allStripes(metadata);
    const serverIds = (await metadata.read('dataServers')).map((s) => s.serverId);
    const shardsOn = (id: string) =>
      stripes
        .flatMap((s) => s.shards.map((l) => ({ l, size: s.shardSizeBytes })))
        .filter(({ l }) => l.serverId === id);
    const victimId = [...serverIds].sort((a, b) => shardsOn(b).length - shardsOn(a).length)[0];
    const lost = shardsOn(victimId);
    const lostBytes = lost.reduce((sum, s) => sum + s.size, 0);
    // Data servers are data-<node id>, node ids from 10 in start order (cluster.ts).
    const victim = cluster.data[Number(victimId.replace('data-', '')) - 10];
    if (victim === undefined) throw new Error(`bench: no process for ${victimId}`);
    console.log(
      `${stripes.length} stripes; victim ${victimId} holds ${lost.length} shards ` +
        `(${fmt(lostBytes / MiB)} MiB)`,
    );

    let repairing = true;
    const during = startGetLoop(s3, 'bench', smallKeys, FOREGROUND_LOOPS, () => repairing);
    const killedMs = performance.now();
    await victim.kill();
    await until(`${victimId} recorded down`, async () => {
      const servers = await metadata.read('dataServers');
      return servers.find((s) => s.serverId === victimId)?.state === 'down' ? true : undefined;
    });
    const downMs = performance.now();
    await until('full redundancy', async () => {
      const servers = await metadata.read('dataServers');
      return degraded(await allStripes(metadata), servers) === 0 ? true : undefined;
    });
    const healthyMs = performance.now();
    repairing = false;
    await during.done;
    const detecting = within(during, killedMs, downMs);
    const repairing_ = within(during, downMs, healthyMs);
    const repairLatencies = repairing_.latenciesMs;

    const repairMs = healthyMs - downMs;
    const repairRate = mibps(lostBytes, repairMs);
    console.log(
      `repair: ${victimId} recorded down ${fmt((downMs - killedMs) / 1000)} s after kill -9; ` +
        `full redundancy ${fmt((healthyMs - killedMs) / 1000)} s after the kill, ` +
        `${fmt(repairMs / 1000)} s after the down record; ` +
        `${fmt(lostBytes / MiB)} MiB rebuilt: ${fmt(repairRate)} MiB/s`,
    );

    const files = await shardFiles(victim.dataDir);
    const copyDir = join(
      cluster.data.find((p) => p !== victim)?.dataDir ?? configDir,
      'disks',
      'd0',
      'plain-copy',
    );
    mkdirSync(copyDir, { recursive: true });
    const copy = await plainCopy(files, copyDir, COPY_CONCURRENCY);
    rmSync(copyDir, { recursive: true, force: true });
    const copyRate = mibps(copy.bytes, copy.ms);
    console.log(
      `plain copy: ${files.length} files, ${fmt(copy.bytes / MiB)} MiB in ${fmt(copy.ms / 1000)} s: ` +
        `${fmt(copyRate)} MiB/s; repair / copy = ${fmt(repairRate / copyRate, 2)} (goal >= 0.5)`,
    );
    const p99Rest = percentile(atRest.latenciesMs, 99);
    const p99Repair = percentile(repairLatencies, 99);
    console.log(
      `foreground GET (1 MiB, ${FOREGROUND_LOOPS} loops): at rest p50 ` +
        `${fmt(percentile(atRest.latenciesMs, 50))} ms p99 ${fmt(p99Rest)} ms ` +
        `(${atRest.latenciesMs.length} GETs, ${atRest.errors} errors); during repair p50 ` +
        `${fmt(percentile(repairLatencies, 50))} ms p99 ${fmt(p99Repair)} ms ` +
        `(${repairLatencies.length} GETs, ${repairing_.errors} errors); ` +
        `ratio ${fmt(p99Repair / p99Rest, 2)} (goal <= 2)`,
    );
    console.log(
      `foreground GET between the kill and the down record: p50 ` +
        `${fmt(percentile(detecting.latenciesMs, 50))} ms p99 ` +
        `${fmt(percentile(detecting.latenciesMs, 99))} ms (${detecting.latenciesMs.length} ` +
        `GETs, ${detecting.errors} errors)`,
    );
  } finally {
    await metadata.close();
    await cluster.stop();
    if (profileDir) console.log(`cpu profiles kept in ${profileDir}`);
    else rmSync(configDir, { recursive: true, force: true });
  }
}

await main();
