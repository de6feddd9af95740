// Bucket-level controls through real clients (SDK v3 and awscli) against a real server with three
// users and anonymous access allowed: Block Public Access, Object Ownership, policy status and ACL
// grants to a named user. Each control is shown both ways: what a request may do with it and
// without it, so that a control that is stored but not enforced fails here.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketOwnershipControlsCommand,
  DeleteBucketPolicyCommand,
  DeletePublicAccessBlockCommand,
  GetBucketAclCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyStatusCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { runProcess } from '../helpers/process.ts';
import { rejectsWith, userClient } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { awsEnv } from '../helpers/tools.ts';

const USERS = {
  root: { key: 'root-key', secret: 'root-secret-1', admin: true },
  alice: { key: 'alice-key', secret: 'alice-secret-1', admin: false },
  bob: { key: 'bob-key', secret: 'bob-secret-12', admin: false },
};
const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
const NO_BLOCK = {
  BlockPublicAcls: false,
  IgnorePublicAcls: false,
  BlockPublicPolicy: false,
  RestrictPublicBuckets: false,
};

const clientFor = (server: StrataProcess, user: keyof typeof USERS) =>
  userClient(server, USERS[user]);

function readPolicy(bucket: string, principal: unknown, extra: object = {}) {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: principal,
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${bucket}/*`,
        ...extra,
      },
    ],
  });
}

describe('bucket controls: public access, ownership, policy status, ACL grants', () => {
  let server: StrataProcess;
  let alice: S3Client;
  let bob: S3Client;
  const anonymousGet = async (bucket: string, key: string) =>
    (await fetch(`${server.s3Endpoint}/${bucket}/${key}`)).status;
  // awscli as alice; resolves with the parsed JSON output (or throws with its stderr).
  const aliceCli = async (...args: string[]) => {
    const env = {
      ...process.env,
      ...awsEnv(server),
      AWS_ACCESS_KEY_ID: USERS.alice.key,
      AWS_SECRET_ACCESS_KEY: USERS.alice.secret,
    };
    const r = await runProcess('aws', ['--endpoint-url', server.s3Endpoint, ...args], { env });
    return { code: r.status, json: r.stdout.trim() ? JSON.parse(r.stdout) : {}, stderr: r.stderr };
  };
  const put = (bucket: string, key: string, extra: object = {}) =>
    alice.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key, ...extra }));

  before(async () => {
    const dir = tempDir('strata-controls-');
    const config = join(dir, 'strata.toml');
    const lines = Object.entries(USERS).map(
      ([user, u]) =>
        `  { access_key_id = "${u.key}", secret_key = "${u.secret}", user_id = "${user}", admin = ${u.admin} },`,
    );
    writeFileSync(
      config,
      `[s3.auth]\nallow_anonymous = true\ncredentials = [\n${lines.join('\n')}\n]\n`,
    );
    server = await startStrata({ args: ['--config', config] });
    alice = clientFor(server, 'alice');
    bob = clientFor(server, 'bob');
  });
  after(async () => {
    for (const c of [alice, bob]) c?.destroy();
    await server?.stop();
  });

  test('PublicAccessBlock: put, get (SDK and awscli), delete', async () => {
    const b = 'pab-roundtrip';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await rejectsWith(
      alice.send(new GetPublicAccessBlockCommand({ Bucket: b })),
      'NoSuchPublicAccessBlockConfiguration',
      'none yet',
    );
    const config = { ...NO_BLOCK, BlockPublicAcls: true, RestrictPublicBuckets: true };
    await alice.send(
      new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: config }),
    );
    const got = await alice.send(new GetPublicAccessBlockCommand({ Bucket: b }));
    assert.deepEqual(got.PublicAccessBlockConfiguration, config);
    const cli = await aliceCli(
      's3api',
      'put-public-access-block',
      '--bucket',
      b,
      '--public-access-block-configuration',
      'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true',
    );
    assert.equal(cli.code, 0, cli.stderr);
    const shown = await aliceCli('s3api', 'get-public-access-block', '--bucket', b);
    assert.deepEqual(shown.json.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
    await rejectsWith(
      bob.send(new GetPublicAccessBlockCommand({ Bucket: b })),
      'AccessDenied',
      'another user',
    );
    await alice.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
    await rejectsWith(
      alice.send(new GetPublicAccessBlockCommand({ Bucket: b })),
      'NoSuchPublicAccessBlockConfiguration',
      'deleted',
    );
  });

  test('BlockPublicAcls refuses public ACLs where they are set, and only those', async () => {
    const b = 'pab-acls';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await put(b, 'k');
    const block = { ...NO_BLOCK, BlockPublicAcls: true };
    await alice.send(
      new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: block }),
    );
    await rejectsWith(put(b, 'public', { ACL: 'public-read' }), 'AccessDenied', 'PutObject');
    await rejectsWith(
      alice.send(new GetObjectCommand({ Bucket: b, Key: 'public' })),
      'NoSuchKey',
      'the refused PUT stored nothing',
    );
    await rejectsWith(
      alice.send(new PutObjectAclCommand({ Bucket: b, Key: 'k', ACL: 'authenticated-read' })),
      'AccessDenied',
      'PutObjectAcl',
    );
    await rejectsWith(
      alice.send(new PutBucketAclCommand({ Bucket: b, GrantRead: `uri="${ALL_USERS}"` })),
      'AccessDenied',
      'PutBucketAcl with a grant header',
    );
    // A grant to a named user is not public.
    await alice.send(new PutObjectAclCommand({ Bucket: b, Key: 'k', GrantRead: 'id="bob"' }));
    await alice.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
    await put(b, 'public', { ACL: 'public-read' });
    assert.equal(await anonymousGet(b, 'public'), 200, 'without the block the ACL is set');
  });

  test('IgnorePublicAcls: a public-read object is anonymous-readable without it, not with it', async () => {
    const b = 'pab-ignore';
    await alice.send(new CreateBucketCommand({ Bucket: b, ACL: 'public-read' }));
    await put(b, 'k', { ACL: 'public-read' });
    assert.equal(await anonymousGet(b, 'k'), 200);
    assert.equal((await fetch(`${server.s3Endpoint}/${b}`)).status, 200, 'bucket listable');
    const block = { ...NO_BLOCK, IgnorePublicAcls: true };
    await alice.send(
      new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: block }),
    );
    assert.equal(await anonymousGet(b, 'k'), 403, 'the object ACL is ignored');
    assert.equal((await fetch(`${server.s3Endpoint}/${b}`)).status, 403, 'and the bucket ACL');
    await rejectsWith(
      bob.send(new GetObjectCommand({ Bucket: b, Key: 'k' })),
      'AccessDenied',
      'AllUsers covers authenticated users too',
    );
    const acl = await alice.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' }));
    assert.ok(
      acl.Grants?.some((g) => g.Grantee?.URI === ALL_USERS),
      'the ACL stays stored',
    );
    await alice.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
    assert.equal(await anonymousGet(b, 'k'), 200, 'honoured again once removed');
  });

  test('BlockPublicPolicy refuses a public policy, not a policy for a named user', async () => {
    const b = 'pab-policy';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    const block = { ...NO_BLOCK, BlockPublicPolicy: true };
    await alice.send(
      new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: block }),
    );
    await rejectsWith(
      alice.send(new PutBucketPolicyCommand({ Bucket: b, Policy: readPolicy(b, '*') })),
      'AccessDenied',
      'public policy',
    );
    await alice.send(
      new PutBucketPolicyCommand({ Bucket: b, Policy: readPolicy(b, { AWS: 'bob' }) }),
    );
    // A source-IP block makes Principal "*" non-public, as on AWS.
    const limited = readPolicy(b, '*', {
      Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
    });
    await alice.send(new PutBucketPolicyCommand({ Bucket: b, Policy: limited }));
  });

  test('RestrictPublicBuckets: a public policy serves anonymous callers only without it', async () => {
    const b = 'pab-restrict';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await put(b, 'k');
    await alice.send(new PutBucketPolicyCommand({ Bucket: b, Policy: readPolicy(b, '*') }));
    assert.equal(await anonymousGet(b, 'k'), 200);
    const block = { ...NO_BLOCK, RestrictPublicBuckets: true };
    await alice.send(
      new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: block }),
    );
    assert.equal(await anonymousGet(b, 'k'), 403, 'anonymous callers are cut off');
    const asBob = await bob.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
    assert.equal(await asBob.Body?.transformToString(), 'k', 'a user of the system still reads');
    await alice.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
    assert.equal(await anonymousGet(b, 'k'), 200);
  });

  test('GetBucketPolicyStatus: public and private policies (SDK and awscli)', async () => {
    const b = 'policy-status';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await rejectsWith(
      alice.send(new GetBucketPolicyStatusCommand({ Bucket: b })),
      'NoSuchBucketPolicy',
      'no policy',
    );
    await alice.send(new PutBucketPolicyCommand({ Bucket: b, Policy: readPolicy(b, '*') }));
    const pub = await alice.send(new GetBucketPolicyStatusCommand({ Bucket: b }));
    assert.equal(pub.PolicyStatus?.IsPublic, true);
    const cliPublic = await aliceCli('s3api', 'get-bucket-policy-status', '--bucket', b);
    assert.equal(cliPublic.code, 0, cliPublic.stderr);
    assert.deepEqual(cliPublic.json, { PolicyStatus: { IsPublic: true } });
    await alice.send(
      new PutBucketPolicyCommand({ Bucket: b, Policy: readPolicy(b, { AWS: 'bob' }) }),
    );
    const priv = await alice.send(new GetBucketPolicyStatusCommand({ Bucket: b }));
    assert.equal(priv.PolicyStatus?.IsPublic, false);
    const cliPrivate = await aliceCli('s3api', 'get-bucket-policy-status', '--bucket', b);
    assert.deepEqual(cliPrivate.json, { PolicyStatus: { IsPublic: false } });
    await alice.send(new DeleteBucketPolicyCommand({ Bucket: b }));
  });

  test('OwnershipControls: put, get (SDK and awscli), delete; ObjectWriter is 501', async () => {
    const b = 'ownership';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await rejectsWith(
      alice.send(new GetBucketOwnershipControlsCommand({ Bucket: b })),
      'OwnershipControlsNotFoundError',
      'none yet',
    );
    const rule = (o: 'BucketOwnerPreferred' | 'ObjectWriter') => ({
      Bucket: b,
      OwnershipControls: { Rules: [{ ObjectOwnership: o }] },
    });
    await alice.send(new PutBucketOwnershipControlsCommand(rule('BucketOwnerPreferred')));
    const got = await alice.send(new GetBucketOwnershipControlsCommand({ Bucket: b }));
    assert.deepEqual(got.OwnershipControls?.Rules, [{ ObjectOwnership: 'BucketOwnerPreferred' }]);
    await rejectsWith(
      alice.send(new PutBucketOwnershipControlsCommand(rule('ObjectWriter'))),
      'NotImplemented',
      'ObjectWriter',
    );
    const cli = await aliceCli(
      's3api',
      'put-bucket-ownership-controls',
      '--bucket',
      b,
      '--ownership-controls',
      'Rules=[{ObjectOwnership=BucketOwnerEnforced}]',
    );
    assert.equal(cli.code, 0, cli.stderr);
    const shown = await aliceCli('s3api', 'get-bucket-ownership-controls', '--bucket', b);
    assert.deepEqual(shown.json.OwnershipControls.Rules, [
      { ObjectOwnership: 'BucketOwnerEnforced' },
    ]);
    await alice.send(new DeleteBucketOwnershipControlsCommand({ Bucket: b }));
    await rejectsWith(
      alice.send(new GetBucketOwnershipControlsCommand({ Bucket: b })),
      'OwnershipControlsNotFoundError',
      'deleted',
    );
  });

  test('BucketOwnerEnforced disables ACLs: refused when set, ignored when stored', async () => {
    const b = 'enforced';
    await alice.send(new CreateBucketCommand({ Bucket: b, ACL: 'public-read' }));
    await put(b, 'k', { ACL: 'public-read' });
    assert.equal(await anonymousGet(b, 'k'), 200);
    const enforced = {
      Bucket: b,
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' as const }] },
    };
    await rejectsWith(
      alice.send(new PutBucketOwnershipControlsCommand(enforced)),
      'InvalidBucketAclWithObjectOwnership',
      'the bucket ACL grants AllUsers',
    );
    await alice.send(new PutBucketAclCommand({ Bucket: b, ACL: 'private' }));
    await alice.send(new PutBucketOwnershipControlsCommand(enforced));
    assert.equal(await anonymousGet(b, 'k'), 403, "the object's stored ACL is ignored");
    await rejectsWith(
      put(b, 'other', { ACL: 'public-read' }),
      'AccessControlListNotSupported',
      'PutObject with a public ACL',
    );
    await rejectsWith(
      alice.send(new PutObjectAclCommand({ Bucket: b, Key: 'k', GrantRead: 'id="bob"' })),
      'AccessControlListNotSupported',
      'PutObjectAcl with a grant',
    );
    await rejectsWith(
      alice.send(new PutBucketAclCommand({ Bucket: b, ACL: 'authenticated-read' })),
      'AccessControlListNotSupported',
      'PutBucketAcl',
    );
    await put(b, 'owned', { ACL: 'bucket-owner-full-control' });
    const acl = await alice.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' }));
    assert.deepEqual(
      acl.Grants?.map((g) => [g.Grantee?.ID, g.Permission]),
      [['alice', 'FULL_CONTROL']],
      'only the owner is shown',
    );
    const bucketAcl = await alice.send(new GetBucketAclCommand({ Bucket: b }));
    assert.equal(bucketAcl.Grants?.length, 1);
    await alice.send(new DeleteBucketOwnershipControlsCommand({ Bucket: b }));
    assert.equal(await anonymousGet(b, 'k'), 200, 'the stored ACL counts again');
  });

  test('a named grantee gains READ by a grant and loses it when the grant is removed', async () => {
    const b = 'grants';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await put(b, 'k');
    const read = () => bob.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
    await rejectsWith(read(), 'AccessDenied', 'before the grant');
    await alice.send(new PutObjectAclCommand({ Bucket: b, Key: 'k', GrantRead: 'id="bob"' }));
    assert.equal(await (await read()).Body?.transformToString(), 'k', 'with the grant');
    assert.equal(await anonymousGet(b, 'k'), 403, 'a grant to bob is not for everyone');
    const acl = await alice.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' }));
    assert.deepEqual(
      acl.Grants?.map((g) => [g.Grantee?.ID, g.Permission]),
      [
        ['alice', 'FULL_CONTROL'],
        ['bob', 'READ'],
      ],
    );
    await rejectsWith(
      bob.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' })),
      'AccessDenied',
      'READ is not READ_ACP',
    );
    // Removed by an AccessControlPolicy body that lists the owner only.
    await alice.send(
      new PutObjectAclCommand({
        Bucket: b,
        Key: 'k',
        AccessControlPolicy: {
          Owner: { ID: 'alice' },
          Grants: [{ Grantee: { Type: 'CanonicalUser', ID: 'alice' }, Permission: 'FULL_CONTROL' }],
        },
      }),
    );
    await rejectsWith(read(), 'AccessDenied', 'after the grant is removed');
  });

  test('READ_ACP and WRITE_ACP let a grantee read and set the ACL, and nothing more', async () => {
    const b = 'acp-grants';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await put(b, 'k');
    await rejectsWith(
      bob.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' })),
      'AccessDenied',
      'before',
    );
    await alice.send(
      new PutObjectAclCommand({
        Bucket: b,
        Key: 'k',
        GrantReadACP: 'id="bob"',
        GrantWriteACP: 'id="bob"',
      }),
    );
    const shown = await bob.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' }));
    assert.equal(shown.Owner?.ID, 'alice');
    await rejectsWith(
      bob.send(new GetObjectCommand({ Bucket: b, Key: 'k' })),
      'AccessDenied',
      'READ_ACP is not READ',
    );
    // With WRITE_ACP bob may give himself READ (as on AWS: WRITE_ACP is as strong as the ACL).
    await bob.send(
      new PutObjectAclCommand({
        Bucket: b,
        Key: 'k',
        GrantRead: 'id="bob"',
        GrantWriteACP: 'id="bob"',
      }),
    );
    const read = await bob.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
    assert.equal(await read.Body?.transformToString(), 'k');
  });

  test('every object write refuses an ACL the bucket controls forbid, before storing anything', async () => {
    const b = 'write-paths';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await put(b, 'src');
    const block = { ...NO_BLOCK, BlockPublicAcls: true };
    await alice.send(
      new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: block }),
    );
    const copy = (acl: 'public-read' | 'authenticated-read') =>
      alice.send(
        new CopyObjectCommand({ Bucket: b, Key: 'copy', CopySource: `${b}/src`, ACL: acl }),
      );
    await rejectsWith(copy('public-read'), 'AccessDenied', 'CopyObject');
    const upload = (extra: object) =>
      alice.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', ...extra }));
    await rejectsWith(upload({ GrantRead: `uri="${ALL_USERS}"` }), 'AccessDenied', 'multipart');
    await alice.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
    await alice.send(
      new PutBucketOwnershipControlsCommand({
        Bucket: b,
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      }),
    );
    await rejectsWith(
      copy('authenticated-read'),
      'AccessControlListNotSupported',
      'copy, enforced',
    );
    await rejectsWith(
      upload({ GrantRead: 'id="bob"' }),
      'AccessControlListNotSupported',
      'multipart, enforced',
    );
    await rejectsWith(
      alice.send(new GetObjectCommand({ Bucket: b, Key: 'copy' })),
      'NoSuchKey',
      'no refused copy was stored',
    );
  });

  test('bucket grants by awscli and by body: READ lists, WRITE writes; e-mail grantees are 400', async () => {
    const b = 'bucket-grants';
    await alice.send(new CreateBucketCommand({ Bucket: b }));
    await rejectsWith(bob.send(new ListObjectsV2Command({ Bucket: b })), 'AccessDenied', 'list');
    const cli = await aliceCli('s3api', 'put-bucket-acl', '--bucket', b, '--grant-read', 'id=bob');
    assert.equal(cli.code, 0, cli.stderr);
    await bob.send(new ListObjectsV2Command({ Bucket: b }));
    await rejectsWith(
      bob.send(new PutObjectCommand({ Bucket: b, Key: 'x', Body: 'x' })),
      'AccessDenied',
      'READ is not WRITE',
    );
    await alice.send(
      new PutBucketAclCommand({
        Bucket: b,
        AccessControlPolicy: {
          Owner: { ID: 'alice' },
          Grants: [{ Grantee: { Type: 'CanonicalUser', ID: 'bob' }, Permission: 'WRITE' }],
        },
      }),
    );
    await bob.send(new PutObjectCommand({ Bucket: b, Key: 'x', Body: 'x' }));
    await rejectsWith(
      bob.send(new ListObjectsV2Command({ Bucket: b })),
      'AccessDenied',
      'no READ now',
    );
    const shown = await aliceCli('s3api', 'get-bucket-acl', '--bucket', b);
    assert.deepEqual(
      shown.json.Grants.map((g: { Grantee: { ID?: string }; Permission: string }) => [
        g.Grantee.ID,
        g.Permission,
      ]),
      [
        ['alice', 'FULL_CONTROL'],
        ['bob', 'WRITE'],
      ],
    );
    await rejectsWith(
      alice.send(
        new PutBucketAclCommand({ Bucket: b, GrantRead: 'emailAddress="bob@example.com"' }),
      ),
      'UnresolvableGrantByEmailAddress',
      'e-mail grantee',
    );
    await rejectsWith(
      alice.send(new PutBucketAclCommand({ Bucket: b, GrantRead: 'id="nobody"' })),
      'InvalidArgument',
      'unknown user',
    );
  });
});
