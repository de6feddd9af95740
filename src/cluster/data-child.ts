import { type ChildProcess, fork } from 'node:child_process';
import type { Registry } from 'prom-client';
import { AggregatorRegistry } from 'prom-client';
import { StrataError } from '../common/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ChildMessage, DataProcessSettings, ParentMessage } from './data-process.ts';
import { withoutMetadataMemberArgs } from './metadata-member-flags.ts';

const START_TIMEOUT_MS = 60_000;
const METRICS_TIMEOUT_MS = 2_000;

// Metrics kept apart from this thread's registry (a child process's, a repair thread's), as
// prom-client's JSON; undefined when there are none now.
export interface MetricSource {
  metrics(): Promise<object[] | undefined>;
}

export interface DataChild extends MetricSource {
  addr: string;
  advertised: string; // the address it registered
  close(): Promise<void>;
}

// Forks the data service into its own process and waits until it is registered and listening.
// If it dies on its own, `onExit` is told, so the node can stop rather than run half-alive.
export async function forkDataService(
  settings: DataProcessSettings,
  log: Logger,
  onExit: (code: number | null) => void,
): Promise<DataChild> {
  const child = fork(new URL('./data-process.ts', import.meta.url), [], {
    // The parent's Node.js options but a metadata member's own (the child is a data server).
    execArgv: withoutMetadataMemberArgs(process.execArgv),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let closing = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    if (!closing) onExit(code);
  });
  const { addr, advertised } = await waitReady(child, settings);
  log.info('data service process started', { pid: child.pid, addr, advertised });
  let nextId = 1;
  return {
    addr,
    advertised,
    // A page served without the child's series (it did not answer in time, as under a load
    // that starves it) says so in the log: its counters are missing from that scrape only.
    metrics: async () => {
      const metrics = await requestMetrics(child, nextId++);
      if (metrics === undefined && child.connected)
        log.warn('metrics page served without the data service process (no answer in time)', {
          pid: child.pid,
          timeoutMs: METRICS_TIMEOUT_MS,
        });
      return metrics;
    },
    async close() {
      closing = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function waitReady(
  child: ChildProcess,
  settings: DataProcessSettings,
): Promise<{ addr: string; advertised: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new StrataError('INTERNAL', `data service process not ready after ${START_TIMEOUT_MS} ms`),
      );
    }, START_TIMEOUT_MS);
    const onMessage = (message: ChildMessage) => {
      if (message.type !== 'ready' && message.type !== 'failed') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      if (message.type === 'ready') resolve({ addr: message.addr, advertised: message.advertised });
      else reject(new StrataError('INTERNAL', `data service failed to start: ${message.message}`));
    };
    child.on('message', onMessage);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new StrataError('INTERNAL', `data service process exited (${code}) while starting`));
    });
    child.send({ type: 'start', settings } satisfies ParentMessage);
  });
}

function requestMetrics(child: ChildProcess, id: number): Promise<object[] | undefined> {
  if (!child.connected) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      resolve(undefined);
    }, METRICS_TIMEOUT_MS);
    const onMessage = (message: ChildMessage) => {
      if (message.type !== 'metrics' || message.id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message.metrics as object[]);
    };
    child.on('message', onMessage);
    child.send({ type: 'metrics', id } satisfies ParentMessage);
  });
}

// This process's metrics plus the children's, summed by name, as one Prometheus text page.
export async function aggregatedMetrics(
  registry: Registry,
  children: MetricSource[],
): Promise<string> {
  const own = await registry.getMetricsAsJSON();
  const others = (await Promise.all(children.map((c) => c.metrics()))).filter(
    (m) => m !== undefined,
  );
  if (others.length === 0) return registry.metrics();
  return AggregatorRegistry.aggregate([own, ...others]).metrics();
}
