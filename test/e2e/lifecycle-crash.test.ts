// Lifecycle across a leader crash: a 3-member metadata cluster (real processes, a lifecycle day of
// one second) and a data server; 60 keys with 4 versions each and a rule that keeps the newest
// noncurrent version. The leader is killed with SIGKILL while its runner works through them; the
// new leader's runner walks afresh. In the end every key holds exactly its current version and
// its newest noncurrent one: nothing the rule keeps was lost, nothing it expires was left.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const KEYS = 60;
const VERSIONS = 4;

let cluster: MetadataCluster;
let data: StrataProcess;
let client: StrataClient;
const previousDay = process.env.STRATA_LIFECYCLE_DEBUG_DAY_SECONDS;

before(async () => {
  // Inherited by every process the helpers start: the leader's runner uses it.
  process.env.STRATA_LIFECYCLE_DEBUG_DAY_SECONDS = '1';
  cluster = await MetadataCluster.start(3);
  const [first, ...rest] = cluster.addrs;
  data = await startStrata({
    args: [
      '--role',
      'data',
      '--node-id',
      '9',
      '--metadata-addr',
      first,
      '--raft-peers',
      rest.join(','),
    ],
    ready: [],
  });
  client = new StrataClient({ metadataAddrs: cluster.addrs });
});
after(async () => {
  await client?.close();
  await data?.stop();
  await cluster?.stop();
  if (previousDay === undefined) delete process.env.STRATA_LIFECYCLE_DEBUG_DAY_SECONDS;
  else process.env.STRATA_LIFECYCLE_DEBUG_DAY_SECONDS = previousDay;
});

async function versionsByKey(): Promise<Map<string, string[]>> {
  const byKey = new Map<string, string[]>();
  let keyMarker: string | undefined;
  for (;;) {
    const page = await client.listObjectVersions({
      bucket: 'crash',
      prefix: '',
      keyMarker,
      maxKeys: 1000,
    });
    for (const v of page.versions) byKey.set(v.key, [...(byKey.get(v.key) ?? []), v.versionId]);
    if (!page.isTruncated) return byKey;
    keyMarker = page.nextKeyMarker;
  }
}

test('a leader killed while its lifecycle runner works loses nothing the rules keep', async (t) => {
  await until(
    'data server registered',
    async () => ((await client.clusterStatus()).dataServers.length > 0 ? true : undefined),
    { limitMs: 30_000 },
  );
  await client.createBucket('crash', 'root');
  await client.setBucketAttr('crash', 'versioning', 'Enabled');
  const made = new Map<string, string[]>(); // newest first, as listed
  for (let k = 0; k < KEYS; k++) {
    const key = `k${String(k).padStart(3, '0')}`;
    for (let v = 0; v < VERSIONS; v++) {
      const body = Buffer.from(`${key} v${v}`);
      const { versionId } = await client.putObject('crash', key, body, {
        object: { userMeta: {} },
      });
      made.set(key, [versionId as string, ...(made.get(key) ?? [])]);
    }
  }
  await client.setBucketLifecycle('crash', {
    rules: [
      {
        id: 'keep-one',
        enabled: true,
        filter: {},
        noncurrentExpiration: { noncurrentDays: 1, newerNoncurrentVersions: 1 },
      },
    ],
  });
  // Once the runner has started removing versions (a day after they became noncurrent), the
  // leader dies mid-walk.
  await until(
    'the runner at work',
    async () => {
      const now = await versionsByKey();
      return [...now.values()].some((ids) => ids.length < VERSIONS) ? true : undefined;
    },
    { limitMs: 30_000, intervalMs: 50 },
  );
  const old = await cluster.leader();
  await cluster.nodes.get(old.id)?.process.kill();
  // How far the walk had got (a figure for the reader, not an assertion: it depends on timing).
  const atKill = [...(await versionsByKey()).values()].filter((ids) => ids.length > 2).length;
  t.diagnostic(`${atKill} of ${KEYS} keys still had versions to expire when the leader died`);
  const next = await cluster.leader(old.id);
  assert.notEqual(next.id, old.id);
  await cluster.startNode(old.id);
  const final = await until(
    'every key down to two versions',
    async () => {
      const now = await versionsByKey();
      return [...now.values()].every((ids) => ids.length <= 2) ? now : undefined;
    },
    { limitMs: 60_000, intervalMs: 500 },
  );
  assert.equal(final.size, KEYS, 'every key is still there');
  for (const [key, ids] of made)
    assert.deepEqual(
      final.get(key),
      ids.slice(0, 2),
      `${key}: the current and newest noncurrent versions`,
    );
  for (const [key, ids] of made) {
    const current = await client.objectVersion('crash', key);
    assert.equal(current.versionId, ids[0], `${key}: its current version unchanged`);
  }
});
