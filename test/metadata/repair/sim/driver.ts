// The metadata leader's repair driver (src/cluster/repair-driver.ts) with its I/O replaced by the
// simulated cluster: the same decisions from the same cores (workHeld, planRepairs, advanceTask,
// commitRepair), the same walk rule (a walk when a server or disk that must give up its shards holds some,
// by shard counts kept as the state machine keeps them, or the placement epoch or the count of
// crowded writes moved since the last complete walk), the same wait for throttled slots within a walk over one view,
// and the same release rule (the old file is deleted only after the commit, and only when its
// server is recorded up and its disk not failed). relocateShard's preconditions are checked as
// the state machine checks them (src/metadata/ops-repair.ts). After a walk's first plan, a replan
// takes the real driver's window (PlanWindow: the head of the priority order, the stripes waiting
// for another reason and those whose task ended), here of max_concurrent stripes, so that the
// walk's stripes beyond it are deferred and come in as the head is admitted.
import assert from 'node:assert/strict';
import type {
  PlacementServer,
  PlacementStrategy,
} from '../../../../src/metadata/placement/index.ts';
import {
  advanceTask,
  commitRepair,
  OccupiedTargets,
  PlanWindow,
  planRepairs,
  type RepairStripe,
  type RepairTask,
  rebuildsInPlace,
  type ScrubFinding,
  sameLocation,
  workHeld,
} from '../../../../src/metadata/repair/index.ts';
import type { DiskShardCount } from '../../../../src/metadata/types.ts';
import type { SeededPrng } from '../../../../src/raft/index.ts';
import { type SimCluster, shardKey, show } from './cluster.ts';

export const PASS_INTERVAL_MS = 2_000;

export interface DriverSettings {
  strategy: PlacementStrategy;
  tasksInFlightMax: number;
  repairBytesPerSecond: number;
  commitLatencyMsMax: number;
  occupiedForgetAfterMs: number;
  deleteBeforeCommit: boolean; // a deliberate bug, for the simulator's self-test
}

export interface TaskRun {
  task: RepairTask;
  endMs: number; // when the current phase ends
  site: RepairStripe; // the stripe as the walk found it (what the rebuild reads)
  ghost: boolean; // started by an earlier leader, finishing on its own
}

interface Walk {
  epoch: string; // the placement epoch and crowded-write count it read
  view: PlacementServer[];
  found: Map<string, RepairStripe>;
  skipped: Set<string>;
  window: PlanWindow;
  candidates: Set<string> | undefined; // undefined: the walk's first plan takes every stripe
  ended: Set<string>; // stripes whose task ended since the last plan
}

export interface DriverStats {
  passes: number;
  walks: number;
  done: number;
  failed: number;
  refused: number;
  moves: number;
  released: number;
}

export class SimRepairDriver {
  readonly running = new Map<string, TaskRun>();
  readonly stats: DriverStats;
  #walk: Walk | undefined;
  #walkedEpoch: string | undefined; // `epoch/crowdedWrites`, as the real driver's walkedView
  #movesLeft = false;
  readonly #occupied: OccupiedTargets;
  readonly #cluster: SimCluster;
  readonly #settings: DriverSettings;
  readonly #prng: SeededPrng;
  readonly #note: (message: string) => void;

  constructor(
    cluster: SimCluster,
    settings: DriverSettings,
    prng: SeededPrng,
    note: (message: string) => void,
    stats: DriverStats,
  ) {
    this.#cluster = cluster;
    this.#settings = settings;
    this.#prng = prng;
    this.#note = note;
    this.stats = stats;
    this.#occupied = new OccupiedTargets(settings.occupiedForgetAfterMs);
  }

  get walking(): boolean {
    return this.#walk !== undefined;
  }

  // One pass (every PASS_INTERVAL_MS on the leader): nothing while a walk is in progress.
  pass(nowMs: number, epoch: string): void {
    this.stats.passes++;
    if (this.#walk !== undefined) return;
    const view = this.#cluster.view();
    const held = workHeld(view, this.#shardCounts());
    const absent = this.#cluster.absentTable.size > 0;
    if (!held && !absent && epoch === this.#walkedEpoch && !this.#movesLeft) return;
    this.stats.walks++;
    this.#movesLeft = false;
    this.#note(`walk at epoch ${epoch} (last complete walk: ${this.#walkedEpoch})`);
    const found = new Map(this.#cluster.stripes); // records are replaced, never changed
    const window = new PlanWindow(this.#settings.tasksInFlightMax);
    const ended = new Set<string>();
    this.#walk = { epoch, view, found, skipped: new Set(), window, candidates: undefined, ended };
    this.#planWalk(nowMs);
  }

  // The state machine's shard counts (src/metadata/shard-counts.ts), from the committed records.
  #shardCounts(): DiskShardCount[] {
    const counts = new Map<string, DiskShardCount>();
    for (const stripe of this.#cluster.stripes.values()) {
      for (const shard of stripe.shards) {
        const key = `${shard.serverId}/${shard.disk}`;
        const count = counts.get(key) ?? { serverId: shard.serverId, disk: shard.disk, shards: 0 };
        count.shards++;
        counts.set(key, count);
      }
    }
    return [...counts.values()];
  }

  #planWalk(nowMs: number): void {
    const walk = this.#walk;
    assert.ok(walk !== undefined, 'planning outside a walk');
    const { candidates, ended } = walk;
    const plan = planRepairs({
      stripes: [...walk.found.values()].filter(
        (s) =>
          !walk.skipped.has(s.id) &&
          (candidates === undefined || candidates.has(s.id) || ended.has(s.id)),
      ),
      servers: walk.view,
      findings: absentFindings(this.#cluster, walk.found),
      inFlight: [...this.running.values()].map((r) => r.task),
      occupied: this.#occupied.current(nowMs),
      strategy: this.#settings.strategy,
      limits: {
        tasksInFlightMax: this.#settings.tasksInFlightMax,
        bytesInFlightMax: this.#settings.repairBytesPerSecond,
      },
    });
    ended.clear();
    walk.candidates = walk.window.next(plan, (id) => walk.skipped.has(id));
    // A stripe under repair is judged for moves once its repair landed, at a later walk.
    if (plan.unjudged > 0) this.#movesLeft = true;
    const stuck = plan.waiting.filter((w) => w.reason === 'rebalance' && w.why !== 'throttled');
    if (stuck.length > 0) {
      this.#movesLeft = true;
      const first = stuck[0];
      this.#note(
        `${stuck.length} moves waiting; ${first.stripeId}/${first.shardIndex}: ${first.why}`,
      );
    }
    for (const task of plan.tasks) {
      const site = walk.found.get(task.stripeId);
      assert.ok(site, `a task for a stripe the walk did not find: ${task.id}`);
      assert.ok(!this.running.has(task.id), `task ${task.id} planned twice`);
      this.running.set(task.id, { task, endMs: nowMs + this.#rebuildMs(task), site, ghost: false });
      this.#note(`plan ${task.reason} ${task.id} ${show(task.from)} -> ${show(task.target)}`);
    }
    const throttled = plan.waiting.some((w) => w.why === 'throttled');
    // Nothing held back but stripes beyond the window: they are planned at once.
    if (!throttled && walk.window.unplanned > 0) this.#planWalk(nowMs);
    else if (!throttled || this.running.size === 0) this.#endWalk();
  }

  #endWalk(): void {
    assert.ok(this.#walk !== undefined);
    if (!this.#movesLeft) this.#walkedEpoch = this.#walk.epoch;
    this.#note(`walk ended (${this.#movesLeft ? 'moves left' : 'complete'})`);
    this.#walk = undefined;
  }

  #rebuildMs(task: RepairTask): number {
    const bytes = (task.sources.length + 1) * task.sizeBytes;
    const ms = (bytes * 1000) / this.#settings.repairBytesPerSecond;
    return Math.ceil(20 + ms * (0.5 + this.#prng.next()));
  }

  // Runs the phases that end by `nowMs` (the leader is up: commits go through). A walk waiting
  // for slots plans again once the tasks that ended in this step are counted (the real driver
  // plans again as each ends; those ending at one simulated moment are taken together).
  step(nowMs: number): void {
    let ended = false;
    for (const run of [...this.running.values()]) {
      if (run.endMs > nowMs) continue;
      const outcome = finishPhase(this.#cluster, run, this.#settings, this.#prng, nowMs);
      if (outcome === 'continue') continue;
      this.#ended(run, outcome, nowMs);
      ended = true;
    }
    if (ended && this.#walk !== undefined) this.#planWalk(nowMs);
  }

  #ended(run: TaskRun, outcome: Outcome, nowMs: number): void {
    this.running.delete(run.task.id);
    const { task } = run;
    this.#note(`task ${task.id} ${outcome}`);
    if (outcome === 'exists') this.#occupied.note(task.id, task.target, nowMs);
    if (outcome === 'done') {
      this.#occupied.done(task.id);
      if (task.reason === 'rebalance') this.stats.moves++;
      else this.stats.done++;
    } else if (outcome === 'refused') this.stats.refused++;
    else this.stats.failed++;
    const walk = this.#walk;
    walk?.ended.add(task.stripeId);
    if (outcome !== 'done') {
      walk?.skipped.add(task.stripeId);
      // A move that failed after its walk ended (epoch counted walked) is walked for again.
      if (task.reason === 'rebalance') {
        this.#movesLeft = true;
        this.#walkedEpoch = undefined;
      }
    } else if (walk !== undefined) {
      const site = walk.found.get(task.stripeId);
      if (site && sameLocation(site.shards[task.shardIndex], task.from))
        walk.found.set(site.id, {
          ...site,
          shards: site.shards.map((s, i) => (i === task.shardIndex ? task.target : s)),
        });
    }
  }

  // Leadership lost: the walk stops; tasks keep running in the old leader's process (ghosts)
  // when it lives on, and their commits reach the new leader.
  resign(): TaskRun[] {
    this.#walk = undefined;
    return [...this.running.values()].map((run) => ({ ...run, ghost: true }));
  }
}

type Outcome = 'continue' | 'done' | 'failed' | 'exists' | 'refused';

// Ends the current phase of a task. Exported for ghosts, which run without a driver.
export function finishPhase(
  cluster: SimCluster,
  run: TaskRun,
  settings: DriverSettings,
  prng: SeededPrng,
  nowMs: number,
): Outcome {
  const { task } = run;
  if (task.phase === 'rebuild') {
    if (!canRead(cluster, run)) return 'failed';
    const written = cluster.writeShard(task.target, task.stripeId, task.shardIndex, nowMs);
    if (written === 'unreachable') return 'failed';
    // In place, a file of the shard there is taken when whole (the data server verifies it), as
    // every file here is; elsewhere it refuses the rebuild (data-service.ts, rebuildShard).
    if (written === 'exists' && !rebuildsInPlace(task)) return 'exists';
    if (settings.deleteBeforeCommit && cluster.reachable(task.from))
      cluster.deleteShard(task.from, task.stripeId, task.shardIndex, 'bug: delete before commit');
    run.task = advanceTask(task, 'rebuilt') as RepairTask;
    run.endMs = nowMs + 1 + prng.nextInt(settings.commitLatencyMsMax);
    return 'continue';
  }
  assert.equal(task.phase, 'commit', `task ${task.id} in phase ${task.phase}`);
  if (!relocate(cluster, task)) return 'refused';
  const committed = advanceTask(task, 'committed') as RepairTask;
  release(cluster, committed);
  return 'done';
}

// The hedged reader: any k shards of the stripe as the walk found it (a file of the right shard
// is the same bytes wherever it is), the planned sources first.
function canRead(cluster: SimCluster, run: TaskRun): boolean {
  const { site, task } = run;
  let readable = 0;
  site.shards.forEach((location, i) => {
    if (cluster.readable(location, shardKey(site.id, i))) readable++;
  });
  return readable >= task.sources.length;
}

// relocateShard as the state machine applies it: refused unless the stripe is still recorded
// with the shard at `from` and `to` holds no shard of it. A move out of the stripe's pool, which
// the state machine refuses (PLACEMENT_VIOLATION), is a planner bug: the run fails.
function relocate(cluster: SimCluster, task: RepairTask): boolean {
  const stripe = cluster.stripes.get(task.stripeId);
  if (stripe === undefined) return false;
  if (!sameLocation(stripe.shards[task.shardIndex], task.from)) return false;
  if (rebuildsInPlace(task)) {
    cluster.absentTable.delete(task.id); // nothing moves; the shard exists now
    return true;
  }
  if (stripe.shards.some((s) => sameLocation(s, task.target))) return false;
  const pool = cluster.records.get(task.target.serverId)?.domain.pool;
  assert.ok(
    stripe.pool === undefined || pool === stripe.pool,
    `task ${task.id} (${task.reason}) moves a shard of pool ${stripe.pool} to ` +
      `${show(task.target)}, in ${pool === undefined ? 'no pool' : `pool ${pool}`}`,
  );
  const next = commitRepair(stripe, task);
  assert.ok(next, 'commitRepair agrees with the preconditions');
  cluster.stripes.set(stripe.id, next);
  cluster.absentTable.delete(task.id); // the rebuilt shard exists now
  return true;
}

// The absent-shard table as the driver takes it: a lost shard wherever the stripe, as the walk
// found it, still records the listed location (repair-driver.ts, currentFindings).
function absentFindings(
  cluster: SimCluster,
  found: ReadonlyMap<string, RepairStripe>,
): ScrubFinding[] {
  const findings: ScrubFinding[] = [];
  for (const [key, location] of cluster.absentTable) {
    const slash = key.lastIndexOf('/');
    const stripeId = key.slice(0, slash);
    const shardIndex = Number(key.slice(slash + 1));
    if (sameLocation(found.get(stripeId)?.shards[shardIndex], location))
      findings.push({ stripeId, shardIndex, problem: 'missing' });
  }
  return findings;
}

// The old file goes only after the commit, when its server is recorded up and its disk is not
// recorded failed; otherwise (or when the server does not answer) the collector takes it later.
function release(cluster: SimCluster, task: RepairTask): void {
  if (rebuildsInPlace(task)) return; // the file written is the one the record names
  const record = cluster.records.get(task.from.serverId);
  if (record?.state !== 'up' || cluster.recordedDiskState(task.from) === 'failed') return;
  cluster.deleteShard(task.from, task.stripeId, task.shardIndex, `release ${task.id}`);
}
