// The hedged stripe reader against a real data server, with the order in which shards answer
// fixed by holding one shard's reply: orders a loaded machine produces by chance.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ServerHealth } from '../../src/client/server-health.ts';
import { shardFromData } from '../../src/client/stripe-codec.ts';
import {
  readStripeRange,
  readStripeRangePartsLeased,
  type StripeReadPool,
} from '../../src/client/stripe-read.ts';
import { shardBuffers } from '../../src/common/buffer-pool.ts';
import { DataClient, type DataService, startDataService } from '../../src/data/index.ts';
import type { Stripe } from '../../src/metadata/types.ts';
import '../helpers/cluster-token.ts';

const K = 4;
const M = 2;
const SHARD_BYTES = 64 * 1024;
let root: string;
let service: DataService;
let client: DataClient;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'strata-stripe-read-'));
  const disks = Array.from({ length: K + M }, (_, i) => join(root, `d${i}`));
  service = await startDataService({ serverId: 's1', host: '127.0.0.1', port: 0, disks });
  client = new DataClient(`127.0.0.1:${service.port}`);
});

after(async () => {
  await client?.close();
  await service?.close();
  rmSync(root, { recursive: true, force: true });
});

// Writes the stripe's shards except `lost`, one per disk.
async function writeStripe(id: string, data: Buffer, lost: number[]): Promise<Stripe> {
  const stripe: Stripe = {
    id,
    k: K,
    m: M,
    shardSizeBytes: SHARD_BYTES,
    dataLengthBytes: data.length,
    shards: Array.from({ length: K + M }, (_, disk) => ({ serverId: 's1', disk })),
  };
  let version = 0;
  for (let index = 0; index < K + M; index++) {
    if (lost.includes(index)) continue;
    const reply = await client.putShard(
      { stripeId: id, shardIndex: index, disk: index },
      shardFromData(stripe, data, index),
    );
    version = reply.version ?? 1;
  }
  return { ...stripe, shardVersion: version };
}

// A pool over the one real server whose reads of `heldShard` answer only once every other read
// has settled and `release` was called: the held shard answers last.
function poolHolding(heldShard: number, health = new ServerHealth()) {
  let settledOthers = 0;
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const reads: Array<{ shard: number; length: number }> = [];
  const holding: DataClient = Object.create(client);
  holding.getShard = async (header, options) => {
    reads.push({ shard: header.shardIndex, length: header.length ?? -1 });
    if (header.shardIndex === heldShard) {
      await released;
      return client.getShard(header, options);
    }
    try {
      return await client.getShard(header, options);
    } finally {
      settledOthers++;
    }
  };
  const pool: StripeReadPool = {
    client: async () => holding,
    clusterAvoids: () => false,
    health,
    report: () => {},
    reportAbandoned: () => {},
    skipForRead: () => false,
    refresh: async () => [],
  };
  return { pool, release, reads, settledOthers: () => settledOthers };
}

function withinSeconds<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer in ${seconds} s`)),
      seconds * 1000,
    );
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

test('a read that needs a shard whose short exact range answers last still decodes (data shard 0 and a parity lost)', async () => {
  // Data ends 3 bytes into shard 1: the read wants shard 0 whole and 3 bytes of shard 1. With
  // shard 0 and shard 3 lost, the window decode needs shard 1's whole window, which becomes a
  // candidate only once its 3-byte read answered, after every other read.
  const data = Buffer.alloc(SHARD_BYTES + 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  const stripe = await writeStripe('a'.repeat(32), data, [0, 3]);
  const hedgeAtOnce = new ServerHealth({
    hedgeDelayMsMin: 1,
    hedgeDelayMsDefault: 1,
    hedgeDelayMsMax: 1,
  });
  const { pool, release, reads, settledOthers } = poolHolding(1, hedgeAtOnce);
  const reading = readStripeRange(pool, stripe, 0, data.length);
  // Shard 0 and 3 fail, 2, 4 and 5 answer; the hedge timer (1 ms) has long fired.
  for (let waited = 0; settledOthers() < 5; waited++) {
    assert.ok(waited < 500, `other reads settled: ${settledOthers()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  const got = await withinSeconds(reading, 10, 'the stripe read');
  assert.ok(got.equals(data), 'the decoded bytes are the data');
  assert.ok(
    reads.some((r) => r.shard === 1 && r.length === SHARD_BYTES),
    'shard 1 was read over the whole window after its exact range',
  );
});

test('with no shard lost, a short range is one read of its shard', async () => {
  const data = Buffer.alloc(2 * SHARD_BYTES, 0x5a);
  const stripe = await writeStripe('b'.repeat(32), data, []);
  const { pool, release, reads } = poolHolding(-1);
  release();
  const got = await readStripeRange(pool, stripe, 10, 100);
  assert.ok(got.equals(data.subarray(10, 110)));
  assert.deepEqual(reads, [{ shard: 0, length: 100 }]);
});

// One server hung and both parity holders recorded suspect (a loaded machine's late heartbeats):
// the hedge must ask them rather than wait for the hung read's timeout.
test('a hedge asks servers the cluster records suspect when nothing else makes up k', async () => {
  const data = Buffer.alloc(K * SHARD_BYTES);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13 + 5) & 0xff;
  const written = await writeStripe('e'.repeat(32), data, []);
  // Each shard on a server of its own in the stripe's record (the files are all on s1).
  const stripe: Stripe = {
    ...written,
    shards: written.shards.map((shard, i) => ({ ...shard, serverId: `server-${i}` })),
  };
  const hedgeAtOnce = new ServerHealth({
    hedgeDelayMsMin: 1,
    hedgeDelayMsDefault: 1,
    hedgeDelayMsMax: 1,
  });
  const { pool, release, reads } = poolHolding(0, hedgeAtOnce);
  const suspect = new Set(['server-4', 'server-5']);
  pool.clusterAvoids = (serverId) => suspect.has(serverId);
  try {
    const got = await withinSeconds(
      readStripeRange(pool, stripe, 0, data.length),
      3,
      'the stripe read with shard 0 hung',
    );
    assert.ok(got.equals(data), 'decoded from shards 1-3 and a suspect server’s parity');
    assert.ok(
      reads.some((r) => r.shard === 4 || r.shard === 5),
      'a parity shard on a suspect server was asked',
    );
  } finally {
    release();
  }
});

// An encrypted GET reads its sealed window this way and gives the buffers back once opened.
test('a leased range read hands on pooled bodies and gives every one back, read straight or decoded', async () => {
  shardBuffers.poisonOnRelease = true; // a part read after its release would not match
  try {
    const data = Buffer.alloc(K * SHARD_BYTES);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13 + (i >> 8)) & 0xff;
    for (const lost of [[], [1]]) {
      const stripe = await writeStripe(
        lost.length === 0 ? 'c'.repeat(32) : 'd'.repeat(32),
        data,
        lost,
      );
      const { pool, release } = poolHolding(-1);
      release();
      const outBefore = shardBuffers.counts.out;
      const read = await readStripeRangePartsLeased(pool, stripe, 5, data.length - 10);
      assert.ok(
        Buffer.concat(read.parts).equals(data.subarray(5, data.length - 5)),
        `lost ${lost}`,
      );
      if (lost.length === 0)
        assert.ok(shardBuffers.counts.out > outBefore, 'the bodies are pooled');
      read.release();
      // Reads the decode did not need are given back as they arrive, after the result.
      for (let waited = 0; shardBuffers.counts.out !== outBefore; waited++) {
        assert.ok(waited < 500, `pooled buffers still out: ${shardBuffers.counts.out - outBefore}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  } finally {
    shardBuffers.poisonOnRelease = false;
  }
});
