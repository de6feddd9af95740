// S3 protocol edges that SDKs and careful clients rely on (issue 10): XML values byte for byte,
// keys that must not alias one another, listings with prefixes and markers of any length,
// retried and conditional writes, GetObjectAttributes paging headers, listing parameters, and
// what error messages may say.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { signHeaders } from '../auth/sign.ts';
import { aws, bodyBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const amzDateNow = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

const errorName = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    return (error as Error).name;
  }
  return 'no error';
};

describe('S3 protocol edges', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const bucket = 'edges';

  // A signed request with an empty body, exactly as given (no path normalisation).
  const raw = (method: string, target: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const host = new URL(server.s3Endpoint).host;
      const headers = signHeaders({
        method,
        target,
        headers: [
          ['host', host],
          ['x-amz-date', amzDateNow()],
          ['x-amz-content-sha256', EMPTY_SHA256],
        ],
        payloadHash: EMPTY_SHA256,
        accessKey: server.accessKey,
        secretKey: server.secretKey,
      });
      const req = request(`${server.s3Endpoint}${target}`, {
        method,
        headers: Object.fromEntries(headers),
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      req.on('error', reject);
      req.end();
    });

  const put = (key: string, body: string | Buffer = key) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const read = async (key: string) =>
    (
      await bodyBytes((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body)
    ).toString();
  const keysOf = async (prefix: string, extra: Record<string, string> = {}) =>
    (
      await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...extra }))
    ).Contents?.map((o) => o.Key) ?? [];

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('DeleteObjects takes keys byte for byte: " ", "_ ", " a ", tab and XML specials', async () => {
    const specials = ['a&b', 'x<y>z', `q"u'o`, 'cr\rlf'];
    const doomed = [' ', '_ ', ' a ', '\t', ...specials].map((k) => `del/${k}`);
    const kept = ['del/_', 'del/a', 'del/a '];
    for (const key of [...doomed, ...kept]) await put(key);
    const result = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: doomed.map((Key) => ({ Key })) },
      }),
    );
    assert.deepEqual(result.Errors ?? [], []);
    assert.deepEqual(result.Deleted?.map((d) => d.Key).sort(), [...doomed].sort());
    assert.deepEqual((await keysOf('del/')).sort(), [...kept].sort());
    for (const key of kept) assert.equal(await read(key), key, `${JSON.stringify(key)} is intact`);
  });

  test('a whitespace-only key in DeleteObjects is a key, not a missing one', async () => {
    await put(' ');
    const result = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: ' ' }] } }),
    );
    assert.deepEqual(result.Errors ?? [], []);
    assert.deepEqual(
      result.Deleted?.map((d) => d.Key),
      [' '],
    );
    assert.equal(await errorName(read(' ')), 'NoSuchKey');
  });

  test('tag keys and values keep their spaces', async () => {
    await put('tagged');
    const TagSet = [
      { Key: ' padded ', Value: ' v ' },
      { Key: 'padded', Value: '\tt' },
    ];
    await s3.send(
      new PutObjectTaggingCommand({ Bucket: bucket, Key: 'tagged', Tagging: { TagSet } }),
    );
    const got = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged' }));
    const byKey = (a: { Key?: string }, b: { Key?: string }) =>
      String(a.Key).localeCompare(String(b.Key));
    assert.deepEqual(
      got.TagSet?.map(({ Key, Value }) => ({ Key, Value })).sort(byKey),
      [...TagSet].sort(byKey),
    );
  });

  test('a key with a leading or doubled "/" names no object: it cannot reach another', async () => {
    await put('g', 'the object g');
    await put('d/x', 'the object d/x');
    for (const target of [`/${bucket}//g`, `/${bucket}/%2Fg`, `/${bucket}/d//x`]) {
      for (const method of ['GET', 'HEAD']) {
        const response = await raw(method, target);
        assert.equal(response.status, 404, `${method} ${target}: ${response.body}`);
        if (method === 'GET') assert.match(response.body, /<Code>NoSuchKey<\/Code>/);
      }
    }
    assert.equal(
      await errorName(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: '/g' }))),
      'NotFound',
    );
    const refused = await errorName(put('/g'));
    assert.equal(refused, 'InvalidArgument');
    const tagging = { TagSet: [{ Key: 'k', Value: 'v' }] };
    assert.equal(
      await errorName(
        s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: '/g', Tagging: tagging })),
      ),
      'NoSuchKey',
    );
    assert.equal(
      await errorName(
        s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy', CopySource: `${bucket}//g` })),
      ),
      'NoSuchKey',
    );
  });

  test('a listing with prefix "/" or "d//" lists nothing (no "/"-prefixed aliases)', async () => {
    await put('g', 'the object g');
    await put('d/x', 'the object d/x');
    for (const prefix of ['/', '/g', '//', 'd//', '/d/']) {
      assert.deepEqual(await keysOf(prefix), [], `V2 prefix ${prefix}`);
      const v1 = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix }));
      assert.deepEqual(v1.Contents ?? [], [], `V1 prefix ${prefix}`);
      const grouped = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/' }),
      );
      assert.deepEqual(grouped.CommonPrefixes ?? [], [], `prefixes under ${prefix}`);
    }
  });

  test('prefixes, markers and start-after of 4,088 bytes and more get a correct answer', async () => {
    for (const key of ['long/a', 'long/b', 'long/c']) await put(key);
    for (const length of [4088, 4096, 6000]) {
      const long = 'x'.repeat(length);
      assert.deepEqual(await keysOf(`long/${long}`), [], `prefix of ${length}`);
      assert.deepEqual(await keysOf(long), [], `prefix of ${length} at the top`);
      assert.deepEqual(
        await keysOf('long/', { StartAfter: `long/a${long}` }),
        ['long/b', 'long/c'],
        `start-after of ${length}`,
      );
      const v1 = await s3.send(
        new ListObjectsCommand({ Bucket: bucket, Prefix: 'long/', Marker: `long/b${long}` }),
      );
      assert.deepEqual(
        v1.Contents?.map((o) => o.Key),
        ['long/c'],
        `marker of ${length}`,
      );
    }
    // 4,400 bytes of 4-byte characters (a cut inside a character must not matter either).
    assert.deepEqual(await keysOf('long/', { StartAfter: `long/b${'\u{10FFFF}'.repeat(1100)}` }), [
      'long/c',
    ]);
  });

  test('ListObjects V1 returns Prefix as sent, even with encoding-type=url (as AWS)', async () => {
    await put('v1 list/a b');
    const plain = await raw('GET', `/${bucket}?prefix=v1%20list%2F&marker=v1%20list%2F`);
    assert.equal(plain.status, 200, plain.body);
    assert.match(plain.body, /<Prefix>v1 list\/<\/Prefix>/);
    assert.match(plain.body, /<Marker>v1 list\/<\/Marker>/);
    const encoded = await raw(
      'GET',
      `/${bucket}?prefix=v1%20list%2F&marker=v1%20list%2F&encoding-type=url`,
    );
    assert.match(encoded.body, /<Prefix>v1 list\/<\/Prefix>/);
    assert.match(encoded.body, /<Marker>v1%20list\/<\/Marker>/);
    assert.match(encoded.body, /<Key>v1%20list\/a%20b<\/Key>/);
    // awscli (botocore) asks for encoding-type=url and decodes V1's Marker and keys, not Prefix.
    const cli = await aws(server, [
      's3api',
      'list-objects',
      '--bucket',
      bucket,
      '--prefix',
      'v1 list/',
      '--output',
      'json',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    const listed = JSON.parse(cli.stdout);
    assert.equal(listed.Prefix, 'v1 list/');
    assert.deepEqual(
      listed.Contents.map((o: { Key: string }) => o.Key),
      ['v1 list/a b'],
    );
  });

  test('an empty continuation-token is no token: the listing starts at the beginning', async () => {
    await put('token/a');
    const response = await raw('GET', `/${bucket}?list-type=2&prefix=token%2F&continuation-token=`);
    assert.equal(response.status, 200, response.body);
    assert.match(response.body, /<ContinuationToken><\/ContinuationToken>|<ContinuationToken\/>/);
    assert.match(response.body, /<Key>token\/a<\/Key>/);
    const sdk = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'token/', ContinuationToken: '' }),
    );
    assert.deepEqual(
      sdk.Contents?.map((o) => o.Key),
      ['token/a'],
    );
  });
});
