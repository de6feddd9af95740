// Targets a task found already holding a file of its shard (the data server refused to overwrite
// it: EEXIST). Such a file is a stale copy, left when the shard moved off while its server was
// down, and the orphan scrubber deletes it only after its grace. Until then the task is planned
// with that disk avoided (RepairInput.occupied). The memory expires: once the scrubber has taken
// the file, the disk may be the only target the domain rule allows (the cluster simulator found a
// move that waited forever on a disk remembered after its stale file was gone), so a remembered
// disk is tried again after `forgetAfterMs`, at the cost of at most one wasted rebuild per period.
import assert from 'node:assert/strict';
import type { ShardLocation } from '../types.ts';
import { sameLocation } from './phases.ts';

// Long enough that a stale file is not hit again every pass (2 s), short against the scrubber's
// delay (the orphan grace, an hour by default, plus its period).
export const OCCUPIED_FORGET_AFTER_MS = 5 * 60_000;
export const OCCUPIED_TASKS_MAX = 10_000; // bounds the memory; stale files go anyway

export class OccupiedTargets {
  readonly forgetAfterMs: number;
  readonly #byTask = new Map<string, Array<{ location: ShardLocation; atMs: number }>>();

  constructor(forgetAfterMs = OCCUPIED_FORGET_AFTER_MS) {
    assert.ok(forgetAfterMs > 0, `forgetAfterMs must be > 0, got ${forgetAfterMs}`);
    this.forgetAfterMs = forgetAfterMs;
  }

  get size(): number {
    return this.#byTask.size;
  }

  // The task's write to `location` was refused because a file of its shard is there.
  note(taskId: string, location: ShardLocation, nowMs: number): void {
    if (!this.#byTask.has(taskId) && this.#byTask.size >= OCCUPIED_TASKS_MAX) this.#byTask.clear();
    const kept = (this.#byTask.get(taskId) ?? []).filter(
      (o) => !sameLocation(o.location, location),
    );
    this.#byTask.set(taskId, [...kept, { location, atMs: nowMs }]);
  }

  // The task committed: nothing of it is remembered.
  done(taskId: string): void {
    this.#byTask.delete(taskId);
  }

  // The disks to avoid now, by task id (RepairInput.occupied); expired entries are dropped.
  current(nowMs: number): Map<string, ShardLocation[]> {
    const current = new Map<string, ShardLocation[]>();
    for (const [taskId, entries] of this.#byTask) {
      const fresh = entries.filter((o) => nowMs - o.atMs < this.forgetAfterMs);
      if (fresh.length === 0) this.#byTask.delete(taskId);
      else {
        this.#byTask.set(taskId, fresh);
        current.set(
          taskId,
          fresh.map((o) => o.location),
        );
      }
    }
    assert.ok(current.size <= OCCUPIED_TASKS_MAX, 'the memory is bounded');
    return current;
  }
}
