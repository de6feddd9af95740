// Lifecycle transitions across a leader crash: a 3-member metadata cluster (real processes, a
// lifecycle day of one second), a data server with twelve disks, and 30 objects a rule moves to
// GLACIER (4+2 re-encoded as 8+3, one version at a time). The leader is killed with SIGKILL while
// its transition runner works through them; the new leader's runner walks afresh. In the end
// every object is GLACIER. Then every object is restored and the leader is killed again while its
// restore runner writes the temporary 4+2 copies; in the end every restore has its copy,
// which reads the bytes the object was written with; every recorded stripe is 8+3 (the archive)
// or 4+2 (a copy) with all its shards on disk, and no shard file is left that no stripe records
// (a transition or copy a dead leader had written but not committed is collected as orphans).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { MetadataCluster } from '../helpers/metadata-cluster.ts';
import { md5Hex, patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';
import { allStripes } from '../helpers/stripes.ts';
import { until } from '../helpers/wait.ts';

const KEYS = 30;
const DISKS = 12;
const TIMING = { dayMs: 1_000, roundToMidnight: false };
// Inherited by every process the helpers start: the runner's day, the data server's disks, and a
// scrubber that collects orphans within seconds.
const ENV = {
  STRATA_LIFECYCLE_DEBUG_DAY_SECONDS: '1',
  STRATA_DATA_DISK_COUNT: String(DISKS),
  STRATA_METADATA_SCRUB_INTERVAL_SECONDS: '1',
  STRATA_METADATA_ORPHAN_GRACE_SECONDS: '5',
};
const previous = Object.fromEntries(Object.keys(ENV).map((k) => [k, process.env[k]]));

let cluster: MetadataCluster;
let data: StrataProcess;
let client: StrataClient;

before(async () => {
  Object.assign(process.env, ENV);
  cluster = await MetadataCluster.start(3);
  const [first, ...rest] = cluster.addrs;
  data = await startStrata({
    args: [
      ...['--role', 'data', '--node-id', '9', '--metadata-addr', first],
      ...['--raft-peers', rest.join(',')],
    ],
    ready: [],
  });
  client = new StrataClient({ metadataAddrs: cluster.addrs });
});
after(async () => {
  await client?.close();
  await data?.stop();
  await cluster?.stop();
  for (const [k, v] of Object.entries(previous)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const keyOf = (k: number) => `k${String(k).padStart(3, '0')}`;

// Versions whose restore has its committed copy (one metadata read each).
async function copiedCount(): Promise<number> {
  let copied = 0;
  for (let k = 0; k < KEYS; k++) {
    const inode = await client.headObject('crash', keyOf(k));
    if (inode.object?.restore?.copyIno !== undefined) copied++;
  }
  return copied;
}

async function glacierCount(): Promise<number> {
  const page = await client.listObjects({ bucket: 'crash', prefix: '', maxKeys: 1000 });
  return page.objects.filter((o) => o.storageClass === 'GLACIER').length;
}

test('a leader killed mid-transition and mid-restore leaves every object whole and no orphan shard', async (t) => {
  await until(
    'data server registered',
    async () => ((await client.clusterStatus()).dataServers.length > 0 ? true : undefined),
    { limitMs: 30_000 },
  );
  await client.createBucket('crash', 'root');
  const bodies = new Map<string, string>();
  for (let k = 0; k < KEYS; k++) {
    const body = patternBytes(400_000 + k, k + 1);
    bodies.set(keyOf(k), md5Hex(body));
    await client.putObject('crash', keyOf(k), body, { object: { userMeta: {} } });
  }
  await client.setBucketLifecycle('crash', {
    rules: [
      {
        id: 'archive',
        enabled: true,
        filter: {},
        transitions: [{ days: 1, storageClass: 'GLACIER' }],
      },
    ],
  });
  await until('the runner at work', async () => ((await glacierCount()) > 0 ? true : undefined), {
    limitMs: 60_000,
    intervalMs: 50,
  });
  const old = await cluster.leader();
  await cluster.nodes.get(old.id)?.process.kill();
  t.diagnostic(`${await glacierCount()} of ${KEYS} objects were GLACIER when the leader died`);
  const next = await cluster.leader(old.id);
  assert.notEqual(next.id, old.id);
  await cluster.startNode(old.id);
  await until(
    'every object GLACIER',
    async () => ((await glacierCount()) === KEYS ? true : undefined),
    { limitMs: 120_000, intervalMs: 500 },
  );
  // Then restores: each makes a 4+2 copy on the leader; the leader is killed again while its
  // restore runner works through them.
  for (const key of bodies.keys()) {
    await client.restoreObject('crash', key, {
      days: 30,
      tier: 'Expedited',
      delayMs: 0,
      timing: TIMING,
    });
  }
  await until(
    'the restore runner at work',
    async () => ((await copiedCount()) > 0 ? true : undefined),
    {
      limitMs: 60_000,
      intervalMs: 50,
    },
  );
  const copier = await cluster.leader();
  await cluster.nodes.get(copier.id)?.process.kill();
  t.diagnostic(`${await copiedCount()} of ${KEYS} restores had their copy when the leader died`);
  await cluster.leader(copier.id);
  await cluster.startNode(copier.id);
  await until(
    'every restore has its copy',
    async () => ((await copiedCount()) === KEYS ? true : undefined),
    { limitMs: 120_000, intervalMs: 500 },
  );
  for (const [key, md5] of bodies) {
    const chunks: Buffer[] = [];
    for await (const chunk of (await client.getObject('crash', key)).body) chunks.push(chunk);
    assert.equal(md5Hex(Buffer.concat(chunks)), md5, `${key}: its bytes from the restored copy`);
  }
  const recorded = await allStripes(client.metadata);
  const codes = recorded.map((s) => `${s.k}+${s.m}`);
  for (const [i, stripe] of recorded.entries())
    assert.ok(['8+3', '4+2'].includes(codes[i]), `stripe ${stripe.id}: GLACIER's code or a copy's`);
  const ids = new Set(recorded.map((s) => s.id));
  // The 4+2 stripes (collected after each commit) and any orphan of the dead leaders go.
  const onDisk = await until(
    'no shard file outside the recorded stripes',
    async () => {
      const files = shardsByStripe(data.dataDir, DISKS);
      return [...files.keys()].every((id) => ids.has(id)) ? files : undefined;
    },
    { limitMs: 120_000, intervalMs: 1_000 },
  );
  for (const stripe of recorded)
    assert.equal(
      onDisk.get(stripe.id)?.filter((f) => f !== undefined).length,
      stripe.k + stripe.m,
      `stripe ${stripe.id} has its ${stripe.k + stripe.m} shards on disk`,
    );
});
