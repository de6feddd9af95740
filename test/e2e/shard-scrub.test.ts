// The data server's background scrub (issue 12, "Scrubbing"): every shard file on every disk is
// verified at rest, and a corrupt one (a flipped byte in a block, a truncated file, a valid shard
// of another stripe copied over it) is listed by the data.scrubFindings RPC, logged at error
// level by stripe, index and disk, counted once, and kept across a restart; GETs meanwhile go on
// returning the right bytes from the other shards.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataClient } from '../../src/data/data-service.ts';
import type { ScrubFindingsReply } from '../../src/data/types.ts';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';

const HEADER_BYTES = 64; // format version 2

function configFile(dir: string, bytesPerSecond: number): string {
  const path = join(dir, `strata-${bytesPerSecond}.toml`);
  writeFileSync(
    path,
    `[data]\nscrub_bytes_per_second = ${bytesPerSecond}\nscrub_pass_interval_seconds = 1\n`,
  );
  return path;
}

function dataAddr(server: StrataProcess): string {
  const match = /^ {2}data +(\S+)/m.exec(server.output());
  assert.ok(match, `the server prints its data address:\n${server.output()}`);
  return match[1];
}

function diskOf(path: string): number {
  const match = /\/disks\/d(\d+)\//.exec(path);
  assert.ok(match, path);
  return Number(match[1]);
}

async function metricValue(server: StrataProcess, series: string): Promise<number | undefined> {
  const metrics = await (await fetch(server.metricsUrl)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

// A data service series of a combined node's page: a page served while the data service process
// did not answer in time (2 s, as on a loaded CI machine) lacks its series, so it is read again.
async function childMetricValue(server: StrataProcess, series: string): Promise<number> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const value = await metricValue(server, series);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`${series} not on the metrics page within 15 s`);
}

// Waits until every disk has completed a pass that started after `sinceMs`.
async function passesSince(client: DataClient, sinceMs: number): Promise<ScrubFindingsReply> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const reply = await client.scrubFindings();
    const done = reply.disks.every(
      (d) =>
        d.lastPassStartedAtMs !== null &&
        d.lastPassStartedAtMs > sinceMs &&
        d.lastPassCompletedAtMs !== null,
    );
    if (done) return reply;
    await sleep(100);
  }
  assert.fail('no scrub pass over every disk within 30 s');
}

const byShard = (a: { stripeId: string; shardIndex: number }, b: typeof a) =>
  a.stripeId.localeCompare(b.stripeId) || a.shardIndex - b.shardIndex;

test('scrub finds a flipped byte, a truncated shard and a misplaced shard, reports, logs and counts them', async () => {
  const dataDir = tempDir();
  const configDir = tempDir('strata-scrub-config-');
  let server = await startStrata({ dataDir, args: ['--config', configFile(configDir, 2 ** 30)] });
  const s3 = s3Client(server);
  let client = new DataClient(dataAddr(server));
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'scrub' }));
    const bodies = [41, 43, 47].map((seed) => patternBytes(3 * 1024 * 1024 + seed, seed));
    const stripes: string[][] = [];
    for (const [i, body] of bodies.entries()) {
      const before = new Set(shardsByStripe(dataDir).keys());
      await s3.send(new PutObjectCommand({ Bucket: 'scrub', Key: `k${i}`, Body: body }));
      const fresh = [...shardsByStripe(dataDir)].filter(([id]) => !before.has(id));
      assert.equal(fresh.length, 1, 'a 3 MiB object is one stripe');
      stripes.push(fresh[0][1]);
    }
    const [a, b, c] = stripes;
    // A: one byte of block 1 flipped. B: cut inside its first block. C: stripe A's (valid)
    // shard 4 copied over stripe C's shard 4, as a restore to the wrong path would leave it.
    const flipped = readFileSync(a[0]);
    flipped[HEADER_BYTES + 70_000] ^= 0x10;
    writeFileSync(a[0], flipped);
    truncateSync(b[2], HEADER_BYTES + 1000);
    copyFileSync(a[4], c[4]);
    const corruptedAtMs = Date.now();
    const expected = [
      { path: a[0], shardIndex: 0, reason: 'checksum' },
      { path: b[2], shardIndex: 2, reason: 'size' },
      { path: c[4], shardIndex: 4, reason: 'identity' },
    ].map(({ path, shardIndex, reason }) => ({
      disk: diskOf(path),
      stripeId: path.slice(path.lastIndexOf('/') + 1).split('.')[0],
      shardIndex,
      reason,
    }));
    expected.sort(byShard);

    const reply = await passesSince(client, corruptedAtMs);
    assert.equal(reply.enabled, true);
    const listed = reply.findings.map(({ disk, stripeId, shardIndex, reason }) => ({
      disk,
      stripeId,
      shardIndex,
      reason,
    }));
    assert.deepEqual(listed.sort(byShard), expected, 'exactly the three damaged shards');

    const lines = server
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"scrub found a corrupt shard"'));
    for (const shard of expected) {
      const named = lines.filter(
        (l) =>
          l.includes(`"stripeId":"${shard.stripeId}"`) &&
          l.includes(`"shardIndex":${shard.shardIndex},`) &&
          l.includes(`"disk":${shard.disk},`),
      );
      assert.equal(named.length, 1, `one error line for ${JSON.stringify(shard)}:\n${lines}`);
      assert.match(named[0], /"level":"error"/);
    }
    assert.equal(lines.length, 3, `no other shard is called corrupt:\n${lines.join('\n')}`);

    for (const reason of ['checksum', 'size', 'identity']) {
      const series = `strata_data_scrub_corrupt_shards_total{reason="${reason}"}`;
      assert.equal(await childMetricValue(server, series), 1, series);
    }
    const scrubbed = await childMetricValue(server, 'strata_data_scrub_bytes_total');
    assert.ok(scrubbed > 0, 'scrubbed bytes are counted');
    for (let disk = 0; disk < 6; disk++) {
      const series = `strata_data_scrub_last_pass_completed_timestamp_seconds{disk="${disk}"}`;
      const completedS = await childMetricValue(server, series);
      assert.ok(completedS * 1000 > corruptedAtMs, series);
    }

    for (const [i, body] of bodies.entries()) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'scrub', Key: `k${i}` }));
      assert.ok((await bodyBytes(got.Body)).equals(body), `k${i} reads back right`);
    }

    // The findings outlive a restart, even one with the scrub turned off.
    await client.close();
    await server.stop();
    server = await startStrata({ dataDir, args: ['--config', configFile(configDir, 0)] });
    client = new DataClient(dataAddr(server));
    const kept = await client.scrubFindings();
    assert.equal(kept.enabled, false);
    const keptListed = kept.findings.map(({ disk, stripeId, shardIndex, reason }) => ({
      disk,
      stripeId,
      shardIndex,
      reason,
    }));
    assert.deepEqual(keptListed.sort(byShard), listed);
  } finally {
    s3.destroy();
    await client.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(configDir, { recursive: true, force: true });
  }
});
