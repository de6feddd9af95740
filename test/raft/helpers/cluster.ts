// A small synchronous cluster for unit tests (after etcd's `network` in raft_test.go): every node
// persists its Ready instantly, messages go through one queue, and tests cut links at will.
import assert from 'node:assert/strict';
import type {
  Entry,
  HardState,
  Message,
  NodeId,
  PersistedState,
  RaftOptions,
  Snapshot,
} from '../../../src/raft/index.ts';
import { bootstrapState, joiningState, RaftNode, SeededPrng } from '../../../src/raft/index.ts';

export interface TestNode {
  raft: RaftNode;
  hardState: HardState;
  snapshot: Snapshot;
  /** The bytes of `snapshot` (the driver's file). */
  snapshotData: Uint8Array;
  /** The incoming snapshot file, written chunk by chunk (Ready.snapshotChunks). */
  incoming: Uint8Array;
  entries: Entry[];
  applied: Entry[];
  appliedSnapshots: { snapshot: Snapshot; data: Uint8Array }[];
  readStates: { index: number; context: string }[];
}

export type ClusterOptions = Partial<Omit<RaftOptions, 'id' | 'random'>>;

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** Links that drop messages, as "from->to". */
  readonly cut = new Set<string>();
  /** Return false to drop a message. */
  filter: (message: Message) => boolean = () => true;
  readonly options: ClusterOptions;
  #seed = 1;

  constructor(voters: NodeId[], options: ClusterOptions = {}, learners: NodeId[] = []) {
    this.options = options;
    for (const id of [...voters, ...learners]) this.add(id, bootstrapState(voters, learners));
  }

  /** Starts a node from its durable state (`bootstrapState(...)` or `joiningState()`). */
  add(
    id: NodeId,
    initial: PersistedState = joiningState(),
    options: ClusterOptions = {},
  ): TestNode {
    const node: TestNode = {
      raft: undefined as unknown as RaftNode,
      hardState: initial.hardState,
      snapshot: initial.snapshot,
      snapshotData: new Uint8Array(0),
      incoming: new Uint8Array(0),
      entries: [...initial.entries],
      applied: [],
      appliedSnapshots: [],
      readStates: [],
    };
    node.raft = this.#start(id, node, options);
    this.nodes.set(id, node);
    return node;
  }

  #start(id: NodeId, node: TestNode, options: ClusterOptions): RaftNode {
    const random = new SeededPrng(id * 7919 + this.#seed++);
    const persisted = { hardState: node.hardState, snapshot: node.snapshot, entries: node.entries };
    return new RaftNode({ ...this.options, ...options, id, random }, persisted);
  }

  /** Restart from what was persisted (everything is persisted synchronously here). */
  restart(id: NodeId): void {
    const node = this.node(id);
    node.applied = [];
    node.raft = this.#start(id, node, {});
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    assert.ok(node, `no node ${id}`);
    return node;
  }

  raft(id: NodeId): RaftNode {
    return this.node(id).raft;
  }

  /** The application of `id` snapshots `data` at its applied index and compacts the log. */
  compact(id: NodeId, data: Uint8Array): Snapshot {
    const node = this.node(id);
    const index = node.raft.status().appliedIndex;
    const meta = {
      index,
      term: node.raft.logTerm(index) as number,
      confState: node.raft.confStateAt(index),
    };
    const snapshot: Snapshot = { meta, sizeBytes: data.byteLength, checksum: checksumOf(data) };
    node.raft.compact(snapshot);
    node.snapshot = snapshot;
    node.snapshotData = data;
    return snapshot;
  }

  /** Drains every node's Ready: persist, queue messages, apply, advance. */
  processReadies(): void {
    for (const node of this.nodes.values()) {
      while (node.raft.hasReady()) {
        const ready = node.raft.ready();
        for (const chunk of ready.snapshotChunks) {
          const start = chunk.offsetBytes === 0 ? new Uint8Array(0) : node.incoming;
          assert.equal(start.byteLength, chunk.offsetBytes, 'snapshot chunks are written in order');
          node.incoming = concat(start, chunk.data);
        }
        if (ready.snapshot) {
          assert.equal(node.incoming.byteLength, ready.snapshot.sizeBytes);
          assert.equal(checksumOf(node.incoming), ready.snapshot.checksum);
          node.snapshot = ready.snapshot;
          node.snapshotData = node.incoming;
          node.entries = [];
          node.appliedSnapshots.push({ snapshot: ready.snapshot, data: node.incoming });
        }
        if (ready.entries.length > 0) {
          const first = ready.entries[0].index;
          node.entries = node.entries.filter((e) => e.index < first).concat(ready.entries);
        }
        if (ready.hardState) node.hardState = ready.hardState;
        for (const message of ready.messages) {
          if (message.type === 'snap') {
            // The driver fills chunks from its own snapshot bytes (ready.ts).
            assert.equal(
              message.data.byteLength,
              0,
              'the core leaves snapshot bytes to the driver',
            );
            if (message.meta.index !== node.snapshot.meta.index) continue;
            const end = message.offsetBytes + message.lengthBytes;
            message.data = node.snapshotData.subarray(message.offsetBytes, end);
          }
          this.queue.push(message);
        }
        node.applied.push(...ready.committedEntries);
        node.readStates.push(...ready.readStates);
        node.raft.advance();
      }
    }
  }

  /** Delivers messages until the cluster is quiet. Returns the number delivered. */
  deliver(maxMessages = 100_000): number {
    let delivered = 0;
    this.processReadies();
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      for (const message of batch) {
        if (this.cut.has(`${message.from}->${message.to}`) || !this.filter(message)) continue;
        const target = this.nodes.get(message.to);
        if (target === undefined) continue;
        target.raft.step(message);
        delivered++;
        assert.ok(delivered < maxMessages, 'cluster did not quiesce');
      }
      this.processReadies();
    }
    return delivered;
  }

  /** Ticks `ids` (default all) `count` times, delivering messages after each tick. */
  tick(count = 1, ids: NodeId[] = [...this.nodes.keys()]): void {
    for (let i = 0; i < count; i++) {
      for (const id of ids) this.raft(id).tick();
      this.deliver();
    }
  }

  /** Ticks only `id` until it becomes leader (others stay quiet so their leases expire first). */
  elect(id: NodeId): void {
    const electionTimeoutTicks = this.raft(id).config.electionTimeoutTicks;
    const others = [...this.nodes.keys()].filter((other) => other !== id);
    // Let every other node's lease run out without campaigning (tick them less than 2T in total).
    for (const other of others)
      for (let i = 0; i < electionTimeoutTicks; i++) this.raft(other).tick();
    this.queue = [];
    for (let i = 0; i < 4 * electionTimeoutTicks && this.raft(id).status().role !== 'leader'; i++) {
      this.raft(id).tick();
      this.deliver();
    }
    assert.equal(this.raft(id).status().role, 'leader', `node ${id} did not win`);
    this.deliver();
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  leaders(): NodeId[] {
    return [...this.nodes.keys()].filter((id) => this.raft(id).status().role === 'leader');
  }

  propose(id: NodeId, text: string): { index: number; term: number } {
    const result = this.raft(id).propose(new TextEncoder().encode(text));
    assert.ok(result.ok, `proposal refused: ${JSON.stringify(result)}`);
    return result;
  }
}

export function appliedTexts(node: TestNode): string[] {
  return node.applied
    .filter((entry) => entry.type === 'normal')
    .map((entry) => new TextDecoder().decode(entry.data));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

/** A stand-in checksum for the tests' drivers (the metadata service uses CRC32C). */
export function checksumOf(data: Uint8Array): number {
  let sum = 0;
  for (const byte of data) sum = (sum * 31 + byte) >>> 0;
  return sum;
}
