// Data services in this process, each with its shard rebuilder, and one 4+2 stripe written to
// the first six for a seventh to rebuild a shard of again and again: the repair thread's CPU
// class guard is exercised this way by test/cluster/repair-cpu-guard-saturated.test.ts and
// benches/repair/starved.ts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shardFromData } from '../../src/client/stripe-codec.ts';
import { ShardRebuilder } from '../../src/cluster/shard-rebuilder.ts';
import {
  DataClient,
  type DataService,
  type RebuildShardHeader,
  type RepairCpuClass,
  startDataService,
} from '../../src/data/index.ts';
import type { Logger } from '../../src/observability/logger.ts';
import './cluster-token.ts';

export interface RebuildServer {
  serverId: string;
  addr: string;
  client: DataClient;
  service: DataService;
  rebuilder: ShardRebuilder;
  disk: string;
}

export const K = 4;
export const M = 2;

// K + M + 1 servers on port 0, one disk each, their repair threads at `cpuClass`.
export async function startRebuildServers(
  cpuClass: RepairCpuClass,
  log: Logger,
): Promise<RebuildServer[]> {
  const servers: RebuildServer[] = [];
  for (let i = 0; i < K + M + 1; i++) {
    const disk = mkdtempSync(join(tmpdir(), 'strata-rebuild-loop-'));
    const rebuilder = new ShardRebuilder(log);
    const service = await startDataService({
      serverId: `s${i}`,
      host: '127.0.0.1',
      port: 0,
      disks: [disk],
      repairCpuClass: cpuClass,
      ...rebuilder.serviceHooks(),
    });
    const addr = `127.0.0.1:${service.port}`;
    servers.push({
      serverId: `s${i}`,
      addr,
      client: new DataClient(addr),
      service,
      rebuilder,
      disk,
    });
  }
  return servers;
}

export async function stopRebuildServers(servers: RebuildServer[]): Promise<void> {
  for (const s of servers) {
    await s.client.close();
    await s.service.close();
    await s.rebuilder.close();
    rmSync(s.disk, { recursive: true, force: true });
  }
}

// A random stripe of `shardSizeBytes` shards written to the first K + M servers; the request that
// asks the last server to rebuild shard `rebuilt` from them, and the bytes that shard must have.
export async function writeRebuildStripe(
  servers: RebuildServer[],
  shardSizeBytes: number,
  rebuilt: number,
): Promise<{ header: RebuildShardHeader; expected: Buffer }> {
  const stripeId = randomBytes(16).toString('hex');
  const geometry = { k: K, m: M, shardSizeBytes };
  const data = randomBytes(K * shardSizeBytes);
  for (let i = 0; i < K + M; i++)
    await servers[i].client.putShard(
      { stripeId, shardIndex: i, disk: 0 },
      shardFromData(geometry, data, i),
    );
  const header: RebuildShardHeader = {
    stripeId,
    shardIndex: rebuilt,
    disk: 0,
    ...geometry,
    dataLengthBytes: K * shardSizeBytes,
    shardVersion: 2,
    sources: servers.slice(0, K + M).map((s, i) => ({
      serverId: s.serverId,
      addr: s.addr,
      disk: 0,
      avoid: i === rebuilt,
    })),
  };
  return { header, expected: shardFromData(geometry, data, rebuilt) };
}
