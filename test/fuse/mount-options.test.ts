// strata-mount's options as root: allow_other is the default (other users' processes reach the
// mount and the kernel checks their permissions), -o noallow_other keeps it to root, an unknown
// -o option is refused; the log level comes from --log-level or STRATA_LOG_LEVEL; and the client
// inside the mount logs degraded reads, as the operations doc says.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  canMount,
  MOUNT_BIN,
  mountMetric,
  type StrataMount,
  startMount,
} from '../helpers/mount.ts';
import { patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';

const OTHER_UID = 1000;

// Reads each path as uid 1000 and prints "ok" or the errno name per path.
const READ_AS_USER = `
import errno, sys
for path in sys.argv[1:]:
    try:
        open(path, "rb").read()
        print("ok")
    except OSError as e:
        print(errno.errorcode[e.errno])
`;

function readAsOtherUser(...paths: string[]): string[] {
  const run = spawnSync('python3', ['-c', READ_AS_USER, ...paths], {
    uid: OTHER_UID,
    gid: OTHER_UID,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, `python3 as uid ${OTHER_UID} failed:\n${run.stderr}`);
  return run.stdout.trim().split('\n');
}

function logRecords(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('strata-mount options', { skip: canMount ? false : 'needs root and /dev/fuse' }, () => {
  let server: StrataProcess;
  let mount: StrataMount | undefined;

  before(async () => {
    server = await startStrata();
  });
  after(async () => {
    await mount?.stop();
    await server?.stop();
  });

  // A root mount with a bucket holding a world-readable and a private file.
  async function mountWithFiles(args: string[]): Promise<{ open: string; secret: string }> {
    mount = await startMount(server.metadataAddr, { args });
    // Other users must reach the mount point (mkdtemp makes its parent 0700).
    chmodSync(dirname(mount.mountPoint), 0o755);
    const bucket = join(mount.mountPoint, `perm-${Date.now()}`);
    mkdirSync(bucket, { mode: 0o755 });
    const open = join(bucket, 'open.txt');
    const secret = join(bucket, 'secret.txt');
    writeFileSync(open, 'for everyone\n', { mode: 0o644 });
    writeFileSync(secret, 'for root\n', { mode: 0o600 });
    chmodSync(secret, 0o600);
    return { open, secret };
  }

  test('as root, other users reach the mount by default and the kernel checks their permissions', async () => {
    const { open, secret } = await mountWithFiles([]);
    try {
      assert.equal(statSync(secret).mode & 0o777, 0o600);
      assert.deepEqual(readAsOtherUser(open, secret), ['ok', 'EACCES']);
    } finally {
      await mount?.stop();
      mount = undefined;
    }
  });

  test('with -o noallow_other, any other uid is refused', async () => {
    const { open, secret } = await mountWithFiles(['-o', 'noallow_other']);
    try {
      assert.deepEqual(readAsOtherUser(open, secret), ['EACCES', 'EACCES']);
    } finally {
      await mount?.stop();
      mount = undefined;
    }
  });

  test('an unknown flag, -o option, log level or polling window is refused, not ignored', () => {
    const mountPoint = join(tempDir('strata-mnt-'), 'mnt');
    mkdirSync(mountPoint);
    for (const args of [
      ['-o', 'allow_root'],
      ['-o', 'allow_other,noallow_other'],
      ['--log-level', 'verbose'],
      ['--busy-poll-us', '-5'],
      ['--no-such-flag'],
      ['--busy-poll-us', '1.5'],
      ['--busy-poll-us', '100001'],
    ]) {
      const run = spawnSync(process.execPath, [MOUNT_BIN, mountPoint, ...args], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(run.status, 2, `${args.join(' ')}: exit ${run.status}\n${run.stderr}`);
      assert.match(run.stderr, /strata-mount: /, args.join(' '));
    }
  });

  test('a caller of quick small requests is polled for (--busy-poll-us); 0 never polls', async () => {
    const POLLED = 'strata_fuse_busy_poll_seconds_total';
    const polled = async (args: string[]) => {
      const m = await startMount(server.metadataAddr, { args });
      try {
        const bucket = join(m.mountPoint, `poll-${args.length}-${Date.now()}`);
        mkdirSync(bucket);
        // Each create is four requests, the next sent microseconds after the last reply.
        for (let i = 0; i < 1000; i++) closeSync(openSync(join(bucket, `f${i}`), 'wx'));
        return await mountMetric(m, POLLED);
      } finally {
        await m.stop();
      }
    };
    // A window of 100 ms: on a loaded machine the caller's next request may come later than the
    // default 300 µs after a reply, and the mount then rightly would not poll.
    assert.ok((await polled(['--busy-poll-us', '100000'])) > 0, 'the mount polled');
    assert.equal(await polled(['--busy-poll-us', '0']), 0, 'no polling with 0');
  });

  test('the log level comes from --log-level, else STRATA_LOG_LEVEL', async () => {
    const levels = async (args: string[], env: Record<string, string>) => {
      const saved = process.env.STRATA_LOG_LEVEL;
      Object.assign(process.env, env);
      try {
        const m = await startMount(server.metadataAddr, { args });
        await m.stop();
        return new Set(logRecords(m.output()).map((r) => r.level));
      } finally {
        if (saved === undefined) delete process.env.STRATA_LOG_LEVEL;
        else process.env.STRATA_LOG_LEVEL = saved;
      }
    };
    // The mount logs "FUSE session started" at info as it starts.
    assert.ok((await levels([], {})).has('info'), 'info is logged by default');
    assert.ok(!(await levels([], { STRATA_LOG_LEVEL: 'warn' })).has('info'), 'STRATA_LOG_LEVEL');
    assert.ok(
      (await levels(['--log-level', 'info'], { STRATA_LOG_LEVEL: 'warn' })).has('info'),
      '--log-level over STRATA_LOG_LEVEL',
    );
  });

  test('a degraded read through the mount is logged at warn', async () => {
    const s3 = s3Client(server);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'degraded' }));
      await s3.send(
        new PutObjectCommand({ Bucket: 'degraded', Key: 'f.bin', Body: patternBytes(1 << 20, 5) }),
      );
    } finally {
      s3.destroy();
    }
    // Data shards 0 and 1 of every stripe gone: each read must rebuild them from parity.
    for (const files of shardsByStripe(server.dataDir).values()) {
      for (const index of [0, 1]) rmSync(files[index]);
    }
    mount = await startMount(server.metadataAddr);
    try {
      const read = spawnSync('cmp', ['-s', '-', join(mount.mountPoint, 'degraded', 'f.bin')], {
        input: patternBytes(1 << 20, 5),
        timeout: 60_000,
      });
      assert.equal(read.status, 0, 'the file reads back whole from parity');
    } finally {
      await mount.stop();
    }
    const warnings = logRecords(mount.output()).filter((r) => r.level === 'warn');
    assert.ok(
      warnings.some((r) => /degraded read/.test(String(r.msg))),
      `no degraded read logged:\n${mount.output()}`,
    );
    mount = undefined;
  });
});
