// `strata fs` and strata-mount acting as a user (docs/guides/security.md, "Mounts and the CLI as
// users"), against a real server: `strata user create alice`, then alice, with her access key,
// lists, reads and writes her own bucket, is refused (EACCES) in the administrator's, reads but
// cannot write a bucket whose ACL grants her READ, and owns the buckets she makes. A wrong secret
// is refused naming the key id, and no secret reaches the server's log (at debug level). A key
// rotated away stops working for new connections and for an open one at its next call.
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  GetBucketAclCommand,
  PutBucketAclCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { canMount, type StrataMount, sh, startMount } from '../helpers/mount.ts';
import { runProcess } from '../helpers/process.ts';
import { s3Client } from '../helpers/s3.ts';
import {
  runStrata,
  STRATA_BIN,
  type StrataProcess,
  startStrata,
  tempDir,
} from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

interface Pair {
  key: string;
  secret: string;
}

function printedPair(stdout: string): Pair {
  const key = /^access key id +(\S+)$/m.exec(stdout)?.[1];
  const secret = /^secret key +(\S+)$/m.exec(stdout)?.[1];
  assert.ok(key && secret, `a key pair printed: ${stdout}`);
  return { key, secret };
}

describe('strata fs and strata-mount as a user', () => {
  let server: StrataProcess;
  let s3: S3Client;
  let work: string;
  let alice: Pair;
  const secrets: string[] = [];

  const strata = (args: string[], env: Record<string, string> = {}) =>
    runStrata([...args, '--metadata-addr', server.metadataAddr], { env });
  // alice through the environment (the flags are the mount's, below).
  const asAlice = (args: string[], pair: Pair = alice) =>
    strata(['fs', ...args], {
      STRATA_ACCESS_KEY_ID: pair.key,
      STRATA_SECRET_ACCESS_KEY: pair.secret,
    });
  const ok = async (result: Promise<{ code: number | null; stdout: Buffer; stderr: string }>) => {
    const { code, stdout, stderr } = await result;
    assert.equal(code, 0, stderr);
    return stdout.toString();
  };
  const refused = async (
    result: Promise<{ code: number | null; stdout: Buffer; stderr: string }>,
    pattern: RegExp,
  ) => {
    const { code, stderr } = await result;
    assert.equal(code, 1, `refused, got exit ${code}: ${stderr}`);
    assert.match(stderr, pattern);
    return stderr;
  };

  before(async () => {
    work = tempDir('strata-fs-user-');
    server = await startStrata({ args: ['--log-level', 'debug'] });
    s3 = s3Client(server);
    // The administrator's buckets: one private, one whose ACL will grant alice READ.
    for (const bucket of ['ops-private', 'ops-shared']) {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'f.txt', Body: `${bucket}\n` }));
    }
    const user = await runProcess(process.execPath, [
      STRATA_BIN,
      'user',
      'create',
      'alice',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.equal(user.status, 0, user.stderr);
    alice = printedPair(user.stdout);
    secrets.push(alice.secret);
    writeFileSync(join(work, 'local.txt'), 'written by alice\n');
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('alice makes a bucket (hers), writes, lists and reads it', async () => {
    await ok(asAlice(['mkdir', '/alice-b']));
    await ok(asAlice(['put', join(work, 'local.txt'), '/alice-b/dir/a.txt']));
    assert.match(await ok(asAlice(['ls', '/alice-b/dir'])), /a\.txt/);
    assert.equal(await ok(asAlice(['get', '/alice-b/dir/a.txt'])), 'written by alice\n');
    const acl = await s3.send(new GetBucketAclCommand({ Bucket: 'alice-b' }));
    assert.equal(acl.Owner?.ID, 'alice', "a bucket made through strata fs is its user's");
  });

  test("alice is refused in the administrator's bucket, and does not see it", async () => {
    for (const args of [
      ['ls', '/ops-private'],
      ['get', '/ops-private/f.txt'],
    ]) {
      const stderr = await refused(asAlice(args), /user alice may not read .*\(EACCES\)/);
      assert.ok(!stderr.includes('ops-private\n'), 'no content');
    }
    await refused(
      asAlice(['put', join(work, 'local.txt'), '/ops-private/new.txt']),
      /alice may not (read|change) .*\(EACCES\)/,
    );
    await refused(asAlice(['rm', '/ops-private/f.txt']), /\(EACCES\)/);
    const root = await ok(asAlice(['ls', '/']));
    assert.match(root, /alice-b/);
    assert.doesNotMatch(root, /ops-/);
    // The operator (the cluster token, no user) still reaches everything.
    assert.equal(await ok(strata(['fs', 'get', '/ops-private/f.txt'])), 'ops-private\n');
  });

  test('an ACL grant of READ lets alice read the bucket, not write it', async () => {
    await refused(asAlice(['get', '/ops-shared/f.txt']), /\(EACCES\)/);
    await s3.send(new PutBucketAclCommand({ Bucket: 'ops-shared', GrantRead: 'id=alice' }));
    assert.equal(await ok(asAlice(['get', '/ops-shared/f.txt'])), 'ops-shared\n');
    assert.match(await ok(asAlice(['ls', '/'])), /ops-shared/);
    await refused(
      asAlice(['put', join(work, 'local.txt'), '/ops-shared/new.txt']),
      /alice may not change .*\(EACCES\)/,
    );
    await refused(asAlice(['mv', '/ops-shared/f.txt', '/ops-shared/g.txt']), /\(EACCES\)/);
    await refused(asAlice(['rm', '/ops-shared/f.txt']), /\(EACCES\)/);
  });

  test('a wrong secret is refused, naming the key id; no secret is logged', async () => {
    const wrong = { key: alice.key, secret: 'not-the-secret-of-alice' };
    secrets.push(wrong.secret);
    const stderr = await refused(asAlice(['ls', '/'], wrong), /RPC_UNAUTHENTICATED/);
    assert.match(stderr, new RegExp(`access key ${alice.key}`));
    assert.ok(!stderr.includes(wrong.secret), 'the secret is not repeated');
    await refused(
      asAlice(['ls', '/'], { key: 'NOSUCHKEY000', secret: 'whatever-secret' }),
      /access key NOSUCHKEY000 .*RPC_UNAUTHENTICATED/,
    );
    // Half a pair is a usage error, said before any connection.
    const half = await strata(['fs', 'ls', '/', '--access-key-id', alice.key]);
    assert.equal(half.code, 2, half.stderr);
    assert.match(half.stderr, /give both/);
    const log = server.output();
    assert.match(log, /refused a user login/, 'the refusal is logged');
    assert.match(log, /user logged in/, 'the logins are logged (at debug level and above)');
    for (const secret of secrets) assert.ok(!log.includes(secret), 'no secret in the log');
  });

  test('a rotated-away key: new connections are refused, an open one at its next call', async () => {
    const open = new MetadataClient([server.metadataAddr], {
      user: { accessKeyId: alice.key, secretKey: alice.secret },
    });
    try {
      const before = await open.read('listBuckets');
      assert.deepEqual(
        before.map((b) => b.name),
        ['alice-b', 'ops-shared'],
      );
      const rotated = await runProcess(process.execPath, [
        STRATA_BIN,
        'user',
        'rotate-key',
        'alice',
        '--metadata-addr',
        server.metadataAddr,
      ]);
      assert.equal(rotated.status, 0, rotated.stderr);
      const next = printedPair(rotated.stdout);
      secrets.push(next.secret);
      await refused(asAlice(['ls', '/']), /RPC_UNAUTHENTICATED/);
      await assert.rejects(open.read('listBuckets'), (error) => {
        assert.ok(isStrataError(error, 'RPC_UNAUTHENTICATED'), String(error));
        assert.match(error.message, /rotated away/);
        return true;
      });
      assert.match(await ok(asAlice(['ls', '/'], next)), /alice-b/);
      alice = next;
    } finally {
      await open.close();
    }
  });

  describe('strata-mount as alice', { skip: canMount ? false : 'needs root and /dev/fuse' }, () => {
    let mount: StrataMount;
    before(async () => {
      mount = await startMount(server.metadataAddr, {
        args: ['--access-key-id', alice.key, '--secret-access-key', alice.secret],
      });
    });
    after(async () => {
      await mount?.stop();
    });

    test('with a wrong secret it does not start, and names the key, not the secret', async () => {
      const wrong = 'a-wrong-secret-for-the-mount';
      await assert.rejects(
        startMount(server.metadataAddr, {
          args: ['--access-key-id', alice.key, '--secret-access-key', wrong],
        }),
        (error: Error) => {
          assert.match(error.message, new RegExp(`access key ${alice.key} is unknown`));
          assert.ok(!error.message.includes(wrong), 'the secret is not printed');
          return true;
        },
      );
      assert.ok(!server.output().includes(wrong), 'nor logged by the server');
    });

    test('sees her buckets and those granted to her, no other', () => {
      assert.deepEqual(readdirSync(mount.mountPoint).sort(), ['alice-b', 'ops-shared']);
      assert.ok(!mount.output().includes(alice.secret), 'the mount prints no secret');
    });

    test('reads and writes her bucket, and owns a bucket she makes', async () => {
      const at = mount.mountPoint;
      writeFileSync(join(at, 'alice-b', 'from-mount.txt'), 'mounted alice\n');
      assert.equal(readFileSync(join(at, 'alice-b', 'dir', 'a.txt'), 'utf8'), 'written by alice\n');
      assert.equal(sh(`mkdir ${join(at, 'alice-m')}`).status, 0);
      const acl = await s3.send(new GetBucketAclCommand({ Bucket: 'alice-m' }));
      assert.equal(acl.Owner?.ID, 'alice');
    });

    test('a file she unlinks while it is open stays hers to write and read', () => {
      const path = join(mount.mountPoint, 'alice-b', 'tmp-open.bin');
      const fd = openSync(path, 'w+');
      try {
        unlinkSync(path);
        writeSync(fd, 'still here\n');
        fsyncSync(fd);
        const back = Buffer.alloc(11);
        assert.equal(readSync(fd, back, 0, 11, 0), 11);
        assert.equal(back.toString(), 'still here\n');
      } finally {
        closeSync(fd);
      }
    });

    // Her change feed tells her only what she may list, and a removed bucket's name is no longer
    // hers to list: names at the root keep the short time on her mount (about a second), rather
    // than the 30 s a name the feed would tell of gets.
    test('a bucket another client removes is gone from her mount within seconds', async () => {
      await s3.send(new CreateBucketCommand({ Bucket: 'ops-brief' }));
      await s3.send(new PutBucketAclCommand({ Bucket: 'ops-brief', GrantRead: 'id=alice' }));
      const path = join(mount.mountPoint, 'ops-brief');
      const seen = (present: boolean) => async () => existsSync(path) === present || undefined;
      await until('ops-brief seen on her mount', seen(true), { limitMs: 10_000 });
      const rootMtimeMs = () => statSync(mount.mountPoint).mtimeMs;
      const before = rootMtimeMs();
      await s3.send(new DeleteBucketCommand({ Bucket: 'ops-brief' }));
      // Well under the 30 s of a long grant; the bounds are generous, not measured figures.
      await until('ops-brief gone from her mount', seen(false), { limitMs: 10_000 });
      // The root's attributes too: the removal changed its mtime, and no feed answer says so.
      await until(
        'the root mtime changed on her mount',
        async () => (rootMtimeMs() !== before ? true : undefined),
        { limitMs: 10_000 },
      );
    });

    test("is refused (EACCES) in the administrator's bucket; READ reads, not writes", () => {
      const at = mount.mountPoint;
      const listed = sh(`ls ${join(at, 'ops-private')} 2>&1`);
      assert.notEqual(listed.status, 0);
      assert.match(listed.stdout, /Permission denied/);
      const cat = sh(`cat ${join(at, 'ops-private', 'f.txt')} 2>&1`);
      assert.match(cat.stdout, /Permission denied/);
      assert.equal(readFileSync(join(at, 'ops-shared', 'f.txt'), 'utf8'), 'ops-shared\n');
      const write = sh(`{ echo x > ${join(at, 'ops-shared', 'new.txt')}; } 2>&1`);
      assert.notEqual(write.status, 0);
      assert.match(write.stdout, /Permission denied/);
      const rm = sh(`rm ${join(at, 'ops-shared', 'f.txt')} 2>&1`);
      assert.notEqual(rm.status, 0);
      assert.match(rm.stdout, /Permission denied/);
      assert.equal(readFileSync(join(at, 'ops-shared', 'f.txt'), 'utf8'), 'ops-shared\n');
    });
  });
});
