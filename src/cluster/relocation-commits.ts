// Group commit for the repair driver's relocations: the moves of tasks whose shards were rebuilt
// while one relocateShards command was in flight go together in the next one. One Raft entry and
// one LMDB transaction on every member per batch instead of per shard: with one command per shard
// the leader spent about 27% of its busy time committing LMDB transactions, and the followers
// more than half of theirs, during benches/repair.
//
// No timer: a lone move goes at once, and a batch grows only while the one before it commits,
// so a quiet repair pays no added latency and a busy one pays one commit per batch.
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
  private readonly queue: Waiting[] = [];
  private flushing = false;

  constructor(apply: ApplyRelocations, batchMax: number) {
    assert(Number.isInteger(batchMax) && batchMax >= 1, 'a batch holds at least one move');
    this.apply = apply;
    this.batchMax = batchMax;
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
    return done;
  }

  // Moves waiting for the command in flight to end.
  get waiting(): number {
    return this.queue.length;
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.batchMax);
        await this.send(batch);
      }
    } finally {
      this.flushing = false;
    }
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
