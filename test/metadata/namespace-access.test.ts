// What a user may do through a mount or `strata fs` (src/metadata/namespace-access.ts), decided
// on a real state machine: ownership and bucket ACL grants (as the gateway reads them, with
// IgnorePublicAcls), owner-only bucket settings, no cluster commands, a
// bucket made is the user's, files by all their names, and the root listed a page at a time.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { storedPolicyEvaluator } from '../../src/auth/policy/stored.ts';
import { isStrataError } from '../../src/common/errors.ts';
import type { Actor } from '../../src/metadata/namespace-access.ts';
import * as access from '../../src/metadata/namespace-access.ts';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import {
  type Command,
  type DirEntry,
  type MetadataReader,
  ROOT_INO,
} from '../../src/metadata/types.ts';
import { closeAll, ok, openMachine, ROOT } from './sm-helpers.ts';

// The evaluator the composition root hands the metadata service (src/cluster/node.ts).
const policies = storedPolicyEvaluator();
const authorizeCommand = (reader: MetadataReader, actor: Actor, c: Command) =>
  access.authorizeCommand(reader, actor, c, policies);
const authorizeRead = (
  reader: MetadataReader,
  actor: Actor,
  fn: keyof MetadataReader,
  args: unknown[],
) => access.authorizeRead(reader, actor, fn, args, policies);
const filterRead = (
  reader: MetadataReader,
  actor: Actor,
  fn: keyof MetadataReader,
  args: unknown[],
  value: unknown,
) => access.filterRead(reader, actor, fn, args, value, policies);

const alice: Actor = { user: 'alice', admin: false };
const boss: Actor = { user: 'boss', admin: true };

after(closeAll);

function bucketWith(machine: MetadataStateMachine, name: string, owner: string): number {
  ok(machine, { op: 'createBucket', name, owner, caller: ROOT });
  const bucket = machine.reader.getBucket(name);
  assert.ok(bucket);
  return bucket.ino;
}

const mkdir = (parent: number, name: string): Command => ({
  op: 'mkdir',
  nowMs: 1,
  parent,
  name,
  mode: 0o755,
  caller: ROOT,
});

function refused(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (error) => {
    assert.ok(isStrataError(error, 'EACCES'), String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

function setAcl(machine: MetadataStateMachine, name: string, value: string | null) {
  ok(machine, { op: 'setBucketAttr', name, attr: 'acl', value });
}

describe('namespace access of a user', () => {
  test('her own bucket: everything; another: nothing; an administrator: everything', () => {
    const machine = openMachine();
    const mine = bucketWith(machine, 'mine', 'alice');
    const theirs = bucketWith(machine, 'theirs', 'bob');
    const reader = machine.reader;
    authorizeCommand(reader, alice, mkdir(mine, 'd'));
    authorizeRead(reader, alice, 'readdir', [mine, undefined, 100]);
    refused(() => authorizeCommand(reader, alice, mkdir(theirs, 'd')), /may not change inode/);
    refused(() => authorizeRead(reader, alice, 'readdir', [theirs, undefined, 9]), /may not read/);
    refused(() => authorizeRead(reader, alice, 'lookup', [ROOT_INO, 'theirs']), /bucket theirs/);
    refused(
      () => authorizeCommand(reader, alice, { op: 'deleteBucket', nowMs: 1, name: 'theirs' }),
      /may not manage bucket theirs/,
    );
    authorizeCommand(reader, boss, mkdir(theirs, 'd'));
    authorizeRead(reader, boss, 'scanStripes', [undefined, 10]);
  });

  test('ACL grants: READ reads, WRITE writes, neither manages; groups count unless ignored', () => {
    const machine = openMachine();
    const theirs = bucketWith(machine, 'theirs', 'bob');
    const reader = machine.reader;
    const read = () => authorizeRead(reader, alice, 'readdir', [theirs, undefined, 10]);
    const write = () => authorizeCommand(reader, alice, mkdir(theirs, 'd'));
    setAcl(machine, 'theirs', JSON.stringify([{ grantee: { user: 'alice' }, permission: 'READ' }]));
    read();
    refused(write, /may not change/);
    setAcl(
      machine,
      'theirs',
      JSON.stringify([{ grantee: { user: 'alice' }, permission: 'WRITE' }]),
    );
    write();
    refused(read, /may not read/);
    refused(
      () =>
        authorizeCommand(reader, alice, {
          op: 'setBucketAttr',
          nowMs: 1,
          name: 'theirs',
          attr: 'acl',
          value: null,
        }),
      /may not manage/,
    );
    setAcl(machine, 'theirs', 'authenticated-read');
    read();
    ok(machine, {
      op: 'setBucketAttr',
      name: 'theirs',
      attr: 'publicAccessBlock',
      value: {
        blockPublicAcls: false,
        ignorePublicAcls: true,
        blockPublicPolicy: false,
        restrictPublicBuckets: false,
      },
    });
    refused(read, /may not read/);
    setAcl(
      machine,
      'theirs',
      JSON.stringify([{ grantee: { user: 'alice' }, permission: 'FULL_CONTROL' }]),
    );
    read();
    write();
  });

  test("a bucket a user makes is hers; the cluster's commands are not a user's", () => {
    const machine = openMachine();
    const command: Command = { op: 'createBucket', nowMs: 1, name: 'n', owner: '0', caller: ROOT };
    const made = authorizeCommand(machine.reader, alice, command);
    assert.equal((made as { owner: string }).owner, 'alice');
    refused(
      () => authorizeCommand(machine.reader, alice, { op: 'gcDone', nowMs: 1, stripeIds: [] }),
      /may not apply gcDone/,
    );
    refused(
      () => authorizeRead(machine.reader, alice, 'scanStripes', [undefined, 1]),
      /scanStripes/,
    );
  });

  test("a user's mount reads a KMS key (to read SSE-KMS files), never lists or changes keys", () => {
    const machine = openMachine();
    authorizeRead(machine.reader, alice, 'kmsKey', ['alias/aws/s3']);
    refused(() => authorizeRead(machine.reader, alice, 'listKmsKeys', []), /listKmsKeys/);
    authorizeRead(machine.reader, boss, 'listKmsKeys', []);
    const create: Command = {
      op: 'createKmsKey',
      nowMs: 1,
      id: '11111111-1111-4111-8111-111111111111',
      description: '',
      masterKeyId: '0123456789abcdef',
      wrappedMaterial: Buffer.alloc(40, 'w').toString('base64'),
    };
    refused(() => authorizeCommand(machine.reader, alice, create), /may not apply createKmsKey/);
  });

  test('a file linked into two buckets: read through either, changed only with both', () => {
    const machine = openMachine();
    const mine = bucketWith(machine, 'mine', 'alice');
    const theirs = bucketWith(machine, 'theirs', 'bob');
    const created = ok(machine, {
      op: 'create',
      parent: theirs,
      name: 'f',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    });
    const ino = (created as { inode?: { ino: number } }).inode?.ino;
    assert.ok(ino);
    ok(machine, { op: 'link', ino, parent: mine, name: 'f' });
    const reader = machine.reader;
    authorizeRead(reader, alice, 'getattr', [ino]);
    refused(
      () => authorizeCommand(reader, alice, { op: 'write', nowMs: 1, ino, extents: [] }),
      /may not change inode .*mine, theirs|theirs, mine/,
    );
    ok(machine, { op: 'unlink', parent: theirs, name: 'f' });
    authorizeCommand(reader, alice, { op: 'write', nowMs: 1, ino, extents: [] });
    // Once its last name is gone (kept open by a mount) it is in no bucket: an administrator's.
    ok(machine, { op: 'mountOpen', mountId: 'm', ttlMs: 10_000 });
    ok(machine, { op: 'unlink', parent: mine, name: 'f', keepForMount: 'm' });
    assert.ok(reader.getattr(ino), 'the orphan is kept');
    refused(() => authorizeRead(reader, alice, 'getattr', [ino]), /may not read inode/);
    authorizeRead(reader, boss, 'getattr', [ino]);
  });

  test("a user's mount session is hers: its calls, and the files it keeps open unlinked", () => {
    const machine = openMachine();
    const mine = bucketWith(machine, 'mine', 'alice');
    const reader = machine.reader;
    const open: Command = { op: 'mountOpen', nowMs: 1, mountId: 'am', ttlMs: 10_000 };
    const stamped = authorizeCommand(reader, alice, open);
    assert.deepEqual(stamped, { ...open, user: 'alice' }, "the leader records the mount's user");
    assert.equal(machine.apply(stamped).ok, true);
    ok(machine, { op: 'mountOpen', mountId: 'ops', ttlMs: 10_000 });
    const created = ok(machine, {
      op: 'create',
      parent: mine,
      name: 'f',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    });
    const ino = (created as { inode?: { ino: number } }).inode?.ino;
    assert.ok(ino);
    const unlink: Command = { op: 'unlink', nowMs: 1, parent: mine, name: 'f', keepForMount: 'am' };
    refused(
      () => authorizeCommand(reader, alice, { ...unlink, keepForMount: 'ops' }),
      /mount session ops is not user alice's/,
    );
    assert.equal(machine.apply(authorizeCommand(reader, alice, unlink)).ok, true);
    authorizeCommand(reader, alice, { op: 'write', nowMs: 1, ino, extents: [] });
    authorizeRead(reader, alice, 'extents', [ino, 0, 10]);
    refused(
      () => authorizeCommand(reader, alice, { op: 'mountClose', nowMs: 1, mountId: 'ops' }),
      /not user alice's/,
    );
    authorizeCommand(reader, alice, { op: 'mountHeartbeat', nowMs: 1, mountId: 'am' });
    // Nobody else takes over a live session by its id.
    const takeover = machine.apply({ op: 'mountOpen', nowMs: 2, mountId: 'am', ttlMs: 10_000 });
    assert.equal(takeover.ok ? 'ok' : takeover.code, 'EACCES');
  });

  test('the root lists only readable buckets, a full page unless it ends', () => {
    const machine = openMachine();
    for (let i = 0; i < 30; i++) bucketWith(machine, `b${String(i).padStart(2, '0')}`, 'bob');
    bucketWith(machine, 'z1', 'alice');
    bucketWith(machine, 'z2', 'alice');
    bucketWith(machine, 'z3', 'alice');
    const page = (after: string | undefined, limit: number) => {
      const args = [ROOT_INO, after, limit];
      authorizeRead(machine.reader, alice, 'readdir', args);
      const all = machine.reader.readdir(ROOT_INO, after, limit);
      return (filterRead(machine.reader, alice, 'readdir', args, all) as DirEntry[]).map(
        (e) => e.name,
      );
    };
    assert.deepEqual(page(undefined, 2), ['z1', 'z2']);
    assert.deepEqual(page('z2', 2), ['z3']);
    const listed = filterRead(
      machine.reader,
      alice,
      'listBuckets',
      [],
      machine.reader.listBuckets(),
    );
    assert.deepEqual(
      (listed as Array<{ name: string }>).map((b) => b.name),
      ['z1', 'z2', 'z3'],
    );
  });

  test("a user's change feed tells only names and inodes it could read; a long answer is a reset", () => {
    const machine = openMachine();
    const since = machine.appliedIndex();
    const own = bucketWith(machine, 'mine', 'alice');
    const other = bucketWith(machine, 'theirs', 'bob');
    const ownDir = ok(machine, mkdir(own, 'd')).inode!.ino;
    const otherDir = ok(machine, mkdir(other, 'secret')).inode!.ino;
    const seen = (value: unknown) => {
      const args = [since];
      authorizeRead(machine.reader, alice, 'namespaceChanges', args);
      return filterRead(machine.reader, alice, 'namespaceChanges', args, value);
    };
    const all = machine.reader.namespaceChanges(since);
    assert.ok(!('reset' in all));
    assert.ok(
      all.entries.some(([parent]) => parent === other),
      'the unfiltered answer has both',
    );
    const forAlice = seen(all) as typeof all;
    assert.deepEqual(forAlice.entries.map(([p, n]) => `${p}/${n}`).sort(), [
      `${ROOT_INO}/mine`,
      `${own}/d`,
    ]);
    assert.deepEqual(
      [...forAlice.inos].sort((a, b) => a - b),
      [own, ownDir].sort((a, b) => a - b),
    );
    assert.ok(!forAlice.inos.includes(otherDir) && !forAlice.inos.includes(other));
    // An operator sees everything.
    assert.deepEqual(filterRead(machine.reader, boss, 'namespaceChanges', [since], all), all);
    const long = {
      index: all.index,
      inos: Array.from({ length: 1001 }, (_, i) => i + 1),
      entries: [],
    };
    assert.deepEqual(seen(long), { index: all.index, reset: true });
  });
});

// A user's calls as the S3 requests AWS would require for the same effect (issue 14), and the
// bucket policy deciding them as the gateway does: a Deny holds even for the owner, an Allow
// opens what owner and ACL rules would not, an administrator passes whatever it says.
describe('namespace access under bucket policies', () => {
  const bob: Actor = { user: 'bob', admin: false };

  // Bucket b (bob's) with directory d, file d/f and file top.
  function tree() {
    const machine = openMachine();
    const bucket = bucketWith(machine, 'b', 'bob');
    const made = (command: Command) => {
      const result = machine.apply(command);
      assert.ok(result.ok, JSON.stringify(result));
      const ino = (result as { inode?: { ino: number } }).inode?.ino;
      assert.ok(ino);
      return ino;
    };
    const dir = made(mkdir(bucket, 'd'));
    const create = (parent: number, name: string): Command => ({
      op: 'create',
      nowMs: 1,
      parent,
      name,
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    });
    const file = made(create(dir, 'f'));
    const top = made(create(bucket, 'top'));
    return { machine, reader: machine.reader, bucket, dir, file, top, create };
  }

  // Each requirement as "action resource [prefix]", its alternatives joined by " | ".
  const said = (requirements: Array<{ anyOf: access.AccessCheck[] }> | undefined) =>
    (requirements ?? []).map(({ anyOf }) =>
      anyOf
        .map((c) => {
          const prefix = c.prefix === undefined ? '' : ` prefix=${JSON.stringify(c.prefix)}`;
          return `${c.action} ${access.resourceOf(c)}${prefix}`;
        })
        .join(' | '),
    );
  const ofRead = (reader: MetadataReader, fn: keyof MetadataReader, args: unknown[]) =>
    said(access.requirementsOfRead(reader, alice, fn, args));
  const ofCommand = (reader: MetadataReader, c: Command) =>
    said(access.requirementsOfCommand(reader, alice, c));

  function setPolicy(machine: MetadataStateMachine, statements: object[]) {
    const value = JSON.stringify({ Version: '2012-10-17', Statement: statements });
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'policy', value });
  }

  test('each read maps to the S3 action and resource AWS would require', () => {
    const { reader, bucket, dir, file } = tree();
    const list = (prefix: string) =>
      `s3:ListBucket arn:aws:s3:::b prefix=${JSON.stringify(prefix)}`;
    assert.deepEqual(ofRead(reader, 'readdir', [bucket, undefined, 10]), [list('')]);
    assert.deepEqual(ofRead(reader, 'readdir', [dir, undefined, 10]), [list('d/')]);
    assert.deepEqual(ofRead(reader, 'lookup', [dir, 'f']), [list('d/')]);
    assert.deepEqual(ofRead(reader, 'lookup', [ROOT_INO, 'b']), [list('')]);
    assert.deepEqual(ofRead(reader, 'getattr', [file]), ['s3:GetObject arn:aws:s3:::b/d/f']);
    assert.deepEqual(ofRead(reader, 'getattr', [dir]), [list('d/')]);
    assert.deepEqual(ofRead(reader, 'extents', [file, 0, 10]), ['s3:GetObject arn:aws:s3:::b/d/f']);
    assert.deepEqual(ofRead(reader, 'fileLock', [file]), ['s3:GetObject arn:aws:s3:::b/d/f']);
    assert.deepEqual(ofRead(reader, 'getattrMany', [[file, dir]]), [list('d/'), list('')]);
    assert.deepEqual(ofRead(reader, 'resolvePath', ['/b/d/f']), [
      's3:GetObject arn:aws:s3:::b/d/f',
    ]);
    assert.deepEqual(ofRead(reader, 'resolvePath', ['/b/d']), [list('d/')]);
    assert.deepEqual(ofRead(reader, 'resolvePath', ['/b/nope']), [list('nope')]);
    assert.deepEqual(ofRead(reader, 'listObjects', [{ bucket: 'b', prefix: 'x/', maxKeys: 9 }]), [
      list('x/'),
    ]);
    assert.deepEqual(ofRead(reader, 'objectVersion', ['b', 'd/f', '00000000000001']), [
      's3:GetObjectVersion arn:aws:s3:::b/d/f',
    ]);
    // A GET's one read needs what its two reads needed: the bucket's record and the object.
    assert.deepEqual(ofRead(reader, 'objectRead', ['b', 'd/f', null, 0]), [
      list(''),
      's3:GetObject arn:aws:s3:::b/d/f',
    ]);
    assert.deepEqual(ofRead(reader, 'clusterConfig', []), []);
    assert.equal(access.requirementsOfRead(reader, alice, 'scanStripes', []), undefined);
  });

  test('each command maps to the S3 actions and resources AWS would require', () => {
    const { reader, bucket, dir, file, create } = tree();
    assert.deepEqual(ofCommand(reader, create(dir, 'g')), ['s3:PutObject arn:aws:s3:::b/d/g']);
    assert.deepEqual(ofCommand(reader, mkdir(dir, 'e')), ['s3:PutObject arn:aws:s3:::b/d/e/']);
    assert.deepEqual(ofCommand(reader, { op: 'unlink', nowMs: 1, parent: dir, name: 'f' }), [
      's3:DeleteObject arn:aws:s3:::b/d/f',
    ]);
    assert.deepEqual(ofCommand(reader, { op: 'rmdir', nowMs: 1, parent: bucket, name: 'd' }), [
      's3:DeleteObject arn:aws:s3:::b/d/',
    ]);
    assert.deepEqual(ofCommand(reader, { op: 'rmdir', nowMs: 1, parent: ROOT_INO, name: 'b' }), [
      's3:DeleteBucket arn:aws:s3:::b',
    ]);
    const rename: Command = {
      op: 'rename',
      nowMs: 1,
      srcParent: dir,
      srcName: 'f',
      dstParent: bucket,
      dstName: 'g',
    };
    assert.deepEqual(ofCommand(reader, rename), [
      's3:GetObject arn:aws:s3:::b/d/f',
      's3:DeleteObject arn:aws:s3:::b/d/f',
      's3:PutObject arn:aws:s3:::b/g',
    ]);
    const renameDir: Command = { ...rename, srcParent: bucket, srcName: 'd', dstName: 'd2' };
    assert.deepEqual(ofCommand(reader, renameDir), [
      's3:GetObject arn:aws:s3:::b/d/',
      's3:DeleteObject arn:aws:s3:::b/d/',
      's3:PutObject arn:aws:s3:::b/d2/',
    ]);
    for (const c of [
      { op: 'write', nowMs: 1, ino: file, extents: [] },
      { op: 'setattr', nowMs: 1, ino: file, changes: { mode: 0o600 } },
    ] as Command[])
      assert.deepEqual(ofCommand(reader, c), ['s3:PutObject arn:aws:s3:::b/d/f']);
    assert.deepEqual(
      ofCommand(reader, { op: 'link', nowMs: 1, ino: file, parent: bucket, name: 'h' }),
      ['s3:GetObject arn:aws:s3:::b/d/f', 's3:PutObject arn:aws:s3:::b/h'],
    );
    assert.deepEqual(
      ofCommand(reader, { op: 'deleteObject', nowMs: 1, bucket: 'b', key: 'k', versionId: 'v' }),
      ['s3:DeleteObjectVersion arn:aws:s3:::b/k'],
    );
    const copy = {
      op: 'copyObject',
      nowMs: 1,
      srcBucket: 'b',
      srcKey: 'd/f',
      bucket: 'b',
      key: 'c',
    };
    assert.deepEqual(ofCommand(reader, copy as Command), [
      's3:GetObject arn:aws:s3:::b/d/f',
      's3:PutObject arn:aws:s3:::b/c',
    ]);
    assert.deepEqual(
      ofCommand(reader, { op: 'setBucketAttr', nowMs: 1, name: 'b', attr: 'tags', value: {} }),
      ['s3:PutBucketTagging arn:aws:s3:::b'],
    );
  });

  test("a Deny holds for the bucket's owner; listing still works; an administrator passes", () => {
    const { machine, reader, bucket, dir, file, top, create } = tree();
    setPolicy(machine, [
      {
        Effect: 'Deny',
        Principal: { AWS: ['bob'] },
        Action: 's3:GetObject',
        Resource: 'arn:aws:s3:::b/d/*',
      },
      { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::b/ro/*' },
    ]);
    const read = (fn: keyof MetadataReader, args: unknown[], actor = bob) =>
      access.authorizeRead(reader, actor, fn, args, policies);
    for (const [fn, args] of [
      ['getattr', [file]],
      ['extents', [file, 0, 1]],
      ['resolvePath', ['/b/d/f']],
    ] as const)
      refused(
        () => read(fn, [...args]),
        /bob may not read .*policy denies s3:GetObject on arn:aws:s3:::b\/d\/f/,
      );
    read('readdir', [dir, undefined, 10]);
    read('lookup', [dir, 'f']);
    read('getattrMany', [[file]]);
    read('getattr', [top]);
    read('getattr', [file], boss);
    // Writes elsewhere pass; under ro/ a Deny of s3:PutObject refuses creating.
    const ro = (machine.apply(mkdir(bucket, 'ro')) as { inode?: { ino: number } }).inode?.ino;
    assert.ok(ro);
    access.authorizeCommand(reader, bob, create(bucket, 'new'), policies);
    refused(
      () => access.authorizeCommand(reader, bob, create(ro, 'x'), policies),
      /bob may not change .*policy denies s3:PutObject on arn:aws:s3:::b\/ro\/x/,
    );
    refused(() => access.authorizeCommand(reader, bob, mkdir(ro, 'x'), policies), /ro\/x\//);
    access.authorizeCommand(reader, boss, create(ro, 'x'), policies);
    // Without the policy, bob reads it again.
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'policy', value: null });
    read('getattr', [file]);
  });

  test("an Allow opens another's bucket to what it names, no more; the root then lists it", () => {
    const { machine, reader, bucket, dir, file, create } = tree();
    const readFile = () => authorizeRead(reader, alice, 'extents', [file, 0, 1]);
    refused(readFile, /alice may not read .*nothing grants s3:GetObject/);
    setPolicy(machine, [
      {
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam:::user/alice' },
        Action: ['s3:GetObject', 's3:ListBucket'],
        Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
      },
    ]);
    readFile();
    authorizeRead(reader, alice, 'readdir', [dir, undefined, 10]);
    refused(() => authorizeCommand(reader, alice, create(dir, 'g')), /nothing grants s3:PutObject/);
    refused(
      () => authorizeCommand(reader, alice, { op: 'deleteBucket', nowMs: 1, name: 'b' }),
      /manage bucket b/,
    );
    const root = authorizeRootListing(reader, bucket);
    assert.deepEqual(root, ['b']);
  });

  function authorizeRootListing(reader: MetadataReader, _bucket: number): string[] {
    const args = [ROOT_INO, undefined, 10];
    authorizeRead(reader, alice, 'readdir', args);
    const all = reader.readdir(ROOT_INO, undefined, 10);
    return (filterRead(reader, alice, 'readdir', args, all) as DirEntry[]).map((e) => e.name);
  }

  // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a template
  test('conditions: s3:prefix on listings, ${aws:username} in resources', () => {
    const { machine, reader, bucket, dir, create } = tree();
    const home = (machine.apply(mkdir(bucket, 'home')) as { inode?: { ino: number } }).inode?.ino;
    assert.ok(home);
    const mine = (machine.apply(mkdir(home, 'alice')) as { inode?: { ino: number } }).inode?.ino;
    const theirs = (machine.apply(mkdir(home, 'carol')) as { inode?: { ino: number } }).inode?.ino;
    assert.ok(mine && theirs);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a template
    const own = 'home/${aws:username}/*';
    setPolicy(machine, [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:ListBucket',
        Resource: 'arn:aws:s3:::b',
        Condition: { StringLike: { 's3:prefix': ['', 'home/', own] } },
      },
      {
        Effect: 'Allow',
        Principal: '*',
        Action: ['s3:GetObject', 's3:PutObject'],
        Resource: `arn:aws:s3:::b/${own}`,
      },
    ]);
    authorizeRead(reader, alice, 'readdir', [bucket, undefined, 10]);
    authorizeRead(reader, alice, 'readdir', [home, undefined, 10]);
    authorizeRead(reader, alice, 'readdir', [mine, undefined, 10]);
    refused(
      () => authorizeRead(reader, alice, 'readdir', [theirs, undefined, 10]),
      /prefix|ListBucket/,
    );
    refused(() => authorizeRead(reader, alice, 'readdir', [dir, undefined, 10]), /ListBucket/);
    authorizeCommand(reader, alice, create(mine, 'notes'));
    refused(() => authorizeCommand(reader, alice, create(theirs, 'notes')), /s3:PutObject/);
  });

  test("a file's own ACL grants reading it (s3:GetObject), as through the gateway", () => {
    const { machine, reader, file } = tree();
    refused(() => authorizeRead(reader, alice, 'getattr', [file]), /nothing grants/);
    const acl = JSON.stringify([{ grantee: { user: 'alice' }, permission: 'READ' }]);
    ok(machine, { op: 'setObjectAcl', bucket: 'b', key: 'd/f', acl });
    authorizeRead(reader, alice, 'getattr', [file]);
    authorizeRead(reader, alice, 'extents', [file, 0, 1]);
    refused(
      () => authorizeCommand(reader, alice, { op: 'write', nowMs: 1, ino: file, extents: [] }),
      /change/,
    );
    // BucketOwnerEnforced drops every ACL, the object's too.
    ok(machine, {
      op: 'setBucketAttr',
      name: 'b',
      attr: 'ownership',
      value: 'BucketOwnerEnforced',
    });
    refused(() => authorizeRead(reader, alice, 'getattr', [file]), /nothing grants/);
  });

  test('a directory renamed in a bucket with a policy: every key below is checked', () => {
    const { machine, reader, bucket, dir, create } = tree();
    const renameDir: Command = {
      op: 'rename',
      nowMs: 1,
      srcParent: bucket,
      srcName: 'd',
      dstParent: bucket,
      dstName: 'd2',
    };
    setPolicy(machine, [
      { Effect: 'Allow', Principal: '*', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::b' },
    ]);
    assert.deepEqual(said(access.requirementsOfCommand(reader, bob, renameDir)), [
      's3:GetObject arn:aws:s3:::b/d/',
      's3:DeleteObject arn:aws:s3:::b/d/',
      's3:PutObject arn:aws:s3:::b/d2/',
      's3:GetObject arn:aws:s3:::b/d/f',
      's3:DeleteObject arn:aws:s3:::b/d/f',
      's3:PutObject arn:aws:s3:::b/d2/f',
    ]);
    access.authorizeCommand(reader, bob, renameDir, policies);
    // A Deny deeper than the directory still holds when the directory moves.
    setPolicy(machine, [
      { Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::b/d/f' },
    ]);
    refused(
      () => access.authorizeCommand(reader, bob, renameDir, policies),
      /policy denies s3:DeleteObject on arn:aws:s3:::b\/d\/f/,
    );
    // A tree larger than the walk is bounded to is an administrator's to move.
    for (let i = 0; i < access.RENAME_TREE_CHECKED_MAX; i++) ok(machine, create(dir, `n${i}`));
    refused(
      () => access.authorizeCommand(reader, bob, renameDir, policies),
      /more than 1000 entries in a bucket with a policy/,
    );
    access.authorizeCommand(reader, boss, renameDir, policies);
  });

  test('a name deeper than the walk is bounded to is refused, but to an administrator', () => {
    const machine = openMachine();
    let at = bucketWith(machine, 'deep', 'alice');
    for (let depth = 0; depth <= access.PATH_DEPTH_CHECKED_MAX; depth++) {
      const result = machine.apply(mkdir(at, 'x'));
      assert.ok(result.ok);
      at = (result as { inode?: { ino: number } }).inode?.ino as number;
    }
    refused(() => authorizeRead(machine.reader, alice, 'getattr', [at]), /deeper than 1024/);
    authorizeRead(machine.reader, boss, 'getattr', [at]);
  });

  // A lookup shows a file's attributes to whoever may list its directory, so the change feed must
  // tell such a user when they change, though it may not read the file: judged as a listing
  // shows the inode (s3:ListBucket), not as a getattr does (s3:GetObject).
  test("a user who may list a file but not read it hears of its attributes' change", () => {
    const { machine, reader, dir, file } = tree();
    const since = machine.appliedIndex();
    ok(machine, { op: 'setattr', ino: file, mode: 0o600 });
    const other = ok(machine, mkdir(dir, 'unlisted')).inode!.ino;
    ok(machine, { op: 'setattr', ino: other, mode: 0o700 });
    setPolicy(machine, [
      {
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam:::user/alice' },
        Action: 's3:ListBucket',
        Resource: 'arn:aws:s3:::b',
        Condition: { StringLike: { 's3:prefix': ['d/'] } },
      },
    ]);
    refused(() => authorizeRead(reader, alice, 'getattr', [file]), /nothing grants s3:GetObject/);
    authorizeRead(reader, alice, 'lookup', [dir, 'f']);
    const all = reader.namespaceChanges(since);
    assert.ok(!('reset' in all) && all.inos.includes(file) && all.inos.includes(other));
    const forAlice = filterRead(reader, alice, 'namespaceChanges', [since], all) as typeof all;
    // d/f and d/unlisted are both listed under d/; nothing else in the bucket is hers to list.
    assert.deepEqual(
      [...forAlice.inos].sort((a, b) => a - b),
      [file, other].sort((a, b) => a - b),
    );
    assert.deepEqual(
      forAlice.entries.map(([parent, name]) => `${parent}/${name}`),
      [`${dir}/unlisted`],
    );
    // Without the grant she hears of neither.
    setPolicy(machine, []);
    const none = filterRead(reader, alice, 'namespaceChanges', [since], all) as typeof all;
    assert.deepEqual([none.inos, none.entries], [[], []]);
  });
});
