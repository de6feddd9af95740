// Reads and writes that do not wait on a hung or dead data server (issue 12), in a cluster of
// separate processes: one metadata process, six `--role data` processes and an S3 gateway.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const DATA_SERVERS = 6;
// Far below the 30 s RPC timeout a GET used to wait on (twice per stripe), far above what a
// GET of these sizes takes even on a loaded machine: a guard against the wait, not a benchmark.
const GET_WITHOUT_TIMEOUT_WAIT_MS = 10_000;

const md5 = md5Hex;

// Shard files of one data process: "<stripeId>.<index>" names.
function shardNames(dataDir: string): Set<string> {
  const names = new Set<string>();
  for (let d = 0; d < 6; d++) {
    const root = join(dataDir, 'disks', `d${d}`, 'shards');
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) names.add(basename(entry.name));
    }
  }
  return names;
}

function metric(text: string, name: string): number {
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(line, `the gateway exports ${name}`);
  return Number(line[1]);
}

describe('a cluster of separate processes routes around hung and dead data servers', () => {
  let metadata: StrataProcess;
  let gateway: StrataProcess;
  const data: StrataProcess[] = [];
  const stopped = new Set<StrataProcess>();
  let s3: S3Client;
  const written = new Map<string, Buffer>();

  before(async () => {
    metadata = await startStrata({ args: ['--role', 'metadata'], ready: ['metadata'] });
    const started = await Promise.allSettled(
      Array.from({ length: DATA_SERVERS }, (_, i) =>
        startStrata({
          args: [
            '--role',
            'data',
            '--node-id',
            `${i + 2}`,
            '--metadata-addr',
            metadata.metadataAddr,
          ],
          ready: [],
        }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') data.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    gateway = await startStrata({
      args: ['--role', 's3', '--metadata-addr', metadata.metadataAddr],
      ready: ['s3'],
    });
    s3 = s3Client(gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'hung' }));
  });

  after(async () => {
    s3?.destroy();
    for (const p of stopped) p.process.kill('SIGCONT');
    await Promise.all([gateway, ...data, metadata].map((p) => p?.stop()));
  });

  async function put(key: string, body: Buffer): Promise<void> {
    await s3.send(new PutObjectCommand({ Bucket: 'hung', Key: key, Body: body }));
    written.set(key, body);
  }

  // GETs the object and checks its bytes; returns how long the GET took.
  async function getChecked(key: string): Promise<number> {
    const startedMs = performance.now();
    const reply = await s3.send(new GetObjectCommand({ Bucket: 'hung', Key: key }));
    const bytes = await bodyBytes(reply.Body);
    const elapsedMs = performance.now() - startedMs;
    assert.equal(md5(bytes), md5(written.get(key) as Buffer), `the bytes of ${key}`);
    return elapsedMs;
  }

  test('with one data server stopped (SIGSTOP), GETs return the right bytes without waiting on RPC timeouts, by hedging to parity; PUTs do not wait on it either', async (t) => {
    const before = data.map((p) => shardNames(p.dataDir));
    await put('one-stripe', patternBytes(1024 * 1024 + 7, 5));
    // The server holding data shard 0 of that stripe: every read of the object needs it.
    const holder = data.find((p, i) =>
      [...shardNames(p.dataDir)].some((n) => !before[i].has(n) && n.endsWith('.0')),
    );
    assert.ok(holder, 'a data server holds shard 0 of the new stripe');
    await put('twenty-mb', patternBytes(20 * 1024 * 1024 + 3, 6));
    await getChecked('one-stripe'); // latencies observed while every server answers
    holder.process.kill('SIGSTOP');
    stopped.add(holder);
    try {
      // Its shard writes never answer: the stripe commits at its quorum a moment later.
      const putStartedMs = performance.now();
      await put('during-stop', patternBytes(3 * 1024 * 1024 + 11, 9));
      const putMs = performance.now() - putStartedMs;
      t.diagnostic(`PUT of 3 MiB with a server stopped: ${Math.round(putMs)} ms`);
      assert.ok(putMs < GET_WITHOUT_TIMEOUT_WAIT_MS, `PUT took ${Math.round(putMs)} ms`);
      for (const pass of [1, 2]) {
        for (const key of ['one-stripe', 'twenty-mb', 'during-stop']) {
          const elapsedMs = await getChecked(key);
          t.diagnostic(
            `GET ${key} pass ${pass} with a server stopped: ${Math.round(elapsedMs)} ms`,
          );
          assert.ok(
            elapsedMs < GET_WITHOUT_TIMEOUT_WAIT_MS,
            `GET ${key} (pass ${pass}) took ${Math.round(elapsedMs)} ms with a server stopped`,
          );
        }
      }
      const metrics = await (await fetch(gateway.metricsUrl)).text();
      assert.ok(metric(metrics, 'strata_client_hedged_reads_total') >= 1, 'hedged reads counted');
      assert.ok(metric(metrics, 'strata_client_hedge_wins_total') >= 1, 'hedges that won counted');
      assert.equal(metric(metrics, 'strata_client_servers_avoided'), 1, 'the stopped server');
      assert.match(gateway.output(), /data server not answering; routing reads and writes around/);
    } finally {
      holder.process.kill('SIGCONT');
      stopped.delete(holder);
    }
    // Resumed, it is probed when its backoff ends (reads of the object need its shard 0) and
    // used again.
    let avoided = 1;
    for (let attempt = 0; attempt < 60 && avoided > 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await getChecked('one-stripe');
      avoided = metric(
        await (await fetch(gateway.metricsUrl)).text(),
        'strata_client_servers_avoided',
      );
    }
    assert.equal(avoided, 0, 'the resumed server is no longer avoided');
    assert.match(gateway.output(), /data server answering again/);
  });

  test('with two data servers killed (-9), PUTs of new objects succeed and read back, and old objects read', async () => {
    if (written.size === 0) {
      await put('one-stripe', patternBytes(1024 * 1024 + 7, 5));
      await put('twenty-mb', patternBytes(20 * 1024 * 1024 + 3, 6));
    }
    await data[0].kill();
    await data[1].kill();
    // Within ~2 s of the kills a PUT can still get 503 "please retry" (seen once in CI: a known
    // gap, noted in issue 12); an SDK at its default (3 attempts) retries it, as here.
    const retrying = new S3Client({
      endpoint: gateway.s3Endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: gateway.accessKey, secretAccessKey: gateway.secretKey },
      maxAttempts: 3,
    });
    const putRetrying = async (key: string, body: Buffer) => {
      await retrying.send(new PutObjectCommand({ Bucket: 'hung', Key: key, Body: body }));
      written.set(key, body);
    };
    try {
      await putRetrying('after-kill-one-stripe', patternBytes(2 * 1024 * 1024 + 1, 7));
      await putRetrying('after-kill-twenty-mb', patternBytes(20 * 1024 * 1024 + 9, 8));
    } catch (error) {
      // The gateway's log says which refusal it was (a placement, a shard write, its keys).
      const tail = gateway.output().slice(-6000);
      throw new Error(`${(error as Error).message}\ngateway output:\n${tail}`, { cause: error });
    } finally {
      retrying.destroy();
    }
    for (const key of written.keys()) await getChecked(key);
  });
});
