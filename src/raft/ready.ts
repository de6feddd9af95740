// What the core hands its driver, and the answers to local requests.
import type { Message } from './messages.ts';
import type {
  Entry,
  HardState,
  NodeId,
  ReadState,
  Snapshot,
  SnapshotChunkWrite,
  SoftState,
} from './types.ts';

/**
 * One batch of work for the driver. The driver MUST handle it in this order:
 *   1. write `snapshotChunks` to the incoming snapshot file (each at its offset; offset 0 starts
 *      a new file); persist `snapshot` (if any: the incoming file, complete and fsynced, becomes
 *      the durable snapshot and replaces the whole log), then `entries` (each replaces any
 *      persisted entry at its index and everything after it), then `hardState`, and fsync them
 *      when `mustSync`. Nothing in `messages` may leave the node before this is durable: votes,
 *      acknowledgements and the leader's own replica count all assume it (Raft §5.2, §5.3);
 *      except a leader's `app` messages in a Ready that keeps the term and vote, which may
 *      leave first, as long as Readies stay one after another (docs/architecture/raft.md).
 *   2. send `messages` (any order, any may be lost; the core retries). A `snap` message leaves
 *      with empty `data`: the driver fills it with `lengthBytes` bytes at `offsetBytes` of its
 *      snapshot at `meta.index`, or drops the message when it no longer has that snapshot (the
 *      core starts over with the newer one).
 *   3. apply `snapshot` (install the received bytes as the state machine) then
 *      `committedEntries`, in order; serve the `readStates` whose index the state machine has
 *      reached. Read states may also be taken at any time, Ready or not, with
 *      `takeReadStates()` and served by the same rule (a read need not wait for a write).
 *   4. call `advance()`.
 * Inputs (step, tick, propose, ...) may arrive between `ready()` and `advance()`; the next Ready
 * only holds what is new since. Readies must be processed one after another, never overlapping.
 */
export interface Ready {
  /** Present when leader or role changed. */
  softState?: SoftState;
  /** Present when term, vote or commit changed. */
  hardState?: HardState;
  entries: Entry[];
  /** Chunks of an incoming snapshot, in order, to write before anything else. */
  snapshotChunks: SnapshotChunkWrite[];
  snapshot?: Snapshot;
  messages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
  /** False when only the commit index changed, which may be written without fsync. */
  mustSync: boolean;
}

export type RefusalCode =
  /** Not the leader: the driver forwards to `leaderHint` (NO_NODE when unknown). */
  | 'NOT_LEADER'
  | 'TRANSFERRING_LEADERSHIP'
  | 'PROPOSAL_TOO_LARGE'
  | 'TOO_MANY_UNCOMMITTED'
  | 'TOO_MANY_PENDING_READS'
  | 'DUPLICATE_READ_CONTEXT'
  /** A membership change is appended but not committed, or the leader has no commit this term. */
  | 'CONF_CHANGE_PENDING'
  | 'INVALID_CONF_CHANGE'
  | 'LEARNER_NOT_CAUGHT_UP'
  | 'INVALID_TRANSFER_TARGET';

export interface Refusal {
  ok: false;
  code: RefusalCode;
  leaderHint: NodeId;
}

/** An accepted proposal: it is committed if and when an entry at `index` with `term` is applied. */
export type ProposeResult = { ok: true; index: number; term: number } | Refusal;

export type RequestResult = { ok: true } | Refusal;
