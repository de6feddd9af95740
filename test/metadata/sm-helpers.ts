import { mkdtempSync, rmSync } from 'node:fs';
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

const opened: Array<{ machine: MetadataStateMachine; dir: string }> = [];

// A fresh store in its own temporary directory, with data server 's' (six disks) registered so
// that the stripes of `stripe()` commit (the state machine refuses shards on unknown disks).
// closeAll() closes and removes every one.
export function openMachine(): MetadataStateMachine {
  const machine = openEmptyMachine();
  const disks = Array.from({ length: 6 }, (_, disk) => ({ disk, path: `/d${disk}` }));
  ok(machine, { op: 'registerDataServer', server: { serverId: 's', addr: 'h:1', disks } });
  return machine;
}

// openMachine() plus data servers `extra` (eight disks each) and bucket 'b' owned by 'o': room to
// relocate shards and write objects.
export const EIGHT_DISKS = Array.from({ length: 8 }, (_, disk) => ({ disk, path: `/d${disk}` }));

export function openMachineWithServers(extra: readonly string[]): MetadataStateMachine {
  const machine = openMachine();
  for (const serverId of extra)
    ok(machine, {
      op: 'registerDataServer',
      server: { serverId, addr: 'h:1', disks: EIGHT_DISKS },
    });
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  return machine;
}

// A fresh store with nothing in it, not even a data server.
export function openEmptyMachine(): MetadataStateMachine {
  const dir = mkdtempSync(join(tmpdir(), 'strata-meta-'));
  const machine = MetadataStateMachine.open(join(dir, 'metadata'));
  opened.push({ machine, dir });
  return machine;
}

export async function closeAll(): Promise<void> {
  for (const { machine, dir } of opened.splice(0)) {
    await machine.close().catch(() => undefined); // some tests closed theirs already
    rmSync(dir, { recursive: true, force: true });
  }
}

// A small seeded generator (mulberry32), so a failing case replays from its seed.
export function seededRandom(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n: number) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) | 0;
  };
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
