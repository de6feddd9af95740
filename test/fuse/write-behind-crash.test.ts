// kill -9 during a create/mkdir/rename/unlink workload on a --write-behind mount, with an fsync of the
// directory every SYNC_EVERY operations (issue 13's crash test for the POSIX durability path):
// afterwards every operation before the last fsync that returned is there, and what the cluster
// holds is exactly the directory after some prefix of the workload (no operation survives whose
// predecessor was lost). Once killing the mount alone, once the mount and the server together
// (the server restarted on its data).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { StrataClient } from '../../src/client/index.ts';
import { canMount, startMount } from '../helpers/mount.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { seededRandom } from '../metadata/sm-helpers.ts';

// A create with `sync` is an fsync point: the new file is fsynced before it is closed, which must
// make it and every change before it durable.
type Op =
  | { op: 'create'; name: string; sync?: true }
  | { op: 'mkdir'; name: string }
  | { op: 'unlink'; name: string }
  | { op: 'rename'; from: string; to: string };

const OPS = 20_000; // more than run before the kill
const SYNC_EVERY = 100;
const SYNCS_BEFORE_KILL = 4;

// 65% creates and 5% mkdirs of new names, 15% unlinks and 15% renames (to a new name) of present
// files; without `renames`, 30% unlinks instead. All are answered behind while the directory is
// held (a rename within it too). Directories made are never unlinked or renamed.
function workload(seed: number, renames: boolean): Op[] {
  const random = seededRandom(seed);
  const present: string[] = [];
  const ops: Op[] = [];
  for (let i = 0; ops.length < OPS; i++) {
    const roll = random(100);
    if ((ops.length + 1) % SYNC_EVERY === 0) {
      present.push(`s${i}`);
      ops.push({ op: 'create', name: `s${i}`, sync: true });
    } else if (roll >= 65 && roll < 70) {
      ops.push({ op: 'mkdir', name: `d${i}` });
      continue;
    } else if (present.length === 0 || roll < 70) {
      const name = `f${i}`;
      present.push(name);
      ops.push({ op: 'create', name });
      continue;
    }
    const at = random(present.length);
    const name = present[at];
    if (roll < 85 || !renames) {
      present.splice(at, 1);
      ops.push({ op: 'unlink', name });
    } else {
      present[at] = `r${i}`;
      ops.push({ op: 'rename', from: name, to: present[at] });
    }
  }
  return ops;
}

const apply = (names: Set<string>, op: Op) => {
  if (op.op === 'create' || op.op === 'mkdir') names.add(op.name);
  else if (op.op === 'unlink') names.delete(op.name);
  else {
    names.delete(op.from);
    names.add(op.to);
  }
};

// The lengths of the workload's prefixes that leave exactly `observed`.
function matchingPrefixes(ops: Op[], observed: Set<string>): number[] {
  const names = new Set<string>();
  const same = () => names.size === observed.size && [...names].every((n) => observed.has(n));
  const out: number[] = same() ? [0] : [];
  ops.forEach((op, i) => {
    apply(names, op);
    if (same()) out.push(i + 1);
  });
  return out;
}

// The workload in a child process: each operation in order, "synced N" printed once the fsync of
// operation N returned.
const RUNNER = `
const fs = require('node:fs');
const [opsFile, dir] = process.argv.slice(1);
const ops = JSON.parse(fs.readFileSync(opsFile, 'utf8'));
const at = (n) => dir + '/' + n;
ops.forEach((o, i) => {
  if (o.op === 'create') {
    const fd = fs.openSync(at(o.name), 'wx');
    if (o.sync) fs.fsyncSync(fd);
    fs.closeSync(fd);
    if (o.sync) console.log('synced ' + (i + 1));
  } else if (o.op === 'mkdir') fs.mkdirSync(at(o.name));
  else if (o.op === 'unlink') fs.unlinkSync(at(o.name));
  else fs.renameSync(at(o.from), at(o.to));
});
`;

function runWorkload(opsFile: string, dir: string): { child: ChildProcess; synced: () => number } {
  let output = '';
  const child = spawn(process.execPath, ['-e', RUNNER, opsFile, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', () => {}); // the mount dies under it: ENOTCONN
  const synced = () => Math.max(0, ...[...output.matchAll(/^synced (\d+)$/gm)].map((m) => +m[1]));
  return { child, synced };
}

async function namesIn(server: StrataProcess, path: string): Promise<Set<string>> {
  const client = new StrataClient({ metadataAddrs: [server.metadataAddr] });
  try {
    const dir = (await client.stat(path)).ino;
    const names = new Set<string>();
    let after: string | undefined;
    for (;;) {
      const page = await client.metadata.read('readdir', dir, after, 1000);
      for (const e of page) names.add(e.name);
      if (page.length < 1000) return names;
      after = page[page.length - 1].name;
    }
  } finally {
    await client.close();
  }
}

interface Crash {
  seed: number;
  killServerToo?: boolean;
  // The server is stopped (SIGSTOP) for a while before the kill: the workload goes on with what
  // is answered behind, and an fsync must not return while its changes cannot be applied.
  stallServer?: boolean;
}

async function crashRun({ seed, killServerToo, stallServer }: Crash): Promise<void> {
  const dataDir = tempDir('strata-wbcrash-');
  let server = await startStrata({ dataDir });
  const mount = await startMount(server.metadataAddr, { args: ['--write-behind'] });
  try {
    const dir = join(mount.mountPoint, 'crash', 'dir');
    mkdirSync(dir, { recursive: true });
    const ops = workload(seed, !stallServer);
    const opsFile = join(dataDir, 'ops.json');
    writeFileSync(opsFile, JSON.stringify(ops));
    const run = runWorkload(opsFile, dir);
    const deadline = Date.now() + 120_000;
    while (run.synced() < SYNCS_BEFORE_KILL * SYNC_EVERY) {
      if (run.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`the workload stopped early (synced ${run.synced()})`);
      await new Promise((r) => setTimeout(r, 5));
    }
    // Somewhere after an fsync, with creates and unlinks answered and not yet sent.
    await new Promise((r) => setTimeout(r, 10 + (seed % 40)));
    if (stallServer) {
      server.process.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 300));
    }
    if (killServerToo) await server.kill();
    await mount.kill();
    const synced = run.synced();
    run.child.kill('SIGKILL');
    if (stallServer && !killServerToo) server.process.kill('SIGCONT');
    if (killServerToo) server = await startStrata({ dataDir });

    const observed = await namesIn(server, '/crash/dir');
    const prefixes = matchingPrefixes(ops, observed);
    assert.ok(
      prefixes.length > 0,
      `seed ${seed}: the ${observed.size} names left are no prefix of the workload`,
    );
    assert.ok(
      prefixes.some((p) => p >= synced),
      `seed ${seed}: the names left are the workload up to ${prefixes.join(', ')}, ` +
        `before its last fsync at ${synced}`,
    );
  } finally {
    await mount.stop().catch(() => {});
    await server.stop();
  }
}

describe('kill -9 under write-behind namespace changes', { skip: !canMount }, () => {
  test('the mount killed: what was fsynced is there, and the rest is a prefix', async () => {
    await crashRun({ seed: 1 });
    await crashRun({ seed: 2, stallServer: true });
  });
  test('the mount and the server killed together: the same after a restart', async () => {
    await crashRun({ seed: 3, killServerToo: true });
    await crashRun({ seed: 4, killServerToo: true, stallServer: true });
  });
});

// A workload in a child: a create every 5 ms (the directory is soon held, and never idle long enough
// to be given back) until the first line on stdin; then on each line the next step: 200 more
// creates, then a create that is fsynced. It prints what each step gave. It works in the directory
// (chdir, relative names): a walk from the mount's root would ask the stalled server for `cut` and
// `dir` again once the kernel's 1 s entries of them expire, and only the held directory is answered
// by the mount.
const CUT_OFF_RUNNER = `
const fs = require('node:fs');
const readline = require('node:readline');
process.chdir(process.argv[1]);
let n = 0;
const steady = setInterval(() => fs.closeSync(fs.openSync('a' + n++, 'wx')), 5);
const steps = [
  () => {
    clearInterval(steady);
    for (let i = 0; i < 200; i++) fs.closeSync(fs.openSync('b' + i, 'wx'));
    return 'created';
  },
  () => {
    const fd = fs.openSync('synced', 'wx');
    try {
      fs.fsyncSync(fd);
      return 'fsync ok';
    } catch (error) {
      return 'fsync ' + error.code;
    } finally {
      fs.closeSync(fd);
    }
  },
];
readline.createInterface({ input: process.stdin }).on('line', () => console.log(steps.shift()()));
`;

describe('a mount cut off past its session', { skip: !canMount }, () => {
  test('changes it answered and could not send are reported, not dropped silently', async () => {
    const server = await startStrata();
    const mount = await startMount(server.metadataAddr);
    let child: ChildProcess | undefined;
    try {
      const dir = join(mount.mountPoint, 'cut', 'dir');
      mkdirSync(dir, { recursive: true });
      let output = '';
      child = spawn(process.execPath, ['-e', CUT_OFF_RUNNER, dir], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      child.stdout?.on('data', (d) => {
        output += d;
      });
      const said = async (line: string) => {
        const deadline = Date.now() + 60_000;
        while (!output.includes(`${line}\n`)) {
          if (Date.now() > deadline)
            throw new Error(
              `no "${line}" from the workload: ${output}\n${mount.output().slice(-3000)}`,
            );
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      const metricsUrl = /^metrics at (\S+)$/m.exec(mount.output())?.[1];
      assert.ok(metricsUrl, mount.output());
      const metric = async (name: string) => {
        const text = await (await fetch(metricsUrl)).text();
        return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
      };
      // The workload's directory is held before the server stalls.
      const heldBy = Date.now() + 60_000;
      while ((await metric('strata_fuse_held_directories')) !== 1) {
        assert.ok(Date.now() < heldBy, 'the directory was never delegated to the mount');
        await new Promise((r) => setTimeout(r, 20));
      }
      // The server stalls: the mount answers the next creates and cannot send them (past the
      // kernel's 1 s entry and attribute lifetimes, so that nothing is answered from its cache).
      server.process.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 1500));
      child.stdin?.write('\n');
      await said('created');
      // The mount is cut off in turn, for longer than its session (10 s) lives.
      mount.process.kill('SIGSTOP');
      server.process.kill('SIGCONT');
      await new Promise((r) => setTimeout(r, 13_000));
      mount.process.kill('SIGCONT');
      child.stdin?.write('\n');
      await said('fsync EIO');
      const lost = await metric('strata_fuse_namespace_changes_lost_total');
      assert.ok(lost > 0, `lost changes counted: ${lost}`);
      assert.match(mount.output(), /write-behind changes lost/);
    } finally {
      child?.kill('SIGKILL');
      server.process.kill('SIGCONT');
      mount.process.kill('SIGCONT');
      await mount.stop().catch(() => {});
      await server.stop();
    }
  });
});
