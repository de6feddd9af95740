// A linearizability checker for client-visible histories: Wing & Gong's search with Lowe's
// memoisation, as in Porcupine (github.com/anishathalye/porcupine). Generic over the model, so
// the Raft simulator and real-process tests share it. Histories are split into independent parts
// (P-compositionality, e.g. one per key) when the model says how.
import assert from 'node:assert/strict';

/** One client operation. `output` and `returnTime` are absent when no answer arrived. */
export interface Operation<I, O> {
  clientId: number;
  input: I;
  /** undefined: the outcome is unknown (timeout, crash); it may or may not have taken effect. */
  output?: O;
  callTime: number;
  /** Infinity (or absent) when the call never returned. */
  returnTime?: number;
}

export interface Model<S, I, O> {
  init(): S;
  /**
   * Applies `input` to `state`; `output` is what the client saw, or undefined when unknown (then
   * any output is acceptable). Returns undefined when `output` is impossible from `state`.
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** A string that is equal for equal states (memoisation key). */
  stateKey(state: S): string;
  /** Independent sub-histories (e.g. by key); default: the whole history. */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
  describe?(operation: Operation<I, O>): string;
}

export type CheckResult<I, O> =
  | { result: 'ok' }
  | { result: 'illegal'; partition: Operation<I, O>[]; explanation: string }
  | { result: 'unknown'; reason: string };

export interface CheckOptions {
  /** Search steps per partition before giving up with 'unknown'. */
  maxStepsPerPartition?: number;
}

interface Node<I, O> {
  kind: 'call' | 'return';
  id: number;
  time: number;
  operation: Operation<I, O>;
  /** For a call: its return node. */
  match: Node<I, O> | undefined;
  prev: Node<I, O> | undefined;
  next: Node<I, O> | undefined;
}

export function checkLinearizability<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const maxSteps = options.maxStepsPerPartition ?? 5_000_000;
  for (const operation of history) {
    const returnTime = operation.returnTime ?? Infinity;
    assert.ok(returnTime >= operation.callTime, 'an operation returned before it was called');
    if (returnTime === Infinity)
      assert.equal(operation.output, undefined, 'unreturned with output');
  }
  const partitions = model.partition ? model.partition(history) : [history];
  for (const partition of partitions) {
    const outcome = checkPartition(model, partition, maxSteps);
    if (outcome === 'unknown') {
      return { result: 'unknown', reason: `search exceeded ${maxSteps} steps` };
    }
    if (outcome === 'illegal') {
      return { result: 'illegal', partition, explanation: explain(model, partition) };
    }
  }
  return { result: 'ok' };
}

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  maxSteps: number,
): 'ok' | 'illegal' | 'unknown' {
  const head = buildList(history);
  const linearized = new Uint32Array(Math.ceil(history.length / 32) + 1);
  const seen = new Set<string>();
  const stack: { call: Node<I, O>; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  for (let steps = 0; head.next !== undefined; steps++) {
    if (steps > maxSteps) return 'unknown';
    assert.ok(entry !== undefined, 'walked off the event list');
    if (entry.kind === 'call') {
      const call = entry;
      const next = model.step(state, call.operation.input, call.operation.output);
      if (next !== undefined) {
        setBit(linearized, call.id, true);
        const key = `${linearized.join(',')}|${model.stateKey(next)}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ call, state });
          state = next;
          lift(call);
          entry = head.next;
          continue;
        }
        setBit(linearized, call.id, false);
      }
      entry = call.next;
    } else {
      // A return whose call is not linearized yet: undo the latest choice and try the next one.
      const top = stack.pop();
      if (top === undefined) return 'illegal';
      setBit(linearized, top.call.id, false);
      state = top.state;
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return 'ok';
}

function buildList<I, O>(history: Operation<I, O>[]): Node<I, O> {
  const nodes: Node<I, O>[] = [];
  history.forEach((operation, id) => {
    const base = { id, operation, prev: undefined, next: undefined };
    const ret: Node<I, O> = {
      ...base,
      kind: 'return',
      time: operation.returnTime ?? Infinity,
      match: undefined,
    };
    nodes.push({ ...base, kind: 'call', time: operation.callTime, match: ret }, ret);
  });
  // At equal times calls come first: touching operations are treated as concurrent.
  nodes.sort((a, b) => a.time - b.time || (a.kind === b.kind ? 0 : a.kind === 'call' ? -1 : 1));
  const head: Node<I, O> = {
    kind: 'call',
    id: -1,
    time: -Infinity,
    operation: undefined as unknown as Operation<I, O>,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let last = head;
  for (const node of nodes) {
    last.next = node;
    node.prev = last;
    last = node;
  }
  return head;
}

function lift<I, O>(call: Node<I, O>): void {
  const ret = call.match as Node<I, O>;
  (call.prev as Node<I, O>).next = call.next;
  if (call.next) call.next.prev = call.prev;
  (ret.prev as Node<I, O>).next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift<I, O>(call: Node<I, O>): void {
  const ret = call.match as Node<I, O>;
  (ret.prev as Node<I, O>).next = ret;
  if (ret.next) ret.next.prev = ret;
  (call.prev as Node<I, O>).next = call;
  if (call.next) call.next.prev = call;
}

function setBit(bits: Uint32Array, index: number, value: boolean): void {
  const word = index >>> 5;
  const mask = 1 << (index & 31);
  bits[word] = value ? bits[word] | mask : bits[word] & ~mask;
}

function explain<S, I, O>(model: Model<S, I, O>, partition: Operation<I, O>[]): string {
  const describe =
    model.describe ?? ((op) => `${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)}`);
  const lines = [...partition]
    .sort((a, b) => a.callTime - b.callTime)
    .map(
      (op) => `  [${op.callTime}, ${op.returnTime ?? '∞'}] client ${op.clientId}: ${describe(op)}`,
    );
  return `no linearization of ${partition.length} operations:\n${lines.join('\n')}`;
}
