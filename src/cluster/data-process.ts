// The data service's own process in combined mode, so that checksumming and disk I/O run on
// another core than the gateway's encoding. Forked by node.ts; it gets its settings over IPC,
// answers metrics requests, and exits as soon as its parent is gone (a kill -9 of the server
// must not leave an orphan holding the port and the disks).

import { hostname } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { advertisedAddr, joinAddr } from '../common/advertise.ts';
import { tuneHeap } from '../common/heap-tuning.ts';
import { type RepairCpuClass, type RepairIoClass, startDataService } from '../data/data-service.ts';
import type { FailureDomain } from '../metadata/types.ts';
import { createLogger, type LogLevel } from '../observability/logger.ts';
import { metricsRegistry, ROLE_METRICS } from '../observability/metrics.ts';
import {
  deserializeSecurity,
  type SerializedSecurity,
  setProcessRpcSecurity,
} from '../rpc/security.ts';
import type { MetricSource } from './data-child.ts';
import { startHeartbeats } from './heartbeat.ts';
import { registerDataServer } from './registration.ts';
import { ShardRebuilder } from './shard-rebuilder.ts';

export interface DataProcessSettings {
  serverId: string;
  host: string;
  port: number;
  advertiseAddr: string; // data.advertise_addr ("" derives it from the bound address)
  repairPort: number; // data.repair_port (0: any)
  repairIoClass: RepairIoClass; // data.repair_io_class
  repairCpuClass: RepairCpuClass; // data.repair_cpu_class
  disks: string[];
  scrub: { bytesPerSecond: number; passIntervalMs: number };
  metadataAddr: string;
  logLevel: LogLevel;
  nodeId: number;
  domain: FailureDomain;
  heartbeatIntervalMs: number;
  security: SerializedSecurity; // the node's RPC identity (src/rpc/security.ts)
}

export type ParentMessage =
  | { type: 'start'; settings: DataProcessSettings }
  | { type: 'metrics'; id: number };
export type ChildMessage =
  | { type: 'ready'; addr: string; advertised: string }
  | { type: 'failed'; message: string }
  | { type: 'metrics'; id: number; metrics: unknown };

function send(message: ChildMessage): void {
  process.send?.(message);
}

tuneHeap(); // its own process: the parent's runtime flags are not inherited
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group; the parent decides when this process stops (SIGTERM,
// or the IPC channel closing), so it finishes what it is writing in order.
process.on('SIGINT', () => {});

// The data role's metrics only: the parent adds its own roles'.
const registry = metricsRegistry(ROLE_METRICS.data);

// The repair thread's metrics are added to this process's (repair-thread.ts, metrics()).
let repairThread: MetricSource | undefined;

process.on('message', (message: ParentMessage) => {
  if (message.type === 'metrics') {
    void ownMetrics().then((metrics) => send({ type: 'metrics', id: message.id, metrics }));
    return;
  }
  if (message.type === 'start') void start(message.settings);
});

async function ownMetrics(): Promise<object[]> {
  const own = await registry.getMetricsAsJSON();
  const thread = await repairThread?.metrics();
  if (thread === undefined) return own;
  return AggregatorRegistry.aggregate([own, thread] as never[]).getMetricsAsJSON();
}

async function start(settings: DataProcessSettings): Promise<void> {
  const log = createLogger({
    level: settings.logLevel,
    fields: { node: settings.nodeId, service: 'data' },
  });
  try {
    setProcessRpcSecurity(deserializeSecurity(settings.security));
    const rebuilder = new ShardRebuilder(log.child({ component: 'rebuild' }));
    repairThread = rebuilder.thread;
    const service = await startDataService({
      ...settings,
      log,
      ...rebuilder.serviceHooks(),
    });
    const addr = joinAddr(service.host, service.port);
    const advertised = advertisedAddr(settings.advertiseAddr, service, hostname());
    const registration = {
      serverId: settings.serverId,
      addr: advertised,
      disks: settings.disks.map((path, disk) => ({ disk, path })),
      domain: settings.domain,
    };
    const register = () => registerDataServer(settings.metadataAddr, registration, log);
    await register();
    const heartbeats = startHeartbeats({
      metadataAddrs: settings.metadataAddr.split(','),
      serverId: settings.serverId,
      intervalMs: settings.heartbeatIntervalMs,
      disks: () => service.store.status(),
      register,
      log: log.child({ service: 'heartbeat' }),
    });
    process.on('SIGTERM', () => {
      void heartbeats
        .stop()
        .then(() => service.close())
        .then(() => rebuilder.close())
        .then(() => process.exit(0));
    });
    send({ type: 'ready', addr, advertised });
  } catch (error) {
    send({ type: 'failed', message: (error as Error).message });
    process.exit(1);
  }
}
