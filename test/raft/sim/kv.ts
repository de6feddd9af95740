// The simulator's application: a key-value store driven by Raft entries. Commands are JSON in the
// entry data; the state machine is deterministic and serialisable (for snapshots).
import assert from 'node:assert/strict';
import type { ConfState, Entry } from '../../../src/raft/index.ts';
import { applyConfChange, decodeConfChange } from '../../../src/raft/index.ts';

export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'cas'; key: string; expected: string | null; value: string };

/** put: null; get: the value (null when absent); cas: whether it swapped. */
export type KvOutput = string | null | boolean;

export interface KvCommand {
  /** Unique per operation; the client recognises its own command when it is applied. */
  opId: number;
  input: KvInput;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

/** The state as the application sees it: values, what it applied, and the membership then. */
export class KvStateMachine {
  values = new Map<string, string>();
  appliedIndex = 0;
  appliedTerm = 0;
  confState: ConfState;

  constructor(confState: ConfState) {
    this.confState = confState;
  }

  /** Applies one committed entry; returns the command's output for normal entries. */
  apply(entry: Entry): { opId: number; output: KvOutput } | undefined {
    assert.equal(entry.index, this.appliedIndex + 1, 'entries are applied in order, without gaps');
    this.appliedIndex = entry.index;
    this.appliedTerm = entry.term;
    if (entry.type === 'confChange') {
      this.confState = applyConfChange(this.confState, decodeConfChange(entry.data));
      return undefined;
    }
    if (entry.type === 'noop') return undefined;
    const command = decodeCommand(entry.data);
    return { opId: command.opId, output: execute(this.values, command.input) };
  }

  read(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  serialize(): Uint8Array {
    return encoder.encode(JSON.stringify({ values: [...this.values], conf: this.confState }));
  }

  static restore(data: Uint8Array, index: number, term: number, confState: ConfState) {
    const machine = new KvStateMachine(confState);
    if (data.byteLength > 0) {
      const parsed = JSON.parse(decoder.decode(data)) as { values: [string, string][] };
      machine.values = new Map(parsed.values);
    }
    machine.appliedIndex = index;
    machine.appliedTerm = term;
    return machine;
  }
}

export function execute(values: Map<string, string>, input: KvInput): KvOutput {
  const current = values.get(input.key) ?? null;
  switch (input.op) {
    case 'put':
      values.set(input.key, input.value);
      return null;
    case 'get':
      return current;
    case 'cas':
      if (current !== input.expected) return false;
      values.set(input.key, input.value);
      return true;
  }
}
