// Two mounts of one cluster (two strata-mount processes, as on two machines): close-to-open
// consistency, invalidation of cached pages when the other side changes a file, fcntl and flock
// locks that exclude across mounts, a waiting lock granted when the other side unlocks, and the
// locks of a mount killed with -9 released when its session runs out.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canMount, mountMetric, type StrataMount, startMount } from '../helpers/mount.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

// A python3 child holding or trying a lock; prints lines as it goes.
function locker(script: string, path: string): { child: ChildProcess; lines: () => string[] } {
  let output = '';
  const child = spawn('python3', ['-c', script, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return { child, lines: () => output.trim().split('\n').filter(Boolean) };
}

// A name made on another mount shows here within the directory lease (1 s; the test "a name
// made or removed on one mount shows on the other within the cache time"): the lock tests start
// once it does, rather than open it on a mount whose lease may still say it is absent.
async function seenOn(mount: StrataMount, name: string): Promise<void> {
  await until(`${name} seen on the other mount`, () => existsSync(join(mount.mountPoint, name)));
}

async function until(
  what: string,
  check: () => boolean,
  timeoutMs = 20_000,
  refresh: () => Promise<void> = async () => {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (await refresh(); !check(); await refresh()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const HOLD = `
import fcntl, sys, time
f = open(sys.argv[1], 'w+')
kind = sys.stdin.readline().strip()
if kind == 'flock': fcntl.flock(f, fcntl.LOCK_EX)
else: fcntl.lockf(f, fcntl.LOCK_EX, 0, 0)
print('held', flush=True)
sys.stdin.readline()
f.close()
print('released', flush=True)
time.sleep(0.2)
`;

const TRY = `
import errno, fcntl, sys, time
f = open(sys.argv[1], 'r+')
kind = sys.stdin.readline().strip()
try:
    if kind == 'flock': fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
    print('granted', flush=True)
except OSError as e:
    print(errno.errorcode[e.errno], flush=True)
    start = time.time()
    if kind == 'flock': fcntl.flock(f, fcntl.LOCK_EX)
    else: fcntl.lockf(f, fcntl.LOCK_EX, 0, 0)
    print('granted after wait', flush=True)
`;

describe('two mounts of one cluster', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let server: StrataProcess;
  let a: StrataMount;
  let b: StrataMount;

  before(async () => {
    server = await startStrata();
    a = await startMount(server.metadataAddr);
    b = await startMount(server.metadataAddr);
    mkdirSync(join(a.mountPoint, 'shared'));
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await server?.stop();
  });

  test('close-to-open: a file closed on one mount is read whole on the other', () => {
    for (const size of [0, 1, 4096, 3 * 1024 * 1024 + 7, 9 * 1024 * 1024]) {
      const data = randomBytes(size);
      writeFileSync(join(a.mountPoint, 'shared/c2o.bin'), data);
      const read = readFileSync(join(b.mountPoint, 'shared/c2o.bin'));
      assert.equal(read.length, size);
      assert.ok(read.equals(data), `the other mount reads what was closed (${size} bytes)`);
    }
    // Overwritten in place, shorter, on the other side: the first mount's cached pages go.
    writeFileSync(join(b.mountPoint, 'shared/c2o.bin'), 'short');
    assert.equal(readFileSync(join(a.mountPoint, 'shared/c2o.bin'), 'utf8'), 'short');
  });

  test('a name made or removed on one mount shows on the other within the cache time', async () => {
    writeFileSync(join(a.mountPoint, 'shared/new-name'), 'x');
    await until('the new name on mount b', () => {
      try {
        return readFileSync(join(b.mountPoint, 'shared/new-name'), 'utf8') === 'x';
      } catch {
        return false;
      }
    });
  });

  test('xattrs set on one mount show on the other within the cache time; writes ask the service nothing for them', async () => {
    const py = (code: string, ...args: string[]) => {
      const r = spawnSync('python3', ['-c', `import os, sys\n${code}`, ...args], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    const onA = join(a.mountPoint, 'shared/xattrs');
    const onB = join(b.mountPoint, 'shared/xattrs');
    writeFileSync(onA, 'x');
    const valueOnB = () => {
      try {
        return py("print(os.getxattr(sys.argv[1], 'user.v').decode())", onB);
      } catch {
        return undefined;
      }
    };
    for (const value of ['1', '2']) {
      py("os.setxattr(sys.argv[1], 'user.v', sys.argv[2].encode())", onA, value);
      await until(`user.v = ${value} on mount b`, () => valueOnB() === value);
    }
    // The kernel asks for security.capability before each write: a file this mount made is
    // answered from what it holds, not by a getattr read per write.
    const getattrReads = async () => {
      const text = await (await fetch(server.metricsUrl)).text();
      return Number(/^strata_metadata_reads_total\{fn="getattr"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    const before = await getattrReads();
    py(
      'fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)\n' +
        "for i in range(200): os.pwrite(fd, b'x', i)\nos.close(fd)",
      join(b.mountPoint, 'shared/written'),
    );
    const reads = (await getattrReads()) - before;
    assert.ok(reads < 50, `${reads} getattr reads for 200 writes`);
    await seenOn(a, 'shared/written');
    assert.equal(readFileSync(join(a.mountPoint, 'shared/written'), 'utf8'), 'x'.repeat(200));
  });

  test("a leased directory answers misses on the mount, and still shows the other mount's new names within the lease", async () => {
    mkdirSync(join(a.mountPoint, 'shared/leased'));
    const dir = join(b.mountPoint, 'shared/leased');
    const url = /^metrics at (\S+)$/m.exec(b.output())?.[1] as string;
    const missesAsked = async () => {
      const text = await (await fetch(url)).text();
      return Number(
        /^strata_fuse_requests_total\{op="lookup",errno="2"\} (\d+)/m.exec(text)?.[1] ?? 0,
      );
    };
    // Misses go to the metadata service until the directory is hot and its listing leased; then
    // a batch of misses costs the service nothing (negative entries from the lease).
    let probe = 0;
    const miss = () => assert.equal(existsSync(join(dir, `absent-${probe++}`)), false);
    let answeredHere = false;
    for (let batch = 0; batch < 25 && !answeredHere; batch++) {
      const before = await missesAsked();
      for (let i = 0; i < 20; i++) miss();
      answeredHere = (await missesAsked()) === before;
    }
    assert.ok(answeredHere, 'misses in a hot directory are answered from its lease');
    // A name made on mount a while b holds the lease: b sees it once the lease ends, although b
    // keeps the directory hot (so the lease is renewed by reading the listing again).
    writeFileSync(join(a.mountPoint, 'shared/leased/late'), 'x');
    await until("the other mount's new name on mount b", () => {
      miss();
      return existsSync(join(dir, 'late'));
    });
    // O_EXCL is the service's: a name the lease says absent but mount a made is EEXIST.
    for (let i = 0; i < 20; i++) miss();
    writeFileSync(join(a.mountPoint, 'shared/leased/race'), 'a');
    assert.throws(() => writeFileSync(join(dir, 'race'), 'b', { flag: 'wx' }), { code: 'EEXIST' });
    assert.equal(readFileSync(join(a.mountPoint, 'shared/leased/race'), 'utf8'), 'a');
    // This mount's own changes show at once.
    writeFileSync(join(dir, 'own'), 'b');
    assert.equal(readFileSync(join(dir, 'own'), 'utf8'), 'b');
    unlinkSync(join(dir, 'own'));
    assert.equal(existsSync(join(dir, 'own')), false);
    // And on mount a once b's change is committed (a never held a lease on the directory).
    writeFileSync(join(dir, 'from-b'), 'b');
    assert.equal(readFileSync(join(a.mountPoint, 'shared/leased/from-b'), 'utf8'), 'b');
  });

  test('a directory filled by creates is leased without attributes; stats then lease them', async () => {
    mkdirSync(join(a.mountPoint, 'shared/filled'));
    const dir = join(a.mountPoint, 'shared/filled');
    const url = /^metrics at (\S+)$/m.exec(a.output())?.[1] as string;
    const listings = async (attributes: 'with' | 'without', from = url) => {
      const text = await (await fetch(from)).text();
      const pattern = new RegExp(
        `^strata_fuse_lease_listings_total\\{attributes="${attributes}",outcome="ok"\\} (\\d+)`,
        'm',
      );
      return Number(pattern.exec(text)?.[1] ?? 0);
    };
    const withBefore = await listings('with');
    const withoutBefore = await listings('without');
    // Creates only miss: the listing that answers their LOOKUPs is read without attributes,
    // which would cost the service and the mount a getattr per entry at every renewal.
    let files = 0;
    for (; files < 5000 && (await listings('without')) === withoutBefore; ) {
      for (let i = 0; i < 50; i++, files++) closeSync(openSync(join(dir, `f${files}`), 'wx'));
    }
    assert.ok((await listings('without')) > withoutBefore, 'a listing read without attributes');
    assert.equal(await listings('with'), withBefore, 'no attributes read while only creating');
    // Lookups that find names want attributes: the listing is read with them, and stats are
    // right whichever way they were answered. On mount b: mount a's kernel keeps the names it
    // created, with their attributes, while the change feed runs (change-feed.ts), and asks a
    // nothing.
    const urlB = /^metrics at (\S+)$/m.exec(b.output())?.[1] as string;
    const withBeforeOnB = await listings('with', urlB);
    const deadline = Date.now() + 20_000;
    while ((await listings('with', urlB)) === withBeforeOnB && Date.now() < deadline) {
      for (let i = 0; i < files; i++)
        assert.equal(statSync(join(b.mountPoint, 'shared/filled', `f${i}`)).size, 0);
    }
    assert.ok((await listings('with', urlB)) > withBeforeOnB, 'a listing read with attributes');
    const lookupsOnA = await mountMetric(a, 'strata_fuse_requests_total{op="lookup",errno="0"}');
    for (let i = 0; i < files; i++) assert.equal(statSync(join(dir, `f${i}`)).size, 0);
    assert.equal(
      await mountMetric(a, 'strata_fuse_requests_total{op="lookup",errno="0"}'),
      lookupsOnA,
      'the creating mount stats its files from its kernel',
    );
  });

  test('names and attributes a kernel keeps long are dropped as soon as the other mount changes them', async () => {
    mkdirSync(join(a.mountPoint, 'shared/feed'));
    writeFileSync(join(a.mountPoint, 'shared/feed/f'), 'x');
    const onB = join(b.mountPoint, 'shared/feed/f');
    await seenOn(b, 'shared/feed/f');
    // Past the short cache time, and the feed's next answers (which still name mount a's changes,
    // made before b looked: b drops what it got then), b asks once more and is told to keep it.
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(statSync(onB).mode & 0o777, 0o644);
    assert.ok((await mountMetric(b, 'strata_fuse_feed_held{kind="entry"}')) > 0, 'held long');
    // Past the short cache time (1 s), mount b's kernel still answers for the name itself.
    await new Promise((r) => setTimeout(r, 1500));
    const lookups = () => mountMetric(b, 'strata_fuse_requests_total{op="lookup",errno="0"}');
    const getattrs = () => mountMetric(b, 'strata_fuse_requests_total{op="getattr",errno="0"}');
    const [lookupsBefore, getattrsBefore] = [await lookups(), await getattrs()];
    for (let i = 0; i < 20; i++) assert.equal(statSync(onB).size, 1);
    assert.deepEqual([await lookups(), await getattrs()], [lookupsBefore, getattrsBefore]);
    // Each change on mount a reaches b's kernel well within the 30 s it was told it may keep them
    // (the waits below give up after 20 s).
    const invalidationsBefore = await mountMetric(
      b,
      'strata_fuse_feed_invalidations_total{kind="entry"}',
    );
    spawnSync('chmod', ['600', join(a.mountPoint, 'shared/feed/f')]);
    await until('the new mode on mount b', () => (statSync(onB).mode & 0o777) === 0o600);
    writeFileSync(join(a.mountPoint, 'shared/feed/f'), 'longer');
    await until('the new size on mount b', () => statSync(onB).size === 6);
    spawnSync('mv', [join(a.mountPoint, 'shared/feed/f'), join(a.mountPoint, 'shared/feed/g')]);
    await until('the rename on mount b', () => !existsSync(onB));
    assert.equal(readFileSync(join(b.mountPoint, 'shared/feed/g'), 'utf8'), 'longer');
    unlinkSync(join(a.mountPoint, 'shared/feed/g'));
    await until('the unlink on mount b', () => !existsSync(join(b.mountPoint, 'shared/feed/g')));
    assert.ok(
      (await mountMetric(b, 'strata_fuse_feed_invalidations_total{kind="entry"}')) >
        invalidationsBefore,
      'dropped by the feed',
    );
  });

  test('attributes read while a file has uncommitted writes are not kept long: its mtime after close is the committed one', async () => {
    const onA = join(a.mountPoint, 'shared/dirty');
    const r = spawnSync(
      'python3',
      [
        '-c',
        'import os, sys, time\n' +
          "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)\nos.write(fd, b'x' * 5000)\n" +
          'os.fstat(fd)\ntime.sleep(0.05)\nos.close(fd)',
        onA,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past the short cache time
    const onB = statSync(join(b.mountPoint, 'shared/dirty'));
    assert.equal(statSync(onA).mtimeMs, onB.mtimeMs, 'the same mtime on both mounts');
  });

  test('while the service does not answer, a mount drops all its kernel keeps long, and holds again after', async () => {
    writeFileSync(join(a.mountPoint, 'shared/paused'), 'x');
    await seenOn(b, 'shared/paused');
    assert.ok((await mountMetric(b, 'strata_fuse_feed_held{kind="entry"}')) > 0);
    const staleBefore = await mountMetric(b, 'strata_fuse_feed_drops_total{reason="stale"}');
    server.process.kill('SIGSTOP');
    try {
      let stale = staleBefore;
      await until(
        'a drop for lack of answers',
        () => stale > staleBefore,
        10_000,
        async () => {
          stale = await mountMetric(b, 'strata_fuse_feed_drops_total{reason="stale"}');
        },
      );
      assert.equal(await mountMetric(b, 'strata_fuse_feed_held{kind="entry"}'), 0);
    } finally {
      server.process.kill('SIGCONT');
    }
    writeFileSync(join(a.mountPoint, 'shared/resumed'), 'x');
    await seenOn(b, 'shared/resumed');
    let held = 0;
    await until(
      'names held long again',
      () => held > 0,
      10_000,
      async () => {
        statSync(join(b.mountPoint, 'shared/resumed'));
        held = await mountMetric(b, 'strata_fuse_feed_held{kind="entry"}');
      },
    );
  });

  test('pages cached by a reader holding the file open are invalidated when the other mount writes', async () => {
    const path = 'shared/watched.txt';
    writeFileSync(join(a.mountPoint, path), 'version 1');
    const reader = locker(
      `
import sys, time
f = open(sys.argv[1], 'rb')
print(f.read().decode(), flush=True)
sys.stdin.readline()
while True:
    f.seek(0)
    data = f.read().decode()
    if data != 'version 1':
        print(data, flush=True)
        break
    time.sleep(0.05)
`,
      join(b.mountPoint, path),
    );
    await until('the first read', () => reader.lines().length >= 1);
    assert.equal(reader.lines()[0], 'version 1');
    writeFileSync(join(a.mountPoint, path), 'version 2');
    reader.child.stdin?.write('\n');
    await until(
      'the reader sees version 2 through its open file',
      () => reader.lines().length >= 2,
    );
    assert.equal(reader.lines()[1], 'version 2');
    // Mount b noticed the change itself and dropped its pages (FUSE_NOTIFY_INVAL_INODE), rather
    // than waiting for the kernel to revalidate on its own.
    const url = /^metrics at (\S+)$/m.exec(b.output())?.[1] as string;
    let invalidations = 0;
    await until(
      'an invalidation counted by mount b',
      () => invalidations >= 1,
      10_000,
      async () => {
        const text = await (await fetch(url)).text();
        invalidations = Number(/^strata_fuse_invalidations_total (\d+)/m.exec(text)?.[1] ?? 0);
      },
    );
  });

  for (const kind of ['fcntl', 'flock']) {
    test(`${kind} locks exclude across mounts; a waiter is granted when the holder unlocks`, async () => {
      const name = `shared/lock-${kind}`;
      writeFileSync(join(a.mountPoint, name), '');
      await seenOn(b, name);
      const holder = locker(HOLD, join(a.mountPoint, name));
      let waiter: ReturnType<typeof locker> | undefined;
      try {
        holder.child.stdin?.write(`${kind}\n`);
        await until('the lock held on mount a', () => holder.lines().includes('held'));
        waiter = locker(TRY, join(b.mountPoint, name));
        waiter.child.stdin?.write(`${kind}\n`);
        const tried = waiter;
        await until('the try on mount b', () => tried.lines().length >= 1);
        assert.equal(tried.lines()[0], 'EAGAIN', 'the other mount cannot take the lock');
        holder.child.stdin?.write('\n');
        await until('the waiter granted', () => tried.lines().includes('granted after wait'));
      } finally {
        waiter?.child.kill();
        holder.child.kill();
      }
    });
  }

  test('the locks of a mount killed with -9 pass to the other mount when its session runs out', async () => {
    const c = await startMount(server.metadataAddr);
    const name = 'shared/lock-crash';
    writeFileSync(join(c.mountPoint, name), '');
    const holder = locker(HOLD, join(c.mountPoint, name));
    let waiter: ReturnType<typeof locker> | undefined;
    try {
      await seenOn(b, name);
      holder.child.stdin?.write('fcntl\n');
      await until('the lock held on mount c', () => holder.lines().includes('held'));
      waiter = locker(TRY, join(b.mountPoint, name));
      waiter.child.stdin?.write('fcntl\n');
      const tried = waiter;
      await until('the try on mount b', () => tried.lines().length >= 1);
      assert.equal(tried.lines()[0], 'EAGAIN');
      const killedAt = Date.now();
      await c.kill();
      holder.child.kill('SIGKILL');
      await until('the lock granted after the session expired', () =>
        tried.lines().includes('granted after wait'),
      );
      assert.ok(Date.now() - killedAt < 30_000);
    } finally {
      // Also when an assertion failed: a mount or a child left running keeps this file's
      // process alive after its tests.
      waiter?.child.kill();
      holder.child.kill('SIGKILL');
      await c.kill();
      await c.stop(); // clears the dead mount
    }
  });
});
