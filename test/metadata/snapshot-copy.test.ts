// A Raft snapshot of a large namespace is a copy of the state machine's LMDB environment taken on
// a worker thread from one read transaction (docs/architecture/raft.md, "Snapshots"). Writes go
// on while it is taken, and the copy holds exactly the state at the applied index it records.
// The longest event-loop stall during the copy and its checksum is printed as a diagnostic (it
// is a measurement, never asserted): STRATA_SNAPSHOT_TEST_ENTRIES sets the namespace size.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { checksumFile } from '../../src/metadata/replication/snapshot-files.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Command } from '../../src/metadata/types.ts';
import { tempDir } from '../helpers/server.ts';

const ENTRIES = Number(process.env.STRATA_SNAPSHOT_TEST_ENTRIES ?? 200_000);
const FILES_PER_DIR = 10_000;
const caller = { uid: 0, gid: 0 };

const machines: MetadataStateMachine[] = [];
after(async () => {
  for (const machine of machines) await machine.close();
});

function create(parent: number, name: string): Command {
  return { op: 'create', nowMs: 1, parent, name, mode: 0o644, caller, exclusive: true };
}

function mkdir(machine: MetadataStateMachine, parent: number, name: string): number {
  const result = machine.apply({ op: 'mkdir', nowMs: 1, parent, name, mode: 0o755, caller });
  assert.ok(result.ok, JSON.stringify(result));
  return (result as unknown as { inode: { ino: number } }).inode.ino;
}

// Files in directories of FILES_PER_DIR under one bucket, built through the state machine as Raft
// would apply them. Returns the bucket's inode.
function buildNamespace(machine: MetadataStateMachine, entries: number): number {
  const bucket = machine.apply({ op: 'createBucket', nowMs: 1, name: 'b', owner: 'o', caller });
  assert.ok(bucket.ok, JSON.stringify(bucket));
  const root = (bucket as unknown as { inode: { ino: number } }).inode.ino;
  const dirs: number[] = [];
  for (let i = 0; i < entries; i++) {
    if (i % FILES_PER_DIR === 0) dirs.push(mkdir(machine, root, `d${dirs.length}`));
    const result = machine.apply(create(dirs[dirs.length - 1], `f${i}`));
    assert.ok(result.ok, JSON.stringify(result));
  }
  return root;
}

test(`a snapshot of ${ENTRIES} entries is taken off the event loop while writes go on, and holds exactly the state at the index it records`, async (t) => {
  const dataDir = tempDir('strata-snapcopy-');
  const machine = MetadataStateMachine.open(join(dataDir, 'metadata'), { durable: false });
  machines.push(machine);
  const root = buildNamespace(machine, ENTRIES);
  const writesDir = mkdir(machine, root, 'during');
  const firstWriteIndex = machine.appliedIndex() + 1;

  // Writers keep committing (one create per millisecond) while the copy runs.
  let written = 0;
  const writer = setInterval(() => {
    machine.apply(create(writesDir, `w${written++}`));
  }, 1);
  // The same writes for a second without a snapshot: the stall the process shows anyway (GC,
  // a machine shared with other work), to read the figure below against.
  const baseline = monitorEventLoopDelay({ resolution: 5 });
  baseline.enable();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  baseline.disable();
  const delay = monitorEventLoopDelay({ resolution: 5 });
  const snapshotDir = join(dataDir, 'snap');
  mkdirSync(snapshotDir);
  delay.enable();
  const startedMs = performance.now();
  let sizeBytes: number;
  try {
    await machine.snapshotTo(snapshotDir);
    ({ sizeBytes } = await checksumFile(join(snapshotDir, 'data.mdb')));
  } finally {
    delay.disable();
    clearInterval(writer);
  }
  const tookMs = performance.now() - startedMs;

  const index = MetadataStateMachine.appliedIndexAt(snapshotDir);
  // The copy is one read transaction: the writes it holds are exactly those up to its index.
  const copy = MetadataStateMachine.open(snapshotDir, { durable: false });
  machines.push(copy);
  assert.equal(copy.appliedIndex(), index);
  const held = copy.reader.readdir(writesDir, undefined, 10_000).length;
  assert.equal(held, Math.max(0, index - firstWriteIndex + 1), 'writes up to the index, no more');
  assert.ok(written > 0 && machine.appliedIndex() >= index, 'writes went on during the copy');
  const lastDir = copy.reader.lookup(root, `d${Math.ceil(ENTRIES / FILES_PER_DIR) - 1}`);
  assert.ok(lastDir, 'the namespace built before the copy is in it');
  t.diagnostic(
    `entries ${ENTRIES}: snapshot ${(sizeBytes / 2 ** 20).toFixed(1)} MiB in ${Math.round(tookMs)} ms, ` +
      `longest event-loop stall ${(delay.max / 1e6).toFixed(1)} ms ` +
      `(${(baseline.max / 1e6).toFixed(1)} ms in a second of the same writes without it), ` +
      `${written} writes committed meanwhile`,
  );
});
