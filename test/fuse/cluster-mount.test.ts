// Mounts of a real cluster: three metadata members (Raft) and a data server, two mounts given all
// three addresses. Files written on one mount while the metadata leader is killed read back
// whole on the other, and a lock taken before the failover still excludes after it (locks live
// in the replicated state machine, not in one member's memory). After the failover, the change
// feed (src/fuse/change-feed.ts) still tells one mount's kernel of the other's changes.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';
import { canMount, mountMetric, type StrataMount, startMount } from '../helpers/mount.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('mounts of a three-member metadata cluster', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let cluster: MetadataCluster;
  let data: StrataProcess;
  let a: StrataMount;
  let b: StrataMount;

  before(async () => {
    cluster = await MetadataCluster.start(3);
    const addrs = cluster.addrs;
    data = await startStrata({
      args: ['--role', 'data', '--node-id', '9', '--metadata-addr', addrs[0]].concat([
        '--raft-peers',
        addrs.slice(1).join(','),
      ]),
      ready: [],
    });
    a = await startMount(addrs.join(','));
    b = await startMount(addrs.join(','));
    mkdirSync(join(a.mountPoint, 'ha'));
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await data?.stop();
    await cluster?.stop();
  });

  test('writes across a leader kill are all read back on the other mount; a lock still excludes', async () => {
    const lockScript = `
import fcntl, sys
f = open(sys.argv[1], 'w+')
fcntl.lockf(f, fcntl.LOCK_EX)
print('held', flush=True)
sys.stdin.readline()
`;
    const lockHolder = spawn('python3', ['-c', lockScript, join(a.mountPoint, 'ha/lock')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => lockHolder.stdout?.once('data', () => resolve()));

    const written = new Map<string, string>();
    const writeSome = (from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        const bytes = randomBytes(i % 3 === 0 ? 5 * 1024 * 1024 + i : 1000 + i);
        writeFileSync(join(a.mountPoint, `ha/f${i}`), bytes);
        written.set(`f${i}`, sha(bytes));
      }
    };
    writeSome(0, 6);
    const leader = await cluster.leader();
    await cluster.nodes.get(leader.id)?.process.kill();
    writeSome(6, 6); // these wait out the election inside the mount's metadata client
    await cluster.startNode(leader.id);
    writeSome(12, 3);

    for (const [name, digest] of written) {
      assert.equal(sha(readFileSync(join(b.mountPoint, 'ha', name))), digest, name);
    }
    const tryLock = spawnSync(
      'python3',
      [
        '-c',
        `import errno, fcntl, sys
f = open(sys.argv[1], 'r+')
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('granted')
except OSError as e:
    print(errno.errorcode[e.errno])`,
        join(b.mountPoint, 'ha/lock'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(tryLock.stdout.trim(), 'EAGAIN', 'the lock taken before the failover holds');
    lockHolder.stdin?.end('\n');
    lockHolder.kill();
  });

  test("after a failover the change feed goes on: what b's kernel keeps long is dropped when a changes it", async () => {
    const onB = join(b.mountPoint, 'ha/fed');
    writeFileSync(join(a.mountPoint, 'ha/fed'), 'x');
    await until('the name on mount b', async () => (existsSync(onB) ? true : undefined), {
      limitMs: 20_000,
    });
    // Past the short cache time and the answers naming a's change: b asks once more and is told
    // to keep the name 30 s, which the feed can only do while the new leader answers it.
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(statSync(onB).mode & 0o777, 0o644);
    assert.ok((await mountMetric(b, 'strata_fuse_feed_held{kind="entry"}')) > 0, 'held long');
    const dropped = () => mountMetric(b, 'strata_fuse_feed_invalidations_total{kind="attr"}');
    const before = await dropped();
    spawnSync('chmod', ['600', join(a.mountPoint, 'ha/fed')]);
    await until(
      "a's chmod on mount b",
      async () => ((statSync(onB).mode & 0o777) === 0o600 ? true : undefined),
      { limitMs: 20_000, intervalMs: 25 },
    );
    assert.ok((await dropped()) > before, "dropped by the feed, not by the kernel's timeout");
  });
});
