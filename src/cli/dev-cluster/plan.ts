// The layout of `strata dev cluster`: which processes, with which node ids, ports and files. Pure:
// the supervisor (supervisor.ts) starts what this describes, and a test can check it without
// starting anything.
import assert from 'node:assert/strict';
import { join } from 'node:path';

export interface DevClusterOptions {
  metadata: number; // members of the Raft cluster
  data: number; // data servers, each its own host label (a failure domain of its own)
  gateways: number; // S3 gateways
  dir: string; // everything lives below: data directories, logs, pid files
  basePort: number; // 0: free ports picked by the system
}

// Limits that keep the port layout below apart (and a laptop responsive).
export const DEV_LIMITS = { metadataMax: 7, dataMax: 32, gatewaysMax: 8 } as const;

export type DevRole = 'metadata' | 'data' | 's3';

export interface DevProcess {
  name: string; // meta-1, data-11, s3-51: a data server's name is its server id
  role: DevRole;
  nodeId: number;
  dataDir: string;
  configPath: string; // its TOML file (failure-domain label, console address)
  configLines: string[];
  logPath: string;
  pidPath: string;
  metadataAddr?: string; // metadata members: the address they listen on
  dataAddr?: string;
  s3Addr?: string;
  consoleAddr?: string;
  metricsAddr: string;
}

export interface DevPlan {
  processes: DevProcess[];
  metadataAddrs: string[];
  credentialsPath: string; // the one key pair every gateway and console accepts
  tokenPath: string; // the cluster token every process presents (no TLS: all on loopback)
}

// Node ids: metadata members 1..7, data servers from 11, gateways from 51, as in the tests.
const FIRST_DATA_NODE_ID = 11;
const FIRST_GATEWAY_NODE_ID = 51;

// Port offsets from the base: metadata B+0.., S3 B+10.., consoles B+20.., data B+30..,
// metrics B+100.. in process order. With the default base 9000, member 1 is the CLI's default
// metadata address, so `strata cluster status` needs no flag.
const OFFSET = { metadata: 0, s3: 10, console: 20, data: 30, metrics: 100 } as const;

export function checkDevOptions(o: DevClusterOptions): string | undefined {
  if (!Number.isSafeInteger(o.metadata) || o.metadata < 1 || o.metadata > DEV_LIMITS.metadataMax)
    return `--metadata must be 1 to ${DEV_LIMITS.metadataMax}, got ${o.metadata}`;
  if (o.metadata % 2 === 0)
    return `--metadata must be odd (a Raft majority of ${o.metadata} survives no more failures than one of ${o.metadata - 1})`;
  if (!Number.isSafeInteger(o.data) || o.data < 1 || o.data > DEV_LIMITS.dataMax)
    return `--data must be 1 to ${DEV_LIMITS.dataMax}, got ${o.data}`;
  if (!Number.isSafeInteger(o.gateways) || o.gateways < 1 || o.gateways > DEV_LIMITS.gatewaysMax)
    return `--gateways must be 1 to ${DEV_LIMITS.gatewaysMax}, got ${o.gateways}`;
  const top = o.basePort + OFFSET.metrics + o.metadata + o.data + o.gateways;
  if (!Number.isSafeInteger(o.basePort) || o.basePort < 0 || top > 65535)
    return `--base-port must be 0 or leave room for ports up to ${top - o.basePort} above it (at most 65535)`;
  return undefined;
}

// How many ports a plan takes: each process its own and its metrics port, members a console's.
export function devPortCount(o: DevClusterOptions): number {
  return 2 * (o.metadata + o.data + o.gateways) + o.metadata;
}

// `port(offset)` gives base + offset, or the next of the free ports the system picked (at least
// devPortCount) when the base is 0.
export function devPlan(o: DevClusterOptions, freePorts: number[] = []): DevPlan {
  const problem = checkDevOptions(o);
  assert.equal(problem, undefined, problem);
  assert.ok(o.basePort !== 0 || freePorts.length >= devPortCount(o), 'free ports for the plan');
  const free = [...freePorts];
  const port = (offset: number) =>
    o.basePort === 0 ? (free.shift() as number) : o.basePort + offset;
  const addr = (offset: number) => `127.0.0.1:${port(offset)}`;
  const processes: DevProcess[] = [];
  const tokenPath = join(o.dir, 'cluster.token');
  const add = (role: DevRole, nodeId: number, name: string, extra: Partial<DevProcess>) => {
    // One token for all: each process has its own data directory, where it would make its own.
    const tls = ['[tls]', `token_file = ${JSON.stringify(tokenPath)}`];
    processes.push({
      name,
      role,
      nodeId,
      dataDir: join(o.dir, name),
      configPath: join(o.dir, `${name}.toml`),
      logPath: join(o.dir, 'logs', `${name}.log`),
      pidPath: join(o.dir, `${name}.pid`),
      metricsAddr: addr(OFFSET.metrics + processes.length),
      ...extra,
      configLines: [...(extra.configLines ?? []), ...tls],
    });
  };
  const metadataAddrs = Array.from({ length: o.metadata }, (_, i) => addr(OFFSET.metadata + i));
  for (const [i, metadataAddr] of metadataAddrs.entries()) {
    const consoleAddr = addr(OFFSET.console + i);
    add('metadata', i + 1, `meta-${i + 1}`, {
      metadataAddr,
      consoleAddr,
      configLines: ['[console]', `addr = "${consoleAddr}"`],
    });
  }
  for (let i = 0; i < o.data; i++) {
    const nodeId = FIRST_DATA_NODE_ID + i;
    add('data', nodeId, `data-${nodeId}`, {
      dataAddr: addr(OFFSET.data + i),
      // One host label each: on one machine, placement still spreads a stripe over servers.
      configLines: ['[data]', `host = "dev-${nodeId}"`],
    });
  }
  for (let i = 0; i < o.gateways; i++) {
    const nodeId = FIRST_GATEWAY_NODE_ID + i;
    add('s3', nodeId, `s3-${nodeId}`, { s3Addr: addr(OFFSET.s3 + i) });
  }
  assert.equal(new Set(processes.map((p) => p.metricsAddr)).size, processes.length);
  return {
    processes,
    metadataAddrs,
    credentialsPath: join(o.dir, 'credentials.json'),
    tokenPath,
  };
}

// The command line of one process: `strata server` with its role, addresses and peers.
export function serverArgs(p: DevProcess, plan: DevPlan): string[] {
  const peers = plan.metadataAddrs.filter((a) => a !== p.metadataAddr);
  const common = [
    ...['server', '--role', p.role, '--node-id', String(p.nodeId), '--data-dir', p.dataDir],
    ...['--metrics-addr', p.metricsAddr, '--config', p.configPath],
  ];
  if (p.role === 'metadata') {
    assert.ok(p.metadataAddr);
    const raft = peers.length > 0 ? ['--raft-peers', peers.join(',')] : [];
    return [...common, '--metadata-addr', p.metadataAddr, ...raft];
  }
  // Data servers and gateways find the metadata cluster through any member, then fail over.
  const [first, ...rest] = plan.metadataAddrs;
  const metadata = [
    '--metadata-addr',
    first,
    ...(rest.length ? ['--raft-peers', rest.join(',')] : []),
  ];
  if (p.role === 'data') {
    assert.ok(p.dataAddr);
    return [...common, ...metadata, '--data-addr', p.dataAddr];
  }
  assert.ok(p.s3Addr);
  return [...common, ...metadata, '--s3-addr', p.s3Addr];
}
