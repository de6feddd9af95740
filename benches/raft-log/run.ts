// One metadata member in process (a single-voter Raft group over its log and state machine):
// `create` commands through Raft, first one at a time, then 32 at a time; ops/s and the event
// loop's delay while they run (max and p99, monitorEventLoopDelay). Each create is one Raft entry
// made durable before it is applied, so this measures the Raft log's write path and what it does
// to the event loop. The checkout to measure is an argument, so an older one can be compared on
// the same machine in the same minutes (docs/architecture/raft.md, "The Raft log in segment
// files", has the figures).
//   node benches/raft-log/run.ts [--repo DIR] [--ops 1000] [--dir /var/tmp]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    repo: { type: 'string', default: resolve(import.meta.dirname, '..', '..') },
    ops: { type: 'string', default: '1000' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const repo = values.repo;
const ops = Number(values.ops);
if (!Number.isSafeInteger(ops) || ops <= 0)
  throw new Error(`--ops: a positive integer, got ${values.ops}`);
const load = (path: string) => import(join(repo, 'src', path));
const { RaftStore } = await load('metadata/replication/raft-store.ts');
const { MetadataReplica } = await load('metadata/replication/replica.ts');
const { SnapshotFiles } = await load('metadata/replication/snapshot-files.ts');
const { RaftTransport } = await load('metadata/replication/transport.ts');
const { MetadataStateMachine } = await load('metadata/state-machine.ts');
const { silentLogger } = await load('observability/logger.ts');

const dataDir = mkdtempSync(join(values.dir, 'strata-bench-raft-log-'));
const files = new SnapshotFiles(dataDir);
const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
const store = RaftStore.open(join(dataDir, 'raft-log'));
const replica = new MetadataReplica({
  nodeId: 1,
  store,
  stateMachine,
  transport: new RaftTransport(silentLogger),
  bootstrapVoters: [1],
  log: silentLogger,
  tickMs: 100,
  electionTimeoutTicks: 10,
  seed: 1,
  snapshotLogBytes: 64 * 1024 * 1024,
  diskSpace: { paths: [dataDir], minFreeBytes: 0, checkIntervalMs: 60_000 },
  files,
});
const caller = { uid: 0, gid: 0 };

// The command union of whichever checkout is measured: untyped here.
async function propose(command: any) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await replica.propose({ command });
    } catch (error) {
      if (attempt > 300) throw error;
      await new Promise((r) => setTimeout(r, 10)); // not the leader yet
    }
  }
}

const bucket = await propose({ op: 'createBucket', nowMs: 1, name: 'b', owner: 'o', caller });
const parent = bucket.inode.ino;
let named = 0;

async function phase(label: string, concurrency: number): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const startedMs = performance.now();
  const cpuBefore = process.cpuUsage();
  let started = 0;
  const worker = async () => {
    while (started < ops) {
      started++;
      const name = `f${named++}`;
      const result = await propose({ op: 'create', nowMs: 1, parent, name, mode: 0o644, caller });
      if (!result.ok) throw new Error(`create ${name} failed: ${JSON.stringify(result)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - startedMs) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  delay.disable();
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  console.log(
    JSON.stringify({
      label,
      concurrency,
      ops,
      opsPerSecond: Math.round(ops / seconds),
      // This process's CPU (all threads: the threadpool's writes too) per create, which the
      // machine's load inflates far less than it inflates wall time.
      cpuUsPerOp: Math.round((cpu.user + cpu.system) / ops),
      loopDelayMaxMs: ms(delay.max),
      loopDelayP99Ms: ms(delay.percentile(99)),
    }),
  );
}

await phase('sequential', 1);
await phase('concurrent', 32);
replica.close();
await replica.drained();
await store.close();
await stateMachine.close();
rmSync(dataDir, { recursive: true, force: true });
