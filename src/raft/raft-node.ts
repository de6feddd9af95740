// The Raft consensus algorithm as a pure state machine, after etcd's raft library (raft.go and
// rawnode.go). It never touches a disk, a socket, a clock or a random source of its own: time
// arrives as tick(), messages through step(), and everything it wants done leaves as a Ready batch
// (see ready.ts for the driver's contract). Section numbers refer to the Raft paper (Ongaro and
// Ousterhout 2014) and to Ongaro's dissertation (2014).
import assert from 'node:assert/strict';
import { type RaftConfig, type RaftOptions, resolveConfig } from './config.ts';
import {
  applyConfChange,
  cloneConfState,
  decodeConfChange,
  encodeConfChange,
  quorumMatchIndex,
  quorumSize,
  sameConfState,
  voteResult,
} from './membership.ts';
import type {
  AppendRequest,
  AppendResponse,
  Heartbeat,
  HeartbeatResponse,
  Message,
  SnapshotChunk,
  SnapshotChunkResponse,
  VoteRequest,
} from './messages.ts';
import { isLeaderMessage } from './messages.ts';
import { Progress } from './progress.ts';
import { RaftLog } from './raft-log.ts';
import { ReadOnlyQueue } from './read-only.ts';
import type { ProposeResult, Ready, Refusal, RefusalCode, RequestResult } from './ready.ts';
import type {
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  HardState,
  NodeId,
  ReadState,
  Role,
  Snapshot,
  SnapshotChunkWrite,
  SnapshotMeta,
  SoftState,
} from './types.ts';
import { NO_NODE } from './types.ts';

/** What the driver read back from durable storage at start (all empty for a fresh node). */
export interface PersistedState {
  hardState: HardState;
  /**
   * The latest durable snapshot. A brand-new cluster passes one at index 0, term 0, holding the
   * initial voters and empty data; a node that will join later passes empty voters.
   */
  snapshot: Snapshot;
  /**
   * Durable entries after the snapshot, contiguous. Taken one at a time: a driver may stream them
   * from disk, and applied ones leave memory as they come (beyond the log's in-memory tail).
   */
  entries: Iterable<Entry>;
  /** What the state machine has already applied (defaults to the snapshot's index). */
  appliedIndex?: number;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  role: Role;
  leaderId: NodeId;
  commitIndex: number;
  appliedIndex: number;
  firstIndex: number;
  lastIndex: number;
  /** Bytes of entry data in the log after the snapshot (compaction would free them). */
  logBytes: number;
  /** Entries of the log held in memory (the bounded tail plus what is not applied yet). */
  logEntriesInMemory: number;
  confState: ConfState;
  leadTransferee: NodeId;
}

/** A snapshot being received: only its position; the bytes go to the driver's file. */
interface IncomingSnapshot {
  meta: SnapshotMeta;
  totalBytes: number;
  checksum: number;
  receivedBytes: number;
}

const emptyData = new Uint8Array(0);

export class RaftNode {
  readonly config: RaftConfig;
  readonly id: NodeId;
  #term = 0;
  #vote: NodeId = NO_NODE;
  #role: Role = 'follower';
  #leaderId: NodeId = NO_NODE;
  readonly #log: RaftLog;
  /** Membership in effect: the latest configuration in the log, committed or not (§4.1). */
  #conf: ConfState = { voters: [], learners: [] };
  /** Index of the entry (or snapshot) that holds #conf. */
  #confIndex = 0;
  #electionElapsedTicks = 0;
  #heartbeatElapsedTicks = 0;
  #randomizedElectionTimeoutTicks = 0;
  #votes = new Map<NodeId, boolean>();
  #progress = new Map<NodeId, Progress>();
  #readQueue = new ReadOnlyQueue();
  /** Reads that arrived before this leader committed an entry of its term. */
  #readsAwaitingCommit: string[] = [];
  #leadTransferee: NodeId = NO_NODE;
  #messages: Message[] = [];
  #readStates: ReadState[] = [];
  /** Snapshot received from the leader, to hand to the driver in the next Ready. */
  #snapshotToApply: Snapshot | undefined;
  /** The latest snapshot, sent to followers that are behind the compacted log. */
  #snapshot: Snapshot;
  #incomingSnapshot: IncomingSnapshot | undefined;
  /** Accepted chunks of the incoming snapshot, for the driver to write in the next Ready. */
  #snapshotChunks: SnapshotChunkWrite[] = [];
  #prevSoftState: SoftState;
  #prevHardState: HardState;
  /** The apply index promised by the Ready not yet advanced, or undefined. */
  #readyApplyingTo: number | undefined;

  constructor(options: RaftOptions, persisted: PersistedState) {
    this.config = resolveConfig(options);
    this.id = this.config.id;
    this.#log = new RaftLog({
      storage: this.config.logStorage,
      maxEntries: this.config.maxLogEntriesInMemory,
      maxBytes: this.config.maxLogBytesInMemory,
    });
    const { hardState, snapshot, entries } = persisted;
    assert.ok(snapshot.meta.index >= 0 && snapshot.meta.term >= 0, 'bad snapshot metadata');
    this.#log.restore(snapshot);
    this.#snapshot = snapshot;
    const applied = persisted.appliedIndex ?? snapshot.meta.index;
    // Entries are durable and those up to `applied` applied: they may leave memory while the rest
    // are read (checked against the commit index below).
    this.#log.applied = applied;
    this.#log.applying = applied;
    let count = 0;
    for (const entry of entries) {
      this.#log.append([entry]);
      this.#log.unstableFrom = entry.index + 1;
      if (++count % 1024 === 0) this.#log.evict();
    }
    this.#log.unstableFrom = this.#log.lastIndex() + 1;
    assert.ok(hardState.term >= this.#log.lastTerm(), 'hard state term behind the log');
    assert.ok(hardState.commit <= this.#log.lastIndex(), 'commit beyond the durable log');
    this.#log.commitTo(hardState.commit);
    assert.ok(applied >= snapshot.meta.index && applied <= this.#log.committed, 'bad applied');
    this.#log.evict();
    this.#recomputeMembership();
    this.#becomeFollower(hardState.term, NO_NODE);
    this.#vote = hardState.vote;
    this.#prevHardState = this.#hardState();
    this.#prevSoftState = this.#softState();
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs

  /** One unit of logical time. Elections and heartbeats are counted in ticks. */
  tick(): void {
    if (this.#role === 'leader') this.#tickHeartbeat();
    else this.#tickElection();
  }

  step(message: Message): void {
    assert.equal(message.to, this.id, `message for ${message.to} stepped into ${this.id}`);
    assert.ok(Number.isSafeInteger(message.term) && message.term >= 0, 'bad message term');
    if (!this.#checkTerm(message)) return;
    switch (message.type) {
      case 'vote':
      case 'preVote':
        this.#handleVoteRequest(message);
        return;
      default:
        if (this.#role === 'leader') this.#stepLeader(message);
        else if (this.#role === 'follower') this.#stepFollower(message);
        else this.#stepCandidate(message);
    }
  }

  propose(data: Uint8Array): ProposeResult {
    if (data.byteLength > this.config.maxProposalBytes) return this.#refuse('PROPOSAL_TOO_LARGE');
    return this.#proposeEntry('normal', data);
  }

  /** One server at a time; the change takes effect as soon as it is appended (dissertation §4.1). */
  proposeConfChange(change: ConfChange): ProposeResult {
    if (this.#role !== 'leader') return this.#refuse('NOT_LEADER');
    // The previous change must be committed, and so must an entry of this term: the second rule
    // fixes the single-server change bug found after the dissertation (raft-dev, 2015).
    if (this.#log.committed < this.#confIndex || !this.#committedInCurrentTerm()) {
      return this.#refuse('CONF_CHANGE_PENDING');
    }
    const invalid = this.#validateConfChange(change);
    if (invalid !== undefined) return this.#refuse(invalid);
    return this.#proposeEntry('confChange', encodeConfChange(change));
  }

  /**
   * Linearizable read (dissertation §6.4). The answer arrives as a ReadState in a later Ready
   * once leadership is confirmed; the driver serves the read after applying up to its index.
   */
  readIndex(context: string): RequestResult {
    if (this.#role !== 'leader') return this.#refuse('NOT_LEADER');
    const pending = this.#readQueue.size + this.#readsAwaitingCommit.length;
    if (pending >= this.config.maxPendingReads) return this.#refuse('TOO_MANY_PENDING_READS');
    if (this.#readQueue.has(context) || this.#readsAwaitingCommit.includes(context)) {
      return this.#refuse('DUPLICATE_READ_CONTEXT');
    }
    // Until it commits an entry of its term a new leader does not know the commit index (§8).
    if (!this.#committedInCurrentTerm()) this.#readsAwaitingCommit.push(context);
    else this.#serveRead(context);
    return { ok: true };
  }

  /** Dissertation §3.10: catch the target up, then tell it to start an election at once. */
  transferLeadership(to: NodeId): RequestResult {
    if (this.#role !== 'leader') return this.#refuse('NOT_LEADER');
    if (to === this.id || !this.#conf.voters.includes(to)) {
      return this.#refuse('INVALID_TRANSFER_TARGET');
    }
    if (this.#leadTransferee === to) return { ok: true };
    this.#leadTransferee = to;
    // The transfer is abandoned if it has not happened within an election timeout.
    this.#electionElapsedTicks = 0;
    const progress = this.#progress.get(to) as Progress;
    if (progress.match === this.#log.lastIndex()) this.#send({ type: 'timeoutNow', to });
    else this.#sendAppend(to);
    return { ok: true };
  }

  /**
   * The application saved a snapshot of its state at `snapshot.meta.index` (durably); the log up
   * to there is dropped and the snapshot is what followers behind it will receive.
   */
  compact(snapshot: Snapshot): void {
    const { index, term, confState } = snapshot.meta;
    assert.ok(index <= this.#log.applied, `snapshot ${index} beyond applied ${this.#log.applied}`);
    if (index <= this.#log.snapshotIndex) return;
    assert.equal(term, this.#log.term(index), `snapshot term ${term} differs from the log's`);
    assert.ok(sameConfState(confState, this.confStateAt(index)), 'snapshot membership differs');
    this.#log.compact(index);
    this.#snapshot = snapshot;
  }

  // ---------------------------------------------------------------------------------------------
  // Ready / advance

  hasReady(): boolean {
    if (this.#readyApplyingTo !== undefined) return false;
    const soft = this.#softState();
    const hard = this.#hardState();
    return (
      soft.leaderId !== this.#prevSoftState.leaderId ||
      soft.role !== this.#prevSoftState.role ||
      !sameHardState(hard, this.#prevHardState) ||
      this.#snapshotToApply !== undefined ||
      this.#snapshotChunks.length > 0 ||
      this.#log.unstableFrom <= this.#log.lastIndex() ||
      this.#messages.length > 0 ||
      this.#log.hasCommittedToApply() ||
      this.#readStates.length > 0
    );
  }

  ready(): Ready {
    assert.equal(this.#readyApplyingTo, undefined, 'ready() called twice without advance()');
    const soft = this.#softState();
    const hard = this.#hardState();
    const entries = this.#log.unstableEntries();
    const snapshot = this.#snapshotToApply;
    const committedEntries = this.#log.committedToApply(this.config.maxCommittedEntriesPerReady);
    const ready: Ready = {
      entries,
      snapshotChunks: this.#snapshotChunks,
      messages: this.#messages,
      committedEntries,
      readStates: this.#readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hard.term !== this.#prevHardState.term ||
        hard.vote !== this.#prevHardState.vote,
    };
    if (soft.leaderId !== this.#prevSoftState.leaderId || soft.role !== this.#prevSoftState.role) {
      ready.softState = soft;
      this.#prevSoftState = soft;
    }
    if (!sameHardState(hard, this.#prevHardState)) {
      ready.hardState = hard;
      this.#prevHardState = hard;
    }
    if (snapshot !== undefined) ready.snapshot = snapshot;
    this.#snapshotToApply = undefined;
    this.#log.unstableFrom = this.#log.lastIndex() + 1;
    if (committedEntries.length > 0) {
      this.#log.applying = committedEntries[committedEntries.length - 1].index;
    }
    this.#messages = [];
    this.#snapshotChunks = [];
    this.#readStates = [];
    this.#readyApplyingTo = this.#log.applying;
    return ready;
  }

  /**
   * The read states confirmed since the last Ready or call, taken out of the next Ready: the
   * driver may serve them while a Ready is still being made durable (ready.ts, step 3's rule
   * holds: each once the state machine has applied its index). A read state's index is the
   * commit index when its leadership was confirmed, which depends on nothing the Ready in flight
   * writes: without this, every read confirmed during a slow fsync waited for it.
   */
  takeReadStates(): ReadState[] {
    const taken = this.#readStates;
    this.#readStates = [];
    return taken;
  }

  /**
   * The heartbeats and heartbeat answers queued since the last Ready, taken out of the next one,
   * for the driver to send while a Ready is still being made durable: a read round (readIndex)
   * is such an exchange, and without this every read that came during a slow fsync waited for it
   * before its round could even start. They depend on nothing the Ready in flight writes, but
   * for two things:
   * - their term: a message speaks for the current term, which must be durable first (Raft
   *   §5.1), so none is taken unless the term and vote are the `durable` ones;
   * - a heartbeat's commit index, which must not reach a follower before the leader's own copy
   *   of those entries is durable (the core counts its log at once: ready.ts): each is lowered
   *   to at most `durable.commitCap`, an index the driver has made durable (what it applied).
   *   A lower commit is always safe to send: it is what an older heartbeat said.
   */
  takeHeartbeats(durable: { term: number; vote: NodeId; commitCap: number }): Message[] {
    if (this.#term !== durable.term || this.#vote !== durable.vote) return [];
    const taken: Message[] = [];
    const kept: Message[] = [];
    for (const message of this.#messages) {
      if (message.type === 'heartbeat')
        taken.push({ ...message, commit: Math.min(message.commit, durable.commitCap) });
      else if (message.type === 'heartbeatResp') taken.push(message);
      else kept.push(message);
    }
    this.#messages = kept;
    return taken;
  }

  /** The driver finished the last Ready: persisted, sent and applied it. */
  advance(): void {
    assert.notEqual(this.#readyApplyingTo, undefined, 'advance() without ready()');
    this.#log.applied = Math.max(this.#log.applied, this.#readyApplyingTo as number);
    this.#readyApplyingTo = undefined;
    this.#log.evict(); // the Ready's entries are durable and applied now
  }

  // ---------------------------------------------------------------------------------------------
  // Observation (drivers, tests, the simulator)

  status(): RaftStatus {
    return {
      id: this.id,
      term: this.#term,
      vote: this.#vote,
      role: this.#role,
      leaderId: this.#leaderId,
      commitIndex: this.#log.committed,
      appliedIndex: this.#log.applied,
      firstIndex: this.#log.firstIndex(),
      lastIndex: this.#log.lastIndex(),
      logBytes: this.#log.bytesAfterSnapshot(),
      logEntriesInMemory: this.#log.memoryUse().entries,
      confState: cloneConfState(this.#conf),
      leadTransferee: this.#leadTransferee,
    };
  }

  /** Term of the entry at `index`, undefined when compacted or beyond the log. */
  logTerm(index: number): number | undefined {
    return this.#log.term(index);
  }

  logEntry(index: number): Entry {
    return this.#log.entry(index);
  }

  /** Replication state of a follower, as the leader sees it (undefined elsewhere). */
  progressOf(id: NodeId): Readonly<Progress> | undefined {
    return this.#role === 'leader' ? this.#progress.get(id) : undefined;
  }

  /** Membership as of log index `index` (at or after the snapshot). */
  confStateAt(index: number): ConfState {
    assert.ok(index >= this.#log.snapshotIndex && index <= this.#log.lastIndex());
    let conf = cloneConfState(this.#snapshot.meta.confState);
    for (const entry of this.#log.confChangesAfterSnapshot()) {
      if (entry.index > index) break;
      conf = applyConfChange(conf, decodeConfChange(entry.data));
    }
    return conf;
  }

  // ---------------------------------------------------------------------------------------------
  // Role transitions

  #reset(term: number): void {
    if (term !== this.#term) {
      assert.ok(term > this.#term, `term went back from ${this.#term} to ${term}`);
      this.#term = term;
      this.#vote = NO_NODE;
    }
    this.#leaderId = NO_NODE;
    this.#electionElapsedTicks = 0;
    this.#heartbeatElapsedTicks = 0;
    const timeout = this.config.electionTimeoutTicks;
    this.#randomizedElectionTimeoutTicks = timeout + this.config.random.nextInt(timeout);
    this.#votes.clear();
    this.#progress.clear();
    this.#readQueue.clear();
    this.#readsAwaitingCommit = [];
    this.#leadTransferee = NO_NODE;
  }

  #becomeFollower(term: number, leaderId: NodeId): void {
    this.#reset(term);
    this.#role = 'follower';
    this.#leaderId = leaderId;
  }

  #becomePreCandidate(): void {
    assert.notEqual(this.#role, 'leader', 'a leader does not campaign');
    // PreVote changes neither term nor vote (dissertation §9.6).
    this.#votes.clear();
    this.#leaderId = NO_NODE;
    this.#role = 'preCandidate';
  }

  #becomeCandidate(): void {
    assert.notEqual(this.#role, 'leader', 'a leader does not campaign');
    this.#reset(this.#term + 1);
    this.#vote = this.id;
    this.#role = 'candidate';
  }

  #becomeLeader(): void {
    assert.equal(this.#role, 'candidate', 'only a candidate becomes leader');
    this.#reset(this.#term);
    this.#role = 'leader';
    this.#leaderId = this.id;
    this.#rebuildProgress();
    // A no-op of the new term lets the leader commit, and so learn the commit index (§5.4.2, §8).
    this.#appendEntry('noop', emptyData);
  }

  #rebuildProgress(): void {
    const members = [...this.#conf.voters, ...this.#conf.learners];
    for (const id of [...this.#progress.keys()]) {
      if (!members.includes(id)) this.#progress.delete(id);
    }
    for (const id of members) {
      const isLearner = this.#conf.learners.includes(id);
      const existing = this.#progress.get(id);
      if (existing !== undefined) {
        existing.isLearner = isLearner;
        continue;
      }
      const progress = new Progress(
        this.#log.lastIndex() + 1,
        this.config.maxInflightMessages,
        isLearner,
      );
      if (id === this.id) progress.match = this.#log.lastIndex();
      progress.recentActive = id === this.id;
      this.#progress.set(id, progress);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Time

  #tickElection(): void {
    this.#electionElapsedTicks++;
    if (!this.#promotable()) return;
    if (this.#electionElapsedTicks >= this.#randomizedElectionTimeoutTicks) {
      this.#electionElapsedTicks = 0;
      this.#campaign(this.config.preVote ? 'preVote' : 'vote', false);
    }
  }

  #tickHeartbeat(): void {
    this.#heartbeatElapsedTicks++;
    this.#electionElapsedTicks++;
    if (this.#electionElapsedTicks >= this.config.electionTimeoutTicks) {
      this.#electionElapsedTicks = 0;
      // CheckQuorum (dissertation §6.2): a leader cut off from a quorum steps down, so clients
      // stop waiting on it and its reads stop being served.
      if (this.config.checkQuorum && !this.#quorumActive()) {
        this.#becomeFollower(this.#term, NO_NODE);
        return;
      }
      this.#leadTransferee = NO_NODE;
    }
    if (this.#heartbeatElapsedTicks >= this.config.heartbeatIntervalTicks) {
      this.#heartbeatElapsedTicks = 0;
      this.#broadcastHeartbeat('');
    }
  }

  #quorumActive(): boolean {
    let active = 0;
    for (const id of this.#conf.voters) {
      const progress = this.#progress.get(id);
      if (id === this.id || progress?.recentActive) active++;
    }
    for (const [id, progress] of this.#progress) progress.recentActive = id === this.id;
    return active >= quorumSize(this.#conf.voters.length);
  }

  // ---------------------------------------------------------------------------------------------
  // Elections

  #promotable(): boolean {
    return this.#conf.voters.includes(this.id);
  }

  #campaign(kind: 'preVote' | 'vote', leadershipTransfer: boolean): void {
    if (kind === 'preVote') this.#becomePreCandidate();
    else this.#becomeCandidate();
    const voteTerm = kind === 'preVote' ? this.#term + 1 : this.#term;
    this.#recordVote(this.id, true);
    // A single voter wins its own election at once.
    if (this.#role !== (kind === 'preVote' ? 'preCandidate' : 'candidate')) return;
    const lastLogIndex = this.#log.lastIndex();
    const lastLogTerm = this.#log.lastTerm();
    for (const to of this.#conf.voters) {
      if (to === this.id) continue;
      const from = this.id;
      this.#messages.push({
        type: kind,
        from,
        to,
        term: voteTerm,
        lastLogIndex,
        lastLogTerm,
        leadershipTransfer,
      });
    }
  }

  /** Counts a vote; wins or loses the (pre-)election when the answers decide it. */
  #recordVote(from: NodeId, granted: boolean): void {
    if (!this.#votes.has(from)) this.#votes.set(from, granted);
    const result = voteResult(this.#conf.voters, this.#votes);
    if (result === 'lost') {
      this.#becomeFollower(this.#term, NO_NODE);
    } else if (result === 'won') {
      if (this.#role === 'preCandidate') {
        this.#campaign('vote', false);
      } else {
        this.#becomeLeader();
        this.#broadcastAppend();
      }
    }
  }

  #handleVoteRequest(message: VoteRequest): void {
    const canVote =
      this.#vote === message.from ||
      (this.#vote === NO_NODE && this.#leaderId === NO_NODE) ||
      (message.type === 'preVote' && message.term > this.#term);
    const granted = canVote && this.#log.isUpToDate(message.lastLogIndex, message.lastLogTerm);
    const type = message.type === 'vote' ? 'voteResp' : 'preVoteResp';
    // A granted answer carries the term asked for, so the candidate does not discard it as stale.
    const term = granted ? message.term : this.#term;
    this.#messages.push({ type, from: this.id, to: message.from, term, granted });
    if (granted && message.type === 'vote') {
      this.#electionElapsedTicks = 0;
      this.#vote = message.from;
    }
  }

  /** Applies the term rules (§5.1) to an incoming message; false means drop it. */
  #checkTerm(message: Message): boolean {
    if (message.term > this.#term) {
      if (message.type === 'vote' || message.type === 'preVote') {
        // Leader lease: while we hear from a leader, a disruptive candidate (a partitioned node
        // rejoining, a removed server) is ignored, unless the leader itself asked for it.
        const inLease =
          this.config.checkQuorum &&
          this.#leaderId !== NO_NODE &&
          this.#electionElapsedTicks < this.config.electionTimeoutTicks;
        if (inLease && !message.leadershipTransfer) return false;
      }
      if (message.type === 'preVote') return true;
      if (message.type === 'preVoteResp' && message.granted) return true;
      this.#becomeFollower(message.term, isLeaderMessage(message) ? message.from : NO_NODE);
      return true;
    }
    if (message.term < this.#term) {
      if (
        (this.config.checkQuorum || this.config.preVote) &&
        (message.type === 'app' || message.type === 'heartbeat')
      ) {
        // A stale leader that our term could not reach otherwise: tell it the newer term.
        this.#send({ type: 'appResp', to: message.from, index: 0, reject: false, rejectHint: 0 });
      } else if (message.type === 'preVote') {
        this.#send({ type: 'preVoteResp', to: message.from, granted: false });
      }
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Per-role message handling

  #stepFollower(message: Message): void {
    switch (message.type) {
      case 'app':
        this.#heardFromLeader(message.from);
        this.#handleAppend(message);
        return;
      case 'heartbeat':
        this.#heardFromLeader(message.from);
        this.#handleHeartbeat(message);
        return;
      case 'snap':
        this.#heardFromLeader(message.from);
        this.#handleSnapshotChunk(message);
        return;
      case 'timeoutNow':
        if (this.#promotable()) this.#campaign('vote', true);
        return;
      default:
        return;
    }
  }

  #heardFromLeader(leaderId: NodeId): void {
    this.#electionElapsedTicks = 0;
    this.#leaderId = leaderId;
  }

  #stepCandidate(message: Message): void {
    switch (message.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        // A leader of our term exists (§5.2): stand down and process its message.
        this.#becomeFollower(message.term, message.from);
        this.#stepFollower(message);
        return;
      case 'voteResp':
        if (this.#role === 'candidate') this.#recordVote(message.from, message.granted);
        return;
      case 'preVoteResp':
        if (this.#role === 'preCandidate') this.#recordVote(message.from, message.granted);
        return;
      default:
        return;
    }
  }

  #stepLeader(message: Message): void {
    const progress = this.#progress.get(message.from);
    if (progress === undefined) return;
    switch (message.type) {
      case 'appResp':
        progress.recentActive = true;
        this.#handleAppendResponse(message, progress);
        return;
      case 'heartbeatResp':
        progress.recentActive = true;
        this.#handleHeartbeatResponse(message, progress);
        return;
      case 'snapResp':
        progress.recentActive = true;
        this.#handleSnapshotChunkResponse(message, progress);
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Log replication: follower side

  #handleAppend(message: AppendRequest): void {
    const log = this.#log;
    if (message.prevLogIndex < log.committed) {
      this.#send({
        type: 'appResp',
        to: message.from,
        index: log.committed,
        reject: false,
        rejectHint: 0,
      });
      return;
    }
    if (!log.matchTerm(message.prevLogIndex, message.prevLogTerm)) {
      // Log matching (§5.3): refuse, and say where our log ends so the leader can skip back.
      const rejectHint = Math.min(message.prevLogIndex, log.lastIndex());
      this.#send({
        type: 'appResp',
        to: message.from,
        index: message.prevLogIndex,
        reject: true,
        rejectHint,
      });
      return;
    }
    const truncatedFrom = log.appendAfterMatch(message.entries);
    const hasConfEntry = message.entries.some((entry) => entry.type === 'confChange');
    if (truncatedFrom !== undefined || hasConfEntry) this.#recomputeMembership();
    const lastNewIndex = message.prevLogIndex + message.entries.length;
    log.commitTo(Math.min(message.commit, lastNewIndex));
    this.#send({
      type: 'appResp',
      to: message.from,
      index: lastNewIndex,
      reject: false,
      rejectHint: 0,
    });
  }

  #handleHeartbeat(message: Heartbeat): void {
    // The leader caps `commit` at what it knows we match, so this never points past our log.
    this.#log.commitTo(message.commit);
    this.#send({ type: 'heartbeatResp', to: message.from, context: message.context });
  }

  #handleSnapshotChunk(message: SnapshotChunk): void {
    const log = this.#log;
    const snapshotIndex = message.meta.index;
    if (snapshotIndex <= log.committed) {
      this.#incomingSnapshot = undefined;
      this.#send({
        type: 'appResp',
        to: message.from,
        index: log.committed,
        reject: false,
        rejectHint: 0,
      });
      return;
    }
    // A completed snapshot not yet handed out shares the driver's incoming file with the chunks
    // of the next one: those wait (the leader resends after a heartbeat) until it has left in a
    // Ready, whose driver moves the file away before it writes any later chunk.
    if (this.#snapshotToApply !== undefined) return;
    assert.equal(message.data.byteLength, message.lengthBytes, 'snapshot chunk of a wrong length');
    if (message.offsetBytes === 0 && message.totalBytes <= this.config.maxSnapshotBytes) {
      this.#incomingSnapshot = {
        meta: message.meta,
        totalBytes: message.totalBytes,
        checksum: message.checksum,
        receivedBytes: 0,
      };
    }
    const incoming = this.#incomingSnapshot;
    const reply = (nextOffsetBytes: number, reject: boolean) =>
      this.#send({ type: 'snapResp', to: message.from, snapshotIndex, nextOffsetBytes, reject });
    const sameSnapshot =
      incoming !== undefined &&
      incoming.meta.index === snapshotIndex &&
      incoming.meta.term === message.meta.term;
    if (!sameSnapshot || message.offsetBytes > incoming.receivedBytes) {
      reply(0, true);
      return;
    }
    if (message.offsetBytes < incoming.receivedBytes) {
      reply(incoming.receivedBytes, false); // a duplicate: say where we are
      return;
    }
    // The driver writes the bytes (Ready.snapshotChunks) before this node's answer leaves.
    this.#snapshotChunks.push({
      meta: message.meta,
      offsetBytes: message.offsetBytes,
      data: message.data,
    });
    incoming.receivedBytes += message.data.byteLength;
    assert.ok(incoming.receivedBytes <= incoming.totalBytes, 'snapshot longer than announced');
    if (!message.done) {
      reply(incoming.receivedBytes, false);
      return;
    }
    assert.equal(incoming.receivedBytes, incoming.totalBytes, 'snapshot shorter than announced');
    this.#incomingSnapshot = undefined;
    this.#restore({
      meta: message.meta,
      sizeBytes: incoming.totalBytes,
      checksum: incoming.checksum,
    });
    // Only the committed prefix is known to match the leader (entries after it may not).
    this.#send({
      type: 'appResp',
      to: message.from,
      index: log.committed,
      reject: false,
      rejectHint: 0,
    });
  }

  #restore(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    if (this.#log.matchTerm(index, term)) {
      // Our log already holds the snapshot's last entry: only the commit index moves (etcd does
      // the same), the entries after it stay.
      this.#log.commitTo(index);
      return;
    }
    this.#log.restore(snapshot);
    this.#snapshot = snapshot;
    this.#snapshotToApply = snapshot;
    this.#recomputeMembership();
  }

  // ---------------------------------------------------------------------------------------------
  // Log replication: leader side

  #proposeEntry(type: EntryType, data: Uint8Array): ProposeResult {
    if (this.#role !== 'leader') return this.#refuse('NOT_LEADER');
    if (this.#leadTransferee !== NO_NODE) return this.#refuse('TRANSFERRING_LEADERSHIP');
    if (this.#log.lastIndex() - this.#log.committed >= this.config.maxUncommittedEntries) {
      return this.#refuse('TOO_MANY_UNCOMMITTED');
    }
    const entry = this.#appendEntry(type, data);
    this.#broadcastAppend();
    return { ok: true, index: entry.index, term: entry.term };
  }

  #appendEntry(type: EntryType, data: Uint8Array): Entry {
    assert.equal(this.#role, 'leader');
    const entry: Entry = { index: this.#log.lastIndex() + 1, term: this.#term, type, data };
    this.#log.append([entry]);
    if (type === 'confChange') this.#recomputeMembership();
    const self = this.#progress.get(this.id);
    // The leader counts its own log toward the quorum at once: the driver persists it before
    // sending anything, so acknowledgements that could complete a quorum arrive after that.
    if (self !== undefined) self.maybeUpdate(entry.index);
    this.#maybeCommit();
    return entry;
  }

  #broadcastAppend(): void {
    for (const id of this.#progress.keys()) if (id !== this.id) this.#sendAppend(id);
  }

  #broadcastHeartbeat(context: string): void {
    for (const [id, progress] of this.#progress) {
      if (id === this.id) continue;
      const commit = Math.min(progress.match, this.#log.committed);
      this.#send({ type: 'heartbeat', to: id, commit, context });
    }
  }

  /** Sends the next batch to `to` if flow control allows; returns whether a message left. */
  #sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const progress = this.#progress.get(to) as Progress;
    if (progress.isPaused()) return false;
    const prevLogIndex = progress.next - 1;
    const prevLogTerm = this.#log.term(prevLogIndex);
    if (prevLogTerm === undefined) {
      // The entries this follower needs were compacted away: it needs the snapshot (§7).
      assert.ok(prevLogIndex < this.#log.snapshotIndex, `next ${progress.next} beyond the log`);
      progress.becomeSnapshot(this.#snapshot.meta.index);
      this.#sendSnapshotChunk(to, progress);
      return true;
    }
    const last = this.#log.lastIndex();
    const entries =
      progress.next <= last
        ? this.#log.slice(
            progress.next,
            last + 1,
            this.config.maxEntriesPerMessage,
            this.config.maxMessageBytes,
          )
        : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commit = this.#log.committed;
    this.#send({ type: 'app', to, prevLogIndex, prevLogTerm, entries, commit });
    progress.sentEntries(prevLogIndex + entries.length, entries.length);
    return true;
  }

  #sendSnapshotChunk(to: NodeId, progress: Progress): void {
    const snapshot = this.#snapshot;
    if (snapshot.meta.index !== progress.pendingSnapshotIndex) {
      progress.becomeSnapshot(snapshot.meta.index); // a newer snapshot replaced it: start over
    }
    const offsetBytes = progress.snapshotOffsetBytes;
    const totalBytes = snapshot.sizeBytes;
    const end = Math.min(totalBytes, offsetBytes + this.config.maxSnapshotChunkBytes);
    // The driver fills `data` from its copy of the snapshot (ready.ts).
    this.#send({
      type: 'snap',
      to,
      meta: snapshot.meta,
      totalBytes,
      checksum: snapshot.checksum,
      offsetBytes,
      lengthBytes: end - offsetBytes,
      data: emptyData,
      done: end === totalBytes,
    });
    progress.snapshotChunkInFlight = true;
  }

  #handleAppendResponse(message: AppendResponse, progress: Progress): void {
    if (message.reject) {
      if (progress.maybeDecreaseTo(message.index, message.rejectHint)) {
        if (progress.state === 'replicate') progress.becomeProbe();
        this.#sendAppend(message.from);
      }
      return;
    }
    assert.ok(message.index <= this.#log.lastIndex(), 'follower acknowledged beyond our log');
    const wasPaused = progress.isPaused();
    if (progress.maybeUpdate(message.index)) {
      if (progress.state === 'probe') progress.becomeReplicate();
      else if (progress.state === 'snapshot' && progress.match >= progress.pendingSnapshotIndex) {
        progress.becomeReplicate();
      }
      if (this.#maybeCommit()) this.#broadcastAppend();
      else if (wasPaused) this.#sendAppend(message.from);
    }
    if (this.#role !== 'leader') return; // the commit removed us from the configuration
    // Pipelining: keep sending while the window allows and there is something to send.
    while (progress.state === 'replicate' && this.#sendAppend(message.from, false)) {}
    if (message.from === this.#leadTransferee && progress.match === this.#log.lastIndex()) {
      this.#send({ type: 'timeoutNow', to: message.from });
    }
  }

  #handleHeartbeatResponse(message: HeartbeatResponse, progress: Progress): void {
    progress.onHeartbeatResponse();
    if (progress.state === 'snapshot') {
      this.#sendSnapshotChunk(message.from, progress); // the chunk or its answer may be lost
    } else if (progress.match < this.#log.lastIndex()) {
      this.#sendAppend(message.from);
    }
    if (message.context === '') return;
    const acks = this.#readQueue.ack(message.context, message.from, this.#conf.voters);
    if (acks >= quorumSize(this.#conf.voters.length)) {
      this.#readStates.push(...this.#readQueue.release(message.context));
    }
  }

  #handleSnapshotChunkResponse(message: SnapshotChunkResponse, progress: Progress): void {
    if (progress.state !== 'snapshot' || message.snapshotIndex !== progress.pendingSnapshotIndex) {
      return;
    }
    progress.snapshotChunkInFlight = false;
    if (message.reject) {
      progress.snapshotOffsetBytes = 0;
    } else if (message.nextOffsetBytes > progress.snapshotOffsetBytes) {
      progress.snapshotOffsetBytes = message.nextOffsetBytes;
    } else {
      return; // a duplicate answer: the chunk after it is already on its way
    }
    // The last chunk is answered by an AppendEntries response once installed, not by this.
    if (progress.snapshotOffsetBytes < this.#snapshot.sizeBytes || message.reject) {
      this.#sendSnapshotChunk(message.from, progress);
    }
  }

  /** Advances the commit index to what a quorum stores, counting only this term's entries. */
  #maybeCommit(): boolean {
    const voters = this.#conf.voters;
    if (voters.length === 0) return false;
    const matchOf = (id: NodeId) => this.#progress.get(id)?.match ?? 0;
    const quorumIndex = quorumMatchIndex(voters, matchOf);
    if (quorumIndex <= this.#log.committed) return false;
    // Raft §5.4.2 (Figure 8): an entry of an earlier term is never committed by counting
    // replicas; it becomes committed when an entry of the current term after it is.
    const currentTerm = this.#log.term(quorumIndex) === this.#term;
    if (!currentTerm && !this.config.testingFaults?.commitOldTermEntriesByCounting) return false;
    this.#log.commitTo(quorumIndex);
    this.#onLeaderCommit();
    return true;
  }

  #onLeaderCommit(): void {
    if (this.#committedInCurrentTerm() && this.#readsAwaitingCommit.length > 0) {
      const waiting = this.#readsAwaitingCommit;
      this.#readsAwaitingCommit = [];
      for (const context of waiting) this.#serveRead(context);
    }
    // A leader removed from the configuration leads until the change commits, then steps down
    // (dissertation §4.2.2).
    if (this.#log.committed >= this.#confIndex && !this.#promotable()) {
      this.#broadcastAppend(); // tell the others the change committed before going quiet
      this.#becomeFollower(this.#term, NO_NODE);
    }
  }

  #serveRead(context: string): void {
    const voters = this.#conf.voters;
    if (voters.length === 1 && voters[0] === this.id) {
      this.#readStates.push({ index: this.#log.committed, context });
      return;
    }
    this.#readQueue.add(context, this.#log.committed);
    this.#readQueue.ack(context, this.id, voters);
    this.#broadcastHeartbeat(context);
  }

  #committedInCurrentTerm(): boolean {
    return this.#log.term(this.#log.committed) === this.#term;
  }

  // ---------------------------------------------------------------------------------------------
  // Membership

  #validateConfChange(change: ConfChange): RefusalCode | undefined {
    const { voters, learners } = this.#conf;
    const isVoter = voters.includes(change.nodeId);
    const isLearner = learners.includes(change.nodeId);
    if (change.type === 'addLearner')
      return isVoter || isLearner ? 'INVALID_CONF_CHANGE' : undefined;
    if (change.type === 'removeNode') {
      if (!isVoter && !isLearner) return 'INVALID_CONF_CHANGE';
      return isVoter && voters.length === 1 ? 'INVALID_CONF_CHANGE' : undefined;
    }
    // New voters join as learners first and are promoted once caught up (dissertation §4.2.1),
    // so a promotion never leaves the cluster waiting on a server with an empty log.
    if (!isLearner) return 'INVALID_CONF_CHANGE';
    const progress = this.#progress.get(change.nodeId) as Progress;
    const lagEntries = this.#log.lastIndex() - progress.match;
    return lagEntries > this.config.maxPromotionLagEntries ? 'LEARNER_NOT_CAUGHT_UP' : undefined;
  }

  /** Sets #conf to the latest configuration in the log (snapshot, then confChange entries). */
  #recomputeMembership(): void {
    let conf = cloneConfState(this.#snapshot.meta.confState);
    let confIndex = this.#log.snapshotIndex;
    for (const entry of this.#log.confChangesAfterSnapshot()) {
      conf = applyConfChange(conf, decodeConfChange(entry.data));
      confIndex = entry.index;
    }
    this.#conf = conf;
    this.#confIndex = confIndex;
    if (this.#role === 'leader') {
      this.#rebuildProgress();
      if (!conf.voters.includes(this.#leadTransferee)) this.#leadTransferee = NO_NODE;
    } else if (this.#role !== 'follower' && !this.#promotable()) {
      this.#becomeFollower(this.#term, NO_NODE);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  #send(message: DistributiveOmit<Message, 'from' | 'term'>): void {
    this.#messages.push({ ...message, from: this.id, term: this.#term } as Message);
  }

  #refuse(code: RefusalCode): Refusal {
    return { ok: false, code, leaderHint: this.#leaderId === this.id ? NO_NODE : this.#leaderId };
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed };
  }

  #softState(): SoftState {
    return { leaderId: this.#leaderId, role: this.#role };
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
