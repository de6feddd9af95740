// The rebuild path alone (data.rebuildShard), in real data server processes: CPU seconds per GiB
// rebuilt with nothing else on the machine's cores but what the machine's other users run. The
// full bench (run.ts) adds the metadata members, the gateway and foreground GETs, whose CPU it
// counts too; this one measures what a data server spends per rebuilt byte, for this checkout or
// another (--repo), back to back.
//   node benches/repair/rebuild.ts [--repo DIR] [--stripes 256] [--shard-kib 1024]
//     [--concurrency 16] [--rounds 2]
// Six data servers (2 disks each, each its own process), stripes of 4+2 written with putShard,
// shard i of stripe s on server (s + i) mod 6. Server 0 is then left out (its address given as
// `avoid`, as a server recorded down is), and for each stripe the shard it held is rebuilt on the
// next server, on the disk its own shard of that stripe is not on, `concurrency` at a time. Every
// round rebuilds each lost shard once, then deletes the rebuilt copies (not counted).
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    repo: { type: 'string', default: resolve(import.meta.dirname, '..', '..') },
    stripes: { type: 'string', default: '256' },
    'shard-kib': { type: 'string', default: '1024' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    dir: { type: 'string', default: tmpdir() },
    // node --cpu-prof for the data servers, profiles kept in this directory
    'cpu-prof-dir': { type: 'string' },
    // more node flags for the data servers (e.g. --trace-gc)
    'node-args': { type: 'string' },
  },
});
const stripeCount = Number(values.stripes);
const shardBytes = Number(values['shard-kib']) * 1024;
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
for (const [name, n] of Object.entries({ stripeCount, shardBytes, concurrency, rounds }))
  if (!(Number.isSafeInteger(n) && n > 0)) throw new Error(`${name}: a positive integer`);

const repo = resolve(values.repo);
const load = (path: string) => import(join(repo, path));
await load('test/helpers/cluster-token.ts');
const { DataClient } = await load('src/data/index.ts');
const { shardFromData } = await load('src/client/stripe-codec.ts');

const K = 4;
const M = 2;
const SERVERS = 6;
const TICKS_PER_SECOND = 100;
const MiB = 1024 * 1024;

interface Server {
  id: string;
  addr: string;
  child: ChildProcess;
  client: InstanceType<typeof DataClient>;
}

// User and system CPU seconds of a process so far (/proc/<pid>/stat: utime and stime).
function cpuOf(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    user: Number(fields[11]) / TICKS_PER_SECOND,
    system: Number(fields[12]) / TICKS_PER_SECOND,
  };
}

async function startServer(root: string, i: number): Promise<Server> {
  const id = `s${i}`;
  const disks = [join(root, `${id}-d0`), join(root, `${id}-d1`)];
  const child = fork(
    join(import.meta.dirname, 'rebuild-server.ts'),
    ['--repo', repo, '--id', id, ...disks],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [
        ...(values['cpu-prof-dir']
          ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof-dir']}`]
          : []),
        ...(values['node-args']?.split(' ').filter((a) => a !== '') ?? []),
      ],
    },
  );
  const port = await new Promise<number>((res, rej) => {
    child.once('message', (m: { port: number }) => res(m.port));
    child.once('exit', (code) => rej(new Error(`server ${id} exited (${code})`)));
  });
  const addr = `127.0.0.1:${port}`;
  return { id, addr, child, client: new DataClient(addr) };
}

const root = mkdtempSync(join(values.dir, 'strata-bench-rebuild-'));
const servers: Server[] = [];
try {
  for (let i = 0; i < SERVERS; i++) servers.push(await startServer(root, i));
  const diskOf = (s: number, i: number) => (s + i) % 2;
  const serverOf = (s: number, i: number) => (s + i) % SERVERS;
  const geometry = { k: K, m: M, shardSizeBytes: shardBytes };
  const dataLengthBytes = K * shardBytes;
  const stripes = Array.from({ length: stripeCount }, () => randomBytes(16).toString('hex'));
  const data = randomBytes(dataLengthBytes);
  for (const [s, stripeId] of stripes.entries()) {
    const shards = Array.from({ length: K + M }, (_, i) => shardFromData(geometry, data, i));
    await Promise.all(
      shards.map((shard, i) =>
        servers[serverOf(s, i)].client.putShard(
          { stripeId, shardIndex: i, disk: diskOf(s, i) },
          shard,
        ),
      ),
    );
  }
  // Stripe s lost shard (SERVERS - s) mod SERVERS, the one on server 0; the survivors take turns
  // as the target, each writing to the disk its own shard of the stripe is not on.
  const lostIndex = (s: number) => (SERVERS - (s % SERVERS)) % SERVERS;
  const targetOf = (s: number) => 1 + (s % (SERVERS - 1));
  const request = (s: number) => {
    const index = lostIndex(s);
    return {
      stripeId: stripes[s],
      shardIndex: index,
      disk: 1 - (targetOf(s) % 2), // diskOf of the target's own shard of the stripe is t mod 2
      k: K,
      m: M,
      shardSizeBytes: shardBytes,
      dataLengthBytes,
      shardVersion: 2,
      sources: Array.from({ length: K + M }, (_, i) => {
        const server = servers[serverOf(s, i)];
        const lost = serverOf(s, i) === 0;
        return { serverId: server.id, addr: server.addr, disk: diskOf(s, i), avoid: lost };
      }),
    };
  };
  const survivors = servers.slice(1);
  console.log(
    `rebuild bench ${repo}: ${stripeCount} stripes of 4+2, ${shardBytes / 1024} KiB shards, ` +
      `${concurrency} rebuilds in flight, ${rounds} rounds; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  for (let round = 0; round < rounds; round++) {
    const cpuBefore = survivors.map((s) => cpuOf(s.child.pid as number));
    const startedMs = performance.now();
    const startedUs = process.hrtime.bigint() / 1000n;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let s = next++; s < stripeCount; s = next++) {
          const reply = await servers[targetOf(s)].client.rebuildShard(request(s), {
            timeoutMs: 120_000,
          });
          if (reply.sizeBytes !== shardBytes) throw new Error('short rebuild');
        }
      }),
    );
    const ms = performance.now() - startedMs;
    // The round on the monotonic clock the CPU profiles' timestamps use (microseconds).
    if (values['cpu-prof-dir'])
      console.log(`round window (monotonic us): ${startedUs} ${process.hrtime.bigint() / 1000n}`);
    const after = survivors.map((s) => cpuOf(s.child.pid as number));
    const user = after.reduce((sum, a, i) => sum + a.user - cpuBefore[i].user, 0);
    const system = after.reduce((sum, a, i) => sum + a.system - cpuBefore[i].system, 0);
    const cpu = after.map((a, i) => a.user + a.system - cpuBefore[i].user - cpuBefore[i].system);
    const cpuTotal = user + system;
    const gib = (stripeCount * shardBytes) / (1024 * MiB);
    console.log(
      `round ${round + 1}: ${((stripeCount * shardBytes) / MiB).toFixed(0)} MiB rebuilt in ` +
        `${(ms / 1000).toFixed(1)} s (${((stripeCount * shardBytes) / MiB / (ms / 1000)).toFixed(1)} MiB/s); ` +
        `data servers' CPU ${cpuTotal.toFixed(1)} s = ${(cpuTotal / gib).toFixed(1)} CPU-s per GiB ` +
        `(user ${user.toFixed(1)}, system ${system.toFixed(1)}; by server ` +
        `${cpu.map((c) => c.toFixed(1)).join(' ')}); load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
    );
    // The rebuilt copies go, so the next round writes them again.
    for (let s = 0; s < stripeCount; s++) {
      const r = request(s);
      await servers[targetOf(s)].client.deleteShards({
        shards: [{ stripeId: r.stripeId, shardIndex: r.shardIndex, disk: r.disk }],
      });
    }
  }
} finally {
  for (const s of servers) {
    await s.client.close();
    s.child.disconnect();
  }
  await Promise.all(
    servers.map((s) =>
      s.child.exitCode === null ? new Promise((r) => s.child.once('exit', r)) : undefined,
    ),
  );
  rmSync(root, { recursive: true, force: true });
}
