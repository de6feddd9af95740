// The simulated network: every message gets a delivery time; faults drop, duplicate and delay
// (hence reorder) them, and partitions cut links at delivery time.
import type { Message, NodeId, SeededPrng } from '../../../src/raft/index.ts';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  lossRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Probability that a message takes a long detour (reordering it behind later ones). */
  longDelayRate: number;
  /** Usual one-way delay range. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Long-detour delay bound. */
  maxLongDelayMs: number;
}

interface InFlight {
  deliverAtMs: number;
  message: Message;
}

export class SimNetwork {
  readonly #prng: SeededPrng;
  faults: NetworkFaults;
  #inFlight: InFlight[] = [];
  /** Partition group per node: messages cross only within one group. Absent means group 0. */
  readonly groups = new Map<NodeId, number>();
  /** One-way cuts, "from->to". */
  readonly cuts = new Set<string>();
  sent = 0;
  delivered = 0;
  dropped = 0;

  constructor(prng: SeededPrng, faults: NetworkFaults) {
    this.#prng = prng;
    this.faults = faults;
  }

  get inFlightCount(): number {
    return this.#inFlight.length;
  }

  send(message: Message, nowMs: number): void {
    this.sent++;
    const faults = this.faults;
    if (this.#prng.chance(faults.lossRate)) {
      this.dropped++;
      return;
    }
    const copies = this.#prng.chance(faults.duplicateRate) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      // A real transport serialises: no object is shared between sender and receiver.
      const delivered = structuredClone(message);
      this.#inFlight.push({ deliverAtMs: nowMs + this.#delayMs(), message: delivered });
    }
  }

  #delayMs(): number {
    const { minDelayMs, maxDelayMs, maxLongDelayMs, longDelayRate } = this.faults;
    if (this.#prng.chance(longDelayRate)) return maxDelayMs + this.#prng.nextInt(maxLongDelayMs);
    return minDelayMs + this.#prng.nextInt(maxDelayMs - minDelayMs + 1);
  }

  connected(from: NodeId, to: NodeId): boolean {
    if (this.cuts.has(`${from}->${to}`)) return false;
    return (this.groups.get(from) ?? 0) === (this.groups.get(to) ?? 0);
  }

  /** Removes and returns the messages due by `nowMs`, in a random order, minus cut links. */
  takeDue(nowMs: number): Message[] {
    const due: Message[] = [];
    const kept: InFlight[] = [];
    for (const item of this.#inFlight) {
      if (item.deliverAtMs > nowMs) kept.push(item);
      else if (this.connected(item.message.from, item.message.to)) due.push(item.message);
      else this.dropped++;
    }
    this.#inFlight = kept;
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.#prng.nextInt(i + 1);
      [due[i], due[j]] = [due[j], due[i]];
    }
    this.delivered += due.length;
    return due;
  }

  heal(): void {
    this.groups.clear();
    this.cuts.clear();
  }
}
