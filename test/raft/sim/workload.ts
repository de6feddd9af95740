// Simulated clients of the key-value store: puts and compare-and-sets go through proposals, gets
// through ReadIndex. Each client has one operation outstanding; what they observe is recorded as
// a history for the linearizability checker.
import type { Entry, NodeId, ReadState, Refusal, SeededPrng } from '../../../src/raft/index.ts';
import { NO_NODE } from '../../../src/raft/index.ts';
import type { KvOperation } from '../../helpers/kv-model.ts';
import { encodeCommand, type KvInput, type KvOutput } from './kv.ts';
import type { SimNode } from './sim-node.ts';

interface Pending {
  opId: number;
  input: KvInput;
  sessionId: number;
  callTime: number;
  deadlineMs: number;
  retryAtMs: number;
  /** Where the request was accepted: a proposal's slot, or a read's node. */
  node?: NodeId;
  incarnation?: number;
  index?: number;
  term?: number;
  /** A read's confirmed read index, once known. */
  readIndex?: number;
}

const keys = ['a', 'b', 'c'];

export class Workload {
  readonly history: KvOperation[] = [];
  readonly #prng: SeededPrng;
  readonly #clients: (Pending | undefined)[];
  #nextOpId = 1;
  /** Logical time for the history: strictly increasing over calls and returns. */
  #clock = 0;
  #leaderHint: NodeId = NO_NODE;
  /** Recent values per key, for compare-and-set expectations. */
  readonly #recent = new Map<string, (string | null)[]>();
  readonly #timeoutMs: number;
  /** Each client's current session; a client sometimes starts a new one (a process restart). */
  readonly #sessionIds: number[];
  acknowledged = 0;
  unknown = 0;
  refused = 0;

  constructor(prng: SeededPrng, clientCount: number, timeoutMs: number) {
    this.#prng = prng;
    this.#clients = new Array(clientCount).fill(undefined);
    this.#timeoutMs = timeoutMs;
    this.#sessionIds = this.#clients.map((_, clientId) => clientId * 1_000_000);
  }

  /**
   * The history to check. A write W with no answer whose value nobody observed (values are unique
   * per operation) can be moved to the end of any linearization when, after W's call, no
   * compare-and-set on its key failed or went unanswered: then no operation could have depended
   * on W's value being current (a get would have observed it, a successful compare-and-set would
   * have expected it, puts do not read). Leaving such writes out keeps the verdict and keeps the
   * search small on crash-heavy seeds.
   */
  historyToCheck(): KvOperation[] {
    const observed = new Set<string>();
    for (const { input, output } of this.history) {
      if (input.op === 'get' && typeof output === 'string') observed.add(output);
      if (input.op === 'cas' && output !== false && input.expected !== null) {
        // A successful one observed its expected value; an unanswered one might have.
        observed.add(input.expected);
      }
    }
    const lastRiskyCasCall = new Map<string, number>();
    for (const { input, output, callTime } of this.history) {
      if (input.op !== 'cas' || output === true) continue;
      lastRiskyCasCall.set(input.key, Math.max(lastRiskyCasCall.get(input.key) ?? -1, callTime));
    }
    return this.history.filter(({ input, output, callTime }) => {
      if (output !== undefined || input.op === 'get' || observed.has(input.value)) return true;
      return (lastRiskyCasCall.get(input.key) ?? -1) > callTime;
    });
  }

  get outstanding(): number {
    return this.#clients.filter((pending) => pending !== undefined).length;
  }

  /** One millisecond of client activity. */
  step(nowMs: number, nodes: Map<NodeId, SimNode>, startNew: boolean): void {
    this.#clients.forEach((pending, clientId) => {
      if (pending === undefined) {
        if (startNew && this.#prng.chance(0.05)) {
          // The old session is abandoned and expires in log time (Raft dissertation §6.3).
          if (this.#prng.chance(0.05)) this.#sessionIds[clientId]++;
          this.#clients[clientId] = this.#newOp(nowMs, this.#sessionIds[clientId]);
        }
        return;
      }
      if (nowMs >= pending.deadlineMs) {
        this.#giveUp(clientId, pending);
        return;
      }
      if (pending.node === undefined && nowMs >= pending.retryAtMs)
        this.#submit(pending, nowMs, nodes);
      if (pending.readIndex !== undefined) this.#maybeServeRead(clientId, pending, nodes);
    });
  }

  #newOp(nowMs: number, sessionId: number): Pending {
    const opId = this.#nextOpId++;
    const key = this.#prng.pick(keys);
    const value = `v${opId}`;
    const roll = this.#prng.nextInt(10);
    let input: KvInput;
    if (roll < 4) input = { op: 'get', key };
    else if (roll < 7) input = { op: 'put', key, value };
    else
      input = { op: 'cas', key, expected: this.#prng.pick(this.#recent.get(key) ?? [null]), value };
    if (input.op !== 'get') {
      const recent = this.#recent.get(key) ?? [null];
      recent.push(value);
      this.#recent.set(key, recent.slice(-3));
    }
    return {
      opId,
      input,
      sessionId,
      callTime: this.#clock++,
      deadlineMs: nowMs + this.#timeoutMs,
      retryAtMs: nowMs,
    };
  }

  #submit(pending: Pending, nowMs: number, nodes: Map<NodeId, SimNode>): void {
    const alive = [...nodes.values()].filter((node) => node.alive);
    if (alive.length === 0) return;
    const hinted = nodes.get(this.#leaderHint);
    const node = hinted?.alive && this.#prng.chance(0.9) ? hinted : this.#prng.pick(alive);
    const result: { ok: true; index?: number; term?: number } | Refusal =
      pending.input.op === 'get'
        ? node.raft.readIndex(`op${pending.opId}`)
        : node.raft.propose(
            encodeCommand({
              opId: pending.opId,
              input: pending.input,
              sessionId: pending.sessionId,
              // The leader stamps the entry with its own (skewed) clock.
              stampMs: nowMs + node.clockSkewMs,
            }),
          );
    if (!result.ok) {
      // Refused: nothing happened, so the client may retry anywhere (the driver's forwarding).
      this.refused++;
      if (result.leaderHint !== NO_NODE) this.#leaderHint = result.leaderHint;
      else this.#leaderHint = NO_NODE;
      pending.retryAtMs = nowMs + 1 + this.#prng.nextInt(10);
      return;
    }
    this.#leaderHint = node.id;
    pending.node = node.id;
    pending.incarnation = node.incarnation;
    pending.index = result.index;
    pending.term = result.term;
  }

  #finish(clientId: number, pending: Pending, output: KvOutput): void {
    this.history.push({
      clientId,
      input: pending.input,
      output,
      callTime: pending.callTime,
      returnTime: this.#clock++,
    });
    this.acknowledged++;
    this.#clients[clientId] = undefined;
  }

  /** No answer in time: a write may still take effect later (unknown); a read is dropped. */
  #giveUp(clientId: number, pending: Pending): void {
    if (pending.input.op !== 'get' && pending.index !== undefined) {
      this.history.push({ clientId, input: pending.input, callTime: pending.callTime });
      this.unknown++;
    }
    this.#clients[clientId] = undefined;
  }

  onApplied(node: SimNode, entry: Entry, result: { opId: number; output: KvOutput } | undefined) {
    this.#clients.forEach((pending, clientId) => {
      if (pending?.node !== node.id || pending.index !== entry.index) return;
      if (pending.incarnation !== node.incarnation) return;
      if (entry.term === pending.term) {
        if (result?.opId !== pending.opId)
          throw new Error(`entry ${entry.index} is not op ${pending.opId}`);
        this.#finish(clientId, pending, result.output);
      } else {
        // Another entry committed in our slot: ours can never commit. It had no effect.
        this.#clients[clientId] = undefined;
      }
    });
  }

  /** A snapshot jumped over a proposal's slot: its fate is unknown to this node. */
  onSnapshotApplied(node: SimNode, snapshotIndex: number): void {
    this.#clients.forEach((pending, clientId) => {
      if (pending?.node !== node.id || pending.index === undefined) return;
      if (pending.index <= snapshotIndex) this.#giveUp(clientId, pending);
    });
  }

  onReadState(node: SimNode, readState: ReadState): void {
    for (const pending of this.#clients) {
      if (pending?.node === node.id && readState.context === `op${pending.opId}`) {
        pending.readIndex = readState.index;
      }
    }
  }

  #maybeServeRead(clientId: number, pending: Pending, nodes: Map<NodeId, SimNode>): void {
    const node = nodes.get(pending.node as NodeId) as SimNode;
    if (!node.alive || node.incarnation !== pending.incarnation) return;
    if (node.kv.appliedIndex < (pending.readIndex as number)) return;
    this.#finish(clientId, pending, node.kv.read(pending.input.key));
  }

  /** The node crashed: its pending requests are lost (writes become unknown). */
  onCrash(node: SimNode): void {
    this.#clients.forEach((pending, clientId) => {
      if (pending?.node === node.id) this.#giveUp(clientId, pending);
    });
  }
}
