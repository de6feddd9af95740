// data.rebuildShard end to end over real RPC: six data services on port 0 (in this process, as
// test/data/data-service.test.ts starts them), a 4+2 stripe written to them with putShard, and
// the target asked to rebuild a shard from its peers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { shardFromData } from '../../src/client/stripe-codec.ts';
import { aggregatedMetrics } from '../../src/cluster/data-child.ts';
import { REPAIR_THREAD_NICE } from '../../src/cluster/repair-thread.ts';
import { ShardRebuilder } from '../../src/cluster/shard-rebuilder.ts';
import { repairBuffers, shardBuffers } from '../../src/common/buffer-pool.ts';
import { isStrataError } from '../../src/common/errors.ts';
import { directReads, REBUILD_SLAB_BYTES, rebuildStaging } from '../../src/data/direct-staging.ts';
import {
  DataClient,
  type DataService,
  type RebuildShardHeader,
  type RepairCpuClass,
  startDataService,
} from '../../src/data/index.ts';
import { DATA_RPC } from '../../src/data/types.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { rpcRequests } from '../../src/observability/metrics.ts';
import '../helpers/cluster-token.ts';

const K = 4;
const M = 2;
const SCHED_IDLE = 5; // the kernel's policy number (include/uapi/linux/sched.h)
const SHARD_BYTES = 200_000; // not a multiple of the 64 KiB checksum block
const cleanups: Array<() => unknown> = [];
// Rebuilds read into pooled buffers (src/common/buffer-pool.ts) at the sources, at the target's
// RPC client and for the coded shard. Every buffer is overwritten when given back, so one read
// after its release corrupts a rebuilt shard (and the byte-for-byte checks fail); and every one
// must be given back by the end of a test (late replies of reads a rebuild no longer needed
// included). The coded shard is in this process's rebuild slab (rebuildStaging: the event loop
// writes it from there), or in its repairBuffers when the slab is full; the sources' reads (the
// direct-read slab, or a pool when it is full), the target's replies and its own disk's reads
// are in each server's repair thread's pools (repair-service.ts), which RepairThread.pools
// reports and poisons: all are checked.
shardBuffers.poisonOnRelease = true;
repairBuffers.poisonOnRelease = true;
directReads.poisonOnRelease = true;
rebuildStaging.poisonOnRelease = true;
const live: ShardRebuilder[] = []; // this test's servers' rebuilders
async function poolCounts() {
  const [a, b] = [shardBuffers.counts, repairBuffers.counts];
  const threads = await Promise.all(live.map((r) => r.thread.pools(true)));
  const slabs = [directReads, rebuildStaging].map((slab) => slab.leasedBytes);
  const slabsOut = [...slabs, ...threads.map((t) => t.slabLeasedBytes)].filter(
    (bytes) => bytes > 0,
  ).length;
  const sum = (f: (c: { reused: number; allocated: number; out: number }) => number) =>
    f(a) + f(b) + threads.reduce((total, t) => total + f(t), 0);
  return {
    reused: sum((c) => c.reused),
    allocated: sum((c) => c.allocated),
    out: sum((c) => c.out) + slabsOut,
  };
}
afterEach(async () => {
  const outAtEnd = await settledOut();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  live.length = 0;
  assert.equal(outAtEnd, 0, 'every pooled buffer was given back');
});

// The pooled buffers still out once the replies in flight have landed (polled: a late reply of
// a read the rebuild no longer needed may still be on its way when the rebuild answers).
async function settledOut(): Promise<number> {
  for (let i = 0; i < 100 && (await poolCounts()).out > 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  return (await poolCounts()).out;
}

interface Server {
  serverId: string;
  addr: string;
  disk: string;
  service: DataService;
  client: DataClient;
  rebuilder: ShardRebuilder;
}

// `withoutRebuilder`: servers started as an older version would be, with no repair port (and no
// data.rebuildShard): their peers read them on their service port.
async function startServers(
  count: number,
  options: { rebuild?: boolean; withoutRebuilder?: number[]; cpuClass?: RepairCpuClass } = {},
) {
  const servers: Server[] = [];
  const rebuilds = (i: number) =>
    options.rebuild !== false && !(options.withoutRebuilder ?? []).includes(i);
  for (let i = 0; i < count; i++) {
    const disk = mkdtempSync(join(tmpdir(), 'strata-rebuild-'));
    cleanups.push(() => rmSync(disk, { recursive: true, force: true }));
    const rebuilder = new ShardRebuilder(silentLogger);
    const service = await startDataService({
      serverId: `s${i}`,
      host: '127.0.0.1',
      port: 0,
      disks: [disk],
      repairCpuClass: options.cpuClass,
      ...(!rebuilds(i) ? {} : rebuilder.serviceHooks()),
    });
    cleanups.push(() => service.close().then(() => rebuilder.close()));
    if (rebuilds(i)) {
      live.push(rebuilder);
      await rebuilder.thread.pools(true); // poisoned from now
    }
    const addr = `127.0.0.1:${service.port}`;
    const client = new DataClient(addr);
    cleanups.push(() => client.close());
    servers.push({ serverId: `s${i}`, addr, disk, service, client, rebuilder });
  }
  return servers;
}

// A stripe of random data (not filling the last data shard), shard i written to server i.
async function writeStripe(servers: Server[], dataLengthBytes: number) {
  const stripeId = randomBytes(16).toString('hex');
  const geometry = { k: K, m: M, shardSizeBytes: SHARD_BYTES };
  const data = randomBytes(dataLengthBytes);
  const shards = Array.from({ length: K + M }, (_, i) => shardFromData(geometry, data, i));
  for (let i = 0; i < K + M; i++)
    await servers[i].client.putShard({ stripeId, shardIndex: i, disk: 0 }, shards[i]);
  return { stripeId, shards, dataLengthBytes };
}

function request(
  servers: Server[],
  stripe: { stripeId: string; dataLengthBytes: number },
  shardIndex: number,
  avoid: number[] = [],
): RebuildShardHeader {
  return {
    stripeId: stripe.stripeId,
    shardIndex,
    disk: 0,
    k: K,
    m: M,
    shardSizeBytes: SHARD_BYTES,
    dataLengthBytes: stripe.dataLengthBytes,
    shardVersion: 2,
    sources: servers.slice(0, K + M).map((s, i) => ({
      serverId: s.serverId,
      addr: s.addr,
      disk: 0,
      avoid: avoid.includes(i),
    })),
  };
}

function shardPath(server: Server, stripeId: string, index: number): string {
  const root = join(server.disk, 'shards');
  const name = readdirSync(root, { recursive: true, encoding: 'utf8' }).find((n) =>
    n.endsWith(`${stripeId}.${index}`),
  );
  assert.ok(name, `shard ${index} is on ${server.serverId}`);
  return join(root, name);
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isStrataError(e) ? e.code : String(e)),
  );

describe('data.rebuildShard', () => {
  test('every shard index rebuilt on a seventh server from the other shards is byte-identical', async () => {
    const servers = await startServers(7);
    const stripe = await writeStripe(servers, 3 * SHARD_BYTES + 12_345);
    const target = servers[6];
    for (let index = 0; index < K + M; index++) {
      // The shard's own server is recorded down: the target must decode it from the others.
      await servers[index].client.deleteShards({
        shards: [{ stripeId: stripe.stripeId, shardIndex: index, disk: 0 }],
      });
      const reply = await target.client.rebuildShard(request(servers, stripe, index, [index]));
      assert.equal(reply.sizeBytes, SHARD_BYTES);
      const rebuilt = await target.client.getShard({
        stripeId: stripe.stripeId,
        shardIndex: index,
        disk: 0,
      });
      assert.ok(rebuilt.equals(stripe.shards[index]), `shard ${index} rebuilt byte for byte`);
      await servers[index].client.putShard(
        { stripeId: stripe.stripeId, shardIndex: index, disk: 0 },
        stripe.shards[index],
      );
    }
  });

  test('moves and rebuilds of every index match, on short stripes with padding-only data shards', async () => {
    const servers = await startServers(7);
    const target = servers[6];
    for (const dataLengthBytes of [1, SHARD_BYTES + 7, 2 * SHARD_BYTES]) {
      const stripe = await writeStripe(servers, dataLengthBytes);
      for (let index = 0; index < K + M; index++) {
        // A move (its old copy answers) and a rebuild with a data shard's server down: decoded.
        for (const avoid of [[], [index], [(index + 1) % K]]) {
          await target.client.rebuildShard(request(servers, stripe, index, avoid));
          const at = { stripeId: stripe.stripeId, shardIndex: index, disk: 0 };
          const rebuilt = await target.client.getShard(at);
          assert.ok(
            rebuilt.equals(stripe.shards[index]),
            `shard ${index} of ${dataLengthBytes} bytes, avoiding ${avoid}`,
          );
          await target.client.deleteShards({ shards: [at] });
        }
      }
    }
  });

  test('rebuilds reuse the pooled buffers of the rebuilds before them', async () => {
    const servers = await startServers(7);
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    const target = servers[6];
    const rebuildAll = async () => {
      for (let index = 0; index < K + M; index++) {
        await target.client.rebuildShard(request(servers, stripe, index, [index]));
        await target.client.deleteShards({
          shards: [{ stripeId: stripe.stripeId, shardIndex: index, disk: 0 }],
        });
      }
    };
    await rebuildAll();
    assert.equal(await settledOut(), 0);
    const before = await poolCounts();
    const codedBefore = repairBuffers.counts;
    await rebuildAll();
    const after = await poolCounts();
    assert.equal(after.allocated, before.allocated, 'no new buffers: the idle ones served');
    // Each rebuild: k replies at the target (the target holds no shard of the stripe: all its
    // sources are remote). (The k source reads are in the direct-read slab.)
    assert.ok(after.reused - before.reused >= (K + M) * K, `${after.reused} reused`);
    // The coded shards were coded in the rebuild slab, where their writes take them from.
    const codedAfter = repairBuffers.counts;
    assert.equal(
      codedAfter.reused + codedAfter.allocated,
      codedBefore.reused + codedBefore.allocated,
    );
  });

  test('with the rebuild slab full, a shard is coded in a pooled buffer and written the same', async () => {
    const servers = await startServers(7);
    const stripe = await writeStripe(servers, 3 * SHARD_BYTES + 12_345);
    const target = servers[6];
    const taken = rebuildStaging.lease(REBUILD_SLAB_BYTES);
    assert.ok(taken !== undefined, 'the whole slab leased');
    try {
      const codedBefore = repairBuffers.counts;
      for (let index = 0; index < K + M; index++) {
        await target.client.rebuildShard(request(servers, stripe, index, [index]));
        const rebuilt = await target.client.getShard({
          stripeId: stripe.stripeId,
          shardIndex: index,
          disk: 0,
        });
        assert.ok(rebuilt.equals(stripe.shards[index]), `shard ${index} rebuilt byte for byte`);
      }
      const codedAfter = repairBuffers.counts;
      const used = (c: typeof codedAfter) => c.reused + c.allocated;
      assert.equal(used(codedAfter) - used(codedBefore), K + M, 'each coded in a pooled buffer');
    } finally {
      taken.release();
    }
  });

  test("a target's own shard of the stripe is read from its disk, not over the network", async () => {
    const servers = await startServers(6);
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    // Server 5 (holding parity shard 5) rebuilds shard 0, lost with its server. Shard 1 is gone
    // too, and the address the leader gives for server 5 itself answers nothing: shards 2, 3, 4
    // and 5 are the only k that decode, and shard 5 can only come from the target's own disk.
    const target = servers[5];
    for (const index of [0, 1])
      await servers[index].client.deleteShards({
        shards: [{ stripeId: stripe.stripeId, shardIndex: index, disk: 0 }],
      });
    const header = request(servers, stripe, 0, [0]);
    header.sources[5] = { ...header.sources[5], addr: '127.0.0.1:1' };
    await target.client.rebuildShard(header);
    const rebuilt = await target.client.getShard({
      stripeId: stripe.stripeId,
      shardIndex: 0,
      disk: 0,
    });
    assert.ok(rebuilt.equals(stripe.shards[0]), 'shard 0 decoded with the local shard 5');
  });

  test('in place: a whole file of the missing shard is taken, a torn one replaced, none rebuilt', async () => {
    // Six servers, one shard each (a cluster of exactly k + m disks): the shard is rebuilt on
    // the disk its record names, where its writer's late write may have landed after all.
    const servers = await startServers(6);
    const stripe = await writeStripe(servers, 3 * SHARD_BYTES + 12_345);
    const index = 2;
    const holder = servers[index];
    const at = { stripeId: stripe.stripeId, shardIndex: index, disk: 0 };
    const inPlace = { ...request(servers, stripe, index), inPlace: true };
    const path = shardPath(holder, stripe.stripeId, index);
    const notBoolean = { ...inPlace, inPlace: 'yes' as unknown as boolean };
    assert.equal(await codeOf(holder.client.rebuildShard(notBoolean)), 'EINVAL');
    // Whole: answered without a write (the file keeps its inode), and only in place: any other
    // rebuild onto a disk holding a file of the shard is refused.
    assert.equal(
      await codeOf(holder.client.rebuildShard(request(servers, stripe, index))),
      'EEXIST',
    );
    const inode = statSync(path).ino;
    const reply = await holder.client.rebuildShard(inPlace);
    assert.equal(reply.sizeBytes, SHARD_BYTES);
    assert.equal(statSync(path).ino, inode, 'the whole file taken as it is');
    // Torn (a crash cut the late write short), then a block damaged: replaced by a rebuild.
    for (const damage of ['truncate', 'garbage'] as const) {
      if (damage === 'truncate') truncateSync(path, 100_000);
      else {
        const fd = openSync(path, 'r+');
        writeSync(fd, Buffer.from('garbage!'), 0, 8, 150_000);
        closeSync(fd);
      }
      assert.equal(
        await codeOf(holder.client.getShard(at)),
        'SHARD_CORRUPT',
        `the ${damage} file reads corrupt`,
      );
      await holder.client.rebuildShard(inPlace);
      assert.ok((await holder.client.getShard(at)).equals(stripe.shards[index]), damage);
    }
    // No file at all (the absent shard of a degraded write): rebuilt there.
    await holder.client.deleteShards({ shards: [at] });
    await holder.client.rebuildShard(inPlace);
    assert.ok((await holder.client.getShard(at)).equals(stripe.shards[index]), 'rebuilt');
  });

  test('peers are read on their repair ports; one without is read on its service port', async () => {
    // Server 2 is of an older version: no repair port. Shards 0 (the one rebuilt) and 5 are gone,
    // so shards 1 to 4 are the only k that decode: each is read once, and only server 2's read
    // reaches a service port (the servers here share this process's RPC metrics; the repair
    // threads count theirs apart).
    const servers = await startServers(7, { withoutRebuilder: [2] });
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    for (const index of [0, 5])
      await servers[index].client.deleteShards({
        shards: [{ stripeId: stripe.stripeId, shardIndex: index, disk: 0 }],
      });
    const serviceReads = async () =>
      (await rpcRequests.get()).values
        .filter((v) => v.labels.method === DATA_RPC.getShard)
        .reduce((sum, v) => sum + v.value, 0);
    const before = await serviceReads();
    await servers[6].client.rebuildShard(request(servers, stripe, 0, [0, 5]));
    assert.equal((await serviceReads()) - before, 1, "only server 2's shard read on its port");
    const rebuilt = await servers[6].client.getShard({
      stripeId: stripe.stripeId,
      shardIndex: 0,
      disk: 0,
    });
    assert.ok(rebuilt.equals(stripe.shards[0]), 'shard 0 decoded from shards 1 to 4');
    // Server 1's repair port counted its read, in the thread's metrics, which the process's
    // /metrics adds to its own (data-child.ts aggregatedMetrics).
    const metrics = (await servers[1].rebuilder.thread.metrics()) as Array<{
      name: string;
      values: Array<{ value: number; labels: Record<string, string> }>;
    }>;
    const served = metrics
      .find((m) => m.name === 'strata_rpc_requests_total')
      ?.values.filter((v) => v.labels.method === DATA_RPC.getShard && v.labels.code === 'ok')
      .reduce((sum, v) => sum + v.value, 0);
    assert.equal(served, 1, "server 1's repair port served one read");
    const page = await aggregatedMetrics(new Registry(), [servers[1].rebuilder.thread]);
    assert.match(page, /strata_rpc_requests_total\{method="data.getShard",code="ok"\} 1/);
  });

  test("a peer's shard on a disk of this machine is read there, not on its repair port", async () => {
    const servers = await startServers(8);
    const target = servers[6];
    type MetricsJson = Array<{
      name: string;
      values: Array<{ value: number; labels: Record<string, string> }>;
    }>;
    const counted = async (server: Server, name: string, match: Record<string, string>) =>
      ((await server.rebuilder.thread.metrics()) as MetricsJson)
        .find((m) => m.name === name)
        ?.values.filter((v) => Object.entries(match).every(([k, want]) => v.labels[k] === want))
        .reduce((sum, v) => sum + v.value, 0) ?? 0;
    const portReads = async () => {
      let sum = 0;
      for (const server of servers.slice(0, 6))
        sum += await counted(server, 'strata_rpc_requests_total', { method: DATA_RPC.getShard });
      return sum;
    };
    const diskReads = (result: string, by = target) =>
      counted(by, 'strata_data_repair_peer_disk_reads_total', { result });
    const identity = (server: Server) => readFileSync(join(server.disk, 'disk-id'), 'utf8').trim();
    // Shard 0 gone with its server, shard 5's server marked avoided (asked only when nothing
    // else is left): shards 1 to 4 decode it, each from its peer's disk.
    const rebuildLost = async (stripe: Awaited<ReturnType<typeof writeStripe>>) => {
      await servers[0].client.deleteShards({
        shards: [{ stripeId: stripe.stripeId, shardIndex: 0, disk: 0 }],
      });
      const header = request(servers, stripe, 0, [0, 5]);
      header.sources = header.sources.map((source, i) => ({
        ...source,
        diskPath: servers[i].disk,
        diskId: identity(servers[i]),
      }));
      return header;
    };
    const check = async (stripe: Awaited<ReturnType<typeof writeStripe>>, at = target) => {
      const rebuilt = await at.client.getShard({
        stripeId: stripe.stripeId,
        shardIndex: 0,
        disk: 0,
      });
      assert.ok(rebuilt.equals(stripe.shards[0]), 'shard 0 decoded');
    };
    // Each disk's identity is looked at before its first read here: the k sources come from
    // their disks; a repair port is asked at most for the two avoided shards, if the reader
    // hedged to them (none on an idle machine).
    const first = await writeStripe(servers, K * SHARD_BYTES);
    let before = await portReads();
    await target.client.rebuildShard(await rebuildLost(first));
    await check(first);
    assert.ok((await diskReads('ok')) >= K, "k reads from the peers' disks");
    assert.ok((await portReads()) - before <= 2, 'no source read on a repair port');
    // Disks of another identity than the one recorded (replaced under their paths) are read
    // through their servers (a target that read no disk here before: server 7).
    const second = await writeStripe(servers, K * SHARD_BYTES);
    const replaced = await rebuildLost(second);
    replaced.sources = replaced.sources.map((source) => ({ ...source, diskId: 'f'.repeat(32) }));
    before = await portReads();
    await servers[7].client.rebuildShard(replaced);
    await check(second, servers[7]);
    assert.ok((await portReads()) - before >= K, 'k reads on repair ports');
    assert.equal(await diskReads('ok', servers[7]), 0, 'no read from a disk of another identity');
    assert.equal(await diskReads('fallback', servers[7]), 0, 'none tried');
    // A corrupt shard read here goes to its server, which finds it corrupt itself; shard 5 is
    // asked for at last.
    const third = await writeStripe(servers, K * SHARD_BYTES);
    const header = await rebuildLost(third);
    const fd = openSync(shardPath(servers[1], third.stripeId, 1), 'r+');
    writeSync(fd, Buffer.from('garbage!'), 0, 8, 100_000);
    closeSync(fd);
    await target.client.rebuildShard(header);
    await check(third);
    assert.ok((await diskReads('fallback')) >= 1, 'the corrupt shard asked of its server');
  });

  test('data.repairAddress names the repair port: any free one, or the one configured', async () => {
    const [server] = await startServers(1);
    const { port } = await server.client.repairAddress();
    assert.notEqual(port, server.service.port, 'a port of its own');
    // data.repair_port: a port known to be free a moment ago.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const chosen = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const disk = mkdtempSync(join(tmpdir(), 'strata-rebuild-'));
    cleanups.push(() => rmSync(disk, { recursive: true, force: true }));
    const rebuilder = new ShardRebuilder(silentLogger);
    const service = await startDataService({
      serverId: 'fixed',
      host: '127.0.0.1',
      port: 0,
      repairPort: chosen,
      disks: [disk],
      ...rebuilder.serviceHooks(),
    });
    cleanups.push(() => service.close().then(() => rebuilder.close()));
    live.push(rebuilder);
    const client = new DataClient(`127.0.0.1:${service.port}`);
    cleanups.push(() => client.close());
    assert.deepEqual(await client.repairAddress(), { port: chosen });
  });

  test('a peer whose repair port stopped answering is read on its service port', async () => {
    const servers = await startServers(7);
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    for (const index of [0, 5])
      await servers[index].client.deleteShards({
        shards: [{ stripeId: stripe.stripeId, shardIndex: index, disk: 0 }],
      });
    const target = servers[6];
    const rebuild = () => target.client.rebuildShard(request(servers, stripe, 0, [0, 5]));
    const dropRebuilt = () =>
      target.client.deleteShards({
        shards: [{ stripeId: stripe.stripeId, shardIndex: 0, disk: 0 }],
      });
    await rebuild(); // the target learns its peers' repair ports
    await dropRebuilt();
    // Server 2's repair port goes away (its thread stopped; a firewall that drops the port is
    // the same to the target): the read of shard 2 there is refused. With only k sources
    // left, that rebuild may fail; the next reads server 2 on its service port.
    await servers[2].rebuilder.thread.close();
    await rebuild().catch(() => undefined);
    await dropRebuilt().catch(() => undefined);
    const serviceReads = async () =>
      (await rpcRequests.get()).values
        .filter((v) => v.labels.method === DATA_RPC.getShard)
        .reduce((sum, v) => sum + v.value, 0);
    const before = await serviceReads();
    await rebuild();
    assert.equal((await serviceReads()) - before, 1, 'shard 2 read on its service port');
    const rebuilt = await target.client.getShard({
      stripeId: stripe.stripeId,
      shardIndex: 0,
      disk: 0,
    });
    assert.ok(rebuilt.equals(stripe.shards[0]));
  });

  test('the coding runs on a repair thread of lower CPU priority, the server thread keeps its own', {
    skip: process.platform !== 'linux' && 'per-thread nice values are a Linux feature',
  }, async () => {
    const servers = await startServers(7);
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    const target = servers[6];
    await target.client.rebuildShard(request(servers, stripe, 4, [4]));
    const rebuilt = await target.client.getShard({
      stripeId: stripe.stripeId,
      shardIndex: 4,
      disk: 0,
    });
    assert.ok(rebuilt.equals(stripe.shards[4]), 'coded on the thread, checksums verified on read');
    const priority = target.rebuilder.thread.priority;
    assert.ok(
      priority !== undefined && 'tid' in priority,
      `the thread said ${JSON.stringify(priority)}`,
    );
    assert.equal(priority.nice, REPAIR_THREAD_NICE);
    // The kernel's view (field 19 of the thread's stat: its nice value), and this thread's.
    const niceOf = (tid: number | string) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    assert.equal(niceOf(priority.tid), REPAIR_THREAD_NICE);
    assert.equal(niceOf(readlinkSync('/proc/thread-self').split('/').pop() as string), 0);
    // And under SCHED_IDLE (data.repair_cpu_class's default; field 41 of stat, the policy: 5),
    // as it said; this thread under SCHED_OTHER (0).
    const policyOf = (tid: number | string) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
    };
    // Set from the event loop once the repair port serves (chrt runs as a child process).
    for (let waited = 0; target.rebuilder.thread.cpuClass !== 'idle'; waited += 50) {
      assert.ok(
        waited < 10_000,
        `the class is set within 10 s: ${target.rebuilder.thread.cpuClass}`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(policyOf(priority.tid), SCHED_IDLE);
    assert.equal(policyOf(readlinkSync('/proc/thread-self').split('/').pop() as string), 0);
    // Its disk reads at the idle I/O class (data.repair_io_class's default), this thread's not.
    const ioClass = (tid: number | string) =>
      execFileSync('ionice', ['-p', String(tid)], { encoding: 'utf8' }).trim();
    assert.equal(ioClass(priority.tid), 'idle');
    assert.notEqual(ioClass(readlinkSync('/proc/thread-self').split('/').pop() as string), 'idle');
  });

  test('with data.repair_cpu_class nice, the repair thread stays at its nice value', {
    skip: process.platform !== 'linux' && 'per-thread scheduling is a Linux feature here',
  }, async () => {
    const servers = await startServers(7, { cpuClass: 'nice' });
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    const target = servers[6];
    await target.client.rebuildShard(request(servers, stripe, 4, [4]));
    const priority = target.rebuilder.thread.priority;
    assert.ok(priority !== undefined && 'tid' in priority, JSON.stringify(priority));
    const stat = readFileSync(`/proc/self/task/${priority.tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.equal(Number(fields[16]), REPAIR_THREAD_NICE, 'nice');
    assert.equal(Number(fields[38]), 0, 'SCHED_OTHER');
    assert.equal(target.rebuilder.thread.cpuClass, undefined, 'no class reported');
  });

  test('a missing and a corrupt source are replaced by parity', async () => {
    const servers = await startServers(7);
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    const target = servers[6];
    // Shard 0 lost (its server answers SHARD_MISSING), shard 1's file damaged on disk: only
    // shards 2..5 can decode, two of them parity.
    await servers[0].client.deleteShards({
      shards: [{ stripeId: stripe.stripeId, shardIndex: 0, disk: 0 }],
    });
    const fd = openSync(shardPath(servers[1], stripe.stripeId, 1), 'r+');
    writeSync(fd, Buffer.from('garbage!'), 0, 8, 100_000);
    closeSync(fd);
    await target.client.rebuildShard(request(servers, stripe, 0));
    const rebuilt = await target.client.getShard({
      stripeId: stripe.stripeId,
      shardIndex: 0,
      disk: 0,
    });
    assert.ok(rebuilt.equals(stripe.shards[0]), 'shard 0 decoded from 2, 3 and the parity');
  });

  test('fewer than k readable sources fail the rebuild and write nothing', async () => {
    const servers = await startServers(7);
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    const target = servers[6];
    for (const index of [0, 1, 2])
      await servers[index].client.deleteShards({
        shards: [{ stripeId: stripe.stripeId, shardIndex: index, disk: 0 }],
      });
    assert.equal(
      await codeOf(target.client.rebuildShard(request(servers, stripe, 0))),
      'DATA_DAMAGED',
    );
    assert.equal(
      await codeOf(target.client.getShard({ stripeId: stripe.stripeId, shardIndex: 0, disk: 0 })),
      'SHARD_MISSING',
    );
  });

  test('a target disk that has a file of the shard already refuses with EEXIST, keeping it', async () => {
    const servers = await startServers(6);
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    const stale = randomBytes(SHARD_BYTES);
    // Server 5 holds shard 5; a stale copy of shard 2 is on its disk too.
    await servers[5].client.putShard({ stripeId: stripe.stripeId, shardIndex: 2, disk: 0 }, stale);
    const code = await codeOf(servers[5].client.rebuildShard(request(servers, stripe, 2)));
    assert.equal(code, 'EEXIST');
    const kept = await servers[5].client.getShard({
      stripeId: stripe.stripeId,
      shardIndex: 2,
      disk: 0,
    });
    assert.ok(kept.equals(stale), 'the file on the disk is left as it was');
  });

  test('a server without the method answers RPC_NO_METHOD (the driver then rebuilds itself)', async () => {
    const servers = await startServers(6, { rebuild: false });
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    const code = await codeOf(servers[0].client.rebuildShard(request(servers, stripe, 1)));
    assert.equal(code, 'RPC_NO_METHOD');
  });

  test('a malformed description is refused before anything is read', async () => {
    const servers = await startServers(6);
    const stripe = await writeStripe(servers, K * SHARD_BYTES);
    const bad = {
      ...request(servers, stripe, 1),
      sources: request(servers, stripe, 1).sources.slice(1),
    };
    assert.equal(await codeOf(servers[0].client.rebuildShard(bad)), 'EINVAL');
    const tooLong = { ...request(servers, stripe, 1), dataLengthBytes: K * SHARD_BYTES + 1 };
    assert.equal(await codeOf(servers[0].client.rebuildShard(tooLong)), 'EINVAL');
  });
});
