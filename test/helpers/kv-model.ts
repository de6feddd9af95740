// The linearizability model of a key-value store with put, get and compare-and-set, checked one
// key at a time (operations on different keys are independent).
import type { Model, Operation } from './linearizability.ts';

export type KvModelInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'cas'; key: string; expected: string | null; value: string };

/** put: null; get: the value or null; cas: whether it swapped. */
export type KvModelOutput = string | null | boolean;

export type KvOperation = Operation<KvModelInput, KvModelOutput>;

/** State: the value of the one key the partition is about (null when absent). */
export const kvModel: Model<string | null, KvModelInput, KvModelOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.op) {
      case 'put':
        return input.value;
      case 'get':
        return output === undefined || output === state ? state : undefined;
      case 'cas': {
        const swapped = state === input.expected;
        if (output !== undefined && output !== swapped) return undefined;
        return swapped ? input.value : state;
      }
    }
  },
  stateKey: (state) => (state === null ? '\u0000null' : state),
  partition(history) {
    const byKey = new Map<string, KvOperation[]>();
    for (const operation of history) {
      const list = byKey.get(operation.input.key) ?? [];
      list.push(operation);
      byKey.set(operation.input.key, list);
    }
    return [...byKey.values()];
  },
  describe(operation) {
    const { input, output } = operation;
    const result = output === undefined ? '?' : JSON.stringify(output);
    if (input.op === 'put') return `put(${input.key}, ${input.value}) -> ${result}`;
    if (input.op === 'get') return `get(${input.key}) -> ${result}`;
    return `cas(${input.key}, ${input.expected}, ${input.value}) -> ${result}`;
  },
};
