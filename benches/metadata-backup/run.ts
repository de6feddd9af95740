// How long `strata cluster backup` and `strata cluster restore` take on a namespace of N entries
// (files in directories of 1,000, made straight into a state machine, then adopted by a server).
//   /work/bin/quiet-bench node benches/metadata-backup/run.ts [--entries 200000]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { STRATA_BIN, startStrata, tempDir } from '../../test/helpers/server.ts';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '200000' } } });
const ENTRIES = Number(values.entries);
const PER_DIR = 1000;
const caller = { uid: 0, gid: 0 };

function fill(dir: string): void {
  const machine = MetadataStateMachine.open(join(dir, 'metadata'), { durable: false });
  const bucket = machine.apply({
    op: 'createBucket',
    nowMs: 1,
    name: 'bench',
    owner: 'admin',
    caller,
  });
  if (!bucket.ok) throw new Error(bucket.message);
  let parent = 0;
  for (let i = 0; i < ENTRIES; i++) {
    if (i % PER_DIR === 0) {
      const made = machine.apply({
        op: 'mkdir',
        nowMs: 2,
        parent: bucket.bucket?.ino as number,
        name: `d${i / PER_DIR}`,
        mode: 0o755,
        caller,
      });
      if (!made.ok) throw new Error(made.message);
      parent = made.inode?.ino as number;
    }
    const file = { op: 'create', nowMs: 3, parent, name: `file-${i}.bin`, mode: 0o644 } as const;
    const made = machine.apply({ ...file, caller, exclusive: true });
    if (!made.ok) throw new Error(made.message);
  }
  void machine.close();
}

function timed(args: string[]): { seconds: number; stdout: string } {
  const started = performance.now();
  const run = spawnSync(process.execPath, [STRATA_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, STRATA_CONFIG: '' },
  });
  if (run.status !== 0) throw new Error(`${args.join(' ')}: ${run.stderr}`);
  return { seconds: (performance.now() - started) / 1000, stdout: run.stdout };
}

const root = tempDir('strata-bench-backup-');
const fillStarted = performance.now();
fill(join(root, 'server'));
console.log(
  `${ENTRIES} entries made in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`,
);
const server = await startStrata({ dataDir: join(root, 'server'), ready: ['metadata'] });
try {
  const file = join(root, 'metadata.backup');
  const backup = timed(['cluster', 'backup', file, '--metadata-addr', server.metadataAddr]);
  const bytes = Number(/(\d+) bytes/.exec(backup.stdout)?.[1]);
  const mb = bytes / 1e6;
  console.log(
    `backup:  ${mb.toFixed(1)} MB in ${backup.seconds.toFixed(2)} s (${(mb / backup.seconds).toFixed(0)} MB/s, CLI start included)`,
  );
  const restore = timed([
    'cluster',
    'restore',
    file,
    '--data-dir',
    join(root, 'r'),
    '--node-id',
    '1',
  ]);
  console.log(
    `restore: ${mb.toFixed(1)} MB in ${restore.seconds.toFixed(2)} s (${(mb / restore.seconds).toFixed(0)} MB/s, CLI start included)`,
  );
} finally {
  await server.stop();
  spawnSync('rm', ['-rf', root]);
}
