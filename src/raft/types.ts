// Plain data shared by the Raft core and its driver. Everything here is a serialisable object
// (numbers, strings, booleans, arrays, Uint8Array): the driver persists it and sends it with msgpack.

/** A server's identity in the cluster. 0 is never a valid id: it means "none" (no vote, no leader). */
export type NodeId = number;
export const NO_NODE: NodeId = 0;

/**
 * normal: application data; confChange: a membership change (data is an encoded ConfChange);
 * noop: appended by every new leader so that it commits an entry of its own term (Raft §5.4.2, §8).
 */
export type EntryType = 'normal' | 'confChange' | 'noop';

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be durable before any message that depends on it leaves the node. */
export interface HardState {
  term: number;
  /** The candidate voted for in `term`, or NO_NODE. */
  vote: NodeId;
  /** Highest index known committed. Persisting it is an optimisation (faster restart), not safety. */
  commit: number;
}

/** Cluster membership. Voters count toward quorums; learners only receive the log. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/** One server at a time (Raft dissertation §4.1). Promoting a learner is `addVoter` on a learner. */
export type ConfChangeType = 'addVoter' | 'addLearner' | 'removeNode';

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
}

export interface SnapshotMeta {
  /** The last log index the snapshot covers, and that entry's term. */
  index: number;
  term: number;
  /** Membership as of `index` (the snapshot replaces the log entries that held it). */
  confState: ConfState;
}

/**
 * An application snapshot as the core knows it: where it stands, how many bytes it has and the
 * driver's checksum of them. The bytes themselves never enter the core: the driver keeps them (a
 * file), fills outgoing chunks from them and writes incoming chunks to disk (see ready.ts), so
 * the core's memory does not grow with the state machine.
 */
export interface Snapshot {
  meta: SnapshotMeta;
  sizeBytes: number;
  /** The driver's checksum of the bytes (CRC32C for the metadata service); carried, not checked. */
  checksum: number;
}

/** Bytes of an incoming snapshot the driver writes at `offsetBytes` of its file for `meta`. */
export interface SnapshotChunkWrite {
  meta: SnapshotMeta;
  /** A chunk at offset 0 starts a new file (whatever was there before is discarded). */
  offsetBytes: number;
  data: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state the driver may want to observe (who leads, what this node is). Never persisted. */
export interface SoftState {
  leaderId: NodeId;
  role: Role;
}

/**
 * The answer to `readIndex(context)`: once the local state machine has applied `index`, a read
 * served from it is linearizable (Raft dissertation §6.4).
 */
export interface ReadState {
  index: number;
  context: string;
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [] };
}

export function isEmptyHardState(hardState: HardState): boolean {
  return hardState.term === 0 && hardState.vote === NO_NODE && hardState.commit === 0;
}
