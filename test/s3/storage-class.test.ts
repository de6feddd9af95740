// Storage classes against a real server with 16 disks, a lifecycle "day" of 2 s and restore
// delays of seconds: a GLACIER PUT is written with the GLACIER code (8+3 shards per stripe on
// disk) and refused to GET (403 InvalidObjectState) until RestoreObject's delay has passed and the
// restore runner has written a temporary STANDARD copy (4+2 shards per stripe on disk, GET and
// range reads from it); the restore is shown by HEAD (x-amz-restore), refused while ongoing
// (409), extended once complete (200, no second copy) and expires after its Days, when the
// copy's shard files are collected and GET is refused again. Lifecycle transitions re-encode a STANDARD object (4+2) as
// GLACIER (8+3) with its old shards collected after the commit, noncurrent versions move to
// DEEP_ARCHIVE (10+4), and a COMPLIANCE-locked version transitions without losing a byte.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, md5Hex, patternBytes, rejectsWith, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';
import { awsCli, awsEnv, has } from '../helpers/tools.ts';
import { until } from '../helpers/wait.ts';

const DISKS = 16;
const DAY_SECONDS = 2;
// Generous upper bounds on runners that act within a few "days"; never measured figures.
const LIMIT_MS = 60_000;

describe('storage classes and restore', { skip: !has('aws') && 'awscli is not installed' }, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let work: string;
  const aws = (...args: string[]) => awsCli(server, 's3api', ...args);
  const json = (...args: string[]) => {
    const out = aws(...args);
    return out.trim() === '' ? {} : JSON.parse(out);
  };
  // An awscli call that must fail: its error text.
  const refused = (...args: string[]) => {
    const env = { ...process.env, ...awsEnv(server) } as NodeJS.ProcessEnv;
    delete env.AWS_CA_BUNDLE;
    const result = spawnSync('aws', ['--endpoint-url', server.s3Endpoint, 's3api', ...args], {
      env,
      encoding: 'utf8',
    });
    assert.notEqual(result.status, 0, `aws ${args.join(' ')} succeeded:\n${result.stdout}`);
    return result.stderr;
  };
  const putRules = (bucket: string, rules: unknown[]) => {
    const path = join(work, `${bucket}-rules.json`);
    writeFileSync(path, JSON.stringify({ Rules: rules }));
    aws(
      'put-bucket-lifecycle-configuration',
      '--bucket',
      bucket,
      '--lifecycle-configuration',
      `file://${path}`,
    );
  };
  const restore = (bucket: string, key: string, days: number, tier: string, ...extra: string[]) =>
    aws(
      'restore-object',
      '--bucket',
      bucket,
      '--key',
      key,
      '--restore-request',
      JSON.stringify({ Days: days, GlacierJobParameters: { Tier: tier } }),
      ...extra,
    );
  const head = (bucket: string, key: string, ...extra: string[]) =>
    json('head-object', '--bucket', bucket, '--key', key, ...extra) as {
      StorageClass?: string;
      Restore?: string;
    };
  const stripeIds = () => new Set(shardsByStripe(server.dataDir, DISKS).keys());
  // The shard files of each stripe that appeared since `before`, by stripe id.
  const newStripes = (before: Set<string>) =>
    [...shardsByStripe(server.dataDir, DISKS)].filter(([id]) => !before.has(id));
  const shardCount = (files: string[]) => files.filter((f) => f !== undefined).length;
  const bytesOnDisk = (files: string[]) =>
    files.filter((f) => f !== undefined).reduce((sum, f) => sum + statSync(f).size, 0);
  const getBytes = async (bucket: string, key: string, versionId?: string) =>
    bodyBytes(
      (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })))
        .Body,
    );
  const metric = async (pattern: RegExp) => {
    const text = await until(
      'the metrics page',
      async () => (await fetch(server.metricsUrl)).text(),
      {
        limitMs: 10_000,
      },
    );
    const match = pattern.exec(text);
    return match === null ? 0 : Number(match[1]);
  };

  before(async () => {
    work = tempDir('strata-storage-class-');
    server = await startStrata({
      env: {
        STRATA_DATA_DISK_COUNT: String(DISKS),
        STRATA_LIFECYCLE_DEBUG_DAY_SECONDS: String(DAY_SECONDS),
        STRATA_LIFECYCLE_RESTORE_DELAY_SECONDS_EXPEDITED: '1',
        STRATA_LIFECYCLE_RESTORE_DELAY_SECONDS_STANDARD: '5',
        STRATA_LIFECYCLE_RESTORE_DELAY_SECONDS_BULK: '3600',
        // Orphans of an interrupted transition are collected quickly in a test.
        STRATA_METADATA_ORPHAN_GRACE_SECONDS: '60',
      },
    });
    s3 = s3Client(server);
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('a GLACIER PUT is stored 8+3 and read only while restored', async () => {
    aws('create-bucket', '--bucket', 'cold');
    const body = patternBytes(3 * 1024 * 1024 + 17, 7);
    const known = stripeIds();
    await s3.send(
      new PutObjectCommand({ Bucket: 'cold', Key: 'a', Body: body, StorageClass: 'GLACIER' }),
    );
    const written = newStripes(known);
    assert.ok(written.length > 0, 'the PUT wrote stripes');
    for (const [id, files] of written) assert.equal(shardCount(files), 11, `stripe ${id} is 8+3`);
    assert.equal(head('cold', 'a').StorageClass, 'GLACIER');
    assert.equal(head('cold', 'a').Restore, undefined, 'no restore yet');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'cold' }));
    assert.equal(listed.Contents?.[0]?.StorageClass, 'GLACIER');
    await rejectsWith(getBytes('cold', 'a'), 'InvalidObjectState', 'GET before a restore');
    // A copy would read around the restore: refused as AWS refuses it.
    assert.match(
      refused('copy-object', '--bucket', 'cold', '--key', 'copy', '--copy-source', 'cold/a'),
      /InvalidObjectState/,
    );

    // A Bulk restore stays in progress for the whole test (its delay is long): HEAD shows it,
    // a second restore is refused, and GET still is.
    await s3.send(
      new PutObjectCommand({ Bucket: 'cold', Key: 'b', Body: 'bulk', StorageClass: 'GLACIER' }),
    );
    restore('cold', 'b', 1, 'Bulk');
    assert.equal(head('cold', 'b').Restore, 'ongoing-request="true"', 'the restore is ongoing');
    assert.match(
      refused(
        'restore-object',
        '--bucket',
        'cold',
        '--key',
        'b',
        '--restore-request',
        '{"Days":1}',
      ),
      /RestoreAlreadyInProgress/,
    );
    await rejectsWith(getBytes('cold', 'b'), 'InvalidObjectState', 'GET while ongoing');
    // An Expedited one completes in a second; thirty days (60 s) leave room for the checks below.
    const beforeCopy = stripeIds();
    restore('cold', 'a', 30, 'Expedited');
    const done = await until(
      'the restore completes',
      async () => {
        const restoreState = head('cold', 'a').Restore;
        return restoreState?.startsWith('ongoing-request="false"') ? restoreState : undefined;
      },
      { limitMs: LIMIT_MS },
    );
    assert.match(done, /expiry-date="[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} [\d:]{8} GMT"/);
    assert.equal(md5Hex(await getBytes('cold', 'a')), md5Hex(body), 'the restored bytes');
    assert.equal(head('cold', 'a').StorageClass, 'GLACIER', 'a restore keeps the class');
    // The restore made a real copy: new stripes of the STANDARD code (4+2), the archive's 8+3
    // stripes untouched beside them.
    const copies = newStripes(beforeCopy);
    assert.ok(copies.length > 0, 'the restore wrote a temporary copy');
    for (const [id, files] of copies)
      assert.equal(shardCount(files), 6, `copy stripe ${id} is 4+2 (STANDARD)`);
    for (const [id, files] of written)
      assert.equal(shardCount(files), 11, `archive stripe ${id} is still 8+3`);
    const rangeRead = await s3.send(
      new GetObjectCommand({ Bucket: 'cold', Key: 'a', Range: 'bytes=1000000-1000099' }),
    );
    assert.ok((await bodyBytes(rangeRead.Body)).equals(body.subarray(1_000_000, 1_000_100)));
    // Extending a completed restore answers 200 (awscli prints nothing either way); its Days
    // count again from now, so one day leaves it 2 s.
    restore('cold', 'a', 1, 'Expedited');
    assert.ok(
      (await metric(
        /^strata_restore_requests_total\{tier="Expedited",outcome="extended"\} (\d+)/m,
      )) >= 1,
    );
    const copyIds = (stripes: Array<[string, string[]]>) => stripes.map(([id]) => id).sort();
    assert.deepEqual(copyIds(newStripes(beforeCopy)), copyIds(copies), 'no second copy');
    // The copy expires after its day: GET is refused again.
    await until(
      'the restored copy expires',
      async () => {
        try {
          await getBytes('cold', 'a');
          return undefined;
        } catch (error) {
          return (error as { name?: string }).name === 'InvalidObjectState' ? true : undefined;
        }
      },
      { limitMs: LIMIT_MS },
    );
    assert.equal(head('cold', 'a').Restore, undefined, 'an expired restore is not shown');
    // The runner's command released the copy: its shard files are collected, the archive stays.
    await until(
      "the copy's shards are collected",
      async () => {
        const left = shardsByStripe(server.dataDir, DISKS);
        return copies.every(([id]) => !left.has(id)) ? true : undefined;
      },
      { limitMs: LIMIT_MS },
    );
    const left = shardsByStripe(server.dataDir, DISKS);
    for (const [id] of written) assert.equal(shardCount(left.get(id) ?? []), 11, `${id} stays`);
    await rejectsWith(getBytes('cold', 'a'), 'InvalidObjectState', 'GET after the expiry');
  });

  test('CopyObject into GLACIER and DEEP_ARCHIVE re-encodes; an archived source once restored', async () => {
    aws('create-bucket', '--bucket', 'copies');
    const body = patternBytes(2 * 1024 * 1024 + 5, 11);
    await s3.send(new PutObjectCommand({ Bucket: 'copies', Key: 'src', Body: body }));
    const copy = (key: string, from: string, ...extra: string[]) =>
      aws('copy-object', '--bucket', 'copies', '--key', key, '--copy-source', from, ...extra);
    const known = stripeIds();
    copy('g', 'copies/src', '--storage-class', 'GLACIER');
    const glacier = newStripes(known);
    assert.ok(glacier.length > 0, 'the copy wrote stripes of its own');
    for (const [id, files] of glacier) assert.equal(shardCount(files), 11, `${id} is 8+3`);
    assert.equal(head('copies', 'g').StorageClass, 'GLACIER');
    await rejectsWith(getBytes('copies', 'g'), 'InvalidObjectState', 'GET of the new archive');
    assert.match(
      refused('copy-object', '--bucket', 'copies', '--key', 'x', '--copy-source', 'copies/g'),
      /InvalidObjectState/,
      'a copy from an archived object before its restore',
    );
    restore('copies', 'g', 30, 'Expedited');
    const restored = await until(
      'the restore of the copy completes',
      async () => getBytes('copies', 'g').catch(() => undefined),
      { limitMs: LIMIT_MS },
    );
    assert.equal(md5Hex(restored), md5Hex(body), 'the GLACIER copy holds the bytes');
    const beforeCopies = stripeIds();
    copy('deep', 'copies/g', '--storage-class', 'DEEP_ARCHIVE');
    const deep = newStripes(beforeCopies);
    assert.ok(deep.length > 0);
    for (const [id, files] of deep) assert.equal(shardCount(files), 14, `${id} is 10+4`);
    assert.equal(head('copies', 'deep').StorageClass, 'DEEP_ARCHIVE');
    // Into STANDARD the copy shares the restored copy's 4+2 stripes: no new stripe.
    copy('std', 'copies/g');
    assert.equal(newStripes(beforeCopies).length, deep.length, 'a STANDARD copy moves no bytes');
    assert.equal(md5Hex(await getBytes('copies', 'std')), md5Hex(body));
    assert.equal(head('copies', 'std').StorageClass, undefined);
  });

  test('RestoreObject of a STANDARD object is InvalidObjectState', async () => {
    aws('create-bucket', '--bucket', 'warm');
    await s3.send(new PutObjectCommand({ Bucket: 'warm', Key: 'w', Body: 'hot' }));
    assert.match(
      refused(
        'restore-object',
        '--bucket',
        'warm',
        '--key',
        'w',
        '--restore-request',
        '{"Days":1}',
      ),
      /InvalidObjectState/,
    );
    const h = await s3.send(new HeadObjectCommand({ Bucket: 'warm', Key: 'w' }));
    assert.equal(h.StorageClass, undefined, 'STANDARD is not named, as on AWS');
  });

  test('a transition to a class Strata does not store is 501; IA, GLACIER, NewerNoncurrentVersions round-trip', () => {
    aws('create-bucket', '--bucket', 'rules');
    const path = join(work, 'ia.json');
    writeFileSync(
      path,
      JSON.stringify({
        Rules: [
          {
            ID: 'ia',
            Status: 'Enabled',
            Filter: {},
            Transitions: [{ Days: 30, StorageClass: 'GLACIER_IR' }],
          },
        ],
      }),
    );
    assert.match(
      refused(
        'put-bucket-lifecycle-configuration',
        '--bucket',
        'rules',
        '--lifecycle-configuration',
        `file://${path}`,
      ),
      /NotImplemented/,
    );
    putRules('rules', [
      {
        ID: 'cold',
        Status: 'Enabled',
        Filter: { Prefix: 'x/' },
        Transitions: [
          { Days: 30, StorageClass: 'STANDARD_IA' },
          { Days: 60, StorageClass: 'GLACIER' },
        ],
        NoncurrentVersionTransitions: [
          { NoncurrentDays: 7, StorageClass: 'DEEP_ARCHIVE', NewerNoncurrentVersions: 2 },
        ],
      },
    ]);
    const got = json('get-bucket-lifecycle-configuration', '--bucket', 'rules');
    assert.deepEqual(got.Rules[0].Transitions, [
      { Days: 30, StorageClass: 'STANDARD_IA' },
      { Days: 60, StorageClass: 'GLACIER' },
    ]);
    assert.deepEqual(got.Rules[0].NoncurrentVersionTransitions, [
      { NoncurrentDays: 7, StorageClass: 'DEEP_ARCHIVE', NewerNoncurrentVersions: 2 },
    ]);
    // AWS's minimum age for STANDARD_IA.
    const early = join(work, 'ia-early.json');
    writeFileSync(
      early,
      JSON.stringify({
        Rules: [
          {
            ID: 'ia',
            Status: 'Enabled',
            Filter: {},
            Transitions: [{ Days: 29, StorageClass: 'STANDARD_IA' }],
          },
        ],
      }),
    );
    assert.match(
      refused(
        'put-bucket-lifecycle-configuration',
        '--bucket',
        'rules',
        '--lifecycle-configuration',
        `file://${early}`,
      ),
      /InvalidArgument/,
    );
  });

  test('a lifecycle transition re-encodes 4+2 stripes as 8+3 and collects the old shards', async () => {
    aws('create-bucket', '--bucket', 'aging');
    const body = patternBytes(6 * 1024 * 1024 + 5, 11);
    const known = stripeIds();
    await s3.send(new PutObjectCommand({ Bucket: 'aging', Key: 'logs/old', Body: body }));
    const standard = newStripes(known);
    for (const [id, files] of standard) assert.equal(shardCount(files), 6, `stripe ${id} is 4+2`);
    const bytesBefore = standard.reduce((sum, [, files]) => sum + bytesOnDisk(files), 0);
    const afterPut = stripeIds();
    putRules('aging', [
      {
        ID: 'archive',
        Status: 'Enabled',
        Filter: { Prefix: 'logs/' },
        Transitions: [{ Days: 1, StorageClass: 'GLACIER' }],
      },
    ]);
    await until(
      'the object is GLACIER',
      async () => (head('aging', 'logs/old').StorageClass === 'GLACIER' ? true : undefined),
      { limitMs: LIMIT_MS },
    );
    const glacier = newStripes(afterPut);
    assert.ok(glacier.length > 0, 'the transition wrote stripes');
    for (const [id, files] of glacier) assert.equal(shardCount(files), 11, `stripe ${id} is 8+3`);
    // The old shards go only after the commit, collected by the metadata's garbage collector.
    await until(
      'the 4+2 shards are collected',
      async () => {
        const left = shardsByStripe(server.dataDir, DISKS);
        return standard.every(([id]) => !left.has(id)) ? true : undefined;
      },
      { limitMs: LIMIT_MS },
    );
    const bytesAfter = glacier.reduce((sum, [, files]) => sum + bytesOnDisk(files), 0);
    console.log(
      `# ${body.length} object bytes: ${bytesBefore} shard-file bytes as 4+2, ${bytesAfter} as 8+3 ` +
        `(${(bytesBefore / body.length).toFixed(3)}x -> ${(bytesAfter / body.length).toFixed(3)}x)`,
    );
    assert.ok(bytesAfter < bytesBefore, '8+3 takes less space on disk than 4+2');
    assert.ok(
      (await metric(
        /^strata_lifecycle_transitions_total\{storage_class="GLACIER",outcome="committed"\} (\d+)/m,
      )) >= 1,
    );
    await rejectsWith(getBytes('aging', 'logs/old'), 'InvalidObjectState', 'archived now');
    restore('aging', 'logs/old', 30, 'Expedited');
    const bytes = await until('the restore completes', async () => getBytes('aging', 'logs/old'), {
      limitMs: LIMIT_MS,
    });
    assert.equal(md5Hex(bytes), md5Hex(body), 'the transitioned bytes are the same');
  });

  test('noncurrent versions move to DEEP_ARCHIVE (10+4), the current one stays', async () => {
    aws('create-bucket', '--bucket', 'history');
    aws(
      'put-bucket-versioning',
      '--bucket',
      'history',
      '--versioning-configuration',
      'Status=Enabled',
    );
    const v1 = patternBytes(100_000, 21);
    const first = await s3.send(new PutObjectCommand({ Bucket: 'history', Key: 'doc', Body: v1 }));
    await s3.send(new PutObjectCommand({ Bucket: 'history', Key: 'doc', Body: 'second' }));
    const known = stripeIds();
    putRules('history', [
      {
        ID: 'old-versions',
        Status: 'Enabled',
        Filter: {},
        NoncurrentVersionTransitions: [{ NoncurrentDays: 1, StorageClass: 'DEEP_ARCHIVE' }],
      },
    ]);
    const versions = await until(
      'the noncurrent version is DEEP_ARCHIVE',
      async () => {
        const out = json('list-object-versions', '--bucket', 'history');
        const old = out.Versions.find((v: { IsLatest: boolean }) => !v.IsLatest);
        return old?.StorageClass === 'DEEP_ARCHIVE' ? out.Versions : undefined;
      },
      { limitMs: LIMIT_MS },
    );
    const current = versions.find((v: { IsLatest: boolean }) => v.IsLatest);
    assert.equal(current.StorageClass, 'STANDARD', 'the current version is not moved');
    for (const [id, files] of newStripes(known))
      assert.equal(shardCount(files), 14, `stripe ${id} is 10+4`);
    assert.equal(head('history', 'doc').StorageClass, undefined);
    await rejectsWith(
      getBytes('history', 'doc', first.VersionId),
      'InvalidObjectState',
      'the old version is archived',
    );
    restore('history', 'doc', 30, 'Expedited', '--version-id', first.VersionId as string);
    const bytes = await until(
      'the version restore completes',
      async () => getBytes('history', 'doc', first.VersionId),
      { limitMs: LIMIT_MS },
    );
    assert.equal(md5Hex(bytes), md5Hex(v1));
  });

  test('a COMPLIANCE-locked version transitions and stays locked and whole', async () => {
    aws('create-bucket', '--bucket', 'vault', '--object-lock-enabled-for-bucket');
    const body = patternBytes(2 * 1024 * 1024, 31);
    const until1h = new Date(Date.now() + 3_600_000).toISOString();
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'vault',
        Key: 'record',
        Body: body,
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: new Date(until1h),
      }),
    );
    putRules('vault', [
      {
        ID: 'archive',
        Status: 'Enabled',
        Filter: {},
        Transitions: [{ Days: 1, StorageClass: 'GLACIER' }],
      },
    ]);
    await until(
      'the locked version is GLACIER',
      async () => (head('vault', 'record').StorageClass === 'GLACIER' ? true : undefined),
      { limitMs: LIMIT_MS },
    );
    const h = head('vault', 'record') as { ObjectLockMode?: string };
    assert.equal(h.ObjectLockMode, 'COMPLIANCE', 'the lock is kept');
    assert.match(
      refused(
        'delete-object',
        '--bucket',
        'vault',
        '--key',
        'record',
        '--version-id',
        put.VersionId as string,
      ),
      /AccessDenied/,
    );
    restore('vault', 'record', 30, 'Expedited');
    const bytes = await until('the restore completes', async () => getBytes('vault', 'record'), {
      limitMs: LIMIT_MS,
    });
    assert.equal(md5Hex(bytes), md5Hex(body), 'no byte of the locked version is lost');
  });
});
