// Raft's safety properties (paper Figure 3), checked on every step of a simulation.
import type { Entry, NodeId, Ready, Snapshot } from '../../../src/raft/index.ts';
import type { SimNode } from './sim-node.ts';

export class SafetyViolation extends Error {
  readonly property: string;
  constructor(property: string, message: string) {
    super(`${property}: ${message}`);
    this.name = 'SafetyViolation';
    this.property = property;
  }
}

const decoder = new TextDecoder();

function content(entry: Entry): string {
  return `${entry.type}:${decoder.decode(entry.data)}`;
}

export class SafetyChecker {
  /** Election safety: at most one leader per term. */
  readonly #leaderByTerm = new Map<number, NodeId>();
  /** Log matching: for each (index, term) ever in a log, its content and the previous term. */
  readonly #entries = new Map<string, { content: string; prevTerm: number | undefined }>();
  /** State machine safety: the one entry committed at each index. */
  readonly #committed = new Map<number, { term: number; content: string }>();
  /** Per node and incarnation: highest applied index, and highest commit index recorded. */
  readonly #applied = new Map<NodeId, { incarnation: number; index: number; commitSeen: number }>();
  /** State machine determinism: the whole replicated state after each index (values, sessions). */
  readonly #digests = new Map<number, string>();
  checks = 0;

  /**
   * Every member that has applied `index` holds the same state, including which client sessions
   * expired: expiry follows the log's time, never a member's own clock (dissertation §6.3).
   */
  onStateDigest(node: SimNode, index: number, digest: string): void {
    const seen = this.#digests.get(index);
    this.checks++;
    if (seen === undefined) this.#digests.set(index, digest);
    else if (seen !== digest) {
      throw new SafetyViolation(
        'state machine determinism',
        `node ${node.id} at index ${index} holds ${digest}, another member held ${seen}`,
      );
    }
  }

  /** Every entry enters a log through a Ready: check it against every other log's. */
  onReadyTaken(node: SimNode, ready: Ready): void {
    for (const entry of ready.entries) {
      const prevTerm = node.raft.logTerm(entry.index - 1);
      const key = `${entry.index}:${entry.term}`;
      const seen = this.#entries.get(key);
      this.checks++;
      if (seen === undefined) {
        this.#entries.set(key, { content: content(entry), prevTerm });
        continue;
      }
      if (seen.content !== content(entry)) {
        throw new SafetyViolation('log matching', `two entries at ${key} differ (node ${node.id})`);
      }
      if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
        throw new SafetyViolation(
          'log matching',
          `entry ${key} follows term ${prevTerm} on node ${node.id} but ${seen.prevTerm} elsewhere`,
        );
      }
    }
  }

  #recordCommitted(index: number, term: number, text: string, where: string): void {
    const existing = this.#committed.get(index);
    this.checks++;
    if (existing === undefined) {
      this.#committed.set(index, { term, content: text });
    } else if (existing.term !== term || existing.content !== text) {
      throw new SafetyViolation(
        'state machine safety',
        `index ${index} committed as term ${existing.term} and as term ${term} (${where})`,
      );
    }
  }

  #appliedState(node: SimNode) {
    let state = this.#applied.get(node.id);
    if (state === undefined || state.incarnation !== node.incarnation) {
      const index = node.startAppliedIndex;
      state = { incarnation: node.incarnation, index, commitSeen: index };
      this.#applied.set(node.id, state);
    }
    return state;
  }

  onApplied(node: SimNode, entry: Entry): void {
    const state = this.#appliedState(node);
    if (entry.index !== state.index + 1) {
      throw new SafetyViolation(
        'applied index monotonic',
        `node ${node.id} applied ${entry.index} after ${state.index}`,
      );
    }
    state.index = entry.index;
    this.#recordCommitted(entry.index, entry.term, content(entry), `applied on node ${node.id}`);
  }

  onSnapshotApplied(node: SimNode, snapshot: Snapshot): void {
    const state = this.#appliedState(node);
    if (snapshot.meta.index <= state.index) {
      throw new SafetyViolation(
        'applied index monotonic',
        `node ${node.id} installed snapshot ${snapshot.meta.index} after applying ${state.index}`,
      );
    }
    const committed = this.#committed.get(snapshot.meta.index);
    if (committed !== undefined && committed.term !== snapshot.meta.term) {
      throw new SafetyViolation(
        'state machine safety',
        `snapshot at ${snapshot.meta.index} has term ${snapshot.meta.term}, committed ${committed.term}`,
      );
    }
    state.index = snapshot.meta.index;
  }

  /** Per-step checks over all running nodes. */
  checkStep(nodes: Iterable<SimNode>): void {
    for (const node of nodes) {
      if (!node.alive) continue;
      const status = node.raft.status();
      // What a node has written durably caps what it can take as committed: a leader whose
      // appends left before its own write (leaderAppendsEarly) counts its log at once, so its
      // commit index may include entries only it and one follower hold, its copy not yet on
      // disk; nothing acts on that (the driver applies, and tells followers, only after the
      // write), and it is a commitment once the write is durable.
      const commitIndex = Math.min(status.commitIndex, node.durableLastIndex());
      this.#checkCommitted(node, commitIndex, status.firstIndex);
      this.#checkLogBytes(node, status.firstIndex, status.lastIndex, status.logBytes);
      if (status.role !== 'leader') continue;
      const leader = this.#leaderByTerm.get(status.term);
      this.checks++;
      if (leader === undefined) {
        this.#leaderByTerm.set(status.term, node.id);
        this.#checkLeaderCompleteness(node, status.term, status.firstIndex, status.lastIndex);
      } else if (leader !== node.id) {
        throw new SafetyViolation(
          'election safety',
          `nodes ${leader} and ${node.id} both lead term ${status.term}`,
        );
      }
    }
  }

  /** The core's count of log bytes (what drivers trigger snapshots on) matches its log. */
  #checkLogBytes(node: SimNode, firstIndex: number, lastIndex: number, logBytes: number): void {
    let bytes = 0;
    for (let index = firstIndex; index <= lastIndex; index++) {
      bytes += node.raft.logEntry(index).data.byteLength;
    }
    this.checks++;
    if (bytes !== logBytes) {
      throw new SafetyViolation(
        'log accounting',
        `node ${node.id} counts ${logBytes}, holds ${bytes}`,
      );
    }
  }

  /** Whatever a node considers committed must agree with what every other node committed. */
  #checkCommitted(node: SimNode, commitIndex: number, firstIndex: number): void {
    const state = this.#appliedState(node);
    for (let index = Math.max(state.commitSeen + 1, firstIndex); index <= commitIndex; index++) {
      const entry = node.raft.logEntry(index);
      this.#recordCommitted(index, entry.term, content(entry), `commit index of node ${node.id}`);
    }
    state.commitSeen = Math.max(state.commitSeen, commitIndex);
  }

  /** Leader completeness (§5.4): a new leader's log holds every entry committed before it. */
  #checkLeaderCompleteness(node: SimNode, term: number, firstIndex: number, lastIndex: number) {
    for (const [index, committed] of this.#committed) {
      if (index < firstIndex) continue;
      const ours = index <= lastIndex ? node.raft.logTerm(index) : undefined;
      this.checks++;
      if (ours !== committed.term) {
        throw new SafetyViolation(
          'leader completeness',
          `leader ${node.id} of term ${term} has term ${ours} at committed index ${index} ` +
            `(committed: term ${committed.term})`,
        );
      }
    }
  }

  get committedCount(): number {
    return this.#committed.size;
  }

  get maxTerm(): number {
    let max = 0;
    for (const term of this.#leaderByTerm.keys()) max = Math.max(max, term);
    return max;
  }
}
