// A whole Strata cluster of real processes for failure tests: a 3-member metadata Raft cluster,
// data servers (`--role data`, each its own host label) and an S3 gateway, with the operations a
// failure test needs: kill -9, SIGSTOP, restart on the same data directory, and the stripes and
// shard files as the metadata and the disks see them.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { SERVER_LIST_TTL_MS } from '../../src/client/data-pool.ts';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import type { DataServerInfo, Stripe } from '../../src/metadata/types.ts';
import { MetadataCluster } from './metadata-cluster.ts';
import { s3Client } from './s3.ts';
import { type StrataProcess, startStrata, tempDir } from './server.ts';
import { until } from './wait.ts';

export interface DataClusterOptions {
  dataServers: number;
  disksPerServer: number;
  // Extra lines per section of every process's configuration file.
  metadata?: string[];
  repair?: string[];
  erasure?: string[];
}

export interface DataServer {
  id: string; // data-<n>
  nodeId: number;
  dataDir: string;
  process: StrataProcess | undefined; // undefined while killed
  stopped: boolean; // SIGSTOP sent, no SIGCONT yet
}

export interface ShardFile {
  name: string; // <stripe id>.<shard index>
  serverId: string;
  disk: number;
}

// Node ids of data servers start here, clear of the metadata members' 1..3.
const FIRST_DATA_NODE_ID = 10;

export class DataCluster {
  readonly options: DataClusterOptions;
  readonly configDir = tempDir('strata-cluster-');
  readonly servers: DataServer[] = [];
  metadataCluster!: MetadataCluster;
  gateway!: StrataProcess;
  s3!: S3Client;
  metadata!: MetadataClient;

  private constructor(options: DataClusterOptions) {
    this.options = options;
  }

  static async start(options: DataClusterOptions): Promise<DataCluster> {
    const cluster = new DataCluster(options);
    try {
      await cluster.startAll();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  private configFile(name: string, dataLines: string[]): string {
    const o = this.options;
    const path = join(this.configDir, `${name}.toml`);
    const lines = [
      ...['[metadata]', ...(o.metadata ?? [])],
      ...['[erasure_coding]', ...(o.erasure ?? [])],
      ...['[repair]', ...(o.repair ?? [])],
      ...['[data]', `disk_count = ${o.disksPerServer}`, ...dataLines],
    ];
    writeFileSync(path, lines.join('\n'));
    return path;
  }

  private peerArgs(): string[] {
    const addrs = this.metadataCluster.addrs;
    return ['--metadata-addr', addrs[0], '--raft-peers', addrs.slice(1).join(',')];
  }

  private async startAll(): Promise<void> {
    const config = this.configFile('cluster', []);
    this.metadataCluster = await MetadataCluster.start(3, ['--config', config]);
    this.metadata = new MetadataClient(this.metadataCluster.addrs);
    for (let i = 0; i < this.options.dataServers; i++) {
      const nodeId = FIRST_DATA_NODE_ID + i;
      this.servers.push({
        id: `data-${nodeId}`,
        nodeId,
        dataDir: tempDir('strata-data-'),
        process: undefined,
        stopped: false,
      });
    }
    await Promise.all(this.servers.map((s) => this.startServer(s)));
    this.gateway = await startStrata({
      args: ['--role', 's3', ...this.peerArgs()],
      ready: ['s3'],
      env: { STRATA_CONFIG: config },
    });
    this.s3 = s3Client(this.gateway);
    await this.untilAllUp();
  }

  // Starts (or restarts, on its old data directory) one data server.
  async startServer(server: DataServer): Promise<void> {
    const config = this.configFile(server.id, [`host = "h${server.nodeId}"`]);
    server.process = await startStrata({
      dataDir: server.dataDir,
      args: ['--role', 'data', '--node-id', String(server.nodeId), ...this.peerArgs()],
      ready: [],
      env: { STRATA_CONFIG: config },
    });
    server.stopped = false;
  }

  // Adds a data server the cluster has never seen.
  async addServer(): Promise<DataServer> {
    const nodeId = FIRST_DATA_NODE_ID + this.servers.length;
    const server: DataServer = {
      id: `data-${nodeId}`,
      nodeId,
      dataDir: tempDir('strata-data-'),
      process: undefined,
      stopped: false,
    };
    this.servers.push(server);
    await this.startServer(server);
    return server;
  }

  server(id: string): DataServer {
    const found = this.servers.find((s) => s.id === id);
    if (!found) throw new Error(`no data server ${id}`);
    return found;
  }

  running(): DataServer[] {
    return this.servers.filter((s) => s.process !== undefined);
  }

  async kill(server: DataServer): Promise<void> {
    const p = server.process;
    if (!p) throw new Error(`${server.id} is not running`);
    await p.kill();
    server.process = undefined;
    server.stopped = false;
  }

  sigstop(server: DataServer): void {
    const pid = server.process?.process.pid;
    if (pid === undefined) throw new Error(`${server.id} is not running`);
    process.kill(pid, 'SIGSTOP');
    server.stopped = true;
  }

  sigcont(server: DataServer): void {
    const pid = server.process?.process.pid;
    if (pid === undefined) throw new Error(`${server.id} is not running`);
    process.kill(pid, 'SIGCONT');
    server.stopped = false;
  }

  async records(): Promise<DataServerInfo[]> {
    return this.metadata.read('dataServers');
  }

  // Until every running server is recorded up with its disks reported, and every client's copy
  // of the records (refreshed every SERVER_LIST_TTL_MS) has caught up.
  async untilAllUp(limitMs = 120_000): Promise<void> {
    const expected = new Set(this.running().map((s) => s.id));
    await until(
      `data servers ${[...expected].join(', ')} recorded up`,
      async () => {
        const records = await this.records();
        const up = records.filter(
          (r) => r.state === 'up' && r.disks.length > 0 && r.disks.every((d) => d.freeBytes),
        );
        return [...expected].every((id) => up.some((r) => r.serverId === id)) ? true : undefined;
      },
      { limitMs, intervalMs: 250 },
    );
    await new Promise((r) => setTimeout(r, SERVER_LIST_TTL_MS + 500));
  }

  // Until the cluster records the server in one of `states` (the state gauge is not needed:
  // the records are read through a metadata member).
  async untilRecorded(id: string, states: string[], limitMs = 60_000): Promise<void> {
    await until(
      `${id} recorded ${states.join(' or ')}`,
      async () => {
        const record = (await this.records()).find((r) => r.serverId === id);
        return record && states.includes(record.state) ? true : undefined;
      },
      { limitMs, intervalMs: 250 },
    );
  }

  // Every stripe the metadata references (a walk of `scanStripes`), once each.
  async stripes(): Promise<Stripe[]> {
    const byId = new Map<string, Stripe>();
    let cursor: string | undefined;
    do {
      const page = await this.metadata.read('scanStripes', cursor, 500);
      for (const { stripe } of page.stripes) byId.set(stripe.id, stripe);
      cursor = page.next;
    } while (cursor !== undefined);
    return [...byId.values()];
  }

  // Shard files on the disks of the given servers: "<stripe>.<index>" where it lies.
  shardFiles(servers: DataServer[] = this.servers): ShardFile[] {
    const files: ShardFile[] = [];
    for (const server of servers) {
      for (let disk = 0; disk < this.options.disksPerServer; disk++) {
        const root = join(server.dataDir, 'disks', `d${disk}`, 'shards');
        if (!existsSync(root)) continue;
        for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
          const name = basename(e.name);
          if (e.isFile() && /^[0-9a-f]+\.\d+$/.test(name))
            files.push({ name, serverId: server.id, disk });
        }
      }
    }
    return files;
  }

  async stop(): Promise<void> {
    this.s3?.destroy();
    await this.metadata?.close();
    for (const s of this.servers) if (s.stopped) this.sigcont(s);
    await this.gateway?.stop();
    for (const s of this.servers) await s.process?.stop();
    await this.metadataCluster?.stop();
    for (const s of this.servers) rmSync(s.dataDir, { recursive: true, force: true });
    for (const node of this.metadataCluster?.nodes.values() ?? [])
      rmSync(node.dataDir, { recursive: true, force: true });
    rmSync(this.configDir, { recursive: true, force: true });
  }
}

// What keeps a stripe from full redundancy (k+m shards, on servers recorded up and running, at
// most `perServerMax` on one: 1 with k+m servers or more, m with 3 servers and 4+2), one line
// per stripe; empty when every stripe has it.
export function redundancyShortfalls(
  stripes: Stripe[],
  records: DataServerInfo[],
  running: ReadonlySet<string>,
  perServerMax = 1,
): string[] {
  const up = new Set(
    records.filter((r) => r.state === 'up' && running.has(r.serverId)).map((r) => r.serverId),
  );
  const problems: string[] = [];
  for (const stripe of stripes) {
    const holders = stripe.shards.map((s) => s.serverId);
    const off = holders.filter((id) => !up.has(id));
    if (holders.length !== stripe.k + stripe.m)
      problems.push(`${stripe.id}: ${holders.length} shard locations`);
    else if (off.length > 0) problems.push(`${stripe.id}: shards on ${off.join(', ')}`);
    else if (holders.some((id) => holders.filter((h) => h === id).length > perServerMax))
      problems.push(`${stripe.id}: over ${perServerMax} shard(s) on a server (${holders})`);
  }
  return problems;
}
