// Group commit for the repair driver's relocations: the moves of tasks whose shards were rebuilt
// while one relocateShards command was in flight go together in the next one. One Raft entry and
// one LMDB transaction on every member per batch instead of per shard: with one command per shard
// the leader spent about 27% of its busy time committing LMDB transactions, and the followers
// more than half of theirs, during benches/repair.
//
// A lone move goes at once, and a batch grows while the one before it commits. With `gatherMs`,
// a command also starts at most once per gatherMs (sooner when batchMax moves wait): at ~26
// moves a second (benches/repair, 16 tasks) the commits took ~50 ms, so batches held 2 or 3
// moves and every member made ~20 synchronous LMDB commits a second, its event loop blocked
// ~30% of the time, and every client metadata read (a GET's lookups, each behind a read
// barrier) waited behind them. A quiet repair still pays nothing: the first move after a pause
// goes at once. The driver does not count a task waiting here against max_concurrent.
import assert from 'node:assert';
import { StrataError, type StrataErrorCode } from '../common/errors.ts';
import type { Relocation, RelocationOutcome } from '../metadata/types.ts';

export type ApplyRelocations = (moves: Relocation[]) => Promise<RelocationOutcome[]>;

interface Waiting {
  move: Relocation;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class RelocationCommits {
  private readonly apply: ApplyRelocations;
  private readonly batchMax: number;
  private readonly gatherMs: number;
  private readonly queue: Waiting[] = [];
  private flushing = false;
  private lastStartMs = Number.NEGATIVE_INFINITY;
  private wake: (() => void) | undefined; // ends a gathering wait once batchMax moves wait
  private hurry = false; // flushNow() since the last command started

  constructor(apply: ApplyRelocations, batchMax: number, options: { gatherMs?: number } = {}) {
    assert(Number.isInteger(batchMax) && batchMax >= 1, 'a batch holds at least one move');
    const gatherMs = options.gatherMs ?? 0;
    assert(Number.isFinite(gatherMs) && gatherMs >= 0, 'gatherMs is a duration');
    this.apply = apply;
    this.batchMax = batchMax;
    this.gatherMs = gatherMs;
  }

  // Resolves once the move is committed; rejects with the state machine's refusal for this move
  // (a StrataError with its code: PRECONDITION_FAILED for a stale one), or with the error of the
  // whole command (the leader lost, a timeout), which leaves the move's fate unknown, as a failed
  // single command would.
  commit(move: Relocation): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.queue.push({ move, resolve, reject });
    });
    if (!this.flushing) void this.flush();
    else if (this.queue.length >= this.batchMax) this.wake?.();
    return done;
  }

  // No more moves will come soon (the driver has no rebuild in flight): the moves waiting go in
  // the next command without waiting out gatherMs. Without this the last moves of a repair
  // waited up to gatherMs for company that was not coming (at the end of every benches/repair
  // run, and whenever the pipe drains between pages).
  flushNow(): void {
    if (this.queue.length === 0) return;
    this.hurry = true;
    this.wake?.();
  }

  // Moves waiting for the command in flight to end.
  get waiting(): number {
    return this.queue.length;
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        // Awaited only when there is a wait: moves queued in this same turn would otherwise
        // join the first command, which goes at once.
        if (this.gatherWaitMs() > 0) await this.gathered();
        this.lastStartMs = Date.now();
        this.hurry = false;
        const batch = this.queue.splice(0, this.batchMax);
        await this.send(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  // Resolves when the next command may start: gatherMs after the last one started, or at once
  // when a full batch waits.
  private gatherWaitMs(): number {
    if (this.queue.length >= this.batchMax || this.hurry) return 0;
    return Math.max(0, this.lastStartMs + this.gatherMs - Date.now());
  }

  private async gathered(): Promise<void> {
    const waitMs = this.gatherWaitMs();
    if (waitMs <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  // Never throws: every waiting move is settled, one way or the other.
  private async send(batch: Waiting[]): Promise<void> {
    let outcomes: RelocationOutcome[];
    try {
      outcomes = await this.apply(batch.map((w) => w.move));
      assert.equal(outcomes.length, batch.length, 'one outcome per move');
    } catch (error) {
      for (const w of batch) w.reject(error);
      return;
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) w.resolve();
      else w.reject(new StrataError(outcome.code as StrataErrorCode, outcome.message));
    });
  }
}
