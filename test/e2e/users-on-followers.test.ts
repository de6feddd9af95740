// A user's connection to a follower (docs/guides/security.md, "Mounts and the CLI as users"): the
// follower has the leader verify the login proof, and forwards each namespace call with the
// user's name, so the leader decides it for that user. Three real metadata processes; the client
// talks to a follower only.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { ROOT_INO } from '../../src/metadata/types.ts';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';

const CAROL = { accessKeyId: 'CAROLKEY00000001', secretKey: 'carol-secret-0001' };
const caller = { uid: 0, gid: 0 };

describe("a user's calls through a follower", () => {
  let cluster: MetadataCluster;
  let operator: MetadataClient;
  let follower: string;

  before(async () => {
    cluster = await MetadataCluster.start(3);
    const leader = await cluster.leader();
    follower = [...cluster.nodes.entries()].find(([id]) => id !== leader.id)?.[1].addr ?? '';
    // The test process holds the cluster token as an administrator.
    operator = new MetadataClient(cluster.addrs);
    const command = { op: 'createUser' as const, nowMs: 0, name: 'carol', admin: false, ...CAROL };
    await operator.applyUserCommand(command);
    await operator.apply({ op: 'createBucket', nowMs: 0, name: 'ops', owner: 'ops', caller });
    await operator.apply({ op: 'createBucket', nowMs: 0, name: 'carols', owner: 'carol', caller });
  });
  after(async () => {
    await operator?.close();
    await cluster?.stop();
  });

  test('carol logs in at a follower and sees, reads and changes only her bucket', async () => {
    const carol = new MetadataClient([follower], { user: CAROL });
    try {
      const buckets = await carol.read('listBuckets');
      assert.deepEqual(
        buckets.map((b) => b.name),
        ['carols'],
      );
      const mine = await carol.read('lookup', ROOT_INO, 'carols');
      assert.ok(mine, 'her bucket is found');
      await carol.apply({
        op: 'mkdir',
        nowMs: 0,
        parent: mine.ino,
        name: 'd',
        mode: 0o755,
        caller,
      });
      const ops = await operator.read('lookup', ROOT_INO, 'ops');
      assert.ok(ops);
      const refused = carol.apply({
        op: 'mkdir',
        nowMs: 0,
        parent: ops.ino,
        name: 'd',
        mode: 0o755,
        caller,
      });
      await assert.rejects(refused, (error) => {
        assert.ok(isStrataError(error, 'EACCES'), String(error));
        assert.match(error.message, /user carol may not change inode/);
        return true;
      });
      assert.equal(await operator.read('lookup', ops.ino, 'd'), undefined, 'nothing was made');
      // A bucket she makes through the follower is hers, whatever owner the call names.
      await carol.apply({ op: 'createBucket', nowMs: 0, name: 'carol2', owner: 'ops', caller });
      assert.equal((await operator.read('getBucket', 'carol2'))?.owner, 'carol');
    } finally {
      await carol.close();
    }
  });

  test('a wrong secret is refused at the follower', async () => {
    const wrong = new MetadataClient([follower], {
      user: { ...CAROL, secretKey: 'not-carols-secret' },
      timeoutMs: 5_000,
    });
    try {
      await assert.rejects(wrong.read('listBuckets'), (error) => {
        assert.ok(isStrataError(error, 'RPC_UNAUTHENTICATED'), String(error));
        assert.match(error.message, new RegExp(`access key ${CAROL.accessKeyId}`));
        return true;
      });
    } finally {
      await wrong.close();
    }
  });
});
