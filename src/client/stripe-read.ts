import assert from 'node:assert';
import { performance } from 'node:perf_hooks';
import { type Leased, releaseOnce, shardBuffers } from '../common/buffer-pool.ts';
import { isStrataError, StrataError } from '../common/errors.ts';
import type { DataClient } from '../data/index.ts';
import type { Stripe } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { erasureStripes, hedgedShardReads, hedgeWins } from '../observability/metrics.ts';
import type { DataPool } from './data-pool.ts';
import { codecFor, shardViews } from './stripe-codec.ts';

// What a stripe read needs of its pool: connections by server id, the cluster's view of the
// servers (refreshed when stale) and this reader's health view. The client's DataPool is one; a
// data server rebuilding a shard from its peers has its own (src/cluster/shard-rebuilder.ts).
// `background`: the reads are a repair's (a data server's rebuild), queued behind other repair
// work at each source (src/data/repair-slots.ts); a client's are not.
// `client`: where a server's shards are read (a DataClient, or a data server's own store for a
// rebuild's local source). `prefers`: servers asked first when any k shards will do (a
// rebuild's own server: its shards cost no network transfer).
export type StripeReadPool = Pick<
  DataPool,
  'clusterAvoids' | 'health' | 'report' | 'reportAbandoned' | 'skipForRead'
> & {
  client(serverId: string): Promise<ShardSource>;
  refresh(): Promise<unknown>;
  // A shard read from this machine's disks without the server (DataPool.readLocal).
  readLocal?: DataPool['readLocal'];
  readonly background?: boolean;
  prefers?(serverId: string): boolean;
};

export type ShardSource = Pick<DataClient, 'getShard' | 'getShardLeased'>;

// A shard read that a hedge can replace gives up well before the RPC default (30 s): by then
// parity has long answered, and the pending call only holds a slot.
const SHARD_READ_TIMEOUT_MS = 5_000;
// A repair's (background) read gives up later: its source reads it at the idle I/O class
// (data.repair_io_class), which may wait out the disk scheduler's aging time (mq-deadline: 10 s)
// behind client reads on a busy disk, and failing it would only fail the rebuild for a later
// pass to start again. A hung source is still hedged around after the hedge delay, as before.
const BACKGROUND_SHARD_READ_TIMEOUT_MS = 20_000;

// One byte range of one shard, in shard coordinates.
interface ShardRange {
  index: number;
  start: number;
  end: number;
}

interface ShardRead extends ShardRange {
  serverId: string;
  state: 'pending' | 'ok' | 'failed';
  body?: Buffer;
  // Gives the body's pooled buffer back (a leased read); cleared once handed on as the result.
  release?: () => void;
  error?: unknown;
  hedge: boolean; // issued because another read was slower than the hedge delay
  slow: boolean; // still pending when a hedge delay ran out
}

// Reads `length` bytes at `offset` of the stripe's data, without waiting on a slow or dead server
// (Dean and Barroso, "The Tail at Scale", 2013: hedged requests).
//
// First it asks for just the byte ranges of the data shards that hold the bytes, skipping servers
// the cluster records suspect, down or removed and those the health view avoids (asked only when
// nothing else is left). A shard that fails, or has not answered after the hedge delay (from
// observed latency, server-health.ts), is replaced by reads of the same window of other shards
// (parity first on the healthiest servers), and the data is decoded from the first k that
// answer. Erasure coding works byte-position by byte-position, so any window of k shards decodes
// the same window of the data shards. Each shard is read at most twice (its range, then the
// window), so the extra work is bounded by k+m reads; late answers are ignored.
export async function readStripeRange(
  pool: StripeReadPool,
  stripe: Stripe,
  offset: number,
  length: number,
  log?: Logger,
): Promise<Buffer> {
  assert(
    offset >= 0 && length >= 0 && offset + length <= stripe.dataLengthBytes,
    'range in stripe',
  );
  const parts = await readStripeRangeParts(pool, stripe, offset, length, log);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

// The same bytes as readStripeRange, as they came: consecutive parts, one per data shard the
// range touches (their concatenation is the range), so a reader that streams them (a GET) or
// copies them anyway (an encrypted stripe's window, opened chunk by chunk: no chunk spans two
// shards) skips joining them.
export async function readStripeRangeParts(
  pool: StripeReadPool,
  stripe: Stripe,
  offset: number,
  length: number,
  log?: Logger,
): Promise<Buffer[]> {
  assert(
    offset >= 0 && length >= 0 && offset + length <= stripe.dataLengthBytes,
    'range in stripe',
  );
  if (length === 0) return [];
  // The server records as of at most a few seconds ago (a metadata read only when older).
  await pool.refresh();
  const read = new HedgedStripeRead(pool, stripe, neededRanges(stripe, offset, length), log);
  return (await read.run()).parts;
}

// As readStripeRangeParts, the shards' bodies in pooled buffers (shardBuffers), given back by the
// caller's `release` once it no longer reads them (nor any view of them). For a reader done with
// the bytes as soon as it has them: an encrypted window, opened into the decipher's own buffers.
// Fresh buffers there were 16 MiB of garbage per 16 MiB GET on top of the plaintext, which V8
// counts towards its heap limit: the gateway's collector threads spent about 10 ms more per
// encrypted GET than per plain one (per-thread CPU from /proc, benches/encryption-open).
// `readerAuthenticates`: the caller authenticates every byte it uses (an encrypted window's
// chunks), so the data servers skip the blocks' CRCs (GetShardHeader.readerAuthenticates).
export async function readStripeRangePartsLeased(
  pool: StripeReadPool,
  stripe: Stripe,
  offset: number,
  length: number,
  log?: Logger,
  options: { readerAuthenticates?: boolean } = {},
): Promise<PartsRead> {
  assert(
    offset >= 0 && length > 0 && offset + length <= stripe.dataLengthBytes,
    'a non-empty range in stripe',
  );
  await pool.refresh();
  const needed = neededRanges(stripe, offset, length);
  const read = new HedgedStripeRead(pool, stripe, needed, log, undefined, true);
  read.readerAuthenticates = options.readerAuthenticates === true;
  return read.run();
}

// Shard `index` of the stripe, whole (shardSizeBytes), from its other shards, with the same hedging:
// a repair's rebuild (src/cluster/shard-rebuilder.ts). A data shard asks for its own bytes first
// (one read when its old copy answers, a move); a parity shard asks for the k data shards. When
// those do not all answer, any k shards of the window are coded straight into the shard
// (ReedSolomon.codeShard): no buffers of the whole stripe, no decode of shards nobody asked for.
// `coder`: codes the shard from the k shards read when it must be coded (a data server's rebuild
// codes on its repair thread, src/cluster/repair-thread.ts); by default it is coded here, on this
// thread. The inputs are given back once the coder resolves.
export async function readStripeShard<R extends Leased = Leased>(
  pool: StripeReadPool,
  stripe: Stripe,
  index: number,
  log?: Logger,
  coder?: ShardCoder<R>,
): Promise<R | Leased> {
  const { k, m, shardSizeBytes: size, dataLengthBytes } = stripe;
  assert(Number.isInteger(index) && index >= 0 && index < k + m, 'a shard of the stripe');
  // The bytes of the data shards that hold data: shard files are whole (zero padded), but a
  // data shard past the stripe's data is all padding.
  const dataEnd = (i: number) => Math.max(0, Math.min(size, dataLengthBytes - i * size));
  const needed: ShardRange[] =
    index < k
      ? [{ index, start: 0, end: dataEnd(index) }]
      : Array.from({ length: k }, (_, i) => ({ index: i, start: 0, end: size }));
  if (needed[0].end === 0) return { data: Buffer.alloc(size), release: noRelease }; // padding only
  await pool.refresh();
  // The shard reads and the coded shard are in pooled buffers (shardBuffers): a rebuild knows
  // when it is done with them, and fresh ones per shard were most of a data server's garbage.
  const read = await new HedgedStripeRead(pool, stripe, needed, log, index, true, coder).run();
  let shard: R | Leased;
  if (read.codeFrom === undefined) {
    assert.equal(read.parts.length, 1, 'a shard read gives the shard in one part');
    shard = { data: read.parts[0], release: read.release };
  } else {
    assert(coder !== undefined && read.parts.length === k, 'k shards to code the shard from');
    try {
      shard = await coder(stripe, index, read.codeFrom, read.parts);
    } finally {
      read.release();
    }
  }
  assert(shard.data.length <= size, 'a shard holds at most shardSizeBytes');
  if (shard.data.length === size) return shard;
  const whole = Buffer.alloc(size); // a short last data shard: the rest is padding
  shard.data.copy(whole);
  shard.release();
  return { data: whole, release: noRelease };
}

function noRelease(): void {}

// Codes shard `target` of the stripe from k others (inputs[i] holds shard indices[i], all of one
// length) into a buffer of that length, which the caller releases.
export type ShardCoder<R extends Leased> = (
  stripe: Stripe,
  target: number,
  indices: number[],
  inputs: Buffer[],
) => Promise<R>;

function neededRanges(stripe: Stripe, offset: number, length: number): ShardRange[] {
  const size = stripe.shardSizeBytes;
  const first = Math.floor(offset / size);
  const last = Math.floor((offset + length - 1) / size);
  assert(last < stripe.k, 'the range lies in the data shards');
  const ranges: ShardRange[] = [];
  for (let i = first; i <= last; i++) {
    const start = i === first ? offset - i * size : 0;
    const end = i === last ? offset + length - i * size : size;
    ranges.push({ index: i, start, end });
  }
  return ranges;
}

class HedgedStripeRead {
  private readonly pool: StripeReadPool;
  private readonly stripe: Stripe;
  private readonly needed: ShardRange[];
  private readonly log: Logger | undefined;
  // The window every decoding read covers: the union of the needed ranges.
  private readonly windowStart: number;
  private readonly windowEnd: number;
  private readonly reads: ShardRead[] = [];
  private readonly exact = new Map<number, ShardRead>(); // needed data shard -> its range read
  private readonly windowed = new Map<number, ShardRead>(); // shard -> its read of the window
  private readonly absent: ReadonlySet<number>; // shards its writer left absent: no file there
  // Set: the read produces this shard (over the window) rather than the data of `needed`.
  private readonly target: number | undefined;
  // The reads and the coded shard are in pooled buffers: every body not handed on as the
  // result is given back when the read finishes (or when it arrives, after that).
  private readonly leased: boolean;
  // Every shard read asks the data server to leave the block CRCs to this reader.
  readerAuthenticates = false;
  // Set: the target is coded by the caller's coder (readStripeShard), so a read that must code
  // it hands on the k inputs instead (PartsRead.codeFrom).
  private readonly coder: ShardCoder<Leased> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private hedged = false;
  // The data in parts (one per needed range, or the one target shard) and how to give back the
  // pooled buffers they are in (a no-op unless the read is leased).
  private resolve!: (result: PartsRead) => void;
  private reject!: (error: unknown) => void;

  constructor(
    pool: StripeReadPool,
    stripe: Stripe,
    needed: ShardRange[],
    log?: Logger,
    target?: number,
    leased = false,
    coder?: ShardCoder<Leased>,
  ) {
    this.pool = pool;
    this.target = target;
    this.leased = leased;
    this.coder = coder;
    this.stripe = stripe;
    this.needed = needed;
    this.log = log;
    this.absent = new Set(stripe.absentShards ?? []);
    this.windowStart = Math.min(...needed.map((r) => r.start));
    this.windowEnd = Math.max(...needed.map((r) => r.end));
    assert(this.windowStart < this.windowEnd, 'a non-empty window');
  }

  run(): Promise<PartsRead> {
    const promise = new Promise<PartsRead>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    const nowMs = Date.now();
    const skipped = this.needed.filter(
      (range) =>
        this.absent.has(range.index) ||
        this.pool.skipForRead(this.stripe.shards[range.index].serverId, nowMs),
    );
    if (skipped.length === 0) {
      for (const range of this.needed) this.launch(range, false);
    } else {
      // The data will be decoded: the other needed shards are read over the whole window, so
      // each counts towards the k that decode it, before any skipped server is considered.
      for (const range of this.needed) {
        if (skipped.includes(range)) continue;
        this.launch({ index: range.index, start: this.windowStart, end: this.windowEnd }, false);
      }
      this.widen();
    }
    this.armHedge();
    this.check();
    return promise;
  }

  private launch(range: ShardRange, hedge: boolean): void {
    const { stripe, pool } = this;
    const serverId = stripe.shards[range.index].serverId;
    const read: ShardRead = { ...range, serverId, state: 'pending', hedge, slow: false };
    this.reads.push(read);
    const isWindow = range.start === this.windowStart && range.end === this.windowEnd;
    if (isWindow && !this.windowed.has(range.index)) this.windowed.set(range.index, read);
    if (!hedge && this.needed.includes(range)) this.exact.set(range.index, read);
    if (hedge) hedgedShardReads.inc();
    const startedMs = performance.now();
    readShard(pool, stripe, range, this.leased, this.readerAuthenticates).then(
      (body) => {
        // A local read says nothing of the server: it did not answer it.
        if (body.local !== true) pool.report(serverId, performance.now() - startedMs);
        read.state = 'ok';
        // Late (the read is done without it): nobody will read it.
        if (this.done) {
          body.release();
          return;
        }
        read.body = body.data;
        read.release = body.release;
        this.check();
      },
      (error) => {
        pool.report(serverId, performance.now() - startedMs, error);
        read.state = 'failed';
        read.error = error;
        if (!this.done && !isShardFault(error)) this.finish(error);
        else if (!this.done) {
          this.widen();
          this.check();
        }
      },
    );
  }

  private armHedge(): void {
    this.timer = setTimeout(() => {
      if (this.done) return;
      for (const read of this.reads) if (read.state === 'pending') read.slow = true;
      this.hedged = true;
      this.widen(true);
      this.check();
      // Hedges can be slow too: another round, until every shard has been asked.
      if (!this.done && this.candidates(true).length > 0) this.armHedge();
    }, this.pool.health.hedgeDelayMs());
  }

  // Asks more shards for the window until k reads of it are answered or may still answer in
  // good time (pending and not yet slow).
  private widen(hedge = false): void {
    const { k } = this.stripe;
    let viable = 0;
    for (const read of this.windowed.values()) {
      if (read.state === 'ok' || (read.state === 'pending' && !read.slow)) viable++;
    }
    // A server the cluster records suspect or down comes last: a hedge asks it only when the
    // others cannot make up k (its record may be behind its recovery, or wrong: a loaded
    // machine's late heartbeats make a live server suspect). Leaving it out, a read with one
    // server hung and two others suspect waited for the hung read's timeout (5 s: the chaos
    // test's SIGSTOP step once saw a GET gain 5,061 ms in CI).
    const candidates = this.candidates(hedge);
    for (let i = 0; viable < k && i < candidates.length; i++, viable++) {
      this.launch({ index: candidates[i], start: this.windowStart, end: this.windowEnd }, hedge);
    }
  }

  // Shards not yet asked for the window, best first: those never asked (on servers not avoided,
  // fastest first), then data shards whose own range answered, then servers being avoided
  // (for a hedge, those the cluster records suspect or down after those this client avoids).
  private candidates(forHedge = false): number[] {
    const nowMs = Date.now();
    const { shards } = this.stripe;
    const asked = new Set(this.reads.map((r) => r.index));
    const score = (index: number): number => {
      // A shard its writer left absent has no file: never asked.
      if (this.windowed.has(index) || this.absent.has(index)) return Number.POSITIVE_INFINITY;
      const serverId = shards[index].serverId;
      const exact = this.exact.get(index);
      if (exact && exact.state !== 'ok') return Number.POSITIVE_INFINITY;
      if (this.pool.clusterAvoids(serverId)) return forHedge ? 4e9 : 3e9;
      if (this.pool.health.isAvoiding(serverId, nowMs)) return 3e9;
      if (!asked.has(index) && this.pool.prefers?.(serverId) === true) return -1;
      const p95 = this.pool.health.serverP95Ms(serverId) ?? 0;
      return (asked.has(index) ? 1e9 : 0) + p95;
    };
    return shards
      .map((_, index) => ({ index, score: score(index) }))
      .filter((c) => c.score !== Number.POSITIVE_INFINITY)
      .sort((a, b) => a.score - b.score || b.index - a.index)
      .map((c) => c.index);
  }

  private check(): void {
    if (this.done) return;
    if (this.needed.every((r) => this.exact.get(r.index)?.state === 'ok')) {
      erasureStripes.inc({ operation: 'read' });
      const reads = this.needed.map((r) => this.exact.get(r.index) as ShardRead);
      // Each shard's range is the data as it is: no copy.
      if (this.target === undefined) this.finish(undefined, handOnAll(reads));
      else if (this.target < this.stripe.k)
        this.finish(undefined, asParts(handOn(reads[0]))); // its own copy
      else this.finish(undefined, this.codeTarget(this.target, reads));
      return;
    }
    const answered = [...this.windowed.values()].filter((r) => r.state === 'ok');
    if (answered.length >= this.stripe.k) {
      this.finish(undefined, this.decode(answered.slice(0, this.stripe.k)));
      return;
    }
    // Neither the exact ranges nor k window reads are in: ask more shards whenever no read that
    // may still answer in good time is left. A failure widens at once (launch), but a shard may
    // become a candidate only later, when its exact range answers (candidates() skips a shard
    // whose exact read is pending): without this, the last answer could leave the read waiting
    // on a candidate nobody asks (the degraded-read test hung once in a full run: shard 0 and one
    // parity lost, shard 1's short exact read answered last).
    const live = this.reads.filter((r) => r.state === 'pending' && !r.slow);
    if (live.length === 0) this.widen(this.reads.some((r) => r.state === 'pending'));
    if (this.reads.some((r) => r.state === 'pending')) return;
    this.finish(this.notEnoughShards());
  }

  // The target shard from k shards' bytes over the window: the bytes themselves when one of
  // them is the target (its old copy answered a window read), coded otherwise (here, or by the
  // caller's coder: then the k inputs are the result, to code from).
  private codeTarget(target: number, inputs: ShardRead[]): PartsRead {
    const own = inputs.find((r) => r.index === target);
    if (own !== undefined) return asParts(handOn(own));
    if (this.coder !== undefined)
      return { ...handOnAll(inputs), codeFrom: inputs.map((r) => r.index) };
    return asParts(this.codeOutput(target, inputs));
  }

  private codeOutput(target: number, inputs: ShardRead[]): Leased {
    const bytes = this.windowEnd - this.windowStart;
    const output = this.leased ? shardBuffers.acquire(bytes) : Buffer.allocUnsafe(bytes);
    const { k, m } = this.stripe;
    try {
      codecFor(k, m).codeShard(
        target,
        inputs.map((r) => r.index),
        inputs.map((r) => r.body as Buffer),
        output,
      );
    } catch (error) {
      if (this.leased) shardBuffers.release(output);
      throw error;
    }
    return { data: output, release: this.leased ? releaseOnce(shardBuffers, output) : noRelease };
  }

  private decode(inputs: ShardRead[]): PartsRead {
    const { k, m } = this.stripe;
    erasureStripes.inc({ operation: 'reconstruct' });
    this.noteDecoded(inputs);
    if (this.target !== undefined) return this.codeTarget(this.target, inputs);
    const bodies = inputs.map((r) => r.body as Buffer);
    const shards = shardViews(k + m, this.windowEnd - this.windowStart);
    const present = new Array<boolean>(k + m).fill(false);
    inputs.forEach((read, i) => {
      bodies[i].copy(shards[read.index]);
      present[read.index] = true;
    });
    codecFor(k, m).reconstruct(shards, present, { dataOnly: true });
    // A needed range whose own read answered is that read's body (handed on with its release);
    // the others are views of the decoded shards (fresh buffers, nothing to give back).
    const releases: Array<() => void> = [];
    const parts = this.needed.map((r) => {
      const own = this.exact.get(r.index);
      if (own?.state !== 'ok')
        return shards[r.index].subarray(r.start - this.windowStart, r.end - this.windowStart);
      const handed = handOn(own);
      releases.push(handed.release);
      return handed.data;
    });
    return { parts, release: releaseAll(releases) };
  }

  // A decode's hedge win and the shards it stood in for (logged: a degraded read).
  private noteDecoded(inputs: ShardRead[]): void {
    const slowPending = this.reads.some((r) => r.slow && r.state === 'pending');
    if (this.hedged && slowPending && inputs.some((r) => r.hedge)) hedgeWins.inc();
    const lost = this.reads.filter((r) => r.state === 'failed' && isLostShard(r.error));
    if (lost.length > 0) {
      this.log?.warn('degraded read: stripe rebuilt from parity', {
        stripeId: this.stripe.id,
        missingShards: lost.map((r) => r.index),
        errors: lost.map((r) => r.error),
      });
    }
  }

  // Fewer than k shards answered. Lost shards are those their server answered for as absent or
  // invalid; the others only did not answer. Beyond m lost, no server coming back can rebuild
  // the stripe: damaged, not busy.
  private notEnoughShards(): StrataError {
    const { k, m, id } = this.stripe;
    const okShards = new Set(this.reads.filter((r) => r.state === 'ok').map((r) => r.index));
    const lostShards = new Set(
      this.reads.filter((r) => r.state === 'failed' && isLostShard(r.error)).map((r) => r.index),
    );
    const counts =
      `${okShards.size} of ${k + m} shards readable, ${lostShards.size} missing or corrupt, ` +
      `${k} needed`;
    if (lostShards.size > m)
      return new StrataError('DATA_DAMAGED', `stripe ${id} is lost: ${counts}`);
    return new StrataError('NOT_ENOUGH_SHARDS', `stripe ${id}: ${counts}`);
  }

  private finish(error: unknown, result?: PartsRead): void {
    assert(!this.done, 'a stripe read finishes once');
    this.done = true;
    clearTimeout(this.timer);
    // The bodies not handed on as the result: nobody reads them any more.
    for (const read of this.reads) {
      if (read.release === undefined) continue;
      read.release();
      read.release = undefined;
      read.body = undefined;
    }
    // A server whose read was overtaken by a hedge did not answer in time: that counts against
    // its health now, so a hung server is avoided after a few stripes, not after a timeout each.
    const abandoned = new Set(
      this.reads.filter((r) => r.slow && r.state === 'pending').map((r) => r.serverId),
    );
    for (const serverId of abandoned) this.pool.reportAbandoned(serverId);
    if (error !== undefined) this.reject(error);
    else this.resolve(result as PartsRead);
  }
}

// What a stripe read gives: the bytes in consecutive parts, and the release of the pooled buffers
// they sit in (noRelease unless the read was leased).
export interface PartsRead {
  parts: Buffer[];
  release: () => void;
  // A target read with a coder: the parts are these k shards' bytes, to code the target from.
  codeFrom?: number[];
}

// The reads' bodies as the result, in order, their releases with them.
function handOnAll(reads: ShardRead[]): PartsRead {
  const handed = reads.map(handOn);
  return { parts: handed.map((h) => h.data), release: releaseAll(handed.map((h) => h.release)) };
}

function releaseAll(releases: Array<() => void>): () => void {
  if (releases.length === 1) return releases[0];
  return () => {
    for (const release of releases) release();
  };
}

function asParts(leased: Leased): PartsRead {
  return { parts: [leased.data], release: leased.release };
}

// The read's body as the result: its release goes with it (finish() must not give it back).
function handOn(read: ShardRead): Leased {
  const release = read.release ?? noRelease;
  read.release = undefined;
  return { data: read.body as Buffer, release };
}

function unleased(data: Buffer): Leased {
  return { data, release: noRelease };
}

function isLostShard(error: unknown): boolean {
  return isStrataError(error, 'SHARD_MISSING') || isStrataError(error, 'SHARD_CORRUPT');
}

// Errors another shard can stand in for; any other error fails the read as it is.
function isShardFault(error: unknown): boolean {
  return (
    isStrataError(error) &&
    [
      'SHARD_CORRUPT',
      'SHARD_MISSING',
      'RPC_UNAVAILABLE',
      'RPC_TIMEOUT',
      'RPC_CONNECTION_LOST',
      'EIO',
    ].includes(error.code)
  );
}

// A shard's range: from the server's disk when it is on this machine (`local`), else from the
// server. A client's reads only: a repair's go through the server's repair slots.
async function readShard(
  pool: StripeReadPool,
  stripe: Stripe,
  range: ShardRange,
  leased: boolean,
  readerAuthenticates: boolean,
): Promise<Leased & { local?: true }> {
  const loc = stripe.shards[range.index];
  const length = range.end - range.start;
  const local =
    pool.background === true
      ? undefined
      : pool.readLocal?.(
          loc.serverId,
          loc.disk,
          {
            stripeId: stripe.id,
            shardIndex: range.index,
            offset: range.start,
            length,
            expect: { dataLength: stripe.shardSizeBytes, minVersion: stripe.shardVersion },
            blockChecks: !readerAuthenticates,
          },
          // The blocks are read into pooled buffers either way: a reader that keeps its bytes
          // gets a copy of its range (fresh 64 KiB blocks per 4 KiB read quadrupled the
          // mount's garbage-collection time).
          shardBuffers,
        );
  if (local !== undefined) {
    // Failed: counted and logged there; the server is asked instead.
    const body = await local.catch(() => undefined);
    if (body !== undefined) {
      assert.equal(body.data.length, length, 'a verified local read is the range asked for');
      if (leased) return { ...body, local: true };
      const copy = Buffer.from(body.data);
      body.release();
      return { data: copy, release: noRelease, local: true };
    }
  }
  const client = await pool.client(loc.serverId);
  const header = {
    stripeId: stripe.id,
    shardIndex: range.index,
    disk: loc.disk,
    offset: range.start,
    length,
    shardSizeBytes: stripe.shardSizeBytes,
    shardVersion: stripe.shardVersion,
    ...(pool.background ? { background: true } : {}),
    ...(readerAuthenticates ? { readerAuthenticates: true } : {}),
  };
  const options = {
    timeoutMs: pool.background ? BACKGROUND_SHARD_READ_TIMEOUT_MS : SHARD_READ_TIMEOUT_MS,
  };
  const body = leased
    ? await client.getShardLeased(header, options)
    : unleased(await client.getShard(header, options));
  if (body.data.length !== length) {
    body.release();
    throw new StrataError(
      'SHARD_CORRUPT',
      `shard ${stripe.id}.${range.index} returned ${body.data.length} of ${length} bytes`,
    );
  }
  return body;
}
