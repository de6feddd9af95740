// Starting a server: a start that fails says why and exits 1 (no crash from a half-closed node),
// what it writes under its data directory is for its own user only, and a secret key is printed
// only at the first start, when it was generated.
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { patternBytes, s3Client } from '../helpers/s3.ts';
import { runStrata, startStrata, tempDir } from '../helpers/server.ts';

async function takenPort(): Promise<{ blocker: Server; addr: string }> {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  return { blocker, addr: `127.0.0.1:${(blocker.address() as { port: number }).port}` };
}

const FREE = {
  '--metadata-addr': '127.0.0.1:0',
  '--data-addr': '127.0.0.1:0',
  '--s3-addr': '127.0.0.1:0',
  '--metrics-addr': '127.0.0.1:0',
};

for (const [role, flag] of [
  ['metadata', '--metrics-addr'],
  ['combined', '--metrics-addr'],
  ['combined', '--metadata-addr'],
  ['combined', '--data-addr'],
  ['combined', '--s3-addr'],
  ['data', '--data-addr'],
] as const) {
  test(`a ${role} node whose ${flag.slice(2)} is taken prints why and exits 1`, async () => {
    const { blocker, addr } = await takenPort();
    try {
      const flags = { ...FREE, [flag]: addr };
      const result = await runStrata([
        'server',
        '--role',
        role,
        '--data-dir',
        tempDir('strata-start-'),
        ...Object.entries(flags).flat(),
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`cannot listen on ${addr}: the address is in use`));
      assert.doesNotMatch(result.stderr, /closed database/, 'no crash of a half-closed node');
      assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace for an operator error');
    } finally {
      blocker.close();
    }
  });
}

test('a data directory that cannot be created prints why and exits 1', async () => {
  const file = join(tempDir('strata-start-'), 'a-file');
  writeFileSync(file, 'not a directory');
  const result = await runStrata(['server', '--data-dir', join(file, 'data'), ...flat(FREE)]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /directory .*a-file\/data \(storage\.data_dir\) cannot be used/);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace for an operator error');
});

function flat(flags: Record<string, string>): string[] {
  return Object.entries(flags).flat();
}

// Every directory and file under `root`, with its permission bits.
function modes(root: string): Array<{ path: string; dir: boolean; mode: number }> {
  const out = [{ path: root, dir: true, mode: statSync(root).mode & 0o777 }];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    out.push({ path, dir: entry.isDirectory(), mode: statSync(path).mode & 0o777 });
  }
  return out;
}

test('everything under the data directory is 0700 (directories) or 0600 (files)', async () => {
  const server = await startStrata();
  const s3 = s3Client(server);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'modes' }));
    await s3.send(
      new PutObjectCommand({ Bucket: 'modes', Key: 'a/b', Body: patternBytes(300_000, 3) }),
    );
    const all = modes(server.dataDir);
    assert.ok(
      all.some((e) => /\.\d+$/.test(e.path)),
      'the walk sees shard files',
    );
    assert.ok(
      all.some((e) => e.path.endsWith('data.mdb')),
      'the walk sees LMDB files',
    );
    for (const e of all)
      assert.equal(e.mode.toString(8), e.dir ? '700' : '600', `mode of ${e.path}`);
  } finally {
    s3.destroy();
    await server.stop();
  }
});

// --single-threaded-gc is for the metadata member's process (src/cluster/metadata-member-flags.ts);
// a combined node's data child is forked with the parent's other Node.js options, not with it.
test("a combined node's data child runs without the metadata member's Node.js options", {
  skip: process.platform !== 'linux' && 'reads /proc',
}, async () => {
  const server = await startStrata({ nodeArgs: ['--single-threaded-gc', '--no-warnings'] });
  try {
    const pid = server.process.pid as number;
    const argsOf = (p: number) => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    assert.ok(argsOf(pid).includes('--single-threaded-gc'), 'the main process has the flag');
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ');
    assert.equal(children.length, 1, `one data child, got ${children}`);
    const childArgs = argsOf(Number(children[0]));
    assert.ok(
      childArgs.some((a) => a.endsWith('data-process.ts')),
      `the data child: ${childArgs}`,
    );
    assert.ok(!childArgs.includes('--single-threaded-gc'), `not in the data child: ${childArgs}`);
    assert.ok(childArgs.includes('--no-warnings'), `other options still are: ${childArgs}`);
  } finally {
    await server.stop();
  }
});

test('a data directory of an older version is tightened at start', async () => {
  const dataDir = tempDir('strata-loose-');
  const first = await startStrata({ dataDir });
  await first.stop();
  // What earlier versions left: directories 0755, files 0644.
  for (const e of modes(dataDir)) chmodSync(e.path, e.dir ? 0o755 : 0o644);
  const second = await startStrata({ dataDir });
  try {
    for (const e of modes(dataDir)) {
      if (e.dir) assert.equal(e.mode.toString(8), '700', `mode of ${e.path}`);
      else if (/(\.mdb|credentials\.json)$/.test(e.path))
        assert.equal(e.mode.toString(8), '600', `mode of ${e.path}`);
    }
  } finally {
    await second.stop();
  }
});

test('a generated secret key is printed at the first start only', async () => {
  const dataDir = tempDir('strata-secret-');
  const first = await startStrata({ dataDir });
  await first.stop();
  const stored = JSON.parse(readFileSync(join(dataDir, 'credentials.json'), 'utf8'));
  assert.match(first.output(), new RegExp(`S3 secret key +${escapeRegExp(stored.secret_key)}`));
  const second = await startStrata({ dataDir });
  await second.stop();
  assert.ok(!second.output().includes(stored.secret_key), 'the secret is not printed again');
  assert.match(
    second.output(),
    new RegExp(`S3 access key +${stored.access_key_id} +\\(secret key in .*credentials\\.json\\)`),
  );
});

test('a secret key from the configuration file is never printed', async () => {
  const dir = tempDir('strata-secret-');
  const config = join(dir, 'strata.toml');
  const secret = 'configured-secret-0123456789';
  writeFileSync(
    config,
    `[s3.auth]\ncredentials = [{ access_key_id = "CONFIGURED", secret_key = "${secret}" }]\n`,
  );
  const server = await startStrata({ args: ['--config', config] });
  await server.stop();
  assert.ok(!server.output().includes(secret), `the secret is not printed:\n${server.output()}`);
  assert.match(server.output(), /S3 access key +CONFIGURED +\(secret key in .*strata\.toml\)/);
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
