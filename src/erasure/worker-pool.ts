// Erasure coding on every core: a pool of worker threads, each with its own codec. A stripe's
// shards live in one SharedArrayBuffer, so a task is a small message and no shard bytes are
// copied between threads. Tasks go to the worker with the fewest in flight; the number in flight
// is bounded.
import assert from 'node:assert';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { StrataError } from '../common/errors.ts';
import type { PoolTask } from './pool-worker.ts';

const TASKS_IN_FLIGHT_MAX = 1024;

export interface SharedStripe {
  k: number;
  m: number;
  shardBytes: number;
  memory: SharedArrayBuffer;
  shards: Buffer[]; // views of `memory`, k data then m parity
}

interface Waiting {
  resolve(): void;
  reject(error: Error): void;
  worker: number;
}

export class ErasurePool {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;

  constructor(options: { workers?: number } = {}) {
    const count = options.workers ?? availableParallelism();
    assert(count >= 1, 'a pool needs a worker');
    this.workers = Array.from({ length: count }, () => {
      const worker = new Worker(new URL('./pool-worker.ts', import.meta.url));
      worker.on('message', (reply: { id: number; ok: boolean; message?: string }) =>
        this.settle(reply),
      );
      worker.on('error', (error) => this.failAll(error));
      worker.unref();
      return worker;
    });
    this.load = this.workers.map(() => 0);
  }

  allocateStripe(k: number, m: number, shardBytes: number): SharedStripe {
    const memory = new SharedArrayBuffer((k + m) * shardBytes);
    const shards = Array.from({ length: k + m }, (_, i) =>
      Buffer.from(memory, i * shardBytes, shardBytes),
    );
    return { k, m, shardBytes, memory, shards };
  }

  encode(stripe: SharedStripe): Promise<void> {
    return this.submit({ op: 'encode', stripe });
  }

  reconstruct(stripe: SharedStripe, present: boolean[]): Promise<void> {
    return this.submit({ op: 'reconstruct', stripe, present });
  }

  private submit(request: { op: PoolTask['op']; stripe: SharedStripe; present?: boolean[] }) {
    if (this.waiting.size >= TASKS_IN_FLIGHT_MAX)
      return Promise.reject(
        new StrataError('EBUSY', `${TASKS_IN_FLIGHT_MAX} erasure tasks in flight`),
      );
    const worker = this.load.indexOf(Math.min(...this.load));
    const id = this.nextId++;
    const { stripe } = request;
    const task: PoolTask = {
      id,
      op: request.op,
      k: stripe.k,
      m: stripe.m,
      shardBytes: stripe.shardBytes,
      memory: stripe.memory,
      present: request.present,
    };
    this.load[worker]++;
    if (this.waiting.size === 0) for (const w of this.workers) w.ref();
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker });
      this.workers[worker].postMessage(task);
    });
  }

  private settle(reply: { id: number; ok: boolean; message?: string }): void {
    const waiting = this.waiting.get(reply.id);
    if (!waiting) return;
    this.waiting.delete(reply.id);
    this.load[waiting.worker]--;
    if (this.waiting.size === 0) for (const w of this.workers) w.unref();
    if (reply.ok) waiting.resolve();
    else waiting.reject(new StrataError('EIO', `erasure worker: ${reply.message}`));
  }

  private failAll(error: Error): void {
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      waiting.reject(error);
    }
  }

  async close(): Promise<void> {
    this.failAll(new StrataError('EIO', 'erasure pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
