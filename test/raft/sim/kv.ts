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
  /** The client session that sent it (Raft dissertation §6.3). */
  sessionId: number;
  /** The proposing leader's clock (skewed per node): the log's time (§6.3). */
  stampMs: number;
}

/**
 * Sessions idle this long in log time expire. Each member decides from the log alone (the
 * leaders' stamps, never its own clock), so every member expires the same sessions at the same
 * index, and a snapshot carries them.
 */
export const SESSION_TIMEOUT_MS = 300;

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
  /** Session id -> log time of its last command. */
  sessions = new Map<number, number>();
  /** The log's time: the highest leader stamp applied (never goes back, whatever the clocks). */
  logTimeMs = 0;
  /** Sessions expired by this incarnation (statistics). */
  expiredSessions = 0;
  /**
   * A fault for the simulator's own test: when set, expiry compares against this member's clock
   * instead of the log's time, which must make members diverge.
   */
  localNowMs: number | undefined;
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
    this.logTimeMs = Math.max(this.logTimeMs, command.stampMs);
    this.sessions.set(command.sessionId, this.logTimeMs);
    this.#expireSessions();
    return { opId: command.opId, output: execute(this.values, command.input) };
  }

  #expireSessions(): void {
    const nowMs = this.localNowMs ?? this.logTimeMs;
    for (const [id, lastActiveMs] of this.sessions) {
      if (nowMs - lastActiveMs <= SESSION_TIMEOUT_MS) continue;
      this.sessions.delete(id);
      this.expiredSessions++;
    }
  }

  /** The whole replicated state, for comparing members at the same index. */
  digest(): string {
    const sessions = [...this.sessions].sort((a, b) => a[0] - b[0]);
    const values = [...this.values].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return JSON.stringify([this.logTimeMs, sessions, values]);
  }

  read(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  serialize(): Uint8Array {
    return encoder.encode(
      JSON.stringify({
        values: [...this.values],
        sessions: [...this.sessions],
        logTimeMs: this.logTimeMs,
        conf: this.confState,
      }),
    );
  }

  static restore(data: Uint8Array, index: number, term: number, confState: ConfState) {
    const machine = new KvStateMachine(confState);
    if (data.byteLength > 0) {
      const parsed = JSON.parse(decoder.decode(data)) as {
        values: [string, string][];
        sessions: [number, number][];
        logTimeMs: number;
      };
      machine.values = new Map(parsed.values);
      machine.sessions = new Map(parsed.sessions);
      machine.logTimeMs = parsed.logTimeMs;
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

/** A stand-in for the metadata service's CRC32C over snapshot bytes. */
export function checksumOf(data: Uint8Array): number {
  let sum = 0;
  for (const byte of data) sum = (sum * 31 + byte) >>> 0;
  return sum;
}
