// CPU time of a single-node server per 16 MiB GET: the gateway's process (gateway and metadata,
// where a GET opens its windows) and its data service process apart, from utime + stime in
// /proc/PID/stat, so the figure does not depend on the machine's other load (unlike MiB/s).
// Servers: encrypted at rest and plain, from this checkout and, with --before, from another
// checkout too (the code before a change), loaded in turn round by round.
//   node benches/encryption-open/server-cpu.ts [--before CHECKOUT] [--rounds 7] [--objects 8]
//     [--prof DIR]   (the servers run with --cpu-prof, profiles written to DIR at their stop)
//     [--threads]    (also the gateway's CPU per GET by thread name, round by round: V8's
//                    collector threads do work a main-thread profile does not show)
// Last, the whole server's CPU (gateway and data service) per GET, encrypted / plain round by
// round and the median of those ratios: the figure for the 15% goal of issue 14.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../../test/helpers/s3.ts';
import { type StrataProcess, startStrata } from '../../test/helpers/server.ts';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    objects: { type: 'string', default: '8' },
    prof: { type: 'string' },
    threads: { type: 'boolean', default: false },
    only: { type: 'string' }, // one server by name: 'encrypted', 'plain', 'before, encrypted'..
  },
});
const startBefore =
  values.before === undefined
    ? undefined
    : (
        (await import(join(values.before, 'test/helpers/server.ts'))) as {
          startStrata: typeof startStrata;
        }
      ).startStrata;
const MiB = 1024 * 1024;
const OBJECTS = Number(values.objects);
const prof: Record<string, string> = values.prof
  ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values.prof}` }
  : {};
const encrypted: Record<string, string> = { STRATA_ENCRYPTION_ENABLED: 'true', ...prof };
const kinds: Array<[string, () => Promise<StrataProcess>]> = [];
if (startBefore) {
  kinds.push(['before, encrypted', () => startBefore({ env: encrypted })]);
  kinds.push(['before, plain', () => startBefore({ env: prof })]);
}
kinds.push(['encrypted', () => startStrata({ env: encrypted })]);
kinds.push(['plain', () => startStrata({ env: prof })]);
const servers: Array<[string, StrataProcess]> = [];
for (const [name, start] of kinds) {
  if (values.only === undefined || values.only === name) servers.push([name, await start()]);
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}
function childrenOf(pid: number): number[] {
  const list = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim();
  return list === '' ? [] : list.split(' ').map(Number);
}
// CPU ms of each of a process's threads, summed by thread name (digits dropped: V8Worker, ...).
function threadCpuMs(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    byName.set(name, (byName.get(name) ?? 0) + ms);
  }
  return byName;
}
const threadLines: string[] = [];

// The gateway's system CPU ms and minor page faults (each a page the process touched for the
// first time since the kernel gave it: fresh memory, which a reused buffer does not cost).
function sysAndFaultsOf(pid: number): { sysMs: number; faults: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { sysMs: (Number(fields[12]) * 1000) / TICKS_PER_SECOND, faults: Number(fields[7]) };
}

interface CpuSample {
  gateway: number;
  data: number;
  gatewaySys: number;
  gatewayFaults: number;
}

function cpuMs(server: StrataProcess): CpuSample {
  const pid = server.process.pid as number;
  const data = childrenOf(pid).reduce((sum, child) => sum + cpuMsOf(child), 0);
  const { sysMs, faults } = sysAndFaultsOf(pid);
  return { gateway: cpuMsOf(pid), data, gatewaySys: sysMs, gatewayFaults: faults };
}

const body = patternBytes(16 * MiB, 7);
// The PUTs that store the objects, one at a time: gateway CPU per 16 MiB PUT (seal, MD5, encode).
const perPut = new Map<string, number>();
for (const [name, server] of servers) {
  const s3 = s3Client(server);
  await s3.send(new CreateBucketCommand({ Bucket: 'cpu' }));
  const before = cpuMs(server);
  for (let i = 0; i < OBJECTS; i++)
    await s3.send(new PutObjectCommand({ Bucket: 'cpu', Key: `o${i}`, Body: body }));
  perPut.set(name, (cpuMs(server).gateway - before.gateway) / OBJECTS);
  s3.destroy();
}
const perGet = new Map<string, CpuSample[]>(servers.map(([name]) => [name, []]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [name, server] of servers) {
    const s3 = s3Client(server);
    const before = cpuMs(server);
    const threadsBefore = values.threads ? threadCpuMs(server.process.pid as number) : undefined;
    await Promise.all(
      Array.from({ length: OBJECTS }, async (_, i) => {
        const got = await s3.send(new GetObjectCommand({ Bucket: 'cpu', Key: `o${i}` }));
        const bytes = await bodyBytes(got.Body);
        if (bytes.length !== body.length) throw new Error('short read');
      }),
    ).catch((error) => {
      throw new Error(`${name}: ${error}\n${server.output().slice(-3000)}`);
    });
    const after = cpuMs(server);
    if (threadsBefore !== undefined) {
      const perThread = [...threadCpuMs(server.process.pid as number)]
        .map(([thread, ms]) => [thread, (ms - (threadsBefore.get(thread) ?? 0)) / OBJECTS] as const)
        .filter(([, ms]) => ms > 0)
        .map(([thread, ms]) => `${thread} ${ms.toFixed(1)}`);
      threadLines.push(`round ${r}, ${name}: ${perThread.join(', ')}`);
    }
    perGet.get(name)?.push({
      gateway: (after.gateway - before.gateway) / OBJECTS,
      data: (after.data - before.data) / OBJECTS,
      gatewaySys: (after.gatewaySys - before.gatewaySys) / OBJECTS,
      gatewayFaults: (after.gatewayFaults - before.gatewayFaults) / OBJECTS,
    });
    s3.destroy();
  }
}
await Promise.all(servers.map(([, s]) => s.stop()));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(
  '| server | gateway CPU ms per 16 MiB GET | of it system | gateway minor faults | data service CPU ms | gateway, each round | gateway CPU ms per 16 MiB PUT (c=1, one pass) |',
);
console.log('|---|---|---|---|---|---|---|');
for (const [name, list] of perGet) {
  const gateway = list.map((x) => x.gateway);
  const data = median(list.map((x) => x.data)).toFixed(1);
  const sys = median(list.map((x) => x.gatewaySys)).toFixed(1);
  const faults = median(list.map((x) => x.gatewayFaults)).toFixed(0);
  const each = gateway.map((x) => x.toFixed(0)).join(' ');
  const put = perPut.get(name)?.toFixed(1);
  console.log(
    `| ${name} | ${median(gateway).toFixed(1)} | ${sys} | ${faults} | ${data} | ${each} | ${put} |`,
  );
}
console.log(`c=${OBJECTS}, medians of ${values.rounds} rounds, servers in turn`);
// Whole server (gateway and data service) per GET, and encrypted / plain round by round: the two
// servers of a round ran back to back, so a burst of other load that slows one round weighs on
// both sides of its ratio; the median of the ratios is the figure to quote.
const whole = (list: CpuSample[]) => list.map((x) => x.gateway + x.data);
for (const prefix of startBefore ? ['before, ', ''] : ['']) {
  const sealed = perGet.get(`${prefix}encrypted`);
  const plain = perGet.get(`${prefix}plain`);
  if (sealed === undefined || plain === undefined) continue;
  const [a, b] = [whole(sealed), whole(plain)];
  const ratios = a.map((x, r) => x / b[r]);
  console.log(
    `${prefix}whole server CPU ms per 16 MiB GET, encrypted ${median(a).toFixed(1)}, plain ` +
      `${median(b).toFixed(1)}; encrypted / plain round by round ` +
      `${ratios.map((x) => x.toFixed(2)).join(' ')}, median ${median(ratios).toFixed(2)}`,
  );
}
if (values.threads) {
  console.log('gateway CPU ms per 16 MiB GET by thread:');
  for (const line of threadLines) console.log(line);
}
