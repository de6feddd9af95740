// The repair thread of a data server (repair-thread.ts), at a lower CPU priority than the
// server's other threads, so that on a busy machine the kernel runs client work first and repair
// takes what is left. It runs the server's repair port and rebuilds (repair-service.ts), and
// codes and verifies what the event loop hands it, in shared memory (nothing copied between
// threads).
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { type BufferPool, repairBuffers, shardBuffers } from '../common/buffer-pool.ts';
import { isStrataError } from '../common/errors.ts';
import type { RepairPortSettings } from '../data/data-service.ts';
import { directReads } from '../data/direct-staging.ts';
import { type ShardHeader, verifyBlocks } from '../data/shard-file.ts';
import type { RebuildShardHeader } from '../data/types.ts';
import type { Logger, LogLevel } from '../observability/logger.ts';
import { metricsRegistry } from '../observability/metrics.ts';
import {
  deserializeSecurity,
  type SerializedSecurity,
  setProcessRpcSecurity,
} from '../rpc/security.ts';
import { RepairService, sourceBuffers } from './repair-service.ts';

export type RepairThreadTask = VerifyTask | ServeTask | RebuildTask | PoolsTask | MetricsTask;

// This thread's metrics (its repair port's RPCs, its shard reads, its rebuilds' stripe reads),
// as prom-client's JSON, for the process's /metrics. Not the process group: the event loop
// exports those for the whole process.
export interface MetricsTask {
  op: 'metrics';
  id: number;
}

// This thread's buffer pools and read slab as they stand (tests check that every buffer a
// rebuild or a served read took came back, and that they are reused), and whether a released
// one is poisoned from now (BufferPool.poisonOnRelease).
export interface PoolsTask {
  op: 'pools';
  id: number;
  poisonOnRelease: boolean;
}

export interface PoolCounts {
  reused: number;
  allocated: number;
  out: number; // pooled buffers handed out and not given back
  slabLeasedBytes: number;
}

// Starts the repair port (once) with the process's RPC identity.
export interface ServeTask {
  op: 'serve';
  id: number;
  settings: RepairPortSettings;
  security: SerializedSecurity;
}

// Shard `header.shardIndex` rebuilt from the stripe's other shards into `output`.
export interface RebuildTask {
  op: 'rebuild';
  id: number;
  header: RebuildShardHeader;
  output: Uint8Array; // a view of a SharedArrayBuffer
}

// A repair read's blocks checked against their checksums (verifyBlocks, from block 0).
export interface VerifyTask {
  op: 'verify';
  id: number;
  name: string;
  header: ShardHeader;
  data: Uint8Array; // views of SharedArrayBuffers, as above
  crcs: Uint8Array;
}

export type RepairThreadMessage =
  | { type: 'priority'; nice: number; tid: number }
  | { type: 'priority-failed'; message: string }
  | { type: 'serving'; id: number; port: number }
  | { type: 'pools'; id: number; counts: PoolCounts }
  | { type: 'metrics'; id: number; metrics: object[] }
  | { type: 'log'; level: LogLevel; msg: string; fields: Record<string, unknown> | undefined }
  | { type: 'coded'; id: number; head: Uint8Array; crcs: Uint8Array }
  | { type: 'verified'; id: number }
  | { type: 'failed'; id: number; code: string | undefined; message: string };

// Linux sets a nice value per thread (setpriority on a thread id), and /proc/thread-self names
// this thread's id. Elsewhere the thread keeps the process's priority, and the parent says so.
function threadId(): number {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (!Number.isSafeInteger(tid) || tid <= 0) throw new Error('no thread id in /proc/thread-self');
  return tid;
}

function lowerPriority(nice: number): RepairThreadMessage {
  try {
    const tid = threadId();
    setPriority(tid, nice);
    return { type: 'priority', nice: getPriority(tid), tid };
  } catch (error) {
    return { type: 'priority-failed', message: (error as Error).message };
  }
}

// This thread's disk requests at the idle I/O class (util-linux's ionice: Node has no
// ioprio_set), so that the disk's scheduler serves the server's client reads first. Only the
// thread's own (synchronous) reads carry it; the thread pool's keep the process's class.
function idleIoClass(log: Logger): boolean {
  try {
    const tid = threadId();
    execFileSync('ionice', ['-c', '3', '-p', String(tid)], { stdio: 'pipe', timeout: 5_000 });
    log.info("the repair thread's disk reads are at the idle I/O class", { tid });
    return true;
  } catch (error) {
    log.warn("the repair thread's disk reads stay at the best-effort I/O class (no ionice here)", {
      error,
    });
    return false;
  }
}

const view = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function verify(task: VerifyTask): RepairThreadMessage {
  verifyBlocks(task.name, task.header, 0, view(task.data), view(task.crcs));
  return { type: 'verified', id: task.id };
}

function failed(id: number, error: unknown): RepairThreadMessage {
  // The code crosses the thread (a checksum mismatch stays SHARD_CORRUPT for the reader).
  const code = isStrataError(error) ? error.code : undefined;
  return { type: 'failed', id, code, message: (error as Error).message };
}

// Log records go to the event loop's logger (its level, its fields, its output).
function forwardingLogger(
  post: (m: RepairThreadMessage) => void,
  base: Record<string, unknown>,
): Logger {
  const emit = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
    post({ type: 'log', level, msg, fields: { ...base, ...fields } });
  return {
    trace: emit('trace'),
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => forwardingLogger(post, { ...base, ...fields }),
  };
}

const threadMetrics = metricsRegistry(['rpc', 'data', 'client']);

const port = parentPort;
if (port !== null) {
  const post = (message: RepairThreadMessage) => port.postMessage(message);
  port.postMessage(lowerPriority((workerData as { nice: number }).nice));
  let service: Promise<RepairService> | undefined;
  port.on('message', (task: RepairThreadTask) => {
    if (task.op === 'serve') {
      if (service === undefined) {
        setProcessRpcSecurity(deserializeSecurity(task.security));
        const log = forwardingLogger(post, {});
        const idle = task.settings.ioClass === 'idle' && idleIoClass(log);
        // Read on this thread only when that gives its reads the idle class: through the
        // thread pool, several reads at once keep the disk busier.
        service = RepairService.start(task.settings, log, { synchronousReads: idle });
        service.catch(() => {
          service = undefined; // the next serve tries again
        });
      }
      service.then(
        (s) => post({ type: 'serving', id: task.id, port: s.port }),
        (error: unknown) => post(failed(task.id, error)),
      );
      return;
    }
    if (task.op === 'metrics') {
      threadMetrics.getMetricsAsJSON().then(
        (metrics) => post({ type: 'metrics', id: task.id, metrics }),
        (error: unknown) => post(failed(task.id, error)),
      );
      return;
    }
    if (task.op === 'pools') {
      const pools = [shardBuffers, repairBuffers, sourceBuffers];
      for (const pool of pools) pool.poisonOnRelease = task.poisonOnRelease;
      directReads.poisonOnRelease = task.poisonOnRelease;
      const sum = (f: (c: BufferPool['counts']) => number) =>
        pools.reduce((total, pool) => total + f(pool.counts), 0);
      const counts = {
        reused: sum((c) => c.reused),
        allocated: sum((c) => c.allocated),
        out: sum((c) => c.out),
        slabLeasedBytes: directReads.leasedBytes,
      };
      post({ type: 'pools', id: task.id, counts });
      return;
    }
    if (task.op === 'rebuild') {
      const running = service;
      if (running === undefined) {
        post(failed(task.id, new Error('the repair port is not started')));
        return;
      }
      const output = view(task.output);
      running
        .then((s) => s.rebuild(task.header, output))
        .then(
          ({ head, crcs }) => post({ type: 'coded', id: task.id, head, crcs }),
          (error: unknown) => post(failed(task.id, error)),
        );
      return;
    }
    let reply: RepairThreadMessage;
    try {
      reply = verify(task);
    } catch (error) {
      reply = failed(task.id, error);
    }
    port.postMessage(reply);
  });
}
