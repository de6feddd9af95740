// Messages between Raft peers. Plain objects, so the driver can encode them with msgpack as they
// are. Every message carries the sender's term; `to`/`from` are node ids.
import type { Entry, NodeId, SnapshotMeta } from './types.ts';

interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** RequestVote (Raft §5.2) and its PreVote twin (dissertation §9.6), which bumps no term. */
export interface VoteRequest extends MessageBase {
  type: 'vote' | 'preVote';
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set when the campaign follows TimeoutNow: voters then skip their leader lease. */
  leadershipTransfer: boolean;
}

export interface VoteResponse extends MessageBase {
  type: 'voteResp' | 'preVoteResp';
  granted: boolean;
}

/** AppendEntries (Raft §5.3): entries follow the entry at prevLogIndex, which has prevLogTerm. */
export interface AppendRequest extends MessageBase {
  type: 'app';
  prevLogIndex: number;
  prevLogTerm: number;
  entries: Entry[];
  commit: number;
}

export interface AppendResponse extends MessageBase {
  type: 'appResp';
  /** On success the last index now known to match; on rejection the prevLogIndex refused. */
  index: number;
  reject: boolean;
  /** On rejection the follower's last index, so the leader can skip back further than one. */
  rejectHint: number;
}

/** Heartbeats carry the commit index (capped at what the follower matches) and a ReadIndex context. */
export interface Heartbeat extends MessageBase {
  type: 'heartbeat';
  commit: number;
  context: string;
}

export interface HeartbeatResponse extends MessageBase {
  type: 'heartbeatResp';
  context: string;
}

/**
 * InstallSnapshot (Raft §7), sent in chunks of at most maxSnapshotChunkBytes. The core emits it
 * with empty `data`; the driver fills `data` with `lengthBytes` bytes at `offsetBytes` of its
 * snapshot at `meta.index` before sending (ready.ts), so snapshot bytes never pass through the core.
 */
export interface SnapshotChunk extends MessageBase {
  type: 'snap';
  meta: SnapshotMeta;
  totalBytes: number;
  /** The driver's checksum of the whole snapshot, for the receiving driver to verify. */
  checksum: number;
  offsetBytes: number;
  lengthBytes: number;
  data: Uint8Array;
  done: boolean;
}

/** Acknowledges chunks up to `nextOffsetBytes`, or asks to restart from 0 when `reject`. */
export interface SnapshotChunkResponse extends MessageBase {
  type: 'snapResp';
  snapshotIndex: number;
  nextOffsetBytes: number;
  reject: boolean;
}

/** Leadership transfer (dissertation §3.10): the target starts an election at once. */
export interface TimeoutNow extends MessageBase {
  type: 'timeoutNow';
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotChunkResponse
  | TimeoutNow;

export type MessageType = Message['type'];

/** Messages a leader sends that prove it is (or was) the leader of `term`. */
export function isLeaderMessage(message: Message): boolean {
  return message.type === 'app' || message.type === 'heartbeat' || message.type === 'snap';
}
