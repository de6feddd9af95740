// Users in the cluster's replicated state, end to end: `strata user` against a real server, and
// awscli signing with the keys it prints. A created user works at once (an unknown key makes the
// gateway refresh its copy) and owns what it creates, a rotated-away or deleted key is refused
// (InvalidAccessKeyId) once refreshed, a configured user keeps working and cannot be deleted
// from the CLI, and no secret reaches the server's log or metrics, even at debug level.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import { METADATA_RPC } from '../../src/metadata/types.ts';
import { RpcClient } from '../../src/rpc/index.ts';
import { CLUSTER_TOKEN } from '../helpers/cluster-token.ts';
import { runProcess } from '../helpers/process.ts';
import { STRATA_BIN, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { has } from '../helpers/tools.ts';
import { until } from '../helpers/wait.ts';

const ROOT = { key: 'ROOTKEY0001', secret: 'root-secret-0001' };
// Generous: the gateways' copy is refreshed every second and trusted for 2 s.
const KEY_CHANGE_LIMIT_MS = 15_000;

interface Pair {
  key: string;
  secret: string;
}

function aws(server: StrataProcess, pair: Pair, ...args: string[]) {
  const env: Record<string, string | undefined> = {
    ...process.env,
    AWS_ACCESS_KEY_ID: pair.key,
    AWS_SECRET_ACCESS_KEY: pair.secret,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_MAX_ATTEMPTS: '1',
  };
  delete env.AWS_CA_BUNDLE;
  const result = spawnSync('aws', ['--endpoint-url', server.s3Endpoint, ...args], {
    env: env as NodeJS.ProcessEnv,
    encoding: 'utf8',
  });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

function awsOk(server: StrataProcess, pair: Pair, ...args: string[]): string {
  const result = aws(server, pair, ...args);
  assert.equal(result.status, 0, `aws ${args.join(' ')} as ${pair.key}: ${result.out}`);
  return result.out;
}

function awsRefused(server: StrataProcess, pair: Pair, code: string, ...args: string[]): void {
  const result = aws(server, pair, ...args);
  assert.notEqual(result.status, 0, `aws ${args.join(' ')} as ${pair.key} succeeded`);
  assert.match(result.out, new RegExp(code), `aws ${args.join(' ')}: ${result.out}`);
}

async function strataUser(server: StrataProcess, ...args: string[]) {
  return runProcess(process.execPath, [
    STRATA_BIN,
    'user',
    ...args,
    '--metadata-addr',
    server.metadataAddr,
  ]);
}

function printedPair(stdout: string): Pair {
  const key = /^access key id +(\S+)$/m.exec(stdout)?.[1];
  const secret = /^secret key +(\S+)$/m.exec(stdout)?.[1];
  assert.ok(key && secret, `a key pair printed: ${stdout}`);
  return { key, secret };
}

describe('strata user: users and access keys in replicated state', { skip: !has('aws') }, () => {
  let server: StrataProcess;
  let work: string;
  const secrets: string[] = [ROOT.secret];

  before(async () => {
    work = tempDir('strata-users-');
    const config = join(work, 'strata.toml');
    writeFileSync(
      config,
      '[s3.auth]\ncredentials = [\n' +
        `  { access_key_id = "${ROOT.key}", secret_key = "${ROOT.secret}", user_id = "root", admin = true },\n]\n`,
    );
    server = await startStrata({ args: ['--config', config, '--log-level', 'debug'] });
    writeFileSync(join(work, 'file.txt'), 'hello from alice\n');
  });
  after(async () => {
    await server?.stop();
  });

  let alice: Pair;

  test('a created user signs requests at once and owns its bucket', async () => {
    const created = await strataUser(server, 'create', 'alice');
    assert.equal(created.status, 0, created.stderr);
    alice = printedPair(created.stdout);
    secrets.push(alice.secret);
    awsOk(server, alice, 's3', 'mb', 's3://alice-bucket');
    awsOk(server, alice, 's3', 'cp', join(work, 'file.txt'), 's3://alice-bucket/file.txt');
    const listed = awsOk(server, alice, 's3', 'ls', 's3://alice-bucket');
    assert.match(listed, /file\.txt/);
  });

  test("the configured administrator works as before, and its private bucket is not alice's", () => {
    awsOk(server, ROOT, 's3', 'mb', 's3://root-private');
    awsOk(server, ROOT, 's3', 'cp', join(work, 'file.txt'), 's3://root-private/secret.txt');
    awsRefused(server, alice, 'AccessDenied', 's3', 'ls', 's3://root-private');
    awsRefused(
      server,
      alice,
      'AccessDenied',
      's3api',
      'get-object',
      '--bucket',
      'root-private',
      '--key',
      'secret.txt',
      join(work, 'stolen.txt'),
    );
    // The administrator sees into alice's bucket.
    assert.match(awsOk(server, ROOT, 's3', 'ls', 's3://alice-bucket'), /file\.txt/);
  });

  test('the list names users, keys, admin flag and source, never a secret', async () => {
    const listed = await strataUser(server, 'list');
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^alice +${alice.key} +no +\\S+ +cli$`, 'm'));
    assert.match(listed.stdout, new RegExp(`^root +${ROOT.key} +yes +\\S+ +config$`, 'm'));
    for (const secret of secrets) assert.ok(!listed.stdout.includes(secret), 'no secret listed');
    const json = await strataUser(server, 'list', '--json');
    const users = JSON.parse(json.stdout) as Array<{ name: string; source: string }>;
    assert.deepEqual(users.map((u) => `${u.name}:${u.source}`).sort(), [
      'alice:cli',
      'root:config',
    ]);
    for (const secret of secrets) assert.ok(!json.stdout.includes(secret), 'no secret in JSON');
  });

  test('rotate-key: the old key is refused once refreshed, the new one works', async () => {
    const rotated = await strataUser(server, 'rotate-key', 'alice');
    assert.equal(rotated.status, 0, rotated.stderr);
    const next = printedPair(rotated.stdout);
    secrets.push(next.secret);
    assert.notEqual(next.key, alice.key);
    await until(
      'the rotated-away key is refused',
      async () =>
        aws(server, alice, 's3', 'ls').out.includes('InvalidAccessKeyId') ? true : undefined,
      { limitMs: KEY_CHANGE_LIMIT_MS },
    );
    assert.match(awsOk(server, next, 's3', 'ls', 's3://alice-bucket'), /file\.txt/);
    alice = next;
  });

  test('rotate-key --keep-old keeps both keys working, and a third is refused', async () => {
    const kept = await strataUser(server, 'rotate-key', 'alice', '--keep-old');
    assert.equal(kept.status, 0, kept.stderr);
    const second = printedPair(kept.stdout);
    secrets.push(second.secret);
    awsOk(server, second, 's3', 'ls', 's3://alice-bucket');
    awsOk(server, alice, 's3', 'ls', 's3://alice-bucket');
    const third = await strataUser(server, 'rotate-key', 'alice', '--keep-old');
    assert.equal(third.status, 1, third.stdout);
    assert.match(third.stderr, /ACCESS_KEY_LIMIT/);
  });

  test('a configured user cannot be deleted from the CLI', async () => {
    const refused = await strataUser(server, 'delete', 'root');
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(refused.stderr, /USER_FROM_CONFIG/);
    awsOk(server, ROOT, 's3', 'ls');
  });

  test("delete: the user's keys are refused once refreshed", async () => {
    const deleted = await strataUser(server, 'delete', 'alice');
    assert.equal(deleted.status, 0, deleted.stderr);
    await until(
      "the deleted user's key is refused",
      async () =>
        aws(server, alice, 's3', 'ls').out.includes('InvalidAccessKeyId') ? true : undefined,
      { limitMs: KEY_CHANGE_LIMIT_MS },
    );
    const again = await strataUser(server, 'delete', 'alice');
    assert.equal(again.status, 1);
    assert.match(again.stderr, /NO_SUCH_USER/);
  });

  test('only the operator manages users, and only gateways and members read the secrets', async () => {
    const as = (role: 'gateway' | 'mount' | 'data' | 'admin') =>
      new RpcClient(server.metadataAddr, {
        security: { mode: 'token', token: CLUSTER_TOKEN, role },
        connectTimeoutMs: 5_000,
      });
    const forbidden = (e: unknown) => isStrataError(e, 'RPC_FORBIDDEN');
    const command = {
      op: 'createUser',
      nowMs: Date.now(),
      name: 'mallory',
      admin: true,
      accessKeyId: 'AKMALLORY',
      secretKey: 'mallory-secret-1',
    };
    for (const role of ['gateway', 'mount', 'data', 'admin'] as const) {
      const rpc = as(role);
      try {
        // meta.apply, open to every role for the namespace, refuses user commands.
        await assert.rejects(rpc.call(METADATA_RPC.apply, { command }), forbidden, role);
        if (role !== 'admin')
          await assert.rejects(rpc.call(METADATA_RPC.userApply, { command }), forbidden, role);
        if (role !== 'gateway')
          await assert.rejects(rpc.call(METADATA_RPC.userKeys, {}), forbidden, role);
      } finally {
        await rpc.close();
      }
    }
    const gateway = as('gateway');
    try {
      const reply = await gateway.call<{ keys: Array<{ user: string }> }>(
        METADATA_RPC.userKeys,
        {},
      );
      assert.ok(
        reply.header.keys.some((k) => k.user === 'root'),
        'a gateway reads the keys',
      );
    } finally {
      await gateway.close();
    }
    const listed = await strataUser(server, 'list');
    assert.doesNotMatch(listed.stdout, /mallory/, 'no user was made');
  });

  test('the gateway counts its key refreshes; no secret appears in its metrics', async () => {
    const text = await (await fetch(server.metricsUrl)).text();
    const ok = /^strata_s3_access_key_refreshes_total\{result="ok"\} (\d+)$/m.exec(text);
    assert.ok(ok && Number(ok[1]) > 0, 'refreshes counted');
    for (const secret of secrets) assert.ok(!text.includes(secret), 'no secret in metrics');
  });

  test('no secret appears in the server log', () => {
    const log = server.output();
    assert.match(log, /configured users applied/, 'the log is the debug-level one');
    for (const secret of secrets)
      assert.ok(!log.includes(secret), `secret ${secret.slice(0, 4)}… found in the server log`);
  });
});
