// Opening sealed windows off the event loop: a small pool of worker threads, each running
// openWindow (stripe-seal.ts) on a window copied into shared memory, the plaintext written beside
// it. The gateway's main thread then pays one copy of the sealed bytes and two small messages per
// window instead of the decryption (about 5 ms per 4 MiB with AES-256-GCM), so it keeps serving
// sockets and the reads of the next pieces meanwhile. WebCrypto's AES-GCM also runs in a thread
// pool, but costs the main thread more per 64 KiB chunk than the decryption itself (measured:
// benches/encryption-open/run.ts). Tasks go to the worker with the fewest in flight; the number
// in flight is bounded.
import assert from 'node:assert';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { StrataError } from '../common/errors.ts';
import type { OpenReply, OpenTask } from './open-pool-worker.ts';
import { ChunkAuthError } from './shard-seal.ts';
import type { SealedWindow, StripeKey } from './stripe-seal.ts';

// A read has at most a few 4 MiB windows in flight per GET (src/client/file-reader.ts); this
// bounds the shared memory held by waiting tasks to about 1 GiB on the busiest gateway.
const TASKS_IN_FLIGHT_MAX = 256;
// Decryption shares the cores with everything else a gateway does: at most this many threads.
const WORKERS_MAX = 4;

interface Waiting {
  resolve(): void;
  reject(error: Error): void;
  worker: number;
}

export class OpenPool {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;

  constructor(options: { workers?: number } = {}) {
    const count = options.workers ?? Math.min(WORKERS_MAX, availableParallelism());
    assert(count >= 1, 'a pool needs a worker');
    this.workers = Array.from({ length: count }, () => {
      const worker = new Worker(new URL('./open-pool-worker.ts', import.meta.url));
      worker.on('message', (reply: OpenReply) => this.settle(reply));
      worker.on('error', (error) => this.failAll(error));
      worker.unref();
      return worker;
    });
    this.load = this.workers.map(() => 0);
  }

  // Whether open() would refuse a task now (the caller then opens on its own thread).
  get saturated(): boolean {
    return this.waiting.size >= TASKS_IN_FLIGHT_MAX;
  }

  // openWindow's result, computed in a worker; the same errors (ChunkAuthError naming the chunk).
  async open(sk: StripeKey, window: SealedWindow, sealed: Buffer): Promise<Buffer> {
    assert.equal(sealed.length, window.end - window.start, 'the sealed window');
    if (this.waiting.size >= TASKS_IN_FLIGHT_MAX)
      throw new StrataError('EBUSY', `${TASKS_IN_FLIGHT_MAX} decryptions in flight`);
    const memory = new SharedArrayBuffer(sealed.length + window.lengthBytes);
    sealed.copy(Buffer.from(memory, 0, sealed.length));
    const id = this.nextId++;
    const key = new Uint8Array(sk.key); // a copy: the caller zeroes its own
    const task: OpenTask = {
      id,
      memory,
      sealedBytes: sealed.length,
      window,
      stripeId: sk.stripeId,
      cipher: sk.cipher,
      key,
    };
    const worker = this.load.indexOf(Math.min(...this.load));
    this.load[worker]++;
    if (this.waiting.size === 0) for (const w of this.workers) w.ref();
    const done = new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker });
    });
    this.workers[worker].postMessage(task, [key.buffer]);
    await done;
    // A view of the shared memory: the plaintext, nothing copied back.
    return Buffer.from(memory, sealed.length, window.lengthBytes);
  }

  private settle(reply: OpenReply): void {
    const waiting = this.waiting.get(reply.id);
    if (!waiting) return;
    this.waiting.delete(reply.id);
    this.load[waiting.worker]--;
    if (this.waiting.size === 0) for (const w of this.workers) w.unref();
    if (reply.ok) waiting.resolve();
    else if (reply.place !== undefined)
      waiting.reject(new ChunkAuthError(reply.place, reply.message.replace(/^.*: /, '')));
    else waiting.reject(new StrataError('EIO', `decryption worker: ${reply.message}`));
  }

  private failAll(error: Error): void {
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      this.load[waiting.worker]--;
      waiting.reject(error);
    }
  }

  async close(): Promise<void> {
    this.failAll(new StrataError('EIO', 'decryption pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

let shared: OpenPool | undefined;

// The process's pool, made at the first encrypted read (its workers do not keep it alive).
export function openPool(): OpenPool {
  shared ??= new OpenPool();
  return shared;
}
