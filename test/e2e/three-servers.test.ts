// Issue 12's acceptance with the smallest cluster: 3 data servers with 4+2, kill any one (-9),
// and every object is still readable and writable, from the moment of the kill. The two left
// hold the domain rule's cap of 2 shards each until the cluster records the dead one suspect
// (about 5 s); a write in that window waits for the records (src/client/stripe-io.ts) instead of
// failing. Also: 6 servers with two killed at once right before a PUT.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { StrataClient } from '../../src/client/strata-client.ts';
import { DataCluster, redundancyShortfalls } from '../helpers/data-cluster.ts';
import { bodyBytes, md5Hex, patternBytes } from '../helpers/s3.ts';
import { until } from '../helpers/wait.ts';

const md5 = md5Hex;
const BUCKET = 'three';

// 64 KiB shards (a 256 KiB stripe), servers never recorded down within the test: no rebuild
// runs, only the rebalancing that puts 2 shards back on each server once the victim returns.
const options = {
  disksPerServer: 3,
  metadata: ['server_down_after_seconds = 3600'],
  erasure: ['data_shards = 4', 'parity_shards = 2', 'shard_size_bytes = 65536'],
};

async function put(c: DataCluster, key: string, body: Buffer, into: Map<string, string>) {
  await c.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body })).catch((e) => {
    throw new Error(`PUT ${key}: ${e}\ngateway:\n${c.gateway.output().slice(-3000)}`);
  });
  into.set(key, md5(body));
}

async function readAll(c: DataCluster, objects: Map<string, string>, when: string) {
  for (const [key, sum] of objects) {
    const reply = await c.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })).catch((e) => {
      throw new Error(`GET ${key} ${when}: ${e}\ngateway:\n${c.gateway.output().slice(-3000)}`);
    });
    assert.equal(md5(await bodyBytes(reply.Body)), sum, `${key} ${when}`);
  }
}

async function gatewayMetric(c: DataCluster, series: string): Promise<number> {
  const text = await (await fetch(c.gateway.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

test('3 data servers with 4+2: kill -9 any one, and every object reads back while PUTs started right after the kill succeed', async (t) => {
  const c = await DataCluster.start({ dataServers: 3, ...options });
  const client = new StrataClient({ metadataAddrs: c.metadataCluster.addrs });
  try {
    await c.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = new Map<string, string>();
    for (let n = 0; n < 3; n++)
      await put(c, `before-${n}`, patternBytes(600_000 + n * 70_001, n + 1), objects);
    for (const [v, victim] of c.servers.entries()) {
      if (v > 0) {
        await c.startServer(c.servers[v - 1]);
        await c.untilAllUp();
        // Stripes written over the two left while it was dead (3 + 3) get 2 shards back on it
        // (rebalancing), or the next kill would take 3 of their shards.
        await until(
          'every stripe back to 2 shards per server',
          async () => {
            const running = new Set(c.servers.map((s) => s.id));
            const gaps = redundancyShortfalls(await c.stripes(), await c.records(), running, 2);
            return gaps.length === 0 ? true : undefined;
          },
          { limitMs: 180_000, intervalMs: 500 },
        );
      }
      const stripesBefore = new Set((await c.stripes()).map((s) => s.id));
      await c.kill(victim);
      const killedAtMs = performance.now();
      // Reads and writes start at the kill, long before the cluster records it suspect.
      const written = new Map<string, string>();
      const body = patternBytes(500_000 + v, 100 + v);
      const writes = (async () => {
        await put(c, `during-${victim.id}`, body, written);
        const putMs = performance.now() - killedAtMs;
        // The same write path through the client library (what a FUSE mount's flush uses).
        await client.writeFile(`/${BUCKET}/posix-${victim.id}`, body);
        written.set(`posix-${victim.id}`, md5(body));
        return putMs;
      })();
      await readAll(c, objects, `right after ${victim.id} was killed`);
      const putMs = await writes;
      t.diagnostic(`${victim.id} killed: PUT started at the kill took ${Math.round(putMs)} ms`);
      await readAll(c, written, `with ${victim.id} killed`);
      // Each new stripe is whole: 6 shards, none on the dead server.
      const fresh = (await c.stripes()).filter((s) => !stripesBefore.has(s.id));
      assert.ok(fresh.length > 0, 'the writes made stripes');
      for (const stripe of fresh) {
        const holders = stripe.shards.map((s) => s.serverId);
        assert.equal(holders.length, 6);
        assert.ok(!holders.includes(victim.id), `stripe ${stripe.id} on the dead ${victim.id}`);
      }
      for (const [key, sum] of written) objects.set(key, sum);
    }
    // Without the wait those writes fail (503): the wait path must have been taken.
    const placed = await gatewayMetric(
      c,
      'strata_client_write_placement_waits_total{outcome="placed"}',
    );
    assert.ok(placed > 0, 'stripe writes waited for the records and were placed');
    assert.equal(
      await gatewayMetric(c, 'strata_client_write_placement_waits_total{outcome="gave_up"}'),
      0,
    );
  } finally {
    await client.close();
    await c.stop();
  }
});

test('6 data servers with 4+2: kill -9 two at once right before a PUT, and it succeeds', async () => {
  const c = await DataCluster.start({ dataServers: 6, ...options, disksPerServer: 2 });
  try {
    await c.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = new Map<string, string>();
    await put(c, 'before', patternBytes(700_000, 3), objects);
    await Promise.all([c.kill(c.servers[0]), c.kill(c.servers[1])]);
    await put(c, 'after', patternBytes(900_001, 4), objects);
    await readAll(c, objects, 'with two servers killed');
    // The 4 left take the 2 failed shards within the cap of m per server: no wait was needed.
    const waits = await gatewayMetric(
      c,
      'strata_client_write_placement_waits_total{outcome="placed"}',
    );
    assert.equal(waits, 0, 'stripe writes that waited for the records');
  } finally {
    await c.stop();
  }
});
