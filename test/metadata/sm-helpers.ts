import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Command, CommandResult, Extent, Stripe } from '../../src/metadata/types.ts';

export const ROOT = { uid: 0, gid: 0 };

// A command without its timestamp (distributed over the union, so each op keeps its fields).
export type CommandInput = Command extends infer C
  ? C extends Command
    ? Omit<C, 'nowMs'>
    : never
  : never;

export function openMachine(): MetadataStateMachine {
  return MetadataStateMachine.open(join(mkdtempSync(join(tmpdir(), 'strata-meta-')), 'metadata'));
}

// Applies a command stamped with a fixed clock; fails the test on an error result unless asked.
export function run(
  machine: MetadataStateMachine,
  command: CommandInput & { nowMs?: number },
): CommandResult {
  return machine.apply({ nowMs: 1_000, ...command } as Command);
}

export function ok(machine: MetadataStateMachine, command: CommandInput) {
  const result = run(machine, command);
  if (!result.ok) throw new Error(`${command.op} failed: ${result.code} ${result.message}`);
  return result;
}

export function codeOf(machine: MetadataStateMachine, command: CommandInput): string {
  const result = run(machine, command);
  return result.ok ? 'ok' : result.code;
}

let stripeCounter = 0;
export function stripe(dataLengthBytes: number): Stripe {
  stripeCounter++;
  return {
    id: stripeCounter.toString(16).padStart(32, '0'),
    k: 4,
    m: 2,
    shardSizeBytes: Math.ceil(dataLengthBytes / 4),
    dataLengthBytes,
    shards: Array.from({ length: 6 }, (_, disk) => ({ serverId: 's', disk })),
  };
}

export function extent(
  fileOffset: number,
  length: number,
  s = stripe(length),
  stripeOffset = 0,
): Extent {
  return { fileOffset, length, stripe: s, stripeOffset };
}
