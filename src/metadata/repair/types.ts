// Inputs and outputs of the repair scheduler (src/metadata/repair/scheduler.ts).
import type { PlacementStrategy } from '../placement/types.ts';
import type { ShardLocation } from '../types.ts';

export interface RepairStripe {
  id: string;
  k: number;
  m: number;
  shardSizeBytes: number;
  shards: readonly ShardLocation[]; // the committed record: shard i on shards[i]
  // The pool its shards stay in (Stripe.pool): every target is on a server of that pool
  // (pool-maps.ts). None: any server.
  pool?: string;
}

// What a data server's scrubber (or a reader) found wrong with one shard.
export interface ScrubFinding {
  stripeId: string;
  shardIndex: number;
  problem: 'corrupt' | 'missing';
}

// A shard's condition: healthy and draining shards can be read; unavailable ones (suspect server)
// cannot, but are not rebuilt before the repair delay; lost ones are rebuilt.
export type ShardCondition = 'healthy' | 'draining' | 'unavailable' | 'lost';

// The life of one task. The old shard may be deleted only in `release`, which follows `commit`:
// the stripe record names the new location before the old file goes (never the other way round).
// rebuild: decode from the k sources and write the shard to `target`.
// commit: the written shard is verified; propose the stripe's new location through Raft.
// release: committed; delete the shard at `from` (retried until its server answers).
// done: nothing left to do.
export type RepairPhase = 'rebuild' | 'commit' | 'release' | 'done';
export type RepairEvent = 'rebuilt' | 'committed' | 'released' | 'failed';

export interface RepairTask {
  id: string; // `${stripeId}/${shardIndex}`: one task per shard at a time
  stripeId: string;
  shardIndex: number;
  // lost: rebuilt; drain: moved off a draining server or disk; rebalance: moved to restore the
  // domain rule once a domain is live again (the shard is readable, as a drained one); balance:
  // moved from a disk above its fair share to one below (fair-share.ts).
  reason: 'lost' | 'drain' | 'rebalance' | 'balance';
  spareShards: number; // readable shards beyond k when planned: the priority (fewest first)
  sources: ReadonlyArray<{ shardIndex: number; location: ShardLocation }>; // exactly k
  from: ShardLocation; // the shard's location in the record when planned
  target: ShardLocation;
  sizeBytes: number;
  phase: RepairPhase;
}

export interface RepairLimits {
  tasksInFlightMax: number; // concurrency across the cluster
  bytesInFlightMax: number; // shard bytes being rebuilt at once (a bandwidth budget per round)
}

export interface RepairPlan {
  tasks: RepairTask[]; // new tasks, phase 'rebuild', in priority order
  // Stripes that need repair but get no task this round, and why (no target, too few sources,
  // throttled). Reported so that an operator sees them (nothing is silently skipped).
  waiting: Array<{
    stripeId: string;
    shardIndex: number;
    reason: RepairTask['reason'];
    why: string;
  }>;
  unrecoverable: string[]; // stripes with fewer than k shards readable or coming back
  // Stripes not judged against the domain rule (a shard lost, suspect or draining: repair goes
  // first): a walk for a grown view that met any has not judged every stripe yet.
  unjudged: number;
}

export type { PlacementStrategy };

// What the leader's repair driver reports (`strata cluster status`, the meta.repair RPC).
export interface RepairProgress {
  // Stripes with shards lost or unavailable at the last complete walk, by how many ("1": 12).
  // Empty when nothing was lost at the last pass (no walk needed).
  degradedStripes: Record<string, number>;
  lastPassAtMs: number; // when the last pass ended (0: none yet under this leader)
  queueLength: number; // shards the last plan found to rebuild (running and waiting)
  running: number;
  rebuiltBytes: number; // since this member became leader
  tasks: { done: number; failed: number; refused: number }; // rebuilds and drains
  moves: { done: number; failed: number; refused: number }; // rebalance and balance moves
  movedBytes: number; // shard bytes written by moves since this member became leader
  // Fair share at the last pass: live disks outside the tolerance, and the moves planned for them
  // (fair-share.ts); 0 and 0 when balanced or while repairs or drains have work.
  balance: { disksOutside: number; movesPlanned: number };
  // Shard bytes written by rebuilds, drains and moves per second over the last 30 s, and the
  // seconds the queue would take at that pace (undefined: no pace yet to judge by).
  bytesPerSecond?: number;
  etaSeconds?: number;
  // Shards degraded writes left absent and not rebuilt yet, at the last pass (the replicated
  // table, src/metadata/absent-shards.ts); undefined from leaders before it.
  absentShards?: number;
}
