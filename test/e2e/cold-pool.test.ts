// The cold pool: a combined node (six disks, no pool) and two data servers labelled
// `data.pool = "cold"` (six disks each). A GLACIER object's shards all land on the cold servers,
// as the GLACIER policy recorded in the cluster says (8+3 on the pool); a STANDARD object's
// stripes are 4+2 on whatever servers placement picks, the unlabelled node included.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { StrataClient } from '../../src/client/strata-client.ts';
import { patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';
import { allStripes } from '../helpers/stripes.ts';
import { until } from '../helpers/wait.ts';

let node: StrataProcess;
const cold: StrataProcess[] = [];
let s3: S3Client;
let client: StrataClient;

before(async () => {
  node = await startStrata();
  for (const id of [2, 3])
    cold.push(
      await startStrata({
        args: ['--role', 'data', '--node-id', String(id), '--metadata-addr', node.metadataAddr],
        env: { STRATA_DATA_POOL: 'cold' },
        ready: [],
      }),
    );
  s3 = s3Client(node);
  client = new StrataClient({ metadataAddrs: [node.metadataAddr] });
});
after(async () => {
  s3?.destroy();
  await client?.close();
  for (const server of cold) await server.stop();
  await node?.stop();
});

test('GLACIER stripes go on the cold pool only; STANDARD ones anywhere', async () => {
  const servers = await until(
    'three data servers registered and up',
    async () => {
      const list = await client.metadata.read('dataServers');
      return list.length === 3 && list.every((s) => s.state === 'up') ? list : undefined;
    },
    { limitMs: 30_000 },
  );
  const coldIds = new Set(servers.filter((s) => s.domain.pool === 'cold').map((s) => s.serverId));
  assert.equal(coldIds.size, 2, 'the two data servers registered in the cold pool');
  await client.createBucket('pool', 'root');
  await s3.send(
    new PutObjectCommand({
      Bucket: 'pool',
      Key: 'archived',
      Body: patternBytes(3_000_000, 3),
      StorageClass: 'GLACIER',
    }),
  );
  await s3.send(
    new PutObjectCommand({ Bucket: 'pool', Key: 'hot', Body: patternBytes(3_000_000, 4) }),
  );
  const stripeIds = async (key: string) => {
    const inode = await client.headObject('pool', key);
    const extents = await client.metadata.read('extents', inode.ino, 0, inode.size);
    return new Set(extents.map((e) => e.stripe?.id));
  };
  const archived = await stripeIds('archived');
  const hot = await stripeIds('hot');
  const stripes = await allStripes(client.metadata);
  const archivedStripes = stripes.filter((s) => archived.has(s.id));
  assert.ok(archivedStripes.length > 0, 'the GLACIER object has stripes');
  for (const stripe of archivedStripes) {
    assert.deepEqual([stripe.k, stripe.m, stripe.pool], [8, 3, 'cold']);
    for (const shard of stripe.shards)
      assert.ok(coldIds.has(shard.serverId), `shard of ${stripe.id} on ${shard.serverId}`);
  }
  const hotStripes = stripes.filter((s) => hot.has(s.id));
  assert.ok(hotStripes.length > 0);
  for (const stripe of hotStripes) {
    assert.deepEqual([stripe.k, stripe.m, stripe.pool], [4, 2, undefined]);
  }
});
