// One simulated server: a Raft core, its driver, a disk that only keeps what was fsynced, and the
// key-value application. The driver follows the Ready contract: a Ready's writes are durable
// (after a simulated fsync delay) before its messages are sent and its entries applied; a crash in
// between loses the unsynced writes and everything in memory.
import assert from 'node:assert/strict';
import type {
  Entry,
  HardState,
  Message,
  NodeId,
  RaftOptions,
  ReadState,
  Ready,
  Snapshot,
} from '../../../src/raft/index.ts';
import { RaftNode, SeededPrng } from '../../../src/raft/index.ts';
import { type KvOutput, KvStateMachine } from './kv.ts';

export interface DurableState {
  hardState: HardState;
  snapshot: Snapshot;
  entries: Entry[];
}

/** What the node reports to the simulation (clients, invariant checks, the network). */
export interface NodeHooks {
  send(message: Message): void;
  /** A Ready was taken: its entries are now in the core's log (checked before anything else). */
  onReadyTaken(node: SimNode, ready: Ready): void;
  onApplied(
    node: SimNode,
    entry: Entry,
    result: { opId: number; output: KvOutput } | undefined,
  ): void;
  onSnapshotApplied(node: SimNode, snapshot: Snapshot): void;
  onReadState(node: SimNode, readState: ReadState): void;
}

export class SimNode {
  readonly id: NodeId;
  alive = false;
  /** Increments on every start; applied indexes are monotonic within one incarnation. */
  incarnation = 0;
  /** The state machine's applied index when this incarnation started (its snapshot's). */
  startAppliedIndex = 0;
  raft: RaftNode = undefined as unknown as RaftNode;
  kv: KvStateMachine = undefined as unknown as KvStateMachine;
  durable: DurableState;
  #ready: Ready | undefined;
  #fsyncDoneAtMs = 0;
  readonly #options: Omit<RaftOptions, 'id' | 'random'>;
  readonly #prng: SeededPrng;
  readonly #maxFsyncDelayMs: number;

  constructor(
    id: NodeId,
    initial: DurableState,
    options: Omit<RaftOptions, 'id' | 'random'>,
    prng: SeededPrng,
    maxFsyncDelayMs: number,
  ) {
    this.id = id;
    this.durable = { ...initial, entries: [...initial.entries] };
    this.#options = options;
    this.#prng = prng;
    this.#maxFsyncDelayMs = maxFsyncDelayMs;
  }

  /** (Re)starts from the durable state, as a process would after a crash. */
  start(): void {
    assert.ok(!this.alive, `node ${this.id} is already running`);
    this.incarnation++;
    const random = new SeededPrng(this.#prng.nextInt(2 ** 31));
    const { hardState, snapshot, entries } = this.durable;
    this.raft = new RaftNode(
      { ...this.#options, id: this.id, random },
      {
        hardState,
        snapshot,
        entries: [...entries],
      },
    );
    const { index, term, confState } = snapshot.meta;
    this.kv = KvStateMachine.restore(snapshot.data, index, term, confState);
    this.startAppliedIndex = index;
    this.#ready = undefined;
    this.alive = true;
  }

  /** Loses everything not fsynced, and all memory. */
  crash(): void {
    assert.ok(this.alive);
    this.alive = false;
    this.#ready = undefined;
  }

  /** Moves Readies along: take one, wait for its fsync, then send, apply and advance. */
  pump(nowMs: number, hooks: NodeHooks): void {
    for (let rounds = 0; this.alive && rounds < 16; rounds++) {
      if (this.#ready === undefined) {
        if (!this.raft.hasReady()) return;
        this.#ready = this.raft.ready();
        this.#fsyncDoneAtMs = nowMs + this.#prng.nextInt(this.#maxFsyncDelayMs + 1);
        hooks.onReadyTaken(this, this.#ready);
      }
      if (nowMs < this.#fsyncDoneAtMs) return;
      const ready = this.#ready;
      this.#persist(ready);
      for (const message of ready.messages) hooks.send(message);
      this.#apply(ready, hooks);
      this.#ready = undefined;
      this.raft.advance();
    }
  }

  #persist(ready: Ready): void {
    const durable = this.durable;
    if (ready.snapshot) {
      durable.snapshot = ready.snapshot;
      durable.entries = [];
    }
    if (ready.entries.length > 0) {
      const first = ready.entries[0].index;
      const lastDurable = durable.snapshot.meta.index + durable.entries.length;
      assert.ok(first > durable.snapshot.meta.index && first <= lastDurable + 1, 'log gap on disk');
      durable.entries = durable.entries.slice(0, first - durable.snapshot.meta.index - 1);
      durable.entries.push(...ready.entries);
    }
    if (ready.hardState) durable.hardState = ready.hardState;
  }

  #apply(ready: Ready, hooks: NodeHooks): void {
    if (ready.snapshot) {
      const { index, term, confState } = ready.snapshot.meta;
      assert.ok(index > this.kv.appliedIndex, 'a snapshot never moves the state machine back');
      this.kv = KvStateMachine.restore(ready.snapshot.data, index, term, confState);
      hooks.onSnapshotApplied(this, ready.snapshot);
    }
    for (const entry of ready.committedEntries) {
      hooks.onApplied(this, entry, this.kv.apply(entry));
    }
    for (const readState of ready.readStates) hooks.onReadState(this, readState);
  }

  /** The application snapshots its state and lets Raft drop the log up to there. */
  compact(): void {
    assert.ok(this.alive);
    const kv = this.kv;
    if (kv.appliedIndex <= this.durable.snapshot.meta.index) return;
    const meta = { index: kv.appliedIndex, term: kv.appliedTerm, confState: kv.confState };
    const snapshot: Snapshot = { meta, data: kv.serialize() };
    // Written and fsynced before the log is truncated, so a crash leaves one or the other.
    this.durable.snapshot = snapshot;
    this.durable.entries = this.durable.entries.filter((entry) => entry.index > meta.index);
    this.raft.compact(snapshot);
  }
}
