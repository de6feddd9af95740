// Three combined nodes (metadata + data + S3 gateway each) as real processes on loopback, for the
// scale benchmark: fixed metadata ports so members can be killed and restarted in place, one
// shared S3 key pair, and a low snapshot threshold when asked.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RaftStatus } from '../../src/raft/index.ts';
import { freePort, raftStatusOf } from '../../test/helpers/metadata-cluster.ts';
import { type StrataProcess, startStrata, tempDir } from '../../test/helpers/server.ts';

export const BENCH_ACCESS_KEY = 'scalebench';
export const BENCH_SECRET_KEY = 'scalebench-secret-key';
export const BENCH_USER = 'bench';
const LEADER_WAIT_MS = 30_000;
const NODE_START_TIMEOUT_MS = 120_000; // a restart replays the log since the last snapshot

export interface ScaleNode {
  id: number;
  addr: string;
  dataDir: string;
  process: StrataProcess | undefined; // undefined while killed
}

export interface ScaleClusterOptions {
  size: number;
  snapshotLogBytes?: number; // metadata.raft_snapshot_log_bytes; the server's default when absent
  // NODE_OPTIONS for the nodes' processes (--cpu-prof); the data children inherit it.
  nodeOptions?: string;
  // Node.js options on the nodes' command lines (V8 flags, some of which NODE_OPTIONS refuses).
  nodeArgs?: string[];
}

export class ScaleCluster {
  readonly nodes: ScaleNode[] = [];
  readonly root: string;
  private readonly configPath: string;
  private readonly options: ScaleClusterOptions;

  private constructor(root: string, configPath: string, options: ScaleClusterOptions) {
    this.root = root;
    this.configPath = configPath;
    this.options = options;
  }

  static async start(options: ScaleClusterOptions): Promise<ScaleCluster> {
    assert.ok(options.size >= 1, `a cluster of at least one node, got ${options.size}`);
    const root = tempDir('strata-scale-');
    const configPath = join(root, 'strata.toml');
    writeFileSync(configPath, configText(options), { mode: 0o600 });
    const cluster = new ScaleCluster(root, configPath, options);
    const ports = await Promise.all(Array.from({ length: options.size }, freePort));
    for (const [i, port] of ports.entries()) {
      const dataDir = join(root, `node${i + 1}`);
      cluster.nodes.push({ id: i + 1, addr: `127.0.0.1:${port}`, dataDir, process: undefined });
    }
    // A new cluster waits for all its members, so they start together.
    await Promise.all(cluster.nodes.map((n) => cluster.startNode(n.id)));
    return cluster;
  }

  get addrs(): string[] {
    return this.nodes.map((n) => n.addr);
  }

  node(id: number): ScaleNode {
    const node = this.nodes.find((n) => n.id === id);
    assert.ok(node, `no node ${id}`);
    return node;
  }

  live(): ScaleNode[] {
    return this.nodes.filter((n) => n.process !== undefined);
  }

  async startNode(id: number): Promise<void> {
    const node = this.node(id);
    assert.equal(node.process, undefined, `node ${id} is already running`);
    const peers = this.addrs.filter((a) => a !== node.addr).join(',');
    node.process = await startStrata({
      dataDir: node.dataDir,
      args: [
        ...['--config', this.configPath, '--node-id', String(id)],
        ...['--metadata-addr', node.addr, '--raft-peers', peers],
      ],
      ready: ['metadata', 's3'],
      env: {
        // What bin/strata, the launcher deployments run, sets (a bench process starts
        // bin/strata.ts directly); the bench's own environment wins, for A/B runs.
        MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
        ...(this.options.nodeOptions === undefined
          ? {}
          : { NODE_OPTIONS: this.options.nodeOptions }),
      },
      nodeArgs: this.options.nodeArgs,
      startTimeoutMs: NODE_START_TIMEOUT_MS,
    });
  }

  // SIGKILL: a crash, with no chance to flush or say goodbye.
  async killNode(id: number): Promise<void> {
    const node = this.node(id);
    await node.process?.kill();
    node.process = undefined;
  }

  async stopNode(id: number): Promise<void> {
    const node = this.node(id);
    await node.process?.stop();
    node.process = undefined;
  }

  async status(id: number): Promise<RaftStatus | undefined> {
    return raftStatusOf(this.node(id).addr);
  }

  async leader(exclude?: number): Promise<{ id: number; status: RaftStatus }> {
    const deadline = Date.now() + LEADER_WAIT_MS;
    while (Date.now() < deadline) {
      for (const node of this.live()) {
        if (node.id === exclude) continue;
        const status = await raftStatusOf(node.addr);
        if (status?.role === 'leader') return { id: node.id, status };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no metadata leader within ${LEADER_WAIT_MS} ms`);
  }

  // A process that exited on its own is a failure of the run, said at once rather than later as
  // a gap in the figures.
  assertAlive(): void {
    for (const node of this.live()) {
      const child = node.process?.process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) {
        throw new Error(
          `node ${node.id} exited (${child.exitCode ?? child.signalCode}):\n${node.process?.output().slice(-4000)}`,
        );
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopNode(n.id)));
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

function configText(options: ScaleClusterOptions): string {
  const lines = ['[metadata]'];
  if (options.snapshotLogBytes !== undefined)
    lines.push(`raft_snapshot_log_bytes = ${options.snapshotLogBytes}`);
  lines.push(
    '',
    '[s3.auth]',
    'credentials = [',
    `  { access_key_id = "${BENCH_ACCESS_KEY}", secret_key = "${BENCH_SECRET_KEY}", user_id = "${BENCH_USER}", admin = true },`,
    ']',
    '',
  );
  return lines.join('\n');
}
