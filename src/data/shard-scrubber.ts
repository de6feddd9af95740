// The data server's background scrubber: walks every shard file of every disk, one disk at a
// time in name order, verifies each whole file (src/data/shard-verify.ts) at a bounded byte rate,
// and keeps, per disk, the corrupt shards it found. The decisions are in scrub-core.ts; this file
// does the disk I/O, the waiting, the logging and the metrics.
//
// Each disk's state (pass cursor, findings) lives in <disk>/scrub-state.json, so a restart
// resumes the pass where it stopped and the findings outlive it. The file is replaced by rename
// without fsync: after a power loss the cursor may step back (shards verified twice) or the
// state restart from nothing (the next pass finds the same shards again); neither loses a shard.
import assert from 'node:assert';
import { readFileSync } from 'node:fs';
import { readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import { type Logger, silentLogger } from '../observability/logger.ts';
import {
  scrubBytes,
  scrubCorruptShards,
  scrubErrors,
  scrubLastPassCompleted,
} from '../observability/metrics.ts';
import {
  advanceCursor,
  chooseWork,
  completePass,
  type DiskScrubState,
  forgetShard,
  newDiskState,
  parseDiskState,
  recordCorrupt,
  ScrubPacer,
  startPass,
} from './scrub-core.ts';
import { SHARD_BLOCK_BYTES, type ShardIdentity } from './shard-file.ts';
import { SHARD_NAME, type ShardStore } from './shard-store.ts';
import { type VerifyOutcome, verifyShardFile } from './shard-verify.ts';
import type { ScrubFindingsReply } from './types.ts';

const STATE_FILE = 'scrub-state.json';
// 16 blocks of 64 KiB: a step reads and checks 1 MiB, the most a scrub holds in memory.
const CHUNK_BLOCKS = 16;
// The cursor is saved at least this often while a pass runs: a restart re-reads at most this
// much time's worth of shards.
const PERSIST_INTERVAL_MS = 10_000;
// The longest single sleep, so a wall clock stepped backwards delays a pass by at most this.
const SLEEP_MAX_MS = 60_000;

export interface ShardScrubberOptions {
  store: ShardStore;
  bytesPerSecond: number; // 0: no background passes (findings already kept are still served)
  passIntervalMs: number; // a disk's next pass starts this long after its last one started
  log?: Logger;
}

class ScrubStopped extends Error {}

export class ShardScrubber {
  private readonly store: ShardStore;
  private readonly options: ShardScrubberOptions;
  private readonly log: Logger;
  private readonly states: DiskScrubState[];
  private readonly saving: Array<Promise<void>>;
  private readonly savedAtMs: number[];
  private readonly pacer: ScrubPacer | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private stopped = false;
  private passBytes = 0;

  constructor(options: ShardScrubberOptions) {
    assert(Number.isSafeInteger(options.bytesPerSecond) && options.bytesPerSecond >= 0);
    assert(Number.isSafeInteger(options.passIntervalMs) && options.passIntervalMs > 0);
    this.store = options.store;
    this.options = options;
    this.log = options.log ?? silentLogger;
    this.states = this.store.disks.map((dir, disk) => this.loadState(dir, disk));
    this.saving = this.states.map(() => Promise.resolve());
    this.savedAtMs = this.states.map(() => 0);
    this.pacer =
      options.bytesPerSecond > 0
        ? new ScrubPacer(options.bytesPerSecond, CHUNK_BLOCKS * SHARD_BLOCK_BYTES)
        : undefined;
    for (const [disk, state] of this.states.entries()) {
      if (state.lastPassCompletedAtMs !== null)
        scrubLastPassCompleted.set({ disk: String(disk) }, state.lastPassCompletedAtMs / 1000);
    }
  }

  start(): void {
    if (this.pacer === undefined || this.loop !== undefined) return;
    this.loop = this.run().catch((error) => {
      // A bug, not a disk problem (those are handled per disk): say so loudly, keep serving.
      if (!this.stopped) this.log.error('scrubber stopped by an unexpected error', { error });
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
    await Promise.all(this.states.map((_, disk) => this.save(disk)));
  }

  findings(): ScrubFindingsReply {
    return {
      enabled: this.pacer !== undefined,
      findings: this.states.flatMap((s) =>
        s.findings.map(({ seenInPass: _, ...finding }) => finding),
      ),
      disks: this.states.map((s, disk) => ({
        disk,
        passStartedAtMs: s.passStartedAtMs,
        cursor: s.after,
        lastPassStartedAtMs: s.lastPassStartedAtMs,
        lastPassCompletedAtMs: s.lastPassCompletedAtMs,
        findingsDropped: s.findingsDropped,
      })),
    };
  }

  // A shard deleted through the data service (a repair releasing it, the orphan scrubber): a
  // finding about it is settled.
  forget(disk: number, shard: ShardIdentity): void {
    if (forgetShard(this.states[disk], shard.stripeId, shard.shardIndex)) void this.save(disk);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const work = chooseWork(this.states, Date.now(), this.options.passIntervalMs);
      try {
        if (work.kind === 'wait') await this.sleep(Math.min(work.waitMs, SLEEP_MAX_MS));
        else await this.walkDisk(work.disk);
      } catch (error) {
        if (!(error instanceof ScrubStopped)) throw error;
      }
    }
  }

  private async walkDisk(disk: number): Promise<void> {
    const state = this.states[disk];
    if (state.passStartedAtMs === null) {
      startPass(state, Date.now());
      this.passBytes = 0;
      this.log.info('scrub pass started', { disk, pass: state.passNumber });
      await this.save(disk);
    }
    const root = join(this.store.disks[disk], 'shards');
    try {
      const prefixes = (await list(root)).filter((p) => /^[0-9a-f]{2}$/.test(p));
      for (const prefix of prefixes) {
        if (state.after !== null && prefix < state.after.slice(0, 2)) continue;
        for (const name of await list(join(root, prefix), [])) {
          if (state.after !== null && name <= state.after) continue;
          const match = SHARD_NAME.exec(name);
          if (!match || match[1].slice(0, 2) !== prefix) continue;
          const shard = { stripeId: match[1], shardIndex: Number(match[2]) };
          await this.verify(disk, join(root, prefix, name), shard);
          advanceCursor(state, name);
          if (Date.now() - this.savedAtMs[disk] >= PERSIST_INTERVAL_MS) await this.save(disk);
        }
      }
    } catch (error) {
      if (!(error instanceof ListError)) throw error;
      return this.abandonPass(disk, error.cause);
    }
    completePass(state, Date.now());
    scrubLastPassCompleted.set({ disk: String(disk) }, (state.lastPassCompletedAtMs ?? 0) / 1000);
    this.log.info('scrub pass completed', {
      disk,
      pass: state.passNumber,
      bytes: this.passBytes,
      corruptShards: state.findings.length + state.findingsDropped,
    });
    await this.save(disk);
  }

  // The disk's directories cannot be listed (EIO, the disk unmounted): no verdict on its shards.
  // The pass ends unfinished (the completion gauge stays where it was, which an alert sees) and
  // the next one starts after the pass interval, so the other disks go on being scrubbed.
  private async abandonPass(disk: number, error: unknown): Promise<void> {
    const state = this.states[disk];
    scrubErrors.inc();
    this.log.error('scrub pass abandoned: cannot list the disk', { disk, error });
    state.lastPassStartedAtMs = state.passStartedAtMs;
    state.passStartedAtMs = null;
    state.after = null;
    await this.save(disk);
  }

  private async verify(disk: number, path: string, shard: ShardIdentity): Promise<void> {
    // A file still being written is not whole yet; the next pass sees it finished.
    if (this.store.isBeingWritten(path)) return;
    let outcome: VerifyOutcome;
    try {
      outcome = await verifyShardFile(path, shard, {
        chunkBlocks: CHUNK_BLOCKS,
        afterRead: (bytes) => this.paced(bytes),
      });
    } catch (error) {
      if (error instanceof ScrubStopped) throw error;
      const detail = `shard ${path}: ${(error as Error).message}`;
      outcome = { kind: 'corrupt', reason: 'io', detail };
    }
    const state = this.states[disk];
    if (outcome.kind !== 'corrupt') {
      forgetShard(state, shard.stripeId, shard.shardIndex);
      return;
    }
    // A write that failed while this read (and unlinked its partial file) leaves no finding.
    if (this.store.isBeingWritten(path) || !(await exists(path))) return;
    const finding = { disk, ...shard, reason: outcome.reason, detail: outcome.detail };
    const verdict = recordCorrupt(state, finding, Date.now());
    if (verdict === 'again') return;
    scrubCorruptShards.inc({ reason: outcome.reason });
    this.log.error('scrub found a corrupt shard', { ...finding, listed: verdict === 'new' });
    await this.save(disk);
  }

  // After each read: count it, then wait as long as the rate asks, and always yield the event
  // loop, so a scrub at any rate never holds up the requests this server is serving.
  private async paced(bytes: number): Promise<void> {
    assert(this.pacer !== undefined);
    scrubBytes.inc(bytes);
    this.passBytes += bytes;
    const waitMs = this.pacer.charge(performance.now(), bytes);
    if (waitMs >= 1) await this.sleep(waitMs);
    else await setImmediate();
    if (this.stopped) throw new ScrubStopped();
  }

  private async sleep(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
    } catch {
      throw new ScrubStopped();
    }
  }

  // Read once at start (synchronously, like the disk's preparation). A missing or unreadable
  // file starts the disk afresh: its next pass finds again what was lost.
  private loadState(dir: string, disk: number): DiskScrubState {
    let text: string;
    try {
      text = readFileSync(join(dir, STATE_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn('cannot read the scrub state; starting afresh', { disk, error });
      return newDiskState();
    }
    const state = parseDiskState(text);
    if (state === undefined) {
      this.log.warn('malformed scrub state; starting afresh', { disk });
      return newDiskState();
    }
    // Findings name the disk by its place in the list, which the configuration may reorder.
    for (const finding of state.findings) finding.disk = disk;
    return state;
  }

  // Saves are chained per disk, so two never write the same temporary file at once.
  private save(disk: number): Promise<void> {
    const dir = this.store.disks[disk];
    const text = JSON.stringify(this.states[disk]);
    this.savedAtMs[disk] = Date.now();
    const next = this.saving[disk].then(async () => {
      const tmp = join(dir, `${STATE_FILE}.tmp`);
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, join(dir, STATE_FILE));
    });
    // A failed save is logged and the next one tries again; the scrub goes on meanwhile.
    this.saving[disk] = next.catch((error) =>
      this.log.error('cannot save the scrub state', { disk, error }),
    );
    return this.saving[disk];
  }
}

class ListError extends Error {}

// A directory's names in order. `ifGone`: what a directory removed under the walk holds (a
// prefix directory emptied and removed has no shards left to verify).
async function list(dir: string, ifGone?: string[]): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if (ifGone !== undefined && (error as NodeJS.ErrnoException).code === 'ENOENT') return ifGone;
    throw new ListError(`listing ${dir}`, { cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
