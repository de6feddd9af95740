// Configuration of one Raft core, with explicit limits on everything that could grow.
import assert from 'node:assert/strict';
import type { RandomSource } from './prng.ts';
import type { LogStorage } from './raft-log.ts';
import type { NodeId } from './types.ts';

export interface RaftConfig {
  id: NodeId;
  /** Ticks a follower waits without hearing a leader before campaigning; randomised in [t, 2t). */
  electionTimeoutTicks: number;
  /** Ticks between leader heartbeats. Must be well below the election timeout. */
  heartbeatIntervalTicks: number;
  /** Draws the randomised election timeout (Raft §5.2). Seeded by the driver for replayability. */
  random: RandomSource;
  /** Dissertation §9.6: campaign only after a majority says it would vote. */
  preVote: boolean;
  /** Dissertation §6.2: a leader not heard from by a quorum for an election timeout steps down. */
  checkQuorum: boolean;
  /** Entries per AppendEntries message (at least one is always sent). */
  maxEntriesPerMessage: number;
  /** Bytes of entry data per AppendEntries message (at least one entry is always sent). */
  maxMessageBytes: number;
  /** AppendEntries messages in flight to one follower in the replicate state (pipelining). */
  maxInflightMessages: number;
  /** Proposals are refused while this many entries are appended but not yet committed. */
  maxUncommittedEntries: number;
  /** Bytes of one proposal's data. */
  maxProposalBytes: number;
  /** Committed entries handed out in one Ready (at least one when any is committed). */
  maxCommittedEntriesPerReady: number;
  /** InstallSnapshot chunk size. */
  maxSnapshotChunkBytes: number;
  /** A snapshot larger than this is refused by followers (bounds the incoming file on disk). */
  maxSnapshotBytes: number;
  /** ReadIndex requests waiting for a heartbeat round or for the first commit of the term. */
  maxPendingReads: number;
  /**
   * The driver's durable log. With it, applied entries beyond maxLogEntriesInMemory or
   * maxLogBytesInMemory leave memory and are read back from it (lagging followers); without it
   * every entry after the snapshot stays in memory (tests of the core alone).
   */
  logStorage?: LogStorage;
  /** Applied entries kept in memory (the tail most followers read from). */
  maxLogEntriesInMemory: number;
  /** Bytes of entry data of the applied entries kept in memory. */
  maxLogBytesInMemory: number;
  /** A learner is promoted only when its log is at most this many entries behind the leader's. */
  maxPromotionLagEntries: number;
  /**
   * Faults for tests only. Never set in production: each one breaks a safety property on purpose
   * so the simulator can prove it notices.
   */
  testingFaults?: TestingFaults;
}

export interface TestingFaults {
  /** Break Raft §5.4.2 (Figure 8): commit entries of earlier terms by counting replicas. */
  commitOldTermEntriesByCounting?: boolean;
}

export type RaftOptions = Pick<RaftConfig, 'id' | 'random'> & Partial<RaftConfig>;

export const raftDefaults = {
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxEntriesPerMessage: 64,
  maxMessageBytes: 1024 * 1024,
  maxInflightMessages: 64,
  maxUncommittedEntries: 4096,
  maxProposalBytes: 1024 * 1024,
  maxCommittedEntriesPerReady: 256,
  maxSnapshotChunkBytes: 1024 * 1024,
  maxSnapshotBytes: 256 * 1024 * 1024 * 1024,
  maxPendingReads: 4096,
  maxPromotionLagEntries: 16,
  maxLogEntriesInMemory: 4096,
  maxLogBytesInMemory: 8 * 1024 * 1024,
} as const;

export function resolveConfig(options: RaftOptions): RaftConfig {
  const config: RaftConfig = { ...raftDefaults, ...options };
  assert.ok(Number.isSafeInteger(config.id) && config.id > 0, `node id must be > 0: ${config.id}`);
  assert.ok(config.heartbeatIntervalTicks >= 1, 'heartbeatIntervalTicks must be >= 1');
  assert.ok(
    config.electionTimeoutTicks > config.heartbeatIntervalTicks,
    `electionTimeoutTicks (${config.electionTimeoutTicks}) must exceed heartbeatIntervalTicks`,
  );
  const positive = [
    'maxEntriesPerMessage',
    'maxMessageBytes',
    'maxInflightMessages',
    'maxUncommittedEntries',
    'maxProposalBytes',
    'maxCommittedEntriesPerReady',
    'maxSnapshotChunkBytes',
    'maxSnapshotBytes',
    'maxPendingReads',
  ] as const;
  for (const name of positive) {
    assert.ok(Number.isSafeInteger(config[name]) && config[name] > 0, `${name} must be > 0`);
  }
  assert.ok(config.maxLogEntriesInMemory >= 0, 'maxLogEntriesInMemory must be >= 0');
  assert.ok(config.maxLogBytesInMemory >= 0, 'maxLogBytesInMemory must be >= 0');
  assert.ok(config.maxPromotionLagEntries >= 0, 'maxPromotionLagEntries must be >= 0');
  return config;
}
