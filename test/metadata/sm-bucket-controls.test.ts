// Bucket controls in the state machine: the Block Public Access record and Object Ownership are
// checked for shape, and under BucketOwnerEnforced no ACL can be stored on the bucket or its
// objects, whatever path the command came by (the gateway answers AWS's error codes first).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { closeAll, codeOf, extent, ok, openMachineWithServers, ROOT, run } from './sm-helpers.ts';

after(closeAll);

function bucketWithObject(): MetadataStateMachine {
  const machine = openMachineWithServers([]); // with bucket 'b', owned by 'o'
  ok(machine, {
    op: 'putObject',
    bucket: 'b',
    key: 'k',
    size: 4,
    extents: [extent(0, 4)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });
  return machine;
}

const attr = (attr: string, value: unknown) =>
  ({ op: 'setBucketAttr', name: 'b', attr, value }) as never;

const BLOCK = {
  blockPublicAcls: true,
  ignorePublicAcls: false,
  blockPublicPolicy: true,
  restrictPublicBuckets: false,
};

describe('Block Public Access record', () => {
  test('stored with exactly its four booleans, removed by null', () => {
    const machine = bucketWithObject();
    const result = run(machine, attr('publicAccessBlock', BLOCK));
    assert.ok(result.ok);
    assert.deepEqual(machine.reader.getBucket('b')?.publicAccessBlock, BLOCK);
    assert.equal(codeOf(machine, attr('publicAccessBlock', { ...BLOCK, extra: true })), 'EINVAL');
    assert.equal(
      codeOf(machine, attr('publicAccessBlock', { ...BLOCK, blockPublicAcls: 'yes' })),
      'EINVAL',
    );
    const { restrictPublicBuckets: _, ...three } = BLOCK;
    assert.equal(codeOf(machine, attr('publicAccessBlock', three)), 'EINVAL');
    assert.deepEqual(
      machine.reader.getBucket('b')?.publicAccessBlock,
      BLOCK,
      'unchanged by refusals',
    );
    ok(machine, attr('publicAccessBlock', null));
    assert.equal(machine.reader.getBucket('b')?.publicAccessBlock, undefined);
  });
});

describe('Object Ownership', () => {
  test('only the known settings are stored', () => {
    const machine = bucketWithObject();
    assert.equal(codeOf(machine, attr('ownership', 'ObjectWriter')), 'EINVAL');
    ok(machine, attr('ownership', 'BucketOwnerPreferred'));
    assert.equal(machine.reader.getBucket('b')?.ownership, 'BucketOwnerPreferred');
  });

  test('BucketOwnerEnforced: no ACL on the bucket or its objects, and not while one is set', () => {
    const machine = bucketWithObject();
    ok(machine, attr('acl', 'public-read'));
    assert.equal(codeOf(machine, attr('ownership', 'BucketOwnerEnforced')), 'EINVAL');
    ok(machine, attr('acl', null));
    ok(machine, attr('ownership', 'BucketOwnerEnforced'));
    assert.equal(codeOf(machine, attr('acl', 'public-read')), 'EINVAL');
    const objectAcl = (acl: string | null) =>
      ({ op: 'setObjectAcl', bucket: 'b', key: 'k', acl }) as never;
    assert.equal(codeOf(machine, objectAcl('public-read')), 'EINVAL');
    ok(machine, objectAcl(null));
    ok(machine, attr('ownership', null));
    ok(machine, objectAcl('public-read'));
  });
});
