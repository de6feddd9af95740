// Probe: c=N creates for S seconds on a 3-member cluster; prints pids so strace/perf can attach.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { MetadataCluster } from '../../test/helpers/metadata-cluster.ts';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '3' },
    pids: { type: 'string', default: '/tmp/metac1/pids' },
  },
});
function cpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
function io(pid: number): { w: number; r: number } {
  const t = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { w: Number(/syscw: (\d+)/.exec(t)?.[1]), r: Number(/syscr: (\d+)/.exec(t)?.[1]) };
}
const cluster = await MetadataCluster.start(3);
const clients = Array.from({ length: 8 }, () => new MetadataClient(cluster.addrs));
try {
  const dir = await clients[0].apply({
    op: 'createBucket',
    nowMs: Date.now(),
    name: 'b',
    owner: 'b',
    caller: { uid: 0, gid: 0 },
  });
  const parent = dir.inode?.ino as number;
  const { id: leaderId } = await cluster.leader();
  const members = [...cluster.nodes.entries()]
    .sort(([a], [b]) => (a === leaderId ? -1 : b === leaderId ? 1 : a - b))
    .map(([id, n]) => ({
      name: id === leaderId ? 'leader' : `f${id}`,
      pid: n.process.process.pid as number,
    }));
  const run = async (seconds: number, tag: string) => {
    const c = Number(opts.concurrency);
    const lat: number[] = [];
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: c }, async (_, w) => {
        for (let n = 0; performance.now() < end; n++) {
          const t = performance.now();
          const r = await clients[w % 8].apply({
            op: 'create',
            nowMs: Date.now(),
            parent,
            name: `${tag}-${w}-${n}`,
            mode: 0o644,
            caller: { uid: 0, gid: 0 },
            exclusive: true,
          });
          if ((r as { ok: boolean }).ok !== true) throw new Error(JSON.stringify(r));
          lat.push(performance.now() - t);
        }
      }),
    );
    lat.sort((a, b) => a - b);
    return lat;
  };
  await run(Number(opts.warmup), 'warm');
  writeFileSync(opts.pids, `${members.map((m) => `${m.name} ${m.pid}`).join('\n')}\n`);
  const before = members.map((m) => cpu(m.pid));
  const ioBefore = members.map((m) => io(m.pid));
  const lat = await run(Number(opts.seconds), 'run');
  const ops = lat.length;
  const cpuUs = members.map(
    (m, i) => `${m.name}=${Math.round(((cpu(m.pid) - before[i]) * 1e6) / ops)}`,
  );
  const sys = members.map((m, i) => {
    const now = io(m.pid);
    return `${m.name}=${((now.w - ioBefore[i].w) / ops).toFixed(1)}w/${((now.r - ioBefore[i].r) / ops).toFixed(1)}r`;
  });
  console.log(
    `c=${opts.concurrency} ops/s=${(ops / Number(opts.seconds)).toFixed(0)} p50=${lat[Math.floor(ops / 2)].toFixed(2)} p99=${lat[Math.floor(ops * 0.99)].toFixed(2)} cpuUs/op ${cpuUs.join(' ')} syscalls/op ${sys.join(' ')} load=${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
} finally {
  for (const c of clients) await c.close();
  await cluster.stop();
}
