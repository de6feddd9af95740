// A shard that rots on a healthy server is rebuilt without anyone acting: the data server's
// background scrub finds it corrupt (data.scrubFindings), the leader's repair driver reads those
// findings, rebuilds the shard from the others onto a disk that holds none of the stripe, commits
// the move and deletes the rotten file. One combined node with eight disks, so a 4+2 stripe leaves
// two free disks to rebuild onto.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { startStrata, tempDir } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';

const DISKS = 8;
const HEADER_BYTES = 64; // shard format version 2

test('a shard the scrub finds corrupt is rebuilt on another disk and the rotten file removed', async () => {
  const dataDir = tempDir();
  const config = join(tempDir('strata-repair-scrub-'), 'strata.toml');
  writeFileSync(
    config,
    `[data]\ndisk_count = ${DISKS}\nscrub_bytes_per_second = ${2 ** 30}\n` +
      'scrub_pass_interval_seconds = 1\n',
  );
  const server = await startStrata({ dataDir, args: ['--config', config] });
  const s3 = s3Client(server);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'rot' }));
    const body = patternBytes(3 * 1024 * 1024 + 7, 7);
    await s3.send(new PutObjectCommand({ Bucket: 'rot', Key: 'k', Body: body }));
    const [[stripeId, before]] = [...shardsByStripe(dataDir, DISKS)];
    assert.equal(before.filter(Boolean).length, 6, 'one stripe of six shards');
    // Rot one byte of data shard 1, in its first block.
    const rotten = before[1];
    const bytes = readFileSync(rotten);
    bytes[HEADER_BYTES + 100] ^= 0xff;
    writeFileSync(rotten, bytes);

    let after: string[] = before;
    // A scan walks the disks one after another, not at one instant: one that reads the new
    // file's disk before the rebuild writes it and the old file's disk after the repair removes
    // it sees neither; and one may see the new file while it is being written. So wait for a
    // shard 1 that is elsewhere and for the rotten file's removal, which follows the commit of
    // its replacement, itself written whole and fsynced before.
    for (
      let attempt = 0;
      attempt < 600 && (after[1] === undefined || after[1] === rotten || existsSync(rotten));
      attempt++
    ) {
      await sleep(100);
      after = shardsByStripe(dataDir, DISKS).get(stripeId) ?? [];
    }
    assert.ok(after[1] !== undefined, `no shard 1 left after 60 s:\n${server.output()}`);
    assert.notEqual(
      after[1],
      rotten,
      `shard 1 not rebuilt elsewhere within 60 s:\n${server.output()}`,
    );
    const disksUsed = new Set(after.filter(Boolean).map((p) => /\/disks\/(d\d+)\//.exec(p)?.[1]));
    assert.equal(disksUsed.size, 6, 'the six shards are on six distinct disks');
    const rebuilt = readFileSync(after[1]);
    assert.equal(rebuilt.length, bytes.length, 'the rebuilt shard is whole');
    assert.notDeepEqual(rebuilt.subarray(HEADER_BYTES), bytes.subarray(HEADER_BYTES));

    const metrics = await (await fetch(server.metricsUrl)).text();
    assert.match(metrics, /^strata_repair_tasks_total\{outcome="done"\} [1-9]/m, metrics);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'rot', Key: 'k' }));
    assert.deepEqual(await bodyBytes(got.Body), body);
  } finally {
    s3.destroy();
    await server.stop();
  }
});
