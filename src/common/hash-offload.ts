// The hashes of large bodies on threads of their own (hash-thread.ts). A gateway checks the
// SHA-256 a SigV4 client signed over every PUT body and the CRC32 the AWS SDK declares with it,
// and takes the body's MD5 for the ETag and its CRC32C for the object's record, all on its
// event loop at first: under 16 MiB PUTs, 8 at a time, hashing was 41% of the gateway's busy
// time and the event loop its bound, and the two CRCs were still 11% of that loop's samples
// with the digests moved (docs/architecture/overview.md, "Data path"). A body is copied into
// shared segments of SEGMENT_BYTES, each posted to a hashing thread as it fills, run through
// every hash of its session there and reused once hashed; one that ends within its first
// segment is hashed on the calling thread at digest(), so small objects pay no thread round trip. At most SEGMENTS_MAX segments exist: a body that finds none
// free at its start is hashed on the calling thread as before, and a large one waits in update()
// for its next segment.
import assert from 'node:assert';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { copyBytes } from './copy-bytes.ts';
import { StrataError } from './errors.ts';
import type { HashThreadReply, HashThreadRequest } from './hash-thread.ts';
import { type HashAlgorithm, type RunningHash, startHash } from './running-hash.ts';

export type { HashAlgorithm } from './running-hash.ts';

export const SEGMENT_BYTES = 1024 * 1024;
// 32 MiB of segments, enough for a few dozen large bodies at once to keep both sides busy.
export const SEGMENTS_MAX = 32;
// Threads to hash on: one fewer than the cores (the event loop keeps one busy), at most 4.
const THREADS_MAX = 4;

interface PendingDigest {
  resolve(digests: Buffer[]): void;
  reject(error: Error): void;
}

// The hashing threads and the segments they read. A failed thread fails everything in flight,
// and the next body starts a fresh pool (threadPool()).
class HashThreads {
  private readonly threads: number;
  private workers: Worker[] = []; // started at the first session
  private sessionsOn: number[] = [];
  private readonly memories: SharedArrayBuffer[] = [];
  private readonly views: Buffer[] = [];
  private readonly free: number[] = [];
  private readonly waiting: Array<{ resolve(segment: number): void; reject(e: Error): void }> = [];
  private readonly digests = new Map<number, PendingDigest>();
  private readonly sessionWorker = new Map<number, number>();
  private nextSession = 1;
  failure: Error | undefined;

  constructor(threads: number) {
    assert(threads >= 1);
    this.threads = threads;
  }

  private start(): void {
    this.workers = Array.from({ length: this.threads }, () => {
      const worker = new Worker(new URL('./hash-thread.ts', import.meta.url));
      worker.on('message', (reply: HashThreadReply) => this.received(reply));
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) =>
        this.fail(new StrataError('EIO', `a hashing thread exited (code ${code})`)),
      );
      worker.unref();
      return worker;
    });
    this.sessionsOn = this.workers.map(() => 0);
  }

  // A free segment's index when one is free or may be made.
  tryAcquire(): number | undefined {
    if (this.failure !== undefined) return undefined;
    const free = this.free.pop();
    if (free !== undefined) return free;
    if (this.memories.length >= SEGMENTS_MAX) return undefined;
    const memory = new SharedArrayBuffer(SEGMENT_BYTES);
    this.memories.push(memory);
    this.views.push(Buffer.from(memory));
    return this.memories.length - 1;
  }

  // A free segment's index, at once when there is one, else once one is given back.
  acquire(): number | Promise<number> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return (
      this.tryAcquire() ?? new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
    );
  }

  release(segment: number): void {
    const next = this.waiting.shift();
    if (next !== undefined) next.resolve(segment);
    else this.free.push(segment);
  }

  view(segment: number): Buffer {
    return this.views[segment];
  }

  open(algorithms: HashAlgorithm[]): number {
    if (this.failure !== undefined) throw this.failure;
    if (this.workers.length === 0) this.start();
    const session = this.nextSession++;
    const worker = this.sessionsOn.indexOf(Math.min(...this.sessionsOn));
    this.sessionsOn[worker]++;
    if (this.sessionsOn[worker] === 1) this.workers[worker].ref();
    this.sessionWorker.set(session, worker);
    this.post(session, { op: 'open', session, algorithms });
    return session;
  }

  // Hands `segment` to the session's thread, which gives it back once hashed.
  update(session: number, segment: number, bytes: number): void {
    if (this.failure !== undefined) throw this.failure;
    this.post(session, { op: 'update', session, segment, memory: this.memories[segment], bytes });
  }

  digest(session: number): Promise<Buffer[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.digests.set(session, { resolve, reject });
      this.post(session, { op: 'digest', session });
    });
  }

  drop(session: number): void {
    if (this.failure === undefined) this.post(session, { op: 'drop', session });
    this.close(session);
  }

  private post(session: number, request: HashThreadRequest): void {
    const worker = this.sessionWorker.get(session);
    assert(worker !== undefined, 'an open session');
    this.workers[worker].postMessage(request);
  }

  private close(session: number): void {
    const worker = this.sessionWorker.get(session);
    if (worker === undefined) return;
    this.sessionWorker.delete(session);
    this.sessionsOn[worker]--;
    if (this.sessionsOn[worker] === 0) this.workers[worker].unref();
  }

  private received(reply: HashThreadReply): void {
    if (reply.op === 'free') {
      this.release(reply.segment);
      return;
    }
    const pending = this.digests.get(reply.session);
    this.digests.delete(reply.session);
    this.close(reply.session);
    if (reply.op === 'digest') pending?.resolve(reply.digests.map((d) => Buffer.from(d)));
    else pending?.reject(new StrataError('EIO', `hashing thread: ${reply.message}`));
  }

  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    if (pool === this) pool = undefined;
    for (const pending of this.digests.values()) pending.reject(error);
    this.digests.clear();
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
    for (const worker of this.workers) void worker.terminate();
  }
}

let pool: HashThreads | undefined;

// Ends the hashing threads as a crash would: the bodies hashing on them fail, and the next body
// starts fresh ones. For tests, to show such a failure reaches the caller.
export async function terminateHashThreads(): Promise<void> {
  await pool?.terminate();
}

function threadPool(): HashThreads {
  pool ??= new HashThreads(Math.max(1, Math.min(THREADS_MAX, availableParallelism() - 1)));
  return pool;
}

// One body's hashes, one per algorithm asked for (its bytes copied once for all of them).
// update() calls are awaited one at a time; digest() once, or abort() when the body is abandoned
// (a session left open would hold its thread's state).
export class OffloadedHash {
  private readonly algorithms: HashAlgorithm[];
  private readonly threads = threadPool();
  private inline: RunningHash[] | undefined; // no segment was free at the body's start
  private started = false;
  private session: number | undefined; // once the body outgrew its first segment
  private segment: number | undefined; // being filled
  private filled = 0;
  private finished = false;

  constructor(algorithms: HashAlgorithm[]) {
    assert(algorithms.length > 0, 'a hash to run');
    this.algorithms = [...algorithms];
  }

  async update(chunk: Buffer): Promise<void> {
    assert(!this.finished, 'no update after digest or abort');
    if (!this.started) {
      this.started = true;
      this.segment = this.threads.tryAcquire();
      if (this.segment === undefined) this.inline = this.algorithms.map(startHash);
    }
    if (this.inline !== undefined) {
      for (const hash of this.inline) hash.update(chunk);
      return;
    }
    let at = 0;
    while (at < chunk.length) {
      if (this.segment === undefined) {
        const acquired = this.threads.acquire();
        this.segment = typeof acquired === 'number' ? acquired : await acquired;
      }
      const taken = Math.min(SEGMENT_BYTES - this.filled, chunk.length - at);
      // Into shared memory: copyBytes, not chunk.copy (copy-bytes.ts).
      const copied = copyBytes(
        this.threads.view(this.segment),
        this.filled,
        chunk.subarray(at, at + taken),
      );
      at += copied;
      this.filled += copied;
      if (this.filled === SEGMENT_BYTES) this.post();
    }
  }

  // The filled segment goes to the hashing thread (the session opened with the first one).
  private post(): void {
    assert(this.segment !== undefined && this.filled > 0);
    this.session ??= this.threads.open(this.algorithms);
    const segment = this.segment;
    this.segment = undefined;
    const bytes = this.filled;
    this.filled = 0;
    this.threads.update(this.session, segment, bytes);
  }

  // The digests in the order the algorithms were given.
  async digest(): Promise<Buffer[]> {
    assert(!this.finished, 'one digest');
    this.finished = true;
    if (this.inline !== undefined) return this.inline.map((hash) => hash.digest());
    if (this.session === undefined) {
      // Within one segment (or empty): hashed here.
      const hashes = this.algorithms.map(startHash);
      if (this.segment !== undefined) {
        const bytes = this.threads.view(this.segment).subarray(0, this.filled);
        for (const hash of hashes) hash.update(bytes);
        this.threads.release(this.segment);
        this.segment = undefined;
      }
      return hashes.map((hash) => hash.digest());
    }
    if (this.segment !== undefined && this.filled > 0) this.post();
    if (this.segment !== undefined) this.threads.release(this.segment);
    this.segment = undefined;
    return this.threads.digest(this.session);
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.segment !== undefined) this.threads.release(this.segment);
    this.segment = undefined;
    if (this.session !== undefined) this.threads.drop(this.session);
  }
}
