// What mounts' change feeds (src/fuse/change-feed.ts) cost the metadata service: N clients ask
// `namespaceChanges` every 200 ms, as mounts do, of an idle single-node server; its CPU (utime +
// stime from /proc) over 10 s with them, against 10 s without, per question.
//   node benches/metadata/feed-polls.ts [mounts, default 50]
import { readFileSync } from 'node:fs';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { startStrata } from '../../test/helpers/server.ts';

const N = Number(process.argv[2] ?? 50);
const server = await startStrata();
const ticks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const pid = server.process.pid as number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
await sleep(2000);
let t0 = ticks(pid);
await sleep(10_000);
const idle = (ticks(pid) - t0) / 100;
const clients = Array.from({ length: N }, () => new MetadataClient([server.metadataAddr]));
const cursors = clients.map(() => -1);
let polls = 0;
let stop = false;
const loops = clients.map(async (c, i) => {
  await sleep(Math.random() * 200);
  while (!stop) {
    const a = await c.readUnordered('namespaceChanges', cursors[i], c.sessionId);
    cursors[i] = a.index;
    polls++;
    await sleep(200);
  }
});
await sleep(2000);
t0 = ticks(pid);
const p0 = polls;
await sleep(10_000);
const busy = (ticks(pid) - t0) / 100;
const n = polls - p0;
stop = true;
await Promise.all(loops);
await Promise.all(clients.map((c) => c.close()));
console.log({
  mounts: N,
  pollsPerS: n / 10,
  serverCpuIdlePct: idle * 10,
  serverCpuPct: busy * 10,
  usPerPoll: Math.round(((busy - idle) / n) * 1e6),
});
await server.stop();
