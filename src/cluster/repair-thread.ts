// A data server's repair thread: its repair work (the repair port that serves its peers' repair
// reads, its own rebuilds' source reads and coding: repair-service.ts; and the check of the
// repair reads older peers make on its service port) runs on one worker thread whose nice value
// is REPAIR_THREAD_NICE, so that the kernel gives the CPU to client work first (this server's own
// event loop serving client reads, and the gateways and metadata members on the same machine)
// and repair the rest; on an idle machine nothing competes and repair runs at full speed.
// The shards are in shared memory (rebuildStaging, repairBuffers): a task is a small message each
// way.
//
// In benches/repair on two cores, repair is CPU-bound and the foreground GET p99 rose 3.7 times
// while it ran. A lower priority for the whole data server would slow its client reads too; the
// thread is the part that is repair's alone. (The rebuilt shard's write, and the direct reads'
// and sockets' kernel work in the thread pool, still run at the process's priority.)
import assert from 'node:assert';
import { Worker } from 'node:worker_threads';
import { releaseOnce, repairBuffers } from '../common/buffer-pool.ts';
import { StrataError, type StrataErrorCode } from '../common/errors.ts';
import type { RebuiltShard, RepairCpuClass, RepairPortSettings } from '../data/data-service.ts';
import { rebuildStaging } from '../data/direct-staging.ts';
import { SHARD_DATA_AT, type ShardHeader, shardFileBytes } from '../data/shard-file.ts';
import type { RebuildShardHeader } from '../data/types.ts';
import type { Logger } from '../observability/logger.ts';
import { processRpcSecurity, serializeSecurity } from '../rpc/security.ts';
import { type CpuClassGuard, guardCpuClass } from './repair-cpu-guard-loop.ts';
import type { PoolCounts, RepairThreadMessage, RepairThreadTask } from './repair-thread-worker.ts';

// Nice values run from -20 to 19; each step is about 1.25 times less CPU share under contention
// (Linux CFS weights): at 10, about a tenth of a nice-0 thread's share.
export const REPAIR_THREAD_NICE = 10;

// A coding task's output: the buffer the thread codes into, how it is given back (at once if
// the task fails), and the staging lease it lies in when it has one.
interface Output {
  data: Buffer;
  release(): void;
  staging: Buffer | undefined;
}

interface Waiting {
  resolve(shard: RebuiltShard | number | PoolCounts | object[] | undefined): void;
  reject(error: Error): void;
  output: Output | undefined;
}

export class RepairThread {
  private readonly log: Logger;
  private readonly nice: number;
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private serveSettings: RepairPortSettings | undefined;
  private serving: Promise<number> | undefined; // the current thread's repair port
  // The thread's priority as it reported it (tests and the log read it).
  priority: { nice: number; tid: number } | { failed: string } | undefined;
  // The thread's CPU class (data.repair_cpu_class), set and guarded from this thread once the
  // repair port serves (the thread has run ionice by then: a child a SCHED_IDLE thread starts
  // inherits the class).
  private cpuGuard: CpuClassGuard | undefined;

  constructor(log: Logger, nice = REPAIR_THREAD_NICE) {
    this.log = log;
    this.nice = nice;
  }

  // The repair port over the data service's disks, started on the thread at the first call
  // (and again on a new thread, if the thread died: its port is then another).
  serve(settings: RepairPortSettings): Promise<number> {
    this.serveSettings = settings;
    if (this.serving === undefined) {
      const security = serializeSecurity(processRpcSecurity());
      const serving = this.submit(
        { op: 'serve', id: this.nextId++, settings, security },
        undefined,
      ).then((port) => {
        assert(typeof port === 'number', 'a serve task gives the port');
        return port;
      });
      serving.catch(() => {
        if (this.serving === serving) this.serving = undefined;
      });
      this.serving = serving;
    }
    return this.serving;
  }

  // The shard the header asks for, rebuilt on the thread from the stripe's other shards, with
  // its file's header and checksums (store.put takes them): coded where its file's direct write
  // takes it from (a lease of rebuildStaging), or, with no room there, in a buffer of
  // repairBuffers.
  async rebuild(header: RebuildShardHeader): Promise<RebuiltShard> {
    if (this.serveSettings === undefined)
      throw new StrataError('INTERNAL', 'a rebuild before the repair port was started');
    await this.serve(this.serveSettings);
    const output = rebuildOutput(header.shardSizeBytes);
    assert(
      output.data.buffer instanceof SharedArrayBuffer,
      'the rebuilt shard is in shared memory',
    );
    const task = { op: 'rebuild', id: this.nextId++, header, output: output.data } as const;
    const shard = await this.submit(task, output);
    assert(typeof shard === 'object' && 'data' in shard, 'a rebuild task gives its shard');
    return shard;
  }

  // Checks a whole shard's blocks as verifyBlocks(name, header, 0, data, crcs) does (the same
  // SHARD_CORRUPT), for a peer's repair read (data-service.ts, verifyRepairRead). `data` and
  // `crcs` are views of repairBuffers (others are copied); the caller keeps them until this
  // settles.
  async verify(name: string, header: ShardHeader, data: Buffer, crcs: Buffer): Promise<void> {
    await this.submit({ op: 'verify', id: this.nextId++, name, header, data, crcs }, undefined);
  }

  // The thread's metrics (MetricsTask); undefined while no thread runs (none is started for
  // this).
  async metrics(): Promise<object[] | undefined> {
    if (this.worker === undefined) return undefined;
    const metrics = await this.submit({ op: 'metrics', id: this.nextId++ }, undefined);
    assert(Array.isArray(metrics), 'a metrics task gives a list');
    return metrics;
  }

  // The thread's pools (PoolsTask): for tests.
  async pools(poisonOnRelease: boolean): Promise<PoolCounts> {
    const counts = await this.submit(
      { op: 'pools', id: this.nextId++, poisonOnRelease },
      undefined,
    );
    assert(typeof counts === 'object' && 'slabLeasedBytes' in counts, 'a pools task gives counts');
    return counts;
  }

  private submit(task: RepairThreadTask, output: Output | undefined) {
    return new Promise<RebuiltShard | number | PoolCounts | object[] | undefined>(
      (resolve, reject) => {
        this.waiting.set(task.id, { resolve, reject, output });
        try {
          this.thread().postMessage(task);
        } catch (error) {
          this.waiting.delete(task.id);
          output?.release();
          reject(error as Error);
        }
      },
    );
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL('./repair-thread-worker.ts', import.meta.url), {
      workerData: { nice: this.nice },
    });
    worker.on('message', (message: RepairThreadMessage) => this.received(message));
    // A thread that dies fails what it held; the next rebuild starts another.
    const lost = (why: string) => {
      if (this.worker !== worker) return;
      this.stopCpuGuard();
      this.worker = undefined;
      this.serving = undefined;
      this.failAll(new StrataError('INTERNAL', `repair thread ${why}`));
    };
    worker.on('error', (error) => {
      this.log.error('repair thread failed', { error });
      lost(`failed: ${error.message}`);
    });
    worker.on('exit', (code) => lost(`exited (${code})`));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private received(message: RepairThreadMessage): void {
    if (message.type === 'priority') {
      this.priority = { nice: message.nice, tid: message.tid };
      this.log.info('repair thread started at a lower CPU priority', this.priority);
      return;
    }
    if (message.type === 'log') {
      this.log[message.level](message.msg, message.fields);
      return;
    }

    if (message.type === 'priority-failed') {
      this.priority = { failed: message.message };
      this.log.warn('repair thread runs at the process priority (no per-thread nice here)', {
        error: message.message,
      });
      return;
    }
    const waiting = this.waiting.get(message.id);
    if (waiting === undefined) return;
    this.waiting.delete(message.id);
    const { output } = waiting;
    if (message.type === 'failed') {
      output?.release();
      const code = (message.code ?? 'INTERNAL') as StrataErrorCode;
      waiting.reject(new StrataError(code, message.message));
      return;
    }
    if (message.type === 'verified') {
      waiting.resolve(undefined);
      return;
    }
    if (message.type === 'serving') {
      this.startCpuGuard();
      waiting.resolve(message.port);
      return;
    }
    if (message.type === 'pools') {
      waiting.resolve(message.counts);
      return;
    }
    if (message.type === 'metrics') {
      waiting.resolve(message.metrics);
      return;
    }
    assert(output !== undefined, 'a coding task has its output');
    const { data, release, staging } = output;
    const encoded = { head: Buffer.from(message.head), crcs: Buffer.from(message.crcs) };
    waiting.resolve({ data, release, encoded, ...(staging === undefined ? {} : { staging }) });
  }

  // The thread's CPU class as set (undefined: at its nice value).
  get cpuClass(): RepairCpuClass | undefined {
    return this.cpuGuard?.cpuClass;
  }

  private startCpuGuard(): void {
    if (this.cpuGuard !== undefined || this.serveSettings?.cpuClass !== 'idle') return;
    if (this.priority === undefined || !('tid' in this.priority)) return; // no thread id here
    this.cpuGuard = guardCpuClass(this.priority.tid, this.nice, this.log);
  }

  private stopCpuGuard(): void {
    this.cpuGuard?.stop();
    this.cpuGuard = undefined;
  }

  private failAll(error: Error): void {
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      // The thread is gone: nothing writes it any more.
      waiting.output?.release();
      waiting.reject(error);
    }
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.stopCpuGuard();
    this.worker = undefined;
    this.serving = undefined;
    this.serveSettings = undefined;
    await worker?.terminate();
    this.failAll(new StrataError('RPC_UNAVAILABLE', 'repair thread closed'));
  }
}

// A rebuilt shard's buffer: `sizeBytes` at SHARD_DATA_AT of a lease of rebuildStaging as long as
// its whole file, else a buffer of repairBuffers. Given back once, whoever calls first.
function rebuildOutput(sizeBytes: number): Output {
  const lease = rebuildStaging.lease(shardFileBytes(sizeBytes));
  if (lease === undefined) {
    const data = repairBuffers.acquire(sizeBytes);
    return { data, release: releaseOnce(repairBuffers, data), staging: undefined };
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    lease.release();
  };
  const data = lease.buffer.subarray(SHARD_DATA_AT, SHARD_DATA_AT + sizeBytes);
  return { data, release, staging: lease.buffer };
}
