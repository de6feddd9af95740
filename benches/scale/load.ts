// The two loads of the scale benchmark. The bulk loader grows the namespace as fast as the
// cluster takes it: zero-byte file creates through StrataClient (one Raft command each, the FUSE
// mount's path), `inFlight` at a time, 1,000 files to a directory. The mixed load is the steady
// traffic whose latency must stay flat while the namespace grows: S3 requests through the AWS
// SDK against the gateways, and FUSE-like namespace calls through StrataClient.
import assert from 'node:assert/strict';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { StrataClient } from '../../src/client/strata-client.ts';
import type { Caller } from '../../src/metadata/types.ts';

export const FILES_PER_DIR = 1000;
export const BUCKET = 'scale';
const CALLER: Caller = { uid: 0, gid: 0 };
const MIXED_BODY = Buffer.alloc(4096, 's');

export const dirName = (dir: number) => `d${String(dir).padStart(5, '0')}`;
export const fileName = (file: number) => `f${String(file).padStart(3, '0')}`;

// Latencies of one window, in milliseconds, and the errors seen in it.
export class Window {
  readonly startedMs = performance.now();
  latenciesMs: number[] = [];
  errors = 0;
  lastError = '';

  record(startedMs: number): void {
    this.latenciesMs.push(performance.now() - startedMs);
  }

  fail(error: unknown): void {
    this.errors++;
    this.lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }

  percentileMs(p: number): number {
    const sorted = this.latenciesMs.toSorted((a, b) => a - b);
    if (sorted.length === 0) return Number.NaN;
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
  }

  elapsedMs(): number {
    return performance.now() - this.startedMs;
  }

  maxMs(): number {
    let max = Number.NaN;
    for (const v of this.latenciesMs) if (!(v <= max)) max = v;
    return max;
  }
}

// Grows a directory of the bucket to `entries` files, in directories of FILES_PER_DIR made as
// the first create of each needs them. Which entries were acknowledged is kept (one byte each),
// so that a later scan can say which acknowledged entry is missing.
export class BulkLoader {
  readonly entries: number;
  readonly acked: Uint8Array;
  ackedCount = 0;
  errors = 0;
  lastError = '';
  private errorsTaken = 0;
  private nextEntry = 0;
  private stopped = false;
  // Directory number -> its inode, made once; dropped when its last entry is claimed, so at most
  // about `inFlight / FILES_PER_DIR + 2` are held.
  private readonly dirs = new Map<number, Promise<number>>();
  // Entry n starts no earlier than n / entriesPerSecondMax seconds after run() (undefined: at once).
  private readonly entriesPerSecondMax: number | undefined;
  private startedMs = 0;

  constructor(entries: number, options: { entriesPerSecondMax?: number } = {}) {
    assert.ok(Number.isSafeInteger(entries) && entries > 0, `entries > 0, got ${entries}`);
    const rate = options.entriesPerSecondMax;
    assert.ok(rate === undefined || rate > 0, `a positive load rate, got ${rate}`);
    this.entries = entries;
    this.acked = new Uint8Array(entries);
    this.entriesPerSecondMax = rate;
  }

  // Every entry claimed (or stop() called); creates in flight may still be finishing.
  get claimedAll(): boolean {
    return this.stopped || this.nextEntry >= this.entries;
  }

  stop(): void {
    this.stopped = true;
  }

  // Errors since the previous call.
  takeErrors(): number {
    const errors = this.errors - this.errorsTaken;
    this.errorsTaken = this.errors;
    return errors;
  }

  // Runs `inFlight` loops over the clients until every entry is claimed and created (or stop()
  // is called).
  async run(clients: StrataClient[], parentIno: number, inFlight: number): Promise<void> {
    assert.ok(clients.length > 0 && inFlight > 0, 'at least one client and one loop');
    this.startedMs = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, (_, loop) =>
        this.loop(clients[loop % clients.length], parentIno),
      ),
    );
  }

  private async loop(client: StrataClient, parentIno: number): Promise<void> {
    while (!this.claimedAll) {
      const entry = this.nextEntry++;
      const dir = Math.floor(entry / FILES_PER_DIR);
      const file = entry % FILES_PER_DIR;
      let dirIno = this.dirs.get(dir);
      if (dirIno === undefined) {
        dirIno = client.mkdirAt(parentIno, dirName(dir), 0o755, CALLER).then((e) => e.inode.ino);
        this.dirs.set(dir, dirIno);
      }
      if (file === FILES_PER_DIR - 1 || entry === this.entries - 1) this.dirs.delete(dir);
      if (this.entriesPerSecondMax !== undefined) {
        const dueMs = this.startedMs + (entry * 1000) / this.entriesPerSecondMax;
        const waitMs = dueMs - performance.now();
        if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
      try {
        await client.createAt(await dirIno, fileName(file), 0o644, CALLER, true);
        this.acked[entry] = 1;
        this.ackedCount++;
      } catch (error) {
        // A directory that could not be made fails each of its creates: the scan shows them.
        this.errors++;
        this.lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
    }
  }
}

export interface MixedLoadOptions {
  s3: S3Client[]; // one per gateway
  strata: StrataClient;
  fsDirIno: number; // a directory of its own for the FUSE-like loops
  loops: number; // half S3, half FUSE-like (at least one of each)
  // Operations per second over all loops (undefined: closed loops, each as fast as it goes).
  opsPerSecond?: number;
}

// The steady load: loops, each a fixed cycle of operations, every operation timed into whatever
// window is current. Paced (opsPerSecond), the loops together offer a fixed rate below what the
// cluster takes: ops/s then stays at the pace unless the cluster cannot keep it (fewer ops/s is
// the sign), and the latencies are each operation's own, from its start. Closed (no pace), the
// loops take whatever capacity the rest of the machine leaves: their ops/s is that capacity,
// which moves with every other process on the host.
export class MixedLoad {
  window = new Window();
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly options: MixedLoadOptions;
  private startedMs = 0;

  constructor(options: MixedLoadOptions) {
    assert.ok(options.loops >= 2, `mixed load loops >= 2, got ${options.loops}`);
    assert.ok(options.s3.length > 0, 'at least one gateway');
    const rate = options.opsPerSecond;
    assert.ok(rate === undefined || rate > 0, `a positive mixed rate, got ${rate}`);
    this.options = options;
  }

  start(): void {
    const { loops } = this.options;
    const s3Loops = Math.ceil(loops / 2);
    this.startedMs = performance.now();
    this.running = Promise.all(
      Array.from({ length: loops }, (_, i) => (i < s3Loops ? this.s3Loop(i) : this.fsLoop(i))),
    ).then(() => undefined);
  }

  // Hands the current window over and starts a new one.
  takeWindow(): Window {
    const done = this.window;
    this.window = new Window();
    return done;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  // When each loop's next operation may start (paced load only).
  private readonly nextDueMs: number[] = [];

  // Paced, waits until the loop's next operation is due: `loops / opsPerSecond` seconds after the
  // previous one was due, the loops offset from each other so that their operations interleave.
  // A loop that fell behind (an operation longer than its interval) starts the next one at once
  // but does not run a backlog: one slow stretch does not inflate the latencies after it. Returns
  // when the operation started.
  private async due(loop: number): Promise<number> {
    const rate = this.options.opsPerSecond;
    if (rate === undefined) return performance.now();
    const intervalMs = (1000 * this.options.loops) / rate;
    const dueMs = this.nextDueMs[loop] ?? this.startedMs + (loop / this.options.loops) * intervalMs;
    const waitMs = dueMs - performance.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    const startedMs = performance.now();
    this.nextDueMs[loop] = Math.max(dueMs + intervalMs, startedMs);
    return startedMs;
  }

  private async timed(loop: number, op: () => Promise<unknown>): Promise<boolean> {
    const started = await this.due(loop);
    if (this.stopped) return false;
    try {
      await op();
      this.window.record(started);
      return true;
    } catch (error) {
      this.window.fail(error);
      return false;
    }
  }

  private async s3Loop(loop: number): Promise<void> {
    const { s3 } = this.options;
    for (let n = 0; !this.stopped; n++) {
      const client = s3[(loop + n) % s3.length];
      const Key = `mixed/s3-${loop}/o${n % 64}`;
      const Bucket = BUCKET;
      await this.timed(loop, () =>
        client.send(new PutObjectCommand({ Bucket, Key, Body: MIXED_BODY })),
      );
      await this.timed(loop, async () => {
        const got = await client.send(new GetObjectCommand({ Bucket, Key }));
        const body = await got.Body?.transformToByteArray();
        assert.equal(body?.length, MIXED_BODY.length, `GET ${Key}: the bytes PUT`);
      });
      await this.timed(loop, () => client.send(new HeadObjectCommand({ Bucket, Key })));
      const Prefix = `mixed/s3-${loop}/`;
      await this.timed(loop, () =>
        client.send(new ListObjectsV2Command({ Bucket, Prefix, MaxKeys: 100 })),
      );
      if (n % 4 === 3)
        await this.timed(loop, () => client.send(new DeleteObjectCommand({ Bucket, Key })));
    }
  }

  private async fsLoop(loop: number): Promise<void> {
    const { strata, fsDirIno } = this.options;
    let dirIno = 0;
    while (!this.stopped && dirIno === 0) {
      await this.timed(loop, async () => {
        dirIno = (await strata.mkdirAt(fsDirIno, `w${loop}`, 0o755, CALLER)).inode.ino;
      });
    }
    for (let n = 0; !this.stopped; n++) {
      const name = `f${n % 64}`;
      const created = await this.timed(loop, () =>
        strata.createAt(dirIno, name, 0o644, CALLER, false),
      );
      await this.timed(loop, () => strata.lookup(dirIno, name));
      await this.timed(loop, () => strata.readdirIno(dirIno));
      if (!created) continue;
      await this.timed(loop, () =>
        strata.renameAt({ parent: dirIno, name }, { parent: dirIno, name: `${name}.renamed` }),
      );
      await this.timed(loop, () => strata.unlinkAt(dirIno, `${name}.renamed`));
    }
  }
}
