// The S3 users' secret keys at rest (issue 14, docs/guides/security.md, "Users"). With encryption
// at rest on, the leader seals every secret under the master key before proposing it, so no
// file of the data directory (LMDB, the Raft log, snapshots) holds a created user's secret: the
// test greps all of them, and finds the secret with encryption off (the control: the grep can
// fail). A secret stored in the clear before encryption was turned on is sealed by the leader at
// its next start. A master key rotation re-seals the secrets; the user still signs S3 requests
// (awscli and the SDK) and logs in with `strata fs`, right after the rotation, after a restart,
// and after the retired key is dropped and the server restarts with the new key alone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { masterKeyId } from '../../src/crypto/index.ts';
import { runProcess } from '../helpers/process.ts';
import { bodyBytes, userClient } from '../helpers/s3.ts';
import {
  runStrata,
  STRATA_BIN,
  type StrataProcess,
  startStrata,
  tempDir,
} from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const ENCRYPTED = { STRATA_ENCRYPTION_ENABLED: 'true' };

interface Pair {
  key: string;
  secret: string;
}

async function createUser(server: StrataProcess, name: string): Promise<Pair> {
  const { code, stdout, stderr } = await runStrata([
    'user',
    'create',
    name,
    '--metadata-addr',
    server.metadataAddr,
  ]);
  assert.equal(code, 0, stderr);
  const text = stdout.toString();
  const key = /^access key id +(\S+)$/m.exec(text)?.[1];
  const secret = /^secret key +(\S+)$/m.exec(text)?.[1];
  assert.ok(key && secret, `a key pair printed: ${text}`);
  return { key, secret };
}

// Every file under `dir` whose bytes contain `needle`.
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  const bytes = Buffer.from(needle, 'utf8');
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if (readFileSync(path).includes(bytes)) found.push(path);
  }
  return found;
}

async function sealedKeyIds(server: StrataProcess): Promise<Map<string, string>> {
  const metadata = new MetadataClient([server.metadataAddr]);
  try {
    const { secrets } = await metadata.sealedUserSecrets();
    return new Map(secrets.map((s) => [s.accessKeyId, s.sealedSecret.masterKeyId]));
  } finally {
    await metadata.close();
  }
}

function awsEnvOf(user: Pair): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: user.key,
    AWS_SECRET_ACCESS_KEY: user.secret,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_MAX_ATTEMPTS: '1',
  };
}

function activeKeyId(keyFile: string): string {
  const lines = readFileSync(keyFile, 'utf8').split('\n');
  const first = lines.find((l) => l !== '' && !l.startsWith('#'));
  assert.ok(first !== undefined, `a key in ${keyFile}`);
  return masterKeyId(Buffer.from(first, 'base64'));
}

// The user signs with awscli and the SDK (its own bucket: a user owns what it creates), and logs
// in to the metadata with `strata fs`.
async function signsAndLogsIn(server: StrataProcess, user: Pair, bucket: string, round: string) {
  const body = Buffer.from(`round ${round} ${randomBytes(8).toString('hex')}`);
  const s3 = userClient(server, user);
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: round, Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: round }));
    assert.ok((await bodyBytes(got.Body)).equals(body), `${round}: the SDK reads back`);
  } finally {
    s3.destroy();
  }
  const listed = await runProcess(
    'aws',
    ['--endpoint-url', server.s3Endpoint, 's3', 'ls', `s3://${bucket}/`],
    { env: { ...process.env, ...awsEnvOf(user) } },
  );
  assert.equal(listed.status, 0, `${round}: awscli signs as the user: ${listed.stderr}`);
  assert.match(listed.stdout, new RegExp(round));
  const fs = await runStrata(['fs', 'ls', `/${bucket}`, '--metadata-addr', server.metadataAddr], {
    env: { STRATA_ACCESS_KEY_ID: user.key, STRATA_SECRET_ACCESS_KEY: user.secret },
  });
  assert.equal(fs.code, 0, `${round}: strata fs logs in as the user: ${fs.stderr}`);
  assert.match(fs.stdout.toString(), new RegExp(round));
}

test('with encryption off a secret is in the data directory; the next start with it on seals it', async () => {
  const dataDir = tempDir('strata-secrets-plain-');
  let server = await startStrata({ dataDir });
  try {
    const alice = await createUser(server, 'alice');
    const holding = filesHolding(dataDir, alice.secret);
    assert.ok(holding.length > 0, 'the control: without a master key the secret is stored as is');
    assert.equal((await sealedKeyIds(server)).size, 0, 'nothing sealed without a master key');
    await server.stop();

    server = await startStrata({ dataDir, env: ENCRYPTED });
    const keyId = activeKeyId(join(dataDir, 'master.key'));
    await until(
      'the leader seals the secret stored in the clear',
      async () => ((await sealedKeyIds(server)).get(alice.key) === keyId ? true : undefined),
      { limitMs: 10_000 },
    );
    const sealed = await sealedKeyIds(server);
    assert.equal(sealed.get(server.accessKey), keyId, "the configured admin's secret too");
    const s3 = userClient(server, alice);
    await s3.send(new CreateBucketCommand({ Bucket: 'alice-bucket' }));
    s3.destroy();
    await signsAndLogsIn(server, alice, 'alice-bucket', 'sealed');
  } finally {
    await server.stop();
  }
});

test('with encryption on no file holds a secret; rotation re-seals it and the user still signs and logs in', async () => {
  const dataDir = tempDir('strata-secrets-sealed-');
  const keyFile = join(dataDir, 'master.key');
  const newKey = randomBytes(32);
  const newKeyFile = join(tempDir('strata-secrets-key-'), 'new.key');
  writeFileSync(newKeyFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });
  let server = await startStrata({ dataDir, env: ENCRYPTED });
  const restart = async () => {
    await server.stop();
    server = await startStrata({ dataDir, env: ENCRYPTED });
  };
  const rotate = (...extra: string[]) =>
    runProcess(process.execPath, [
      STRATA_BIN,
      'encryption',
      'rotate-master-key',
      '--new-key-file',
      newKeyFile,
      '--key-file',
      keyFile,
      '--metadata-addr',
      server.metadataAddr,
      ...extra,
    ]);
  try {
    const bob = await createUser(server, 'bob');
    // A second key (rotate-key --keep-old) goes through the same sealing.
    const rotated = await runStrata([
      'user',
      'rotate-key',
      'bob',
      '--keep-old',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const bob2 = {
      key: /^access key id +(\S+)$/m.exec(rotated.stdout.toString())?.[1] ?? '',
      secret: /^secret key +(\S+)$/m.exec(rotated.stdout.toString())?.[1] ?? '',
    };
    const s3 = userClient(server, bob);
    await s3.send(new CreateBucketCommand({ Bucket: 'bob-bucket' }));
    s3.destroy();
    await signsAndLogsIn(server, bob, 'bob-bucket', 'before');
    // The generated admin's secret is in credentials.json (a configuration file) and nowhere else.
    for (const secret of [bob.secret, bob2.secret, server.secretKey]) {
      const holding = filesHolding(dataDir, secret).filter((p) => !p.endsWith('credentials.json'));
      assert.deepEqual(holding, [], 'no file of the data directory holds a secret');
    }
    const keys = await sealedKeyIds(server);
    assert.equal(keys.size, 3, "bob's two keys and the admin's, all sealed");

    const first = await rotate();
    assert.equal(first.status, 0, `rotate failed:\n${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, / 3 user secrets re-wrapped/);
    for (const id of (await sealedKeyIds(server)).values()) assert.equal(id, masterKeyId(newKey));
    // The running leader re-reads the key file for the new key: no restart needed to log in.
    await signsAndLogsIn(server, bob, 'bob-bucket', 'rotated');
    await signsAndLogsIn(server, bob2, 'bob-bucket', 'second-key');

    await restart();
    await signsAndLogsIn(server, bob, 'bob-bucket', 'restarted');
    const dropped = await rotate('--drop-retired');
    assert.equal(dropped.status, 0, `drop failed:\n${dropped.stdout}\n${dropped.stderr}`);
    assert.match(dropped.stdout, / 0 user secrets re-wrapped/);
    assert.match(dropped.stdout, /retired keys removed/);
    await restart();
    await signsAndLogsIn(server, bob, 'bob-bucket', 'new-key-alone');
    for (const secret of [bob.secret, bob2.secret])
      assert.deepEqual(filesHolding(dataDir, secret), [], 'still no file holds a secret');
  } finally {
    await server.stop();
  }
});

async function metricValue(server: StrataProcess, series: string): Promise<number> {
  const metrics = await (await fetch(server.metricsUrl)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return Number(line?.split(' ')[1] ?? 0);
}

// A member without the key file that sealed the secrets (started with encryption off, its key
// file moved away) cannot unseal them: the user is refused, logged and counted, so an operator
// can alert on it; once the key file is back, the same user signs again.
test('a secret the leader cannot unseal is refused, logged and counted', async () => {
  const dataDir = tempDir('strata-secrets-nokey-');
  const keyFile = join(dataDir, 'master.key');
  let server = await startStrata({ dataDir, env: ENCRYPTED });
  try {
    const carol = await createUser(server, 'carol');
    const s3 = userClient(server, carol);
    await s3.send(new CreateBucketCommand({ Bucket: 'carol-bucket' }));
    s3.destroy();
    assert.ok((await sealedKeyIds(server)).has(carol.key), "carol's secret is sealed");
    await server.stop();

    renameSync(keyFile, `${keyFile}.away`);
    server = await startStrata({ dataDir });
    const series = 'strata_user_secret_unseal_failures_total';
    const refused = userClient(server, carol);
    try {
      const error = (await refused
        .send(new PutObjectCommand({ Bucket: 'carol-bucket', Key: 'k', Body: 'x' }))
        .catch((e) => e)) as Error & { name: string };
      assert.ok(error instanceof Error, 'a request signed by carol is refused');
      assert.equal(error.name, 'InvalidAccessKeyId');
    } finally {
      refused.destroy();
    }
    assert.ok((await metricValue(server, series)) >= 1, 'the failure to unseal is counted');
    assert.match(server.output(), /cannot unseal a user secret/);
    await server.stop();

    renameSync(`${keyFile}.away`, keyFile);
    server = await startStrata({ dataDir, env: ENCRYPTED });
    await signsAndLogsIn(server, carol, 'carol-bucket', 'key-back');
    assert.equal(await metricValue(server, series), 0, 'nothing to count with the key file');
  } finally {
    await server.stop();
  }
});
