// Bucket policies hold on every path (issue 14; docs/guides/security.md, "Mounts and the CLI as
// users"): against a real server, with users made by `strata user create` and policies put with
// the AWS SDK, `strata fs` and strata-mount acting as bob are decided as the gateway decides bob's
// S3 requests. A Deny of s3:GetObject on bob's own bucket refuses reading (listing still works), a
// Deny of s3:PutObject refuses creating (nothing is created), and an Allow opens alice's private
// bucket to bob. Refusals are logged and counted.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { canMount, type StrataMount, sh, startMount } from '../helpers/mount.ts';
import { runProcess } from '../helpers/process.ts';
import { rejectsWith, s3Client, userClient } from '../helpers/s3.ts';
import {
  runStrata,
  STRATA_BIN,
  type StrataProcess,
  startStrata,
  tempDir,
} from '../helpers/server.ts';

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

const policy = (statements: object[]) =>
  JSON.stringify({ Version: '2012-10-17', Statement: statements });

describe('bucket policies for strata fs and strata-mount as a user', () => {
  let server: StrataProcess;
  let admin: S3Client;
  let asBobS3: S3Client;
  let work: string;
  let bob: Pair;
  let alice: Pair;

  const strata = (args: string[], env: Record<string, string> = {}) =>
    runStrata([...args, '--metadata-addr', server.metadataAddr], { env });
  const asBob = (args: string[]) =>
    strata(['fs', ...args], {
      STRATA_ACCESS_KEY_ID: bob.key,
      STRATA_SECRET_ACCESS_KEY: bob.secret,
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
  };
  const userCreate = async (name: string) => {
    const made = await runProcess(process.execPath, [
      STRATA_BIN,
      'user',
      'create',
      name,
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.equal(made.status, 0, made.stderr);
    return printedPair(made.stdout);
  };
  const refusals = async (by: string) => {
    const text = await (await fetch(server.metricsUrl)).text();
    const line = new RegExp(
      `^strata_user_access_refusals_total\\{[^}]*by="${by}"[^}]*\\} (\\d+)`,
      'gm',
    );
    let total = 0;
    for (const match of text.matchAll(line)) total += Number(match[1]);
    return total;
  };
  const denyBobReadingSecret = () =>
    admin.send(
      new PutBucketPolicyCommand({
        Bucket: 'bob-b',
        Policy: policy([
          {
            Effect: 'Deny',
            Principal: { AWS: 'bob' },
            Action: 's3:GetObject',
            Resource: 'arn:aws:s3:::bob-b/secret/*',
          },
          {
            Effect: 'Deny',
            Principal: { AWS: 'bob' },
            Action: 's3:PutObject',
            Resource: 'arn:aws:s3:::bob-b/ro/*',
          },
        ]),
      }),
    );
  const allowBobOnAlices = () =>
    admin.send(
      new PutBucketPolicyCommand({
        Bucket: 'alice-b',
        Policy: policy([
          {
            Effect: 'Allow',
            Principal: { AWS: 'arn:aws:iam:::user/bob' },
            Action: ['s3:ListBucket', 's3:GetObject'],
            Resource: ['arn:aws:s3:::alice-b', 'arn:aws:s3:::alice-b/*'],
          },
        ]),
      }),
    );

  before(async () => {
    work = tempDir('strata-fs-policy-');
    server = await startStrata({ args: ['--log-level', 'info'] });
    admin = s3Client(server);
    bob = await userCreate('bob');
    alice = await userCreate('alice');
    asBobS3 = userClient(server, bob);
    const asAliceS3 = userClient(server, alice);
    await asBobS3.send(new CreateBucketCommand({ Bucket: 'bob-b' }));
    for (const key of ['pub/a.txt', 'secret/s.txt', 'ro/old.txt'])
      await asBobS3.send(new PutObjectCommand({ Bucket: 'bob-b', Key: key, Body: `${key}\n` }));
    await asAliceS3.send(new CreateBucketCommand({ Bucket: 'alice-b' }));
    await asAliceS3.send(
      new PutObjectCommand({ Bucket: 'alice-b', Key: 'f.txt', Body: 'alice\n' }),
    );
    asAliceS3.destroy();
    writeFileSync(join(work, 'local.txt'), 'written by bob\n');
  });
  after(async () => {
    admin?.destroy();
    asBobS3?.destroy();
    await server?.stop();
  });

  test("strata fs: a Deny of s3:GetObject holds for the bucket's owner; listing still works", async () => {
    assert.equal(await ok(asBob(['get', '/bob-b/secret/s.txt'])), 'secret/s.txt\n');
    await denyBobReadingSecret();
    const before = await refusals('policy');
    await refused(
      asBob(['get', '/bob-b/secret/s.txt']),
      /bob may not read .*bob-b's policy denies s3:GetObject on arn:aws:s3:::bob-b\/secret\/s\.txt.*\(EACCES\)/,
    );
    assert.match(await ok(asBob(['ls', '/bob-b/secret'])), /s\.txt/);
    assert.equal(await ok(asBob(['get', '/bob-b/pub/a.txt'])), 'pub/a.txt\n');
    // As through S3: the gateway refuses bob the same object.
    await rejectsWith(
      asBobS3.send(new GetObjectCommand({ Bucket: 'bob-b', Key: 'secret/s.txt' })),
      'AccessDenied',
      'the gateway decides the same',
    );
    await refused(
      asBob(['put', join(work, 'local.txt'), '/bob-b/ro/new.txt']),
      /policy denies s3:PutObject on arn:aws:s3:::bob-b\/ro\/new\.txt/,
    );
    await rejectsWith(
      admin.send(new HeadObjectCommand({ Bucket: 'bob-b', Key: 'ro/new.txt' })),
      'NotFound',
      'nothing was created',
    );
    assert.ok((await refusals('policy')) >= before + 2, 'the refusals are counted');
    assert.match(server.output(), /refused a user call \(EACCES\)/, 'and logged');
  });

  test("strata fs: an Allow opens alice's private bucket to bob, for what it names", async () => {
    await admin.send(new DeleteBucketPolicyCommand({ Bucket: 'alice-b' }));
    await refused(
      asBob(['get', '/alice-b/f.txt']),
      /bob may not read .*nothing grants.*\(EACCES\)/,
    );
    await allowBobOnAlices();
    assert.equal(await ok(asBob(['get', '/alice-b/f.txt'])), 'alice\n');
    assert.match(await ok(asBob(['ls', '/alice-b'])), /f\.txt/);
    assert.match(await ok(asBob(['ls', '/'])), /alice-b/);
    await refused(
      asBob(['put', join(work, 'local.txt'), '/alice-b/new.txt']),
      /nothing grants s3:PutObject/,
    );
  });

  describe('strata-mount as bob', { skip: canMount ? false : 'needs root and /dev/fuse' }, () => {
    let mount: StrataMount;
    before(async () => {
      // Each test sets the policies it needs; none at the start.
      await admin.send(new DeleteBucketPolicyCommand({ Bucket: 'bob-b' }));
      await admin.send(new DeleteBucketPolicyCommand({ Bucket: 'alice-b' }));
      mount = await startMount(server.metadataAddr, {
        args: ['--access-key-id', bob.key, '--secret-access-key', bob.secret],
      });
    });
    after(async () => {
      await mount?.stop();
    });

    test("alice's private bucket: EACCES, until a policy Allows bob", async () => {
      const path = join(mount.mountPoint, 'alice-b', 'f.txt');
      const cat = sh(`cat ${path} 2>&1`);
      assert.notEqual(cat.status, 0);
      assert.match(cat.stdout, /Permission denied/);
      await allowBobOnAlices();
      assert.equal(readFileSync(path, 'utf8'), 'alice\n');
      assert.deepEqual(readdirSync(join(mount.mountPoint, 'alice-b')), ['f.txt']);
      const write = sh(`{ echo x > ${join(mount.mountPoint, 'alice-b', 'new.txt')}; } 2>&1`);
      assert.notEqual(write.status, 0);
      assert.match(write.stdout, /Permission denied/);
    });

    test('a Deny of s3:GetObject on his own bucket: reading is EACCES, listing works', async () => {
      const secret = join(mount.mountPoint, 'bob-b', 'secret');
      assert.equal(readFileSync(join(secret, 's.txt'), 'utf8'), 'secret/s.txt\n');
      await denyBobReadingSecret();
      // Opening asks the service afresh (close-to-open), so the new policy holds at once.
      const cat = sh(`cat ${join(secret, 's.txt')} 2>&1`);
      assert.notEqual(cat.status, 0, cat.stdout);
      assert.match(cat.stdout, /Permission denied/);
      assert.deepEqual(readdirSync(secret), ['s.txt']);
      const listed = sh(`ls -l ${secret} 2>&1`);
      assert.equal(listed.status, 0, listed.stdout);
      assert.match(listed.stdout, /s\.txt/);
      assert.equal(
        readFileSync(join(mount.mountPoint, 'bob-b', 'pub', 'a.txt'), 'utf8'),
        'pub/a.txt\n',
      );
    });

    test('a Deny of s3:PutObject: creating is EACCES and nothing is created', async () => {
      const ro = join(mount.mountPoint, 'bob-b', 'ro');
      const write = sh(`{ echo x > ${join(ro, 'new.txt')}; } 2>&1`);
      assert.notEqual(write.status, 0);
      assert.match(write.stdout, /Permission denied/);
      const made = sh(`mkdir ${join(ro, 'sub')} 2>&1`);
      assert.notEqual(made.status, 0);
      assert.match(made.stdout, /Permission denied/);
      assert.ok(!existsSync(join(ro, 'new.txt')), 'not in the mount');
      await rejectsWith(
        admin.send(new HeadObjectCommand({ Bucket: 'bob-b', Key: 'ro/new.txt' })),
        'NotFound',
        'nor through S3',
      );
      // Outside ro/ bob still writes his bucket.
      writeFileSync(join(mount.mountPoint, 'bob-b', 'pub', 'b.txt'), 'mounted bob\n');
      assert.equal(await ok(asBob(['get', '/bob-b/pub/b.txt'])), 'mounted bob\n');
    });
  });
});
