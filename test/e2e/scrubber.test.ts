// Shards that no stripe references (left by a write that crashed before committing) are found and
// deleted by the metadata service's scrubber once they are older than the grace period; shards of
// live objects are never touched, however old.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { startStrata, tempDir } from '../helpers/server.ts';

function allShards(dataDir: string): string[] {
  return Array.from({ length: 6 }, (_, d) => join(dataDir, 'disks', `d${d}`, 'shards')).flatMap(
    (root) =>
      readdirSync(root, { recursive: true, encoding: 'utf8' })
        .map((name) => join(root, name))
        .filter((path) => statSync(path).isFile()),
  );
}

test('the scrubber deletes old unreferenced shards and keeps referenced ones', async () => {
  const config = join(tempDir('strata-scrub-'), 'strata.toml');
  writeFileSync(config, '[metadata]\nscrub_interval_seconds = 1\norphan_grace_seconds = 60\n');
  const server = await startStrata({ args: ['--config', config] });
  const s3 = s3Client(server);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'scrub' }));
    const payload = patternBytes(2 * 1024 * 1024, 5);
    await s3.send(new PutObjectCommand({ Bucket: 'scrub', Key: 'live', Body: payload }));
    const hourAgo = new Date(Date.now() - 3600_000);
    const live = allShards(server.dataDir);
    for (const file of live) utimesSync(file, hourAgo, hourAgo);
    const orphanDir = join(server.dataDir, 'disks', 'd2', 'shards', 'fe');
    mkdirSync(orphanDir, { recursive: true });
    const oldOrphan = join(orphanDir, `${'fe'.repeat(16)}.2`);
    const youngOrphan = join(orphanDir, `${'fe'.repeat(15)}ff.3`);
    writeFileSync(oldOrphan, 'left by a crashed write');
    writeFileSync(youngOrphan, 'maybe a write in flight');
    utimesSync(oldOrphan, hourAgo, hourAgo);
    for (let i = 0; i < 100 && existsSync(oldOrphan); i++) await sleep(100);
    assert.equal(existsSync(oldOrphan), false, 'the old orphan is deleted');
    assert.equal(existsSync(youngOrphan), true, 'a shard younger than the grace period is kept');
    assert.ok(
      live.every((file) => existsSync(file)),
      'referenced shards are kept',
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: 'scrub', Key: 'live' }));
    assert.ok((await bodyBytes(got.Body)).equals(payload));
    const metrics = await (await fetch(server.metricsUrl)).text();
    assert.match(metrics, /strata_metadata_orphan_shards_deleted_total 1\b/);
  } finally {
    s3.destroy();
    await server.stop();
  }
});
