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
import { checksumOf, type KvOutput, KvStateMachine } from './kv.ts';

export interface DurableState {
  hardState: HardState;
  snapshot: Snapshot;
  /** The bytes of `snapshot` (the driver's snapshot file). */
  snapshotData: Uint8Array;
  /**
   * The incoming snapshot file, written chunk by chunk as they arrive. Like a real file it
   * survives a crash half-written; the restarted core starts the transfer over at offset 0.
   */
  incoming: Uint8Array;
  entries: Entry[];
}

/** Points where the simulation may crash a node in the middle of receiving a snapshot. */
export type InterruptionPoint = 'snapshotChunkWritten' | 'snapshotPersisted';

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
  /** Whether to crash the node at this point (it then stops where it is). */
  interrupt(node: SimNode, point: InterruptionPoint): boolean;
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
  /** This node's clock is off by this much: leaders stamp entries with their own clock. */
  readonly clockSkewMs: number;
  /** The simulator's self-test fault: session expiry by this node's clock (kv.ts). */
  expireSessionsByLocalClock = false;
  /** Simulation profile: a leader's appends leave before its fsync (leaderAppendsEarly). */
  leaderAppendsEarly = false;

  constructor(
    id: NodeId,
    initial: Pick<DurableState, 'hardState' | 'snapshot' | 'entries'>,
    options: Omit<RaftOptions, 'id' | 'random'>,
    prng: SeededPrng,
    maxFsyncDelayMs: number,
  ) {
    this.id = id;
    this.durable = {
      ...initial,
      snapshotData: new Uint8Array(0),
      incoming: new Uint8Array(0),
      entries: [...initial.entries],
    };
    this.#options = options;
    this.#prng = prng;
    this.#maxFsyncDelayMs = maxFsyncDelayMs;
    this.clockSkewMs = prng.nextInt(101) - 50;
  }

  /** (Re)starts from the durable state, as a process would after a crash. */
  start(): void {
    assert.ok(!this.alive, `node ${this.id} is already running`);
    this.incarnation++;
    const random = new SeededPrng(this.#prng.nextInt(2 ** 31));
    const { hardState, snapshot, entries } = this.durable;
    this.raft = new RaftNode(
      {
        ...this.#options,
        id: this.id,
        random,
        logStorage: { entries: (...range) => this.#read(...range) },
      },
      {
        hardState,
        snapshot,
        entries: [...entries],
      },
    );
    const { index, term, confState } = snapshot.meta;
    this.kv = KvStateMachine.restore(this.durable.snapshotData, index, term, confState);
    this.startAppliedIndex = index;
    this.#ready = undefined;
    this.alive = true;
  }

  /** The core's view of the disk: entries it evicted from memory come back from here. */
  #read(lo: number, hi: number, maxCount: number, maxBytes: number): Entry[] {
    const base = this.durable.snapshot.meta.index;
    assert.ok(
      lo > base && hi <= base + this.durable.entries.length + 1,
      `[${lo}, ${hi}) not on disk`,
    );
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi && out.length < maxCount; index++) {
      const entry = this.durable.entries[index - base - 1];
      bytes += entry.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /** The last index of the log as it is on disk. */
  durableLastIndex(): number {
    return this.durable.snapshot.meta.index + this.durable.entries.length;
  }

  /** Loses everything not fsynced, and all memory. */
  crash(): void {
    assert.ok(this.alive);
    this.alive = false;
    this.#ready = undefined;
  }

  /** Moves Readies along: take one, wait for its fsync, then send, apply and advance. */
  pump(nowMs: number, hooks: NodeHooks): void {
    // Reads confirmed meanwhile are handed over at once, as the metadata driver does while a
    // Ready's fsync is under way: the workload serves each once its index is applied. And, while
    // a Ready waits for its fsync, the read rounds' heartbeats and their answers leave at once
    // (raft-node.ts, takeHeartbeats), each commit index capped at what this node has applied.
    if (this.alive) {
      for (const readState of this.raft.takeReadStates()) hooks.onReadState(this, readState);
      if (this.#ready !== undefined && nowMs < this.#fsyncDoneAtMs) {
        const { term, vote } = this.durable.hardState;
        const durable = { term, vote, commitCap: this.kv.appliedIndex };
        for (const message of this.raft.takeHeartbeats(durable)) hooks.send(message);
      }
    }
    for (let rounds = 0; this.alive && rounds < 16; rounds++) {
      if (this.#ready === undefined) {
        if (!this.raft.hasReady()) return;
        this.#ready = this.raft.ready();
        this.#fsyncDoneAtMs = nowMs + this.#prng.nextInt(this.#maxFsyncDelayMs + 1);
        hooks.onReadyTaken(this, this.#ready);
        if (this.leaderAppendsEarly) this.#sendLeadingAppends(this.#ready, hooks);
      }
      if (nowMs < this.#fsyncDoneAtMs) return;
      const ready = this.#ready;
      this.#persist(ready);
      if (this.#interrupted(ready, hooks)) return;
      for (const message of ready.messages) {
        if (message.type === 'snap') {
          // Filled from the snapshot file; a message for a replaced snapshot is dropped.
          if (message.meta.index !== this.durable.snapshot.meta.index) continue;
          const end = message.offsetBytes + message.lengthBytes;
          message.data = this.durable.snapshotData.subarray(message.offsetBytes, end);
        }
        hooks.send(message);
      }
      if (this.expireSessionsByLocalClock) this.kv.localNowMs = nowMs + this.clockSkewMs;
      this.#apply(ready, hooks);
      this.#ready = undefined;
      this.raft.advance();
    }
  }

  // As replica.ts (leadingAppends): a leader's appends with entries go before its fsync, unless
  // the Ready changes the role, the term or the vote.
  #sendLeadingAppends(ready: Ready, hooks: NodeHooks): void {
    if (ready.softState !== undefined || this.raft.status().role !== 'leader') return;
    const hard = ready.hardState;
    const durable = this.durable.hardState;
    if (hard && (hard.term !== durable.term || hard.vote !== durable.vote)) return;
    const leading = ready.messages.filter((m) => m.type === 'app' && m.entries.length > 0);
    ready.messages = ready.messages.filter((m) => !leading.includes(m));
    for (const message of leading) hooks.send(message);
  }

  /** A crash after the Ready's writes, before its messages leave and before it is applied. */
  #interrupted(ready: Ready, hooks: NodeHooks): boolean {
    const point: InterruptionPoint | undefined = ready.snapshot
      ? 'snapshotPersisted'
      : ready.snapshotChunks.length > 0
        ? 'snapshotChunkWritten'
        : undefined;
    if (point === undefined || !hooks.interrupt(this, point)) return false;
    assert.ok(!this.alive, 'an interruption crashes the node');
    return true;
  }

  #persist(ready: Ready): void {
    const durable = this.durable;
    for (const chunk of ready.snapshotChunks) {
      // A chunk at offset 0 starts a new file; the others continue it exactly (the core's
      // offsets, checked here against what is really on disk).
      const start = chunk.offsetBytes === 0 ? new Uint8Array(0) : durable.incoming;
      assert.equal(start.byteLength, chunk.offsetBytes, 'snapshot chunk written out of order');
      const file = new Uint8Array(start.byteLength + chunk.data.byteLength);
      file.set(start, 0);
      file.set(chunk.data, start.byteLength);
      durable.incoming = file;
    }
    if (ready.snapshot) {
      // The received file, complete and checked, becomes the durable snapshot.
      assert.equal(durable.incoming.byteLength, ready.snapshot.sizeBytes, 'snapshot size');
      assert.equal(checksumOf(durable.incoming), ready.snapshot.checksum, 'snapshot checksum');
      durable.snapshot = ready.snapshot;
      durable.snapshotData = durable.incoming;
      durable.incoming = new Uint8Array(0);
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
      this.kv = KvStateMachine.restore(this.durable.snapshotData, index, term, confState);
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
    const data = kv.serialize();
    const snapshot: Snapshot = { meta, sizeBytes: data.byteLength, checksum: checksumOf(data) };
    // Written and fsynced before the log is truncated, so a crash leaves one or the other.
    this.durable.snapshot = snapshot;
    this.durable.snapshotData = data;
    this.durable.entries = this.durable.entries.filter((entry) => entry.index > meta.index);
    this.raft.compact(snapshot);
  }
}
