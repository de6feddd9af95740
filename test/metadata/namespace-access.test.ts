// What a user may do through a mount or `strata fs` (src/metadata/namespace-access.ts), decided
// on a real state machine: ownership and bucket ACL grants (as the gateway reads them, with
// IgnorePublicAcls), owner-only bucket settings, no cluster commands, a
// bucket made is the user's, files by all their names, and the root listed a page at a time.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import {
  type Actor,
  authorizeCommand,
  authorizeRead,
  filterRead,
} from '../../src/metadata/namespace-access.ts';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { type Command, type DirEntry, ROOT_INO } from '../../src/metadata/types.ts';
import { closeAll, ok, openMachine, ROOT } from './sm-helpers.ts';

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
});
