// S3 lifecycle through awscli against a real server whose lifecycle "day" lasts one second
// (lifecycle.debug_day_seconds): the configuration's round trip and AWS's refusals, then each
// action carried out by the metadata leader's runner — current objects expired (a delete marker
// in a versioned bucket, gone in a plain one), noncurrent versions expired with the newest kept,
// a lone delete marker removed, old multipart uploads aborted, x-amz-expiration on PUT and HEAD,
// and a COMPLIANCE-locked version that outlives the rule that would expire it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { awsCli, awsEnv, has } from '../helpers/tools.ts';
import { until } from '../helpers/wait.ts';

const DAY_SECONDS = 1;
// Every wait is a generous upper bound on a runner that acts within a few "days".
const LIMIT_MS = 30_000;

interface Version {
  Key: string;
  VersionId: string;
  IsLatest: boolean;
}

describe('S3 lifecycle (awscli)', { skip: !has('aws') && 'awscli is not installed' }, () => {
  let server: StrataProcess;
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
    return [
      'put-bucket-lifecycle-configuration',
      '--bucket',
      bucket,
      '--lifecycle-configuration',
      `file://${path}`,
    ];
  };
  const versionsOf = (bucket: string) => {
    const out = json('list-object-versions', '--bucket', bucket);
    return {
      versions: (out.Versions ?? []) as Version[],
      markers: (out.DeleteMarkers ?? []) as Version[],
    };
  };
  const put = (bucket: string, key: string, ...extra: string[]) => {
    const body = join(work, 'body');
    writeFileSync(body, `${bucket}/${key} ${Date.now()}`);
    return json('put-object', '--bucket', bucket, '--key', key, '--body', body, ...extra);
  };
  const metric = async (name: string) => {
    // A kept-alive connection the metrics server has just closed fails once: asked again.
    const text = await until(
      'the metrics page',
      async () => (await fetch(server.metricsUrl)).text(),
      {
        limitMs: 10_000,
      },
    );
    const match = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
    assert.ok(match, `${name} is exported`);
    return Number(match[1]);
  };
  const versioned = (bucket: string) => {
    aws('create-bucket', '--bucket', bucket);
    aws(
      'put-bucket-versioning',
      '--bucket',
      bucket,
      '--versioning-configuration',
      'Status=Enabled',
    );
  };

  before(async () => {
    work = tempDir('strata-lifecycle-');
    server = await startStrata({
      env: { STRATA_LIFECYCLE_DEBUG_DAY_SECONDS: String(DAY_SECONDS) },
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('a configuration round-trips, and DELETE removes it', () => {
    aws('create-bucket', '--bucket', 'conf');
    assert.match(
      refused('get-bucket-lifecycle-configuration', '--bucket', 'conf'),
      /NoSuchLifecycleConfiguration/,
    );
    const rules = [
      { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
      {
        ID: 'big-old',
        Status: 'Disabled',
        Filter: {
          And: {
            Prefix: 'data/',
            Tags: [{ Key: 'tier', Value: 'cold' }],
            ObjectSizeGreaterThan: 1024,
            ObjectSizeLessThan: 1048576,
          },
        },
        NoncurrentVersionExpiration: { NoncurrentDays: 7, NewerNoncurrentVersions: 3 },
      },
      {
        ID: 'mpu',
        Status: 'Enabled',
        Filter: {},
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
      },
      {
        ID: 'dated',
        Status: 'Enabled',
        Filter: { Tag: { Key: 'k', Value: 'v' } },
        Expiration: { Date: '2030-01-01T00:00:00Z' },
      },
      {
        ID: 'markers',
        Status: 'Enabled',
        Prefix: 'old/',
        Expiration: { ExpiredObjectDeleteMarker: true },
      },
    ];
    aws(...putRules('conf', rules));
    const got = json('get-bucket-lifecycle-configuration', '--bucket', 'conf').Rules;
    assert.equal(got.length, 5);
    assert.deepEqual(got[0], rules[0]);
    assert.deepEqual(got[1], rules[1]);
    assert.deepEqual(got[2].AbortIncompleteMultipartUpload, { DaysAfterInitiation: 2 });
    assert.deepEqual(got[3].Filter, { Tag: { Key: 'k', Value: 'v' } });
    assert.equal(new Date(got[3].Expiration.Date).toISOString(), '2030-01-01T00:00:00.000Z');
    assert.equal(got[4].Prefix, 'old/', 'a top-level Prefix is answered as it was put');
    assert.equal(got[4].Expiration.ExpiredObjectDeleteMarker, true);
    aws('delete-bucket-lifecycle', '--bucket', 'conf');
    assert.match(
      refused('get-bucket-lifecycle-configuration', '--bucket', 'conf'),
      /NoSuchLifecycleConfiguration/,
    );
  });

  test('what AWS refuses is refused, and nothing is stored', () => {
    aws('create-bucket', '--bucket', 'refusals');
    const expire = { Expiration: { Days: 1 } };
    const cases: Array<[unknown[], RegExp]> = [
      [
        [
          { ID: 'a', Status: 'Enabled', Filter: {}, ...expire },
          { ID: 'a', Status: 'Enabled', Filter: {}, ...expire },
        ],
        /InvalidArgument/,
      ],
      [[{ ID: 'x'.repeat(256), Status: 'Enabled', Filter: {}, ...expire }], /InvalidArgument/],
      [[{ ID: 'zero', Status: 'Enabled', Filter: {}, Expiration: { Days: 0 } }], /InvalidArgument/],
      [
        [
          {
            ID: 'both',
            Status: 'Enabled',
            Filter: {},
            Expiration: { Days: 1, ExpiredObjectDeleteMarker: true },
          },
        ],
        /InvalidArgument/,
      ],
      [
        [
          {
            ID: 'noon',
            Status: 'Enabled',
            Filter: {},
            Expiration: { Date: '2030-01-01T12:00:00Z' },
          },
        ],
        /InvalidArgument/,
      ],
      [[{ ID: 'none', Status: 'Enabled', Filter: {} }], /InvalidArgument/],
      [
        [
          {
            ID: 'sizes',
            Status: 'Enabled',
            Filter: { And: { ObjectSizeGreaterThan: 10, ObjectSizeLessThan: 5 } },
            ...expire,
          },
        ],
        /InvalidArgument/,
      ],
      [
        [
          {
            ID: 'tagged-mpu',
            Status: 'Enabled',
            Filter: { Tag: { Key: 'a', Value: 'b' } },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
        ],
        /InvalidArgument/,
      ],
      [
        [{ ID: 'two', Status: 'Enabled', Filter: { Prefix: 'a' }, Prefix: 'b', ...expire }],
        /MalformedXML/,
      ],
      [[{ ID: 'status', Status: 'On', Filter: {}, ...expire }], /MalformedXML/],
      [
        Array.from({ length: 1001 }, (_, i) => ({
          ID: `r${i}`,
          Status: 'Enabled',
          Filter: {},
          ...expire,
        })),
        /InvalidArgument/,
      ],
      // A transition to a class Strata does not archive to is refused, never stored and ignored
      // (GLACIER and DEEP_ARCHIVE: test/s3/storage-class.test.ts).
      [
        [
          {
            ID: 'cold',
            Status: 'Enabled',
            Filter: {},
            Transitions: [{ Days: 30, StorageClass: 'ONEZONE_IA' }],
          },
        ],
        /NotImplemented/,
      ],
      [
        [
          {
            ID: 'cold-nc',
            Status: 'Enabled',
            Filter: {},
            ...expire,
            NoncurrentVersionTransitions: [{ NoncurrentDays: 30, StorageClass: 'GLACIER_IR' }],
          },
        ],
        /NotImplemented/,
      ],
    ];
    for (const [rules, error] of cases) {
      const what = JSON.stringify(rules).slice(0, 200);
      assert.match(refused(...putRules('refusals', rules)), error, what);
    }
    assert.match(
      refused('get-bucket-lifecycle-configuration', '--bucket', 'refusals'),
      /NoSuchLifecycleConfiguration/,
    );
  });

  test('an expired object of a plain bucket is gone; one the filter leaves stays', async () => {
    aws('create-bucket', '--bucket', 'plain');
    put('plain', 'tmp/a');
    put('plain', 'keep/a');
    aws(
      ...putRules('plain', [
        { ID: 'tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } },
        {
          ID: 'later rule',
          Status: 'Enabled',
          Filter: { Prefix: 'later/' },
          Expiration: { Days: 1000 },
        },
      ]),
    );
    // x-amz-expiration on PUT and HEAD: the rule's due date and its id, URL-encoded.
    const made = put('plain', 'later/b');
    assert.match(
      made.Expiration,
      /^expiry-date="[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} [\d:]{8} GMT", rule-id="later%20rule"$/,
    );
    const head = json('head-object', '--bucket', 'plain', '--key', 'later/b');
    assert.equal(head.Expiration, made.Expiration);
    const got = json('get-object', '--bucket', 'plain', '--key', 'later/b', join(work, 'got'));
    assert.equal(got.Expiration, made.Expiration);
    const due = Date.parse(/expiry-date="([^"]+)"/.exec(head.Expiration)?.[1] ?? '');
    const dueIn = due - Date.parse(head.LastModified);
    assert.ok(Math.abs(dueIn - 1000 * DAY_SECONDS * 1000) <= 1000, head.Expiration);
    assert.equal(json('head-object', '--bucket', 'plain', '--key', 'keep/a').Expiration, undefined);
    const keys = await until(
      'tmp/ expired',
      async () => {
        const listed = json('list-objects-v2', '--bucket', 'plain').Contents ?? [];
        const names = listed.map((o: { Key: string }) => o.Key) as string[];
        return names.some((k) => k.startsWith('tmp/')) ? undefined : names;
      },
      { limitMs: LIMIT_MS },
    );
    assert.deepEqual(keys, ['keep/a', 'later/b']);
    // Removed, not hidden: a bucket that never had versioning has no delete markers.
    assert.deepEqual(versionsOf('plain').markers, []);
    assert.ok((await metric('strata_lifecycle_objects_expired_total')) >= 1);
  });

  test('an expired current version of a versioned bucket is hidden by a delete marker', async () => {
    versioned('ver');
    const { VersionId } = put('ver', 'a');
    aws(
      ...putRules('ver', [
        { ID: 'expire', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } },
      ]),
    );
    const after = await until(
      'a delete marker is current',
      async () => {
        const v = versionsOf('ver');
        return v.markers.some((m) => m.IsLatest) ? v : undefined;
      },
      { limitMs: LIMIT_MS },
    );
    assert.deepEqual(
      after.versions.map((v) => [v.VersionId, v.IsLatest]),
      [[VersionId, false]],
    );
    assert.equal(after.markers.length, 1, 'one marker: a marker is never expired again');
    refused('head-object', '--bucket', 'ver', '--key', 'a');
  });

  test('noncurrent versions expire, except the newest NewerNoncurrentVersions', async () => {
    versioned('noncurrent');
    const ids = [1, 2, 3, 4, 5].map(() => put('noncurrent', 'k').VersionId as string);
    put('noncurrent', 'other');
    aws(
      ...putRules('noncurrent', [
        {
          ID: 'keep-two',
          Status: 'Enabled',
          Filter: { Prefix: 'k' },
          NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 2 },
        },
      ]),
    );
    const kept = () =>
      versionsOf('noncurrent')
        .versions.filter((v) => v.Key === 'k')
        .map((v) => v.VersionId);
    await until(
      'two noncurrent versions left',
      async () => (kept().length === 3 ? true : undefined),
      {
        limitMs: LIMIT_MS,
      },
    );
    // Several more days: the newest noncurrent two stay however old they grow.
    await new Promise((r) => setTimeout(r, 4 * DAY_SECONDS * 1000));
    assert.deepEqual(kept(), [ids[4], ids[3], ids[2]]);
    assert.ok((await metric('strata_lifecycle_versions_expired_total')) >= 2);
  });

  test('ExpiredObjectDeleteMarker removes a delete marker left alone, and only that one', async () => {
    versioned('markers');
    const { VersionId } = put('markers', 'gone');
    aws('delete-object', '--bucket', 'markers', '--key', 'gone');
    aws('delete-object', '--bucket', 'markers', '--key', 'gone', '--version-id', VersionId);
    put('markers', 'hidden');
    aws('delete-object', '--bucket', 'markers', '--key', 'hidden');
    aws(
      ...putRules('markers', [
        { ID: 'm', Status: 'Enabled', Filter: {}, Expiration: { ExpiredObjectDeleteMarker: true } },
      ]),
    );
    await until(
      'the lone marker removed',
      async () => (versionsOf('markers').markers.some((m) => m.Key === 'gone') ? undefined : true),
      { limitMs: LIMIT_MS },
    );
    const left = versionsOf('markers');
    assert.deepEqual(
      left.markers.map((m) => m.Key),
      ['hidden'],
      'a marker over a version stays',
    );
    assert.deepEqual(
      left.versions.map((v) => v.Key),
      ['hidden'],
    );
  });

  test('an incomplete multipart upload is aborted after DaysAfterInitiation', async () => {
    aws('create-bucket', '--bucket', 'uploads');
    const old = json('create-multipart-upload', '--bucket', 'uploads', '--key', 'old/big').UploadId;
    const fresh = json(
      'create-multipart-upload',
      '--bucket',
      'uploads',
      '--key',
      'new/big',
    ).UploadId;
    aws(
      ...putRules('uploads', [
        {
          ID: 'abort',
          Status: 'Enabled',
          Filter: { Prefix: 'old/' },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
      ]),
    );
    const uploads = () =>
      (json('list-multipart-uploads', '--bucket', 'uploads').Uploads ?? []).map(
        (u: { UploadId: string }) => u.UploadId,
      );
    await until(
      'the old upload aborted',
      async () => (uploads().includes(old) ? undefined : true),
      {
        limitMs: LIMIT_MS,
      },
    );
    assert.deepEqual(uploads(), [fresh]);
    assert.ok((await metric('strata_lifecycle_uploads_aborted_total')) >= 1);
  });

  test('a COMPLIANCE-locked version survives the rules that would expire it', async () => {
    aws('create-bucket', '--bucket', 'worm', '--object-lock-enabled-for-bucket');
    const until1h = new Date(Date.now() + 3_600_000).toISOString();
    const locked = put(
      'worm',
      'doc',
      '--object-lock-mode',
      'COMPLIANCE',
      '--object-lock-retain-until-date',
      until1h,
    ).VersionId;
    const unlocked = put('worm', 'doc').VersionId;
    aws(
      ...putRules('worm', [
        {
          ID: 'everything',
          Status: 'Enabled',
          Filter: {},
          Expiration: { Days: 1 },
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
        },
      ]),
    );
    const skippedBefore = await metric('strata_lifecycle_skipped_locked_total');
    // The current version is hidden by a marker, then goes with the noncurrent rule; the locked
    // one is due as soon as that, and stays.
    await until(
      'the unlocked version expired',
      async () =>
        versionsOf('worm').versions.some((v) => v.VersionId === unlocked) ? undefined : true,
      { limitMs: LIMIT_MS },
    );
    await until(
      'the locked version skipped and counted',
      async () =>
        (await metric('strata_lifecycle_skipped_locked_total')) > skippedBefore ? true : undefined,
      { limitMs: LIMIT_MS },
    );
    const left = versionsOf('worm');
    assert.deepEqual(
      left.versions.map((v) => v.VersionId),
      [locked],
    );
    assert.equal(left.markers.length, 1);
    const head = json('head-object', '--bucket', 'worm', '--key', 'doc', '--version-id', locked);
    assert.equal(head.ObjectLockMode, 'COMPLIANCE');
    assert.equal(await metric('strata_lifecycle_errors_total'), 0);
  });
});
