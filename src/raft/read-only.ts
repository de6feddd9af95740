// ReadIndex bookkeeping on the leader (Raft dissertation §6.4): each read records the commit index
// when it arrived, and is released once a quorum of voters answered a heartbeat sent after it,
// which proves that no other leader had been elected at that moment.
import assert from 'node:assert/strict';
import type { NodeId, ReadState } from './types.ts';

interface PendingRead {
  context: string;
  index: number;
  acks: Set<NodeId>;
}

export class ReadOnlyQueue {
  #queue: PendingRead[] = [];
  #byContext = new Map<string, PendingRead>();

  get size(): number {
    return this.#queue.length;
  }

  has(context: string): boolean {
    return this.#byContext.has(context);
  }

  add(context: string, index: number): void {
    assert.ok(!this.#byContext.has(context), `duplicate read context ${context}`);
    const read: PendingRead = { context, index, acks: new Set() };
    this.#queue.push(read);
    this.#byContext.set(context, read);
  }

  /** Records that `from` answered the heartbeat of `context`; returns how many voters did. */
  ack(context: string, from: NodeId, voters: readonly NodeId[]): number {
    const read = this.#byContext.get(context);
    if (read === undefined) return 0;
    read.acks.add(from);
    let count = 0;
    for (const id of voters) if (read.acks.has(id)) count++;
    return count;
  }

  /**
   * Releases `context` and every read queued before it: a heartbeat round confirming leadership
   * now also confirms it for the reads that arrived earlier.
   */
  release(context: string): ReadState[] {
    const position = this.#queue.findIndex((read) => read.context === context);
    if (position < 0) return [];
    const released = this.#queue.splice(0, position + 1);
    for (const read of released) this.#byContext.delete(read.context);
    return released.map((read) => ({ index: read.index, context: read.context }));
  }

  clear(): void {
    this.#queue = [];
    this.#byContext.clear();
  }
}
