// Repair keeps a stripe in its pool, with real processes: a metadata process, an S3 gateway, three
// data servers in no pool and four labelled `data.pool = "cold"` (2 disks each, each its own
// host), GLACIER recorded as 4+2 on the cold pool. A cold server is killed -9; the leader's
// repair rebuilds every shard it held on the three cold servers left, never on the emptier hot
// ones (which the cluster-wide placement would pick first), and each rebuilt shard is on its disk.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import type { Stripe } from '../../src/metadata/types.ts';
import { patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { serversUp } from '../helpers/server-records.ts';
import { allStripes, logLinesNaming, shardsNotOnDisk } from '../helpers/stripes.ts';
import { until as untilPolled } from '../helpers/wait.ts';

const HOT_SERVERS = 3;
const COLD_SERVERS = 4;
const POLL_LIMIT_MS = 180_000; // only an upper bound, never a measured figure

const configDir = tempDir('strata-cold-repair-');
after(() => rmSync(configDir, { recursive: true, force: true }));

function configFile(name: string, lines: string[]): Record<string, string> {
  const path = join(configDir, `${name}.toml`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return { STRATA_CONFIG: path };
}

function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return untilPolled(what, probe, { limitMs: POLL_LIMIT_MS, intervalMs: 500 });
}

test("a cold server's lost shards are rebuilt on the other cold servers only", async (t) => {
  const started: StrataProcess[] = [];
  const metadataEnv = configFile('metadata', [
    '[metadata]',
    'server_down_after_seconds = 2',
    '[storage_classes]',
    'glacier_data_shards = 4',
    'glacier_parity_shards = 2',
    '[repair]',
    'max_concurrent = 8',
  ]);
  const metadataProcess = await startStrata({
    args: ['--role', 'metadata'],
    ready: ['metadata'],
    env: metadataEnv,
  });
  started.push(metadataProcess);
  const addr = metadataProcess.metadataAddr;
  const metadata = new MetadataClient([addr]);
  try {
    const ids = Array.from({ length: HOT_SERVERS + COLD_SERVERS }, (_, i) => i + 2);
    const isCold = (nodeId: number) => nodeId >= 2 + HOT_SERVERS;
    const data = await Promise.all(
      ids.map((id) =>
        startStrata({
          args: ['--role', 'data', '--node-id', `${id}`, '--metadata-addr', addr],
          ready: [],
          env: configFile(`data-${id}`, [
            '[data]',
            'disk_count = 2',
            `host = "h${id}"`,
            ...(isCold(id) ? ['pool = "cold"'] : []),
          ]),
        }),
      ),
    );
    started.push(...data);
    const processOf = new Map(data.map((p, i) => [`data-${ids[i]}`, p]));
    const gateway = await startStrata({
      args: ['--role', 's3', '--metadata-addr', addr],
      ready: ['s3'],
      env: metadataEnv,
    });
    started.push(gateway);
    const servers = await until(
      'seven data servers up with their disks reported',
      serversUp(metadata, ids.length),
    );
    const coldIds = new Set(servers.filter((s) => s.domain.pool === 'cold').map((s) => s.serverId));
    assert.equal(coldIds.size, COLD_SERVERS);

    const s3 = s3Client(gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'cold' }));
    for (const [i, size] of [300 * 1024, 1024 * 1024 + 5, 5 * 1024 * 1024 + 3].entries()) {
      const Body = patternBytes(size, i + 1);
      await s3.send(
        new PutObjectCommand({ Bucket: 'cold', Key: `a${i}`, Body, StorageClass: 'GLACIER' }),
      );
      await s3.send(new PutObjectCommand({ Bucket: 'cold', Key: `h${i}`, Body }));
    }
    const coldStripes = (stripes: Stripe[]) => stripes.filter((s) => s.pool === 'cold');
    const before = coldStripes(await allStripes(metadata));
    assert.ok(before.length >= 3, `${before.length} cold stripes`);
    for (const stripe of before) {
      assert.deepEqual([stripe.k, stripe.m], [4, 2]);
      assert.ok(
        stripe.shards.every((s) => coldIds.has(s.serverId)),
        `${stripe.id} written cold`,
      );
    }

    // The cold server holding the most cold shards.
    const load = (id: string) => before.flatMap((s) => s.shards).filter((l) => l.serverId === id);
    const [victim] = [...coldIds].sort((a, b) => load(b).length - load(a).length);
    await processOf.get(victim)?.kill();
    t.diagnostic(`killed ${victim}, holding ${load(victim).length} cold shards`);

    // Ends as soon as a shard lands outside the pool (until() retries a probe that throws, so
    // the probe reports it instead), or once every cold stripe is off the killed server.
    const outside = (stripes: Stripe[]) =>
      stripes.flatMap((s) =>
        s.shards.filter((l) => !coldIds.has(l.serverId)).map((l) => `${s.id} on ${l.serverId}`),
      );
    const repaired = await until('every cold stripe off the killed server', async () => {
      const stripes = coldStripes(await allStripes(metadata));
      const done = stripes.every((s) => s.shards.every((l) => l.serverId !== victim));
      return done || outside(stripes).length > 0 ? stripes : undefined;
    });
    assert.deepEqual(outside(repaired), [], 'cold shards rebuilt outside the cold pool');
    assert.equal(repaired.length, before.length);
    for (const stripe of repaired) {
      // k+m distinct disks, at most m on one server (the pool's rule: 3 cold servers left).
      const perServer = new Map<string, number>();
      for (const l of stripe.shards)
        perServer.set(l.serverId, (perServer.get(l.serverId) ?? 0) + 1);
      assert.ok(Math.max(...perServer.values()) <= stripe.m, `${stripe.id} keeps the domain rule`);
    }
    // Each shard is a file where the record says it is (looked for again if it moved).
    const dataDirOf = new Map([...processOf].map(([id, p]) => [id, p.dataDir]));
    const missing = await shardsNotOnDisk(metadata, dataDirOf, (s) => s.pool === 'cold');
    assert.deepEqual(
      missing,
      [],
      `cold shards on disk; logs:\n${logLinesNaming(started, missing)}`,
    );
  } finally {
    await metadata.close();
    for (const p of started.reverse()) await p.stop();
  }
});
