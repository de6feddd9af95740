// S3 GET bodies in pooled buffers (src/s3/handlers/object-get.ts, ReleaseOnWrite): a gateway
// reads a plain object's shards into buffers of its pool and gives each piece's back once the
// response socket has taken it. Slow readers hold pieces unsent in the gateway while fast GETs of
// another object reuse buffers: a piece given back before it was written would reach its slow
// reader with the other object's bytes. The gateway runs as its own process (--role s3), so its
// metrics page shows its own pool alone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { type SplitRoles, startSplitRoles } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const MiB = 1024 * 1024;

interface PoolFigures {
  fromIdle: number;
  fromNew: number;
  out: number;
}

function poolFigures(page: string): PoolFigures {
  const value = (series: string) => {
    const line = page.split('\n').find((l) => l.startsWith(`${series} `));
    assert(line !== undefined, `${series} is on the gateway's metrics page`);
    return Number(line.slice(series.length + 1));
  };
  return {
    fromIdle: value('strata_process_shard_buffers_acquired_total{from="idle"}'),
    fromNew: value('strata_process_shard_buffers_acquired_total{from="new"}'),
    out: value('strata_process_shard_buffers_out'),
  };
}

describe('S3 GET bodies in pooled buffers', () => {
  let roles: SplitRoles;
  let s3: S3Client;
  const slowObject = patternBytes(24 * MiB + 5, 7); // six 4 MiB stripes and a bit
  const fastObject = patternBytes(8 * MiB + 3, 8);
  const scrape = async () => poolFigures(await (await fetch(roles.gateway.metricsUrl)).text());

  before(async () => {
    roles = await startSplitRoles();
    s3 = s3Client(roles.gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'pooled' }));
    await s3.send(new PutObjectCommand({ Bucket: 'pooled', Key: 'slow', Body: slowObject }));
    await s3.send(new PutObjectCommand({ Bucket: 'pooled', Key: 'fast', Body: fastObject }));
  });
  after(async () => {
    s3?.destroy();
    await roles?.stop();
  });

  const getBody = async (Key: string) =>
    (await s3.send(new GetObjectCommand({ Bucket: 'pooled', Key })))
      .Body as AsyncIterable<Uint8Array>;

  // Reads a chunk, then waits: the gateway's writes back up and its pieces wait unsent.
  const readSlowly = async (body: AsyncIterable<Uint8Array>) => {
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      chunks.push(Buffer.from(chunk));
      await sleep(2);
    }
    return Buffer.concat(chunks);
  };

  test('slow and fast readers get their own bytes, and every buffer goes back', async () => {
    const start = await scrape();
    let slowDone = false;
    const slow = Promise.all([
      readSlowly(await getBody('slow')),
      readSlowly(await getBody('slow')),
    ]);
    const markDone = () => {
      slowDone = true;
    };
    slow.then(markDone, markDone);
    let fastReads = 0;
    let fastBesideSlow = 0; // fast GETs that finished while the slow readers still read
    while (!slowDone) {
      const [a, b] = await Promise.all([
        bodyBytes(await getBody('fast')),
        bodyBytes(await getBody('fast')),
      ]);
      assert(a.equals(fastObject) && b.equals(fastObject), 'a fast GET has its own object');
      fastReads += 2;
      if (!slowDone) fastBesideSlow += 2;
    }
    const [first, second] = await slow;
    assert(first.equals(slowObject), 'the first slow reader got the object it asked for');
    assert(second.equals(slowObject), 'the second slow reader got the object it asked for');
    assert(fastBesideSlow >= 2, 'fast GETs ran while the slow readers held their pieces');

    // Every piece's buffers are given back once written, none is left out.
    await until(
      'the pieces written given back',
      async () => ((await scrape()).out === start.out ? true : undefined),
      { limitMs: 10_000 },
    );
    const end = await scrape();
    const acquired = end.fromIdle + end.fromNew - (start.fromIdle + start.fromNew);
    // Each whole 4 MiB stripe read took a pooled buffer per data shard (4), for every GET made
    // (each object's last stripe, a few bytes, has shards below the pool's smallest size).
    const stripesRead = 2 * 6 + fastReads * 2;
    assert(acquired >= stripesRead * 4, `${acquired} pooled buffers for ${stripesRead} stripes`);
    assert(end.fromIdle > start.fromIdle, 'buffers were reused');
  });
});
