// A client given every metadata address sends its calls to the leader once a follower has
// forwarded one and named the leader in the answer (LEADER_HINT_FIELD): each forwarded call costs
// two extra hops and the follower's CPU, about a third of a create's latency at one client. Three
// real metadata processes; the follower's own RPC counters show which calls reached it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { LEADER_HINT_FIELD, ROOT_INO } from '../../src/metadata/types.ts';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';

const caller = { uid: 0, gid: 0 };

async function callsServed(metricsUrl: string, method: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  const pattern = /^strata_rpc_requests_total\{([^}]*)\} (\S+)$/gm;
  for (const [, labels, value] of text.matchAll(pattern))
    if (labels.includes(`method="${method}"`)) total += Number(value);
  return total;
}

describe('metadata calls through a follower', () => {
  let cluster: MetadataCluster;
  let leaderAddr: string;
  let followerAddr: string;
  let followerMetrics: string;

  before(async () => {
    cluster = await MetadataCluster.start(3);
    const leader = await cluster.leader();
    leaderAddr = cluster.nodes.get(leader.id)?.addr ?? '';
    const [, follower] = [...cluster.nodes.entries()].find(([id]) => id !== leader.id) ?? [];
    assert.ok(follower);
    followerAddr = follower.addr;
    followerMetrics = follower.process.metricsUrl;
  });
  after(async () => {
    await cluster?.stop();
  });

  test('after one forwarded call, commands and reads go to the leader itself', async () => {
    const client = new MetadataClient([followerAddr, leaderAddr]);
    try {
      const applyBefore = await callsServed(followerMetrics, 'meta.apply');
      const bucket = await client.apply({
        op: 'createBucket',
        nowMs: 0,
        name: 'hinted',
        owner: 'o',
        caller,
      });
      assert.equal(LEADER_HINT_FIELD in bucket, false, 'the hint is not part of the result');
      const parent = bucket.inode?.ino as number;
      for (let i = 0; i < 10; i++)
        await client.apply({ op: 'mkdir', nowMs: 0, parent, name: `d${i}`, mode: 0o755, caller });
      assert.equal(
        (await callsServed(followerMetrics, 'meta.apply')) - applyBefore,
        1,
        'only the first command reached the follower',
      );
      const readBefore = await callsServed(followerMetrics, 'meta.read');
      const found = await client.read('lookup', ROOT_INO, 'hinted');
      assert.equal(found?.ino, parent);
      assert.equal((await callsServed(followerMetrics, 'meta.read')) - readBefore, 0);
    } finally {
      await client.close();
    }
  });

  test('a client given only the follower keeps using it (the leader is not among its addresses)', async () => {
    const client = new MetadataClient([followerAddr]);
    try {
      const before = await callsServed(followerMetrics, 'meta.read');
      for (let i = 0; i < 3; i++) assert.ok(await client.read('lookup', ROOT_INO, 'hinted'));
      assert.equal((await callsServed(followerMetrics, 'meta.read')) - before, 3);
    } finally {
      await client.close();
    }
  });
});
