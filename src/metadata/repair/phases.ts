// The task phases as pure transitions, and the two rules that keep a shard from being lost while
// it is moved: the record changes only from the location the task was planned against, and a shard
// file is deleted only when the committed record no longer names it.
import assert from 'node:assert/strict';
import type { ShardLocation } from '../types.ts';
import type { RepairEvent, RepairPhase, RepairStripe, RepairTask } from './types.ts';

const transitions: Record<RepairPhase, Partial<Record<RepairEvent, RepairPhase | 'abandon'>>> = {
  rebuild: { rebuilt: 'commit', failed: 'abandon' },
  // A failed commit (the record moved on, or the target died) abandons the task: its written
  // shard is then stale (not in the record) and collected like any other.
  commit: { committed: 'release', failed: 'abandon' },
  // A failed delete is retried: the old server may be down; it is collected when it returns.
  release: { released: 'done', failed: 'release' },
  done: {},
};

// The task after `event`, or undefined when the task is abandoned (to be planned again).
export function advanceTask(task: RepairTask, event: RepairEvent): RepairTask | undefined {
  const next = transitions[task.phase][event];
  assert.ok(
    next !== undefined,
    `task ${task.id}: '${event}' is not allowed in phase ${task.phase}`,
  );
  if (next === 'abandon') return undefined;
  return { ...task, phase: next };
}

// The stripe record after the task's commit: shard `shardIndex` moves from `from` to `target`.
// Refused (undefined) if the record no longer has the shard at `from`: someone else moved it.
export function commitRepair(stripe: RepairStripe, task: RepairTask): RepairStripe | undefined {
  assert.equal(task.stripeId, stripe.id, 'task and stripe match');
  assert.equal(task.phase, 'commit', `task ${task.id} commits only after its shard is rebuilt`);
  const current = stripe.shards[task.shardIndex];
  if (!sameLocation(current, task.from)) return undefined;
  // Rebuilt in place (target = from: scheduler.ts, inPlaceTask), the record stays as it is.
  assert.ok(
    !stripe.shards.some((s, i) => i !== task.shardIndex && sameLocation(s, task.target)),
    `task ${task.id}: target already holds a shard of the stripe`,
  );
  const shards = stripe.shards.map((s, i) => (i === task.shardIndex ? task.target : s));
  return { ...stripe, shards };
}

// Whether the shard file for (stripe, shardIndex) at `location` may be deleted: only when the
// committed record does not name that location for that shard. This is the guard the data server
// delete path and the stale-shard collector both go through.
export function mayDeleteShard(
  stripe: RepairStripe | undefined,
  shardIndex: number,
  location: ShardLocation,
): boolean {
  if (stripe === undefined) return true; // the stripe itself is gone (the collector's business)
  return !sameLocation(stripe.shards[shardIndex], location);
}

export function sameLocation(a: ShardLocation | undefined, b: ShardLocation | undefined): boolean {
  return a !== undefined && b !== undefined && a.serverId === b.serverId && a.disk === b.disk;
}
