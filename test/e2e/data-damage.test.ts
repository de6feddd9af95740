// Damaged data versus unavailable servers. A stripe that has lost more shards than parity can
// rebuild (its servers answered: the shards are absent or corrupt) is damaged: 500 InternalError
// saying so, the object named in an error log line, strata_data_damaged_reads_total counted.
// Servers that merely do not answer stay 503 ServiceUnavailable (retry later). A whole-object GET
// whose bytes do not match the digest the gateway took as it received them (the CRC32C recorded
// beside the ETag, or the ETag's MD5) is refused, never completed as if fine.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startSplitRoles, startStrata } from '../helpers/server.ts';
import { resealed, shardsByStripe } from '../helpers/shards.ts';

type SdkError = Error & { $metadata?: { httpStatusCode?: number } };

async function metricValue(server: StrataProcess, series: string): Promise<number> {
  const metrics = await (await fetch(server.metricsUrl)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return Number(line?.split(' ')[1] ?? 0);
}

describe('damaged data', () => {
  let server: StrataProcess;
  let s3: S3Client;
  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'damage' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  // PUTs an object and returns the shard files of the stripes it wrote.
  async function put(key: string, body: Buffer): Promise<string[][]> {
    const before = new Set(shardsByStripe(server.dataDir).keys());
    await s3.send(new PutObjectCommand({ Bucket: 'damage', Key: key, Body: body }));
    return [...shardsByStripe(server.dataDir)].filter(([id]) => !before.has(id)).map(([, f]) => f);
  }

  const get = (key: string) => s3.send(new GetObjectCommand({ Bucket: 'damage', Key: key }));

  test('a stripe with more shards lost than parity rebuilds is a damaged-data error, logged by name and counted', async () => {
    const payload = patternBytes(3 * 1024 * 1024, 17);
    const [stripe] = await put('lost/object', payload);
    const series = 'strata_data_damaged_reads_total{reason="stripe_lost"}';
    const before = await metricValue(server, series);
    for (const index of [0, 3, 5]) rmSync(stripe[index]); // k=4, m=2: three lost is one too many
    const error = (await get('lost/object').catch((e) => e)) as SdkError;
    assert.ok(error instanceof Error, 'the GET fails');
    assert.equal(error.$metadata?.httpStatusCode, 500, `not 503: ${error.message}`);
    assert.equal(error.name, 'InternalError');
    assert.match(error.message, /damaged/);
    assert.equal(await metricValue(server, series), before + 1);
    const logged = server
      .output()
      .split('\n')
      .filter((l) => l.includes('object data damaged') && l.includes('"key":"lost/object"'));
    assert.equal(logged.length, 1, `one error line naming the object:\n${server.output()}`);
    assert.match(logged[0], /"level":"error"/);
  });

  test('a whole-object GET whose bytes do not match the ETag is refused before its headers', async () => {
    const payload = patternBytes(3 * 1024 * 1024, 19);
    const [stripe] = await put('md5/small', payload);
    // Data shard 0 with one byte changed and valid checksums: as if the writer had stored wrong
    // bytes. No shard check can see it; only the object's MD5 can.
    const file = readFileSync(stripe[0]);
    writeFileSync(
      stripe[0],
      resealed(file, stripe[0], (data) => (data[1000] ^= 0x01)),
    );
    const series = 'strata_data_damaged_reads_total{reason="checksum_mismatch"}';
    const before = await metricValue(server, series);
    const error = (await get('md5/small').catch((e) => e)) as SdkError;
    assert.ok(error instanceof Error, 'the GET fails instead of serving the wrong bytes');
    assert.equal(error.$metadata?.httpStatusCode, 500);
    assert.match(error.message, /damaged/);
    assert.equal(await metricValue(server, series), before + 1);
    assert.ok(server.output().includes('"key":"md5/small"'), 'the log names the object');
    // Checked against the CRC32C the gateway took beside the ETag (object-digest.ts).
    assert.match(server.output(), /CRC32C recorded with the object's ETag/);
  });

  test('a mismatch found after the headers went out cuts the connection before the last bytes', async () => {
    const payload = patternBytes(10 * 1024 * 1024, 23);
    const stripes = await put('md5/large', payload);
    for (const stripe of stripes) {
      const file = readFileSync(stripe[0]);
      writeFileSync(
        stripe[0],
        resealed(file, stripe[0], (data) => (data[7] ^= 0x80)),
      );
    }
    const series = 'strata_data_damaged_reads_total{reason="checksum_mismatch"}';
    const before = await metricValue(server, series);
    const reply = await get('md5/large');
    assert.equal(reply.$metadata.httpStatusCode, 200, 'the first bytes were fine');
    const outcome = await bodyBytes(reply.Body).then(
      (bytes) => `completed with ${bytes.length} bytes`,
      () => 'cut',
    );
    assert.equal(outcome, 'cut');
    assert.equal(await metricValue(server, series), before + 1, 'cut by the MD5 check');
  });

  test('healthy single-part and multipart objects pass the whole-object check', async () => {
    const single = patternBytes(9 * 1024 * 1024 + 11, 29);
    await put('ok/single', single);
    assert.ok((await bodyBytes((await get('ok/single')).Body)).equals(single));
    const parts = [patternBytes(5 * 1024 * 1024, 31), patternBytes(1024 * 1024 + 3, 37)];
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'damage', Key: 'ok/multi' }),
    );
    const etags = [];
    for (const [i, body] of parts.entries()) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: 'damage',
          Key: 'ok/multi',
          UploadId,
          PartNumber: i + 1,
          Body: body,
        }),
      );
      etags.push({ PartNumber: i + 1, ETag: part.ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'damage',
        Key: 'ok/multi',
        UploadId,
        MultipartUpload: { Parts: etags },
      }),
    );
    assert.ok((await bodyBytes((await get('ok/multi')).Body)).equals(Buffer.concat(parts)));
  });
});

test('data servers that are only unreachable are 503 ServiceUnavailable, not damaged data', async () => {
  const roles = await startSplitRoles();
  const { data, gateway } = roles;
  try {
    const s3 = s3Client(gateway);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'down' }));
      await s3.send(
        new PutObjectCommand({ Bucket: 'down', Key: 'k', Body: patternBytes(1024 * 1024, 3) }),
      );
      await data.stop();
      const error = (await s3
        .send(new GetObjectCommand({ Bucket: 'down', Key: 'k' }))
        .catch((e) => e)) as SdkError;
      assert.equal(error.$metadata?.httpStatusCode, 503, error.message);
      assert.equal(error.name, 'ServiceUnavailable');
      assert.equal(
        await metricValue(gateway, 'strata_data_damaged_reads_total{reason="stripe_lost"}'),
        0,
      );
    } finally {
      s3.destroy();
    }
  } finally {
    await roles.stop();
  }
});
