// A metadata Raft cluster of real processes on loopback, for tests: start, find the leader, read
// each member's Raft status.
import assert from 'node:assert/strict';
import { freePorts } from '../../src/common/free-ports.ts';
import { RAFT_RPC } from '../../src/metadata/replication/transport.ts';
import type { RaftStatus } from '../../src/raft/index.ts';
import { RpcClient } from '../../src/rpc/index.ts';
import { type StrataProcess, startStrata, tempDir } from './server.ts';

// Below the ephemeral range (src/common/free-ports.ts): a member of the scale test's cluster
// failed in CI on a port listen(0) had picked, taken before the member listened.
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port;
}

export async function raftStatusOf(addr: string): Promise<RaftStatus | undefined> {
  const rpc = new RpcClient(addr, { connectTimeoutMs: 500, defaultTimeoutMs: 1_000 });
  try {
    return (await rpc.call<RaftStatus | null>(RAFT_RPC.status, {})).header ?? undefined;
  } catch {
    return undefined;
  } finally {
    await rpc.close();
  }
}

export interface MetadataNode {
  process: StrataProcess;
  addr: string;
  dataDir: string;
  args: string[];
  env?: Record<string, string>; // added to the process's environment at each start
}

export class MetadataCluster {
  readonly nodes = new Map<number, MetadataNode>();
  addrs: string[] = [];

  // Three (or `size`) metadata nodes, started together (a new cluster waits for all members).
  static async start(
    size = 3,
    extraArgs: string[] = [],
    envOf: (id: number) => Record<string, string> = () => ({}),
  ): Promise<MetadataCluster> {
    const cluster = new MetadataCluster();
    const ports = await Promise.all(Array.from({ length: size }, freePort));
    cluster.addrs = ports.map((p) => `127.0.0.1:${p}`);
    for (const [i, addr] of cluster.addrs.entries()) {
      const peers = cluster.addrs.filter((a) => a !== addr).join(',');
      const args = [
        ...['--role', 'metadata', '--node-id', String(i + 1), '--metadata-addr', addr],
        ...['--raft-peers', peers, ...extraArgs],
      ];
      cluster.nodes.set(i + 1, {
        process: undefined as unknown as StrataProcess,
        addr,
        dataDir: tempDir(),
        args,
        env: envOf(i + 1),
      });
    }
    await Promise.all([...cluster.nodes.keys()].map((id) => cluster.startNode(id)));
    return cluster;
  }

  async startNode(id: number): Promise<void> {
    const node = this.nodes.get(id);
    assert.ok(node, `no node ${id}`);
    node.process = await startStrata({
      dataDir: node.dataDir,
      args: node.args,
      env: node.env,
      ready: ['metadata'],
    });
  }

  async leader(exclude?: number): Promise<{ id: number; term: number }> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      for (const [id, node] of this.nodes) {
        if (id === exclude) continue;
        const status = await raftStatusOf(node.addr);
        if (status?.role === 'leader') return { id, term: status.term };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no metadata leader within 20 s');
  }

  async stop(): Promise<void> {
    for (const node of this.nodes.values()) await node.process?.stop();
  }
}
