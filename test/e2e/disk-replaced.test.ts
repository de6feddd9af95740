// A disk replaced by an empty one (issue 12): a data server is killed, one of its disk directories
// is wiped (what a new disk at the same mount point looks like) and the server is started again.
// Its disk reports a new identity, so the cluster records the disk failed while shards are
// recorded on it, rebuilds them elsewhere by itself, then takes the empty disk back, up. Every
// stripe ends with every shard present on disk where the metadata says, and every object reads
// back with its MD5.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { shardPathIn } from '../../src/data/shard-store.ts';
import { bodyBytes, md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import { configWriter, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { allStripes, logLinesNaming, shardsNotOnDisk } from '../helpers/stripes.ts';
import { until as untilPolled } from '../helpers/wait.ts';

const DATA_SERVERS = 7;
const DISKS = 2;
const POLL_LIMIT_MS = 120_000; // generous: only an upper bound, never a measured figure

const configDir = tempDir('strata-disk-replaced-');
after(() => rmSync(configDir, { recursive: true, force: true }));
const configFile = configWriter(configDir);

function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return untilPolled(what, probe, { limitMs: POLL_LIMIT_MS, intervalMs: 500 });
}

test('a disk replaced by an empty one is failed until its shards are rebuilt elsewhere, then taken back empty', async () => {
  const started: StrataProcess[] = [];
  const metadataProcess = await startStrata({
    args: ['--role', 'metadata'],
    ready: ['metadata'],
    env: configFile('metadata', ['[repair]', 'max_concurrent = 8']),
  });
  started.push(metadataProcess);
  const addr = metadataProcess.metadataAddr;
  const metadata = new MetadataClient([addr]);
  const dataArgs = (i: number) => [
    '--role',
    'data',
    '--node-id',
    `${i + 2}`,
    '--metadata-addr',
    addr,
  ];
  const dataEnv = (i: number) =>
    configFile(`data-${i + 2}`, ['[data]', `disk_count = ${DISKS}`, `host = "h${i}"`]);
  try {
    const data = await Promise.all(
      Array.from({ length: DATA_SERVERS }, (_, i) =>
        startStrata({ args: dataArgs(i), ready: [], env: dataEnv(i) }),
      ),
    );
    started.push(...data);
    const gateway = await startStrata({
      args: ['--role', 's3', '--metadata-addr', addr],
      ready: ['s3'],
    });
    started.push(gateway);
    await until('the data servers up with their disks and identities recorded', async () => {
      const servers = await metadata.read('dataServers');
      const ready = servers.filter(
        (s) => s.state === 'up' && s.disks.every((d) => d.freeBytes && d.diskId),
      );
      return ready.length === DATA_SERVERS ? true : undefined;
    });

    const s3 = s3Client(gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'swap' }));
    const written = new Map<string, string>();
    for (let i = 0; i < 16; i++) {
      const body = patternBytes(200 * 1024 + i * 777, i + 1);
      await s3.send(new PutObjectCommand({ Bucket: 'swap', Key: `o${i}`, Body: body }));
      written.set(`o${i}`, md5Hex(body));
    }

    // The server holding the most shards on its disk 0 gets the new disk.
    const counts = await metadata.read('shardCounts');
    const onDisk0 = (serverId: string) =>
      counts.find((c) => c.serverId === serverId && c.disk === 0)?.shards ?? 0;
    const victimIndex = data
      .map((_, i) => i)
      .sort((a, b) => onDisk0(`data-${b + 2}`) - onDisk0(`data-${a + 2}`))[0];
    const victimId = `data-${victimIndex + 2}`;
    const lostShards = onDisk0(victimId);
    assert.ok(lostShards > 0, `${victimId} holds shards on disk 0`);
    const before = (await metadata.read('dataServer', victimId))?.disks[0].diskId;

    const victim = data[victimIndex];
    await victim.kill();
    rmSync(join(victim.dataDir, 'disks', 'd0'), { recursive: true, force: true });
    const restarted = await startStrata({
      dataDir: victim.dataDir,
      args: dataArgs(victimIndex),
      ready: [],
      env: dataEnv(victimIndex),
    });
    started.push(restarted);

    const disk = await until('the new disk adopted, up and empty', async () => {
      const record = (await metadata.read('dataServer', victimId))?.disks[0];
      const held = (await metadata.read('shardCounts', victimId)).find((c) => c.disk === 0);
      return record?.state === 'up' && record.diskId !== before && held === undefined
        ? record
        : undefined;
    });
    assert.match(disk.diskId ?? '', /^[0-9a-f]{32}$/);
    assert.match(metadataProcess.output(), /disk replaced/, 'the leader says what it saw');

    // Full redundancy: every shard of every stripe is a file where the metadata records it
    // (shardsNotOnDisk looks again for one that may have moved meanwhile).
    const dataDirOf = new Map(data.map((p, i) => [`data-${i + 2}`, p.dataDir]));
    const missing = await shardsNotOnDisk(metadata, dataDirOf);
    assert.deepEqual(
      missing,
      [],
      `every recorded shard is on its disk; logs:\n${logLinesNaming(started, missing)}`,
    );
    // The check can fail: a shard file taken away is reported, with its recorded place.
    const [stripe] = await allStripes(metadata);
    const [at] = stripe.shards;
    rmSync(
      shardPathIn(join(dataDirOf.get(at.serverId) ?? '', 'disks', `d${at.disk}`), stripe.id, 0),
    );
    assert.deepEqual(await shardsNotOnDisk(metadata, dataDirOf), [
      `${stripe.id}.0@${at.serverId}/${at.disk}`,
    ]);

    for (const [key, digest] of written) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'swap', Key: key }));
      assert.equal(md5Hex(await bodyBytes(got.Body)), digest, key);
    }
    s3.destroy();
  } finally {
    await metadata.close();
    for (const p of started.reverse()) await p.kill();
  }
});
