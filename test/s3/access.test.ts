// Authorization between users, bucket policies and canned ACLs, through the SDK against a real
// server configured with three users (an administrator and two ordinary users) and anonymous
// access allowed, so that only policies and ACLs decide what anonymous callers may do.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketAclCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { rejectsWith, userClient } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const USERS = {
  root: { key: 'root-key', secret: 'root-secret-1', admin: true },
  alice: { key: 'alice-key', secret: 'alice-secret-1', admin: false },
  bob: { key: 'bob-key', secret: 'bob-secret-12', admin: false },
};

const clientFor = (server: StrataProcess, user: keyof typeof USERS) =>
  userClient(server, USERS[user]);

describe('authorization: owners, bucket policies, canned ACLs', () => {
  let server: StrataProcess;
  let alice: S3Client;
  let bob: S3Client;
  let root: S3Client;
  const anonymous = (path: string, init: RequestInit = {}) =>
    fetch(`${server.s3Endpoint}${path}`, init);

  before(async () => {
    const dir = tempDir('strata-access-');
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
    root = clientFor(server, 'root');
    await alice.send(new CreateBucketCommand({ Bucket: 'alice-data' }));
    for (const key of ['public/a.txt', 'private/b.txt', 'locked/c.txt']) {
      await alice.send(new PutObjectCommand({ Bucket: 'alice-data', Key: key, Body: key }));
    }
  });
  after(async () => {
    for (const c of [alice, bob, root]) c?.destroy();
    await server?.stop();
  });

  test('another user can neither read, list, write nor delete in a bucket it does not own', async () => {
    const b = 'alice-data';
    await rejectsWith(
      bob.send(new GetObjectCommand({ Bucket: b, Key: 'public/a.txt' })),
      'AccessDenied',
      'get',
    );
    await rejectsWith(bob.send(new ListObjectsV2Command({ Bucket: b })), 'AccessDenied', 'list');
    await rejectsWith(
      bob.send(new PutObjectCommand({ Bucket: b, Key: 'x', Body: 'x' })),
      'AccessDenied',
      'put',
    );
    await rejectsWith(
      bob.send(new DeleteObjectCommand({ Bucket: b, Key: 'public/a.txt' })),
      'AccessDenied',
      'delete',
    );
    const batch = await bob.send(
      new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'public/a.txt' }] } }),
    );
    assert.equal(batch.Errors?.[0]?.Code, 'AccessDenied', 'DeleteObjects refuses key by key');
    await rejectsWith(
      bob.send(new GetBucketPolicyCommand({ Bucket: b })),
      'AccessDenied',
      'policy',
    );
    const still = await alice.send(new GetObjectCommand({ Bucket: b, Key: 'public/a.txt' }));
    assert.equal(await still.Body?.transformToString(), 'public/a.txt', 'nothing was deleted');
  });

  test('ListBuckets shows users their own buckets and the administrator all of them', async () => {
    await bob.send(new CreateBucketCommand({ Bucket: 'bob-data' }));
    const names = async (c: S3Client) =>
      ((await c.send(new ListBucketsCommand({}))).Buckets ?? []).map((x) => x.Name);
    assert.deepEqual(await names(bob), ['bob-data']);
    assert.ok((await names(alice)).includes('alice-data'));
    assert.ok(!(await names(alice)).includes('bob-data'));
    assert.deepEqual(
      (await names(root)).filter((n) => n?.endsWith('-data')),
      ['alice-data', 'bob-data'],
    );
  });

  test('re-creating a bucket: BucketAlreadyOwnedByYou for its owner, BucketAlreadyExists for others', async () => {
    await rejectsWith(
      alice.send(new CreateBucketCommand({ Bucket: 'alice-data' })),
      'BucketAlreadyOwnedByYou',
      'owner',
    );
    await rejectsWith(
      bob.send(new CreateBucketCommand({ Bucket: 'alice-data' })),
      'BucketAlreadyExists',
      'other',
    );
  });

  test('a bucket policy grants another user reads under a prefix, and an explicit Deny binds the owner', async () => {
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'BobReadsPublic',
          Effect: 'Allow',
          Principal: { AWS: ['arn:aws:iam::000000000000:user/bob'] },
          Action: 's3:GetObject',
          Resource: 'arn:aws:s3:::alice-data/public/*',
        },
        {
          Sid: 'BobListsPublicOnly',
          Effect: 'Allow',
          Principal: { AWS: 'bob' },
          Action: 's3:ListBucket',
          Resource: 'arn:aws:s3:::alice-data',
          Condition: { StringLike: { 's3:prefix': 'public/*' } },
        },
        {
          Sid: 'NothingFromElsewhere',
          Effect: 'Allow',
          Principal: '*',
          Action: 's3:PutObject',
          Resource: 'arn:aws:s3:::alice-data/*',
          Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
        },
        {
          Sid: 'LockedIsLocked',
          Effect: 'Deny',
          Principal: '*',
          Action: ['s3:DeleteObject', 's3:PutObject'],
          Resource: 'arn:aws:s3:::alice-data/locked/*',
        },
      ],
    };
    await alice.send(
      new PutBucketPolicyCommand({ Bucket: 'alice-data', Policy: JSON.stringify(policy) }),
    );
    const stored = await alice.send(new GetBucketPolicyCommand({ Bucket: 'alice-data' }));
    assert.deepEqual(JSON.parse(stored.Policy ?? ''), policy);

    const got = await bob.send(new GetObjectCommand({ Bucket: 'alice-data', Key: 'public/a.txt' }));
    assert.equal(await got.Body?.transformToString(), 'public/a.txt');
    await rejectsWith(
      bob.send(new GetObjectCommand({ Bucket: 'alice-data', Key: 'private/b.txt' })),
      'AccessDenied',
      'outside the prefix',
    );
    const listed = await bob.send(
      new ListObjectsV2Command({ Bucket: 'alice-data', Prefix: 'public/' }),
    );
    assert.deepEqual(
      listed.Contents?.map((o) => o.Key),
      ['public/a.txt'],
    );
    await rejectsWith(
      bob.send(new ListObjectsV2Command({ Bucket: 'alice-data' })),
      'AccessDenied',
      'list without the prefix',
    );
    await rejectsWith(
      bob.send(new PutObjectCommand({ Bucket: 'alice-data', Key: 'public/n', Body: 'n' })),
      'AccessDenied',
      'IpAddress does not hold from 127.0.0.1',
    );
    await rejectsWith(
      alice.send(new DeleteObjectCommand({ Bucket: 'alice-data', Key: 'locked/c.txt' })),
      'AccessDenied',
      'Deny binds the owner',
    );
    await rejectsWith(
      alice.send(new PutObjectCommand({ Bucket: 'alice-data', Key: 'locked/d', Body: 'd' })),
      'AccessDenied',
      'Deny binds the owner',
    );
    await alice.send(new PutObjectCommand({ Bucket: 'alice-data', Key: 'private/e', Body: 'e' }));

    await alice.send(new DeleteBucketPolicyCommand({ Bucket: 'alice-data' }));
    await rejectsWith(
      alice.send(new GetBucketPolicyCommand({ Bucket: 'alice-data' })),
      'NoSuchBucketPolicy',
      'deleted',
    );
    await rejectsWith(
      bob.send(new GetObjectCommand({ Bucket: 'alice-data', Key: 'public/a.txt' })),
      'AccessDenied',
      'grant gone',
    );
    await alice.send(new DeleteObjectCommand({ Bucket: 'alice-data', Key: 'locked/c.txt' }));
  });

  test('malformed policies are refused with MalformedPolicy and change nothing', async () => {
    const statement = {
      Effect: 'Allow',
      Principal: '*',
      Action: 's3:GetObject',
      Resource: 'arn:aws:s3:::alice-data/*',
    };
    const bad = [
      '{not json',
      JSON.stringify({ Version: '2012-10-17', Statement: [] }),
      JSON.stringify({ Version: '2012-10-17', Statement: [{ ...statement, Effect: 'Maybe' }] }),
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ ...statement, Action: 's3:GetObjects' }],
      }),
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ ...statement, Resource: 'arn:aws:s3:::bob-data/*' }],
      }),
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ ...statement, Principal: { AWS: 'mallory' } }],
      }),
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ ...statement, Condition: { StringLikeish: { 's3:prefix': 'x' } } }],
      }),
    ];
    for (const text of bad) {
      await rejectsWith(
        alice.send(new PutBucketPolicyCommand({ Bucket: 'alice-data', Policy: text })),
        'MalformedPolicy',
        text,
      );
    }
    await rejectsWith(
      alice.send(new GetBucketPolicyCommand({ Bucket: 'alice-data' })),
      'NoSuchBucketPolicy',
      'nothing stored',
    );
  });

  test('a public-read object is readable anonymously and nothing else is', async () => {
    await alice.send(
      new PutObjectCommand({
        Bucket: 'alice-data',
        Key: 'public/open.txt',
        Body: 'open',
        ACL: 'public-read',
      }),
    );
    const open = await anonymous('/alice-data/public/open.txt');
    assert.equal(open.status, 200);
    assert.equal(await open.text(), 'open');
    for (const [path, init, what] of [
      ['/alice-data/private/b.txt', {}, 'a private object'],
      ['/alice-data?list-type=2', {}, 'listing'],
      ['/alice-data/public/new', { method: 'PUT', body: 'x' }, 'a write'],
      ['/alice-data/public/open.txt', { method: 'DELETE' }, 'deleting the public object'],
      ['/alice-data?acl', {}, 'reading the ACL'],
      ['/', {}, 'listing buckets'],
    ] as Array<[string, RequestInit, string]>) {
      const response = await anonymous(path, init);
      assert.equal(response.status, 403, what);
      assert.match(await response.text(), /<Code>AccessDenied<\/Code>/, what);
    }
    const acl = await alice.send(
      new GetObjectAclCommand({ Bucket: 'alice-data', Key: 'public/open.txt' }),
    );
    const grants = (acl.Grants ?? []).map(
      (g) => `${g.Grantee?.URI ?? g.Grantee?.ID}:${g.Permission}`,
    );
    assert.deepEqual(grants, [
      'alice:FULL_CONTROL',
      'http://acs.amazonaws.com/groups/global/AllUsers:READ',
    ]);

    await alice.send(
      new PutObjectAclCommand({ Bucket: 'alice-data', Key: 'public/open.txt', ACL: 'private' }),
    );
    assert.equal((await anonymous('/alice-data/public/open.txt')).status, 403, 'private again');
  });

  test('a public-read bucket can be listed anonymously, but its objects stay private', async () => {
    await alice.send(new PutBucketAclCommand({ Bucket: 'alice-data', ACL: 'public-read' }));
    const acl = await alice.send(new GetBucketAclCommand({ Bucket: 'alice-data' }));
    assert.ok(
      acl.Grants?.some((g) => g.Permission === 'READ' && g.Grantee?.URI?.endsWith('/AllUsers')),
    );
    const listing = await anonymous('/alice-data?list-type=2');
    assert.equal(listing.status, 200);
    assert.match(await listing.text(), /<Key>private\/b.txt<\/Key>/);
    assert.equal((await anonymous('/alice-data/private/b.txt')).status, 403);
    await alice.send(new PutBucketAclCommand({ Bucket: 'alice-data', ACL: 'private' }));
    assert.equal((await anonymous('/alice-data?list-type=2')).status, 403);
  });

  test('a policy with Principal "*" opens reads to anonymous callers', async () => {
    await bob.send(
      new PutObjectCommand({ Bucket: 'bob-data', Key: 'site/index.html', Body: '<h1>hi</h1>' }),
    );
    await bob.send(
      new PutBucketPolicyCommand({
        Bucket: 'bob-data',
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: '*',
              Action: 's3:GetObject',
              Resource: 'arn:aws:s3:::bob-data/site/*',
            },
          ],
        }),
      }),
    );
    const page = await anonymous('/bob-data/site/index.html');
    assert.equal(page.status, 200);
    assert.equal(await page.text(), '<h1>hi</h1>');
    assert.equal((await anonymous('/bob-data/site/index.html', { method: 'DELETE' })).status, 403);
  });

  test('bucket tagging: put, get, replace, delete', async () => {
    await rejectsWith(
      alice.send(new GetBucketTaggingCommand({ Bucket: 'alice-data' })),
      'NoSuchTagSet',
      'none yet',
    );
    const TagSet = [
      { Key: 'team', Value: 'storage' },
      { Key: 'cost-center', Value: '42' },
    ];
    await alice.send(new PutBucketTaggingCommand({ Bucket: 'alice-data', Tagging: { TagSet } }));
    const got = await alice.send(new GetBucketTaggingCommand({ Bucket: 'alice-data' }));
    assert.deepEqual(got.TagSet, TagSet);
    await rejectsWith(
      bob.send(new GetBucketTaggingCommand({ Bucket: 'alice-data' })),
      'AccessDenied',
      'not the owner',
    );
    await rejectsWith(
      alice.send(
        new PutBucketTaggingCommand({
          Bucket: 'alice-data',
          Tagging: { TagSet: [{ Key: '', Value: 'x' }] },
        }),
      ),
      'InvalidTag',
      'empty key',
    );
    await alice.send(new DeleteBucketTaggingCommand({ Bucket: 'alice-data' }));
    await rejectsWith(
      alice.send(new GetBucketTaggingCommand({ Bucket: 'alice-data' })),
      'NoSuchTagSet',
      'deleted',
    );
  });
});
