// The driver that puts the metadata state machine on Raft (src/raft/ is the pure core): it ticks
// the core, persists each Ready durably before sending its messages (RaftStore), applies
// committed entries to the state machine in log order, answers proposals once their entry is
// applied, and serves linearizable reads through ReadIndex (coalesced: one round serves every
// read that arrived while the previous round was in flight).
import assert from 'node:assert';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StrataError } from '../../common/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { metadataSnapshots } from '../../observability/metrics.ts';
import {
  bootstrapState,
  type ConfChange,
  type Entry,
  joiningState,
  type Message,
  type NodeId,
  type PersistedState,
  RaftNode,
  type RaftStatus,
  type Ready,
  SeededPrng,
  type Snapshot,
} from '../../raft/index.ts';
import { MetadataStateMachine } from '../state-machine.ts';
import type { CommandResult } from '../types.ts';
import { allowedDuringNoSpace, DiskSpaceAlarm, systemErrorName } from './disk-space.ts';
import { decodeEnvelope, type Envelope, encodeEnvelope } from './envelope.ts';
import type { RaftStore } from './raft-store.ts';
import type { SnapshotFiles } from './snapshot-files.ts';
import { snapshotDue } from './snapshot-policy.ts';
import type { RaftTransport } from './transport.ts';

const READ_ROUND_TIMEOUT_MS = 5_000;
// Committed entries applied per event-loop turn at most (each is one LMDB write transaction,
// 0.1-0.2 ms): a follower catching up on a long log yields between batches, so it keeps answering
// heartbeats and RPCs instead of applying tens of thousands of entries in one turn.
const APPLIED_ENTRIES_PER_TURN_MAX = 128;
// And wall time spent applying per turn at most: 128 creates are 15-25 ms on a warm process but
// 50-130 ms while the code is still cold (the first seconds after a start) or the machine is
// loaded, which stalled the loop past issue 11's 50 ms (docs/architecture/scaling.md, "Event-loop
// stalls"). A turn applies at least one entry, so it always progresses; where a turn ends does not
// change what is applied or in which order, so the state machines stay identical.
const APPLY_TURN_BUDGET_MS = 8;
const PROPOSALS_PENDING_MAX = 16_384;
// How long a leader holds a follower's commit news (an append without entries that only moves
// the commit index) for the next append with entries to carry instead (holdCommitNews).
const COMMIT_NEWS_HOLD_MS = 5;
// Reads waiting for the next ReadIndex round (one round at a time): refused beyond this, like
// proposals, so a flood of reads cannot grow the queue without bound.
const READS_WAITING_MAX = 16_384;

export interface ReplicaOptions {
  nodeId: NodeId;
  store: RaftStore;
  stateMachine: MetadataStateMachine;
  transport: RaftTransport;
  // For a brand-new data directory: the voters of a new cluster (this node among them), or
  // undefined when this node will be added to a running cluster.
  bootstrapVoters: NodeId[] | undefined;
  log: Logger;
  tickMs: number;
  electionTimeoutTicks: number;
  seed: number;
  onLeaderChange?: (leaderId: NodeId, isLeader: boolean) => void;
  onMember?: (nodeId: NodeId, addr: string | null) => void;
  // A snapshot is taken when the Raft log after the last one holds this many bytes of entries
  // (staggered per member, snapshot-policy.ts).
  snapshotLogBytes: number;
  // InstallSnapshot chunk size: one chunk is read, sent and written per round trip.
  snapshotChunkBytes?: number;
  // Wall time spent applying committed entries per event-loop turn (APPLY_TURN_BUDGET_MS when
  // absent; 0 applies one entry a turn, which tests use to see the yields).
  applyTurnBudgetMs?: number;
  files: SnapshotFiles;
  // The NOSPACE alarm: the LMDB directories to watch and the free space below which it is raised.
  diskSpace: { paths: string[]; minFreeBytes: number; checkIntervalMs: number };
  onNoSpace?: (active: boolean) => void;
}

// A Ready being worked through. A write that fails for lack of space stops it where it is; once
// space is back it continues from there: nothing but a leader's appends is sent before it is
// durable (so a follower never acknowledges, and a candidate never asks for votes with, what it
// could not write; leadingAppends says why a leader's appends may go first), and committed
// entries are applied in order, none skipped.
interface ReadyInProgress {
  ready: Ready;
  // The messages not sent yet: all of them, or those left once a leader's appends went first
  // (decided once, before the Ready's write starts).
  unsent: Message[];
  appendsDecided: boolean;
  // A leader's appends that go out while its write is on the way (sent once it started).
  leading: Message[];
  persisted: boolean;
  // The Raft store's write of this Ready is on its way to the disk (the threadpool): nothing of
  // it is sent or applied until it is durable.
  persisting: boolean;
  // A write of it failed for lack of space: it waits for the NOSPACE alarm to clear.
  stoppedBySpace: boolean;
  sent: boolean;
  snapshotApplied: boolean;
  entriesApplied: number;
  // Received snapshot chunks already written (each is written once: the file keeps a running
  // checksum), and where a completed received snapshot lies once it was checked and made durable.
  chunksWritten: number;
  installPath: string | undefined;
}

interface PendingProposal {
  term: number;
  resolve(result: CommandResult): void;
  reject(error: Error): void;
}

interface ReadWaiter {
  resolve(): void;
  reject(error: Error): void;
}

// A refusal the client may retry elsewhere (the leader moved, or is not known yet).
export function notLeader(leaderId: NodeId): StrataError {
  return new StrataError(
    'RPC_UNAVAILABLE',
    `not the metadata leader (leader: ${leaderId || 'unknown'})`,
  );
}

export class MetadataReplica {
  readonly nodeId: NodeId;
  readonly raft: RaftNode;
  private readonly options: ReplicaOptions;
  private readonly pending = new Map<number, PendingProposal>();
  private readQueue: ReadWaiter[] = [];
  private readonly readRounds = new Map<string, { waiters: ReadWaiter[]; timer: NodeJS.Timeout }>();
  private readSeq = 0;
  private readonly appliedWaiters: Array<{ index: number; resolve(): void }> = [];
  // Waiting for the core to be told an index is applied (advance(), after a whole Ready): what a
  // snapshot's index must be before the core may compact to it.
  private coreAppliedWaiters: Array<{ index: number; resolve(): void }> = [];
  private readonly ticker: NodeJS.Timeout;
  // A leader's commit news per follower, held for the next append to carry (holdCommitNews).
  private readonly heldCommitNews = new Map<NodeId, Message>();
  private commitNewsTimer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private stopped = false;
  private fatal: Error | undefined;
  leaderId: NodeId = 0;
  isLeader = false;
  private lastSnapshotIndex = 0;
  private inProgress: ReadyInProgress | undefined;
  readonly diskSpace: DiskSpaceAlarm;
  // A snapshot being taken (at most one at a time).
  private snapshotting: Promise<void> | undefined;
  // A follower asked for chunks of a snapshot this member has no file of: take one now.
  private snapshotWanted = false;
  private removingCompacted = false;
  // The term and vote on disk (the last Ready's hard state once durable): a leader's appends may
  // leave before the write of a Ready that does not change them.
  private durableTerm: number;
  private durableVote: NodeId;

  constructor(options: ReplicaOptions) {
    this.options = options;
    this.nodeId = options.nodeId;
    const { store, stateMachine } = options;
    store.claimNodeId(options.nodeId);
    let state: PersistedState;
    if (store.isEmpty() && stateMachine.appliedIndex() > 0) {
      // Metadata written before it ran on Raft: it becomes the snapshot the log starts from.
      state = adoptStateMachine(stateMachine, options.nodeId, options.bootstrapVoters);
      store.persistSync({ snapshot: state.snapshot, entries: [], hardState: state.hardState });
      options.log.info('adopted an existing metadata store as the first raft snapshot', {
        index: state.snapshot.meta.index,
      });
    } else if (store.isEmpty()) {
      state = options.bootstrapVoters ? bootstrapState(options.bootstrapVoters) : joiningState();
      store.persistSync({ entries: [...state.entries], hardState: state.hardState }); // an array
    } else {
      state = store.load();
    }
    // A state machine behind the durable snapshot (a crash between recording a received snapshot
    // and switching to it, or a power loss after compaction) starts from the snapshot's file.
    if (stateMachine.appliedIndex() < state.snapshot.meta.index) this.recoverState(state.snapshot);
    options.files.cleanUp(state.snapshot.meta.index);
    const hasFile =
      state.snapshot.sizeBytes > 0 &&
      options.files.openOutgoing(state.snapshot.meta.index, state.snapshot);
    // A snapshot without a file (a restored backup's, or a state adopted from before Raft): one
    // of this member's own is taken at the first apply, for lagging followers and for a rebuild
    // after a power loss (state-boot.ts), which has nothing to start from until then.
    if (state.snapshot.meta.index > 0 && !hasFile) this.snapshotWanted = true;
    this.lastSnapshotIndex = state.snapshot.meta.index;
    // The state machine keeps its own applied index in the transaction of each change; entries up
    // to it are not delivered again.
    const appliedIndex = Math.max(stateMachine.appliedIndex(), state.snapshot.meta.index);
    // The stored commit index may be behind (RaftStore.persist writes commit-only hard states
    // lazily); what the state machine applied was committed, and its entries are durable.
    const committedAtLeast = Math.min(appliedIndex, store.lastStoredIndex());
    if (state.hardState.commit < committedAtLeast)
      state = { ...state, hardState: { ...state.hardState, commit: committedAtLeast } };
    this.durableTerm = state.hardState.term;
    this.durableVote = state.hardState.vote;
    this.raft = new RaftNode(
      {
        id: options.nodeId,
        random: new SeededPrng(options.seed),
        electionTimeoutTicks: options.electionTimeoutTicks,
        heartbeatIntervalTicks: 1,
        preVote: true,
        checkQuorum: true,
        maxCommittedEntriesPerReady: APPLIED_ENTRIES_PER_TURN_MAX,
        // Applied entries beyond the core's in-memory tail are read back from the store.
        logStorage: store,
        ...(options.snapshotChunkBytes
          ? { maxSnapshotChunkBytes: options.snapshotChunkBytes }
          : {}),
      },
      { ...state, appliedIndex: Math.min(appliedIndex, store.lastStoredIndex()) },
    );
    this.diskSpace = new DiskSpaceAlarm({
      ...options.diskSpace,
      log: options.log,
      onChange: (active) => {
        options.onNoSpace?.(active);
        if (active) return;
        this.schedule(); // resume the Ready a full disk stopped
        this.removeCompactedSoon();
      },
    });
    this.ticker = setInterval(() => {
      this.raft.tick();
      if (this.diskSpace.active && this.isLeader) this.handOffLeadership();
      this.schedule();
    }, options.tickMs);
    this.schedule();
    this.removeCompactedSoon();
  }

  // The core's status, with the index applied to the state machine: the core counts a received
  // snapshot applied as soon as it takes it, while this member installs it only once its Raft
  // log write is durable (persistReady), so the core's figure can run ahead of what a read here
  // sees (raft-snapshot.test.ts caught that window in a fresh-clone CI run).
  status(): RaftStatus {
    return { ...this.raft.status(), appliedIndex: this.options.stateMachine.appliedIndex() };
  }

  step(message: Message): void {
    if (this.stopped) return;
    // Received entries are views of the RPC frame they came in: copied, so that the log's tail
    // does not keep whole frames alive.
    if (message.type === 'app')
      message = {
        ...message,
        entries: message.entries.map((entry) => ({ ...entry, data: new Uint8Array(entry.data) })),
      };
    this.raft.step(message);
    this.schedule();
  }

  // Appends the command to the log; resolves with its result once applied here.
  propose(envelope: Envelope): Promise<CommandResult> {
    this.checkAlive();
    if (this.diskSpace.active && !allowedDuringNoSpace(envelope.command.op))
      return Promise.reject(this.diskSpace.refusal());
    if (this.pending.size >= PROPOSALS_PENDING_MAX)
      return Promise.reject(
        new StrataError('RPC_UNAVAILABLE', 'too many metadata proposals pending'),
      );
    // The leader stamps the entry with its clock (the log's time, Raft dissertation §6.3).
    const result = this.raft.propose(encodeEnvelope({ ...envelope, leaderTimeMs: Date.now() }));
    if (!result.ok) {
      if (result.code === 'NOT_LEADER' || result.code === 'TRANSFERRING_LEADERSHIP')
        return Promise.reject(notLeader(result.leaderHint));
      return Promise.reject(new StrataError('RPC_UNAVAILABLE', `proposal refused: ${result.code}`));
    }
    this.schedule();
    return new Promise((resolve, reject) => {
      this.pending.set(result.index, { term: result.term, resolve, reject });
    });
  }

  // A one-server membership change; resolves once its entry is applied here. Refusals that pass
  // (a change already in flight, a learner still catching up) are EBUSY with the core's code.
  proposeConfChange(change: ConfChange): Promise<void> {
    this.checkAlive();
    if (this.diskSpace.active) return Promise.reject(this.diskSpace.refusal());
    const result = this.raft.proposeConfChange(change);
    if (!result.ok) {
      if (result.code === 'NOT_LEADER') return Promise.reject(notLeader(result.leaderHint));
      const code = result.code === 'INVALID_CONF_CHANGE' ? 'EINVAL' : 'EBUSY';
      return Promise.reject(new StrataError(code, `membership change refused: ${result.code}`));
    }
    this.schedule();
    return new Promise((resolve, reject) => {
      this.pending.set(result.index, { term: result.term, resolve: () => resolve(), reject });
    });
  }

  // How far a member's log is behind this leader's (undefined when not leading or unknown).
  lagOf(nodeId: NodeId): number | undefined {
    const progress = this.raft.progressOf(nodeId);
    if (!this.isLeader || progress === undefined) return undefined;
    return this.raft.status().lastIndex - progress.match;
  }

  // Resolves when a read served from the local state machine is linearizable (ReadIndex).
  readBarrier(): Promise<void> {
    this.checkAlive();
    if (this.readQueue.length >= READS_WAITING_MAX)
      return Promise.reject(new StrataError('RPC_UNAVAILABLE', 'too many metadata reads waiting'));
    return new Promise((resolve, reject) => {
      this.readQueue.push({ resolve, reject });
      this.startReadRound();
    });
  }

  private startReadRound(): void {
    // A closed replica starts none: close() fails the rounds in flight, and a new one would wait
    // for peers' answers that are never processed, its 5 s timer keeping a stopping process alive.
    if (this.stopped || this.readRounds.size > 0 || this.readQueue.length === 0) return;
    const context = `${this.nodeId}:${++this.readSeq}`;
    const waiters = this.readQueue;
    this.readQueue = [];
    const result = this.raft.readIndex(context);
    if (!result.ok) {
      const error = notLeader(result.leaderHint);
      for (const w of waiters) w.reject(error);
      return;
    }
    const timer = setTimeout(
      () => this.failReadRound(context, 'read index round timed out'),
      READ_ROUND_TIMEOUT_MS,
    );
    this.readRounds.set(context, { waiters, timer });
    this.schedule();
  }

  private failReadRound(context: string, why: string): void {
    const round = this.readRounds.get(context);
    if (!round) return;
    clearTimeout(round.timer);
    this.readRounds.delete(context);
    for (const w of round.waiters) w.reject(new StrataError('RPC_UNAVAILABLE', why));
    this.startReadRound();
  }

  private waitApplied(index: number): Promise<void> {
    if (this.options.stateMachine.appliedIndex() >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return; // closed meanwhile: its stores may be closed too
      try {
        this.processReadies();
      } catch (error) {
        this.stop(error as Error);
      }
    });
  }

  private processReadies(): void {
    // Reads confirmed meanwhile go now, each once its index is applied: a read waited for the
    // fsync of the Ready in flight (relocation commits during benches/repair, with the data
    // servers' repair writes on the same disk: 30-80 ms) though its index needs nothing of it.
    // (src/raft/ready.ts: a read state is served once its index is applied, Ready or not.)
    for (const readState of this.raft.takeReadStates())
      this.onReadState(readState.index, readState.context);
    // And the read rounds themselves: their heartbeats, and the answers to a leader's, leave
    // now rather than after the write (raft-node.ts, takeHeartbeats, says what makes it safe).
    if (this.inProgress?.persisting) {
      const durable = {
        term: this.durableTerm,
        vote: this.durableVote,
        commitCap: this.options.stateMachine.appliedIndex(),
      };
      const early = this.raft.takeHeartbeats(durable);
      if (early.length > 0) this.sendMessages(early);
    }
    let appliedThisTurn = 0;
    // The budget holds while a snapshot is taken too: the copy may hold part of a Ready, and
    // takeSnapshot waits for the core to be told the rest is applied before it compacts.
    const budgetMs = this.options.applyTurnBudgetMs ?? APPLY_TURN_BUDGET_MS;
    const deadlineMs = performance.now() + budgetMs;
    for (let rounds = 0; rounds < 64 && !this.stopped; rounds++) {
      // A Ready stopped by a full disk waits for the alarm to clear (the check resumes it).
      if (this.inProgress?.stoppedBySpace) {
        if (this.diskSpace.active) return;
        this.inProgress.stoppedBySpace = false;
      }
      // A Ready being made durable: its write's completion schedules the next turn.
      if (this.inProgress?.persisting) return;
      if (!this.inProgress && !this.raft.hasReady()) break;
      if (appliedThisTurn >= APPLIED_ENTRIES_PER_TURN_MAX) break;
      if (rounds > 0 && performance.now() >= deadlineMs) break;
      const work = this.inProgress ?? this.beginReady();
      this.inProgress = work;
      appliedThisTurn += work.ready.committedEntries.length - work.entriesApplied;
      let done = false;
      const step = () => (done = this.continueReady(work, deadlineMs));
      if (!this.unlessDiskFull('metadata write', step)) {
        work.stoppedBySpace = true;
        this.releaseAppliedWaiters(); // for the entries applied before the one that failed
        return;
      }
      if (!done) {
        if (work.persisting) return; // its Raft store write is on its way to the disk
        break; // out of time with entries left to apply: the next turn continues it
      }
      // advance() only after the whole Ready: durable, sent, applied (src/raft/ready.ts).
      assert(work.persisted && !work.persisting && work.sent, 'a Ready advanced unfinished');
      assert(work.entriesApplied === work.ready.committedEntries.length, 'all entries applied');
      this.inProgress = undefined;
      this.raft.advance();
      this.releaseCoreAppliedWaiters();
    }
    if (this.raft.hasReady() || this.inProgress) this.schedule();
    // Taking a snapshot writes a copy of the state: it waits while the disk is full.
    // And a snapshot starts only between Readies, never with one part applied.
    if (!this.diskSpace.active && this.inProgress === undefined) this.maybeSnapshot();
  }

  private beginReady(): ReadyInProgress {
    const ready = this.raft.ready();
    if (ready.softState)
      this.onSoftState(ready.softState.leaderId, ready.softState.role === 'leader');
    return {
      ready,
      unsent: ready.messages,
      appendsDecided: false,
      leading: [],
      persisted: false,
      persisting: false,
      stoppedBySpace: false,
      sent: false,
      snapshotApplied: false,
      entriesApplied: 0,
      chunksWritten: 0,
      installPath: undefined,
    };
  }

  // Runs a step that writes to disk: false when it failed for lack of space (the alarm is raised,
  // the step is to be retried later); any other failure is thrown, and stops the node.
  private unlessDiskFull(what: string, step: () => void): boolean {
    try {
      step();
      return true;
    } catch (error) {
      if (!this.diskSpace.absorb(error, what)) throw error;
      return false;
    }
  }

  // Works through a Ready; false while its Raft store write is committing (the write's completion
  // schedules the next turn, which continues it), or when the turn's time ran out with entries
  // left to apply (after one at least; the caller schedules the next turn).
  private continueReady(work: ReadyInProgress, deadlineMs: number): boolean {
    const { ready } = work;
    // 1. durable before anything that depends on it leaves (src/raft/ready.ts), but for a
    // leader's appends, which go first so that the followers write while the leader does
    if (!work.persisted) {
      if (!work.appendsDecided) {
        work.appendsDecided = true;
        work.leading = this.leadingAppends(work);
        if (work.leading.length > 0)
          work.unsent = work.unsent.filter((m) => !work.leading.includes(m));
      }
      this.persistReady(work);
      // After the write is on its way, not before: a loopback socket write costs 50-300 µs of
      // this thread (the kernel runs the receiver's side of TCP in the sender's call), which
      // the disk write would otherwise wait behind.
      if (work.leading.length > 0) {
        const leading = work.leading;
        work.leading = [];
        this.sendMessages(leading);
      }
      if (!work.persisted) return false;
    }
    // 2. messages
    if (!work.sent) {
      this.sendMessages(this.deferCommitNews(work));
      work.sent = true;
    }
    // 3. apply
    if (ready.snapshot && !work.snapshotApplied) {
      assert(work.installPath !== undefined, 'a received snapshot lies in its file');
      this.installSnapshot(ready.snapshot, work.installPath);
      work.snapshotApplied = true;
    }
    const firstThisTurn = work.entriesApplied;
    for (; work.entriesApplied < ready.committedEntries.length; work.entriesApplied++) {
      if (work.entriesApplied > firstThisTurn && performance.now() >= deadlineMs) {
        this.releaseAppliedWaiters();
        return false;
      }
      this.applyEntry(ready.committedEntries[work.entriesApplied]);
    }
    this.releaseAppliedWaiters();
    for (const readState of ready.readStates) this.onReadState(readState.index, readState.context);
    return true;
  }

  // Ready step 1: received snapshot chunks go to their file; a completed snapshot is checked and
  // made durable before the Raft store records it; then entries and hard state, appended and
  // synced on the threadpool (work.persisted once durable). Meanwhile the event loop serves:
  // ticks, heartbeats, reads, and proposals, which the core batches into the next Ready (group
  // commit). Each part is done once: a step stopped by a full disk resumes after what it had done.
  private persistReady(work: ReadyInProgress): void {
    const { files, store } = this.options;
    const { ready } = work;
    for (; work.chunksWritten < ready.snapshotChunks.length; work.chunksWritten++)
      files.writeChunk(ready.snapshotChunks[work.chunksWritten]);
    if (ready.snapshot && work.installPath === undefined) {
      const { meta, sizeBytes, checksum } = ready.snapshot;
      work.installPath = files.finishIncoming(meta, sizeBytes, checksum);
    }
    if (!store.writeNeeded(ready)) {
      void store.persist(ready); // a commit-only hard state, kept in memory at once
      work.persisted = true;
      return;
    }
    work.persisting = true;
    store.persist(ready).then(
      () => {
        work.persisting = false;
        work.persisted = true;
        if (ready.hardState) {
          this.durableTerm = ready.hardState.term;
          this.durableVote = ready.hardState.vote;
        }
        if (ready.snapshot) this.removeCompactedSoon();
        this.schedule();
      },
      (error) => {
        work.persisting = false;
        if (this.stopped) return;
        // A full disk raises the alarm; the Ready is retried from here once it clears.
        if (this.diskSpace.absorb(error, 'metadata write')) work.stoppedBySpace = true;
        else this.stop(error as Error);
      },
    );
  }

  // A leader's appends leave before its own write of the same entries is durable (Raft
  // dissertation §10.2.1: the leader writes its log in parallel with replicating it), so a
  // commit waits for one write on the critical path instead of two in turn. The core counts the
  // leader's own log at once (raft-node.ts, #appendEntry), so an acknowledgement arriving
  // meanwhile may commit entries only the leader's unfinished write and one follower hold; that
  // is safe because nothing acts on such a commit before the write is durable: Readies are
  // handled one at a time, so the commit index reaches followers (in a later Ready's messages),
  // the state machine and the client only after this Ready's write. If the leader dies first,
  // nothing was applied or acknowledged anywhere, and the entries are uncommitted as Raft has it.
  // Only in a Ready that keeps the durable term and vote (a new term or vote is on disk before
  // any message of that term leaves) and no role change; every other message waits for the
  // write: acknowledgements, votes, heartbeats, snapshots, and appends without entries (they
  // only carry a commit index, which gains nothing from leaving early). Returns the appends
  // that may go first.
  private leadingAppends(work: ReadyInProgress): Message[] {
    const { ready } = work;
    if (!this.isLeader || ready.softState !== undefined) return [];
    const hard = ready.hardState;
    if (hard && (hard.term !== this.durableTerm || hard.vote !== this.durableVote)) return [];
    return ready.messages.filter((m) => m.type === 'app' && m.entries.length > 0);
  }

  // A leader's Ready that commits entries answers their clients when it applies them; its
  // messages that carry no entries leave after those answers instead of before them, so the
  // client's answer does not wait behind a socket write per follower: heartbeats on the next
  // event-loop turn (the answers are written by the promise reactions that run when this turn
  // ends), and the new commit index in an empty append is held for the next append with entries
  // to carry (holdCommitNews). Safe because delaying a message is always safe in Raft (the core
  // copes with messages lost, late or reordered), and a message is never sent earlier than
  // before: all of them are durable already. Returns the messages to send now.
  private deferCommitNews(work: ReadyInProgress): Message[] {
    const { ready } = work;
    if (!this.isLeader || ready.committedEntries.length === 0) return work.unsent;
    const commitNews = (m: Message) => m.type === 'app' && m.entries.length === 0;
    const news = (m: Message) => commitNews(m) || m.type === 'heartbeat';
    if (!work.unsent.some(news)) return work.unsent;
    const heartbeats = work.unsent.filter((m) => m.type === 'heartbeat');
    if (heartbeats.length > 0)
      setImmediate(() => {
        if (!this.stopped) this.sendMessages(heartbeats);
      });
    for (const m of work.unsent) if (commitNews(m)) this.holdCommitNews(m);
    return work.unsent.filter((m) => !news(m));
  }

  // A follower learns a new commit index from the next message to it, and applies the entries
  // then. Sent at once, an empty append per commit costs a socket write here, a read, an
  // answer's write there and its read here: at one client, four of the nine socket operations of
  // a create, each 50-120 us of CPU (the kernel runs the receiver's side of loopback TCP in the
  // sender's call) on a machine whose cores the three members share. Under load the next append
  // with entries follows within a millisecond and carries the commit index itself, so the news
  // waits for it, up to COMMIT_NEWS_HOLD_MS, then leaves as before. Nothing waits on a
  // follower's apply: clients' answers come from the leader, reads go through the leader
  // (ReadIndex), and a new leader commits an entry of its term before it serves. A later append
  // to the same follower replaces the held one: its commit index is at least as high (the
  // core's commit index only grows), and a message not sent is one lost, which Raft tolerates.
  private holdCommitNews(message: Message): void {
    this.heldCommitNews.set(message.to, message);
    if (this.commitNewsTimer !== undefined) return;
    this.commitNewsTimer = setTimeout(() => {
      this.commitNewsTimer = undefined;
      if (this.stopped) return;
      const held = [...this.heldCommitNews.values()];
      this.heldCommitNews.clear();
      this.sendMessages(held);
    }, COMMIT_NEWS_HOLD_MS);
  }

  // A snapshot chunk leaves with bytes from this member's snapshot file (src/raft/ready.ts). When
  // the file is not here (this member installed the snapshot it would send, so its file became
  // the live state), the chunk is dropped and a snapshot is taken: the core sends that one.
  private sendMessages(messages: Message[]): void {
    for (const message of messages) {
      if (message.type === 'app' && this.heldCommitNews.delete(message.to)) {
        // Nothing left to hold: the next news starts a full wait of its own.
        if (this.heldCommitNews.size === 0) {
          clearTimeout(this.commitNewsTimer);
          this.commitNewsTimer = undefined;
        }
      }
      if (message.type === 'snap') {
        const { meta, offsetBytes, lengthBytes } = message;
        const data = this.options.files.readChunk(meta.index, offsetBytes, lengthBytes);
        if (data === undefined) {
          this.snapshotWanted = true;
          continue;
        }
        message.data = data;
      }
      this.options.transport.send(message);
    }
  }

  // The received environment becomes the state machine (one rename of metadata.current); the
  // previous environment is closed and removed in the background.
  private installSnapshot(snapshot: Snapshot, path: string): void {
    const { index } = snapshot.meta;
    this.swapState(path, index);
    this.lastSnapshotIndex = index;
    // Its pristine twin, recorded by the store now, is what this member sends and rebuilds from.
    const { files, log } = this.options;
    files.keepReceived({ index, sizeBytes: snapshot.sizeBytes, checksum: snapshot.checksum });
    void files
      .removeSnapshotsBefore(index)
      .catch((error) => log.warn('could not remove older metadata snapshots', { error }));
    metadataSnapshots.inc({ origin: 'installed' });
    this.options.log.info('installed a metadata snapshot', {
      index,
      sizeBytes: snapshot.sizeBytes,
    });
  }

  private swapState(path: string, index: number): void {
    const { files, stateMachine, log } = this.options;
    const previousPath = files.currentStatePath();
    assert(previousPath !== path, `state ${path} is already live`);
    const closing = stateMachine.replaceWith(path, index);
    files.setCurrent(path);
    void closing
      .then(() => rm(previousPath, { recursive: true, force: true }))
      .catch((error) => log.warn('could not remove the replaced metadata state', { error }));
  }

  // At start, when the durable snapshot is ahead of the state machine: the received environment
  // (metadata-<index>) if the crash came before the swap, else a copy of this member's own file.
  private recoverState(snapshot: Snapshot): void {
    const { files, log } = this.options;
    const { index } = snapshot.meta;
    const installed = files.installedStatePath(index);
    if (!existsSync(join(installed, 'data.mdb'))) {
      const own = files.outgoingPath(index);
      if (!existsSync(own)) {
        throw new StrataError(
          'EIO',
          `the metadata state is behind the raft snapshot at ${index} and neither ${installed} ` +
            `nor ${own} exists; refusing to start rather than serve an older state`,
        );
      }
      mkdirSync(installed, { recursive: true });
      copyFileSync(own, join(installed, 'data.mdb'));
    }
    this.swapState(installed, index);
    log.info('metadata state restored from the raft snapshot', { index });
  }

  // When the log after the last snapshot has grown past this member's threshold, the state
  // machine is copied to a snapshot file off the event loop and the log before it is dropped
  // (on disk and in the core), so neither grows without bound.
  private maybeSnapshot(): void {
    if (this.snapshotting !== undefined || this.stopped) return;
    const status = this.raft.status();
    const applied = Math.min(status.appliedIndex, this.options.stateMachine.appliedIndex());
    if (applied <= this.lastSnapshotIndex) return;
    const due = snapshotDue({
      nodeId: this.nodeId,
      logBytes: status.logBytes,
      thresholdBytes: this.options.snapshotLogBytes,
      isLeader: this.isLeader,
      pendingProposals: this.pending.size,
      wanted: this.snapshotWanted,
    });
    if (!due) return;
    this.snapshotWanted = false;
    this.snapshotting = this.takeSnapshot()
      .catch((error) => {
        // A full disk raises the alarm and the snapshot waits for space; anything else stops.
        if (!this.diskSpace.absorb(error, 'metadata snapshot')) this.stop(error as Error);
      })
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  private async takeSnapshot(): Promise<void> {
    const { files, store, log, stateMachine } = this.options;
    const startedMs = performance.now();
    const tmpDir = files.newTmpDir();
    const stateBytes = statSync(join(files.currentStatePath(), 'data.mdb')).size;
    const copyDir = files.newCopyDir(tmpDir, stateBytes);
    // A partial or unwanted copy must not fill the disk (or the memory it was staged in).
    const removeCopy = async () => {
      await rm(tmpDir, { recursive: true, force: true });
      await rm(copyDir, { recursive: true, force: true });
    };
    try {
      await stateMachine.snapshotTo(copyDir);
    } catch (error) {
      await removeCopy();
      throw error;
    }
    // The copy is the state at the applied index it records, whatever was applied meanwhile.
    const index = MetadataStateMachine.appliedIndexAt(copyDir);
    // It may have been read in the middle of a Ready (applies keep their per-turn budget while
    // the copy runs); the core compacts only to an index it was told is applied, which it is
    // once the rest of that Ready is, a few turns later. A received snapshot taken by the core
    // meanwhile counts as applied there too: the check below gives the copy up then.
    await this.coreApplied(index);
    if (this.stopped || this.overtakenByReceived(index, 'copied')) {
      await removeCopy();
      return;
    }
    const copiedMs = performance.now() - startedMs;
    const local = await files.adoptTaken(copyDir, tmpDir, index).catch(async (error) => {
      await removeCopy();
      throw error;
    });
    // A received snapshot may have replaced the log while the file was being checksummed.
    if (this.stopped || this.overtakenByReceived(index, 'adopted')) return;
    // Not overtaken: the core's log holds every index from its snapshot on, the applied ones
    // included (the copy's index is one this member applied from that log).
    const term = this.raft.logTerm(index);
    assert(term !== undefined, `no term for applied index ${index}`);
    const meta = { index, term, confState: this.raft.confStateAt(index) };
    const snapshot: Snapshot = { meta, sizeBytes: local.sizeBytes, checksum: local.checksum };
    await store.compact(snapshot);
    // A received snapshot may have replaced the log while the record was being written.
    if (this.stopped || this.overtakenByReceived(index, 'recorded')) return;
    this.raft.compact(snapshot);
    this.lastSnapshotIndex = index;
    this.removeCompactedSoon();
    void files
      .removeSnapshotsBefore(index)
      .catch((error) => log.warn('could not remove older metadata snapshots', { error }));
    metadataSnapshots.inc({ origin: 'taken' });
    log.info('metadata snapshot taken and log compacted', {
      index,
      sizeBytes: local.sizeBytes,
      copiedInMemory: copyDir !== tmpDir,
      copyMs: Math.round(copiedMs),
      durationMs: Math.round(performance.now() - startedMs),
    });
  }

  // Whether a snapshot being taken at `index` was passed by one received from the leader, which
  // then stands instead (the copy is given up, counted and logged). The core takes a received
  // snapshot, its log restarting after it, the moment the last chunk is stepped (#restore in
  // raft-node.ts), while this member installs it, and moves lastSnapshotIndex, only once the
  // Ready carrying it is durable, a Ready or more later: in between, the core's log no longer
  // holds `index` (issue 11's 'no term for applied index': the scale short form's follower,
  // restarted behind the leader's compaction, copied its state while the leader's snapshot
  // arrived; raft-snapshot-overtaken.test.ts). Nothing else moves the core's snapshot past
  // lastSnapshotIndex: this member's own compactions are one at a time and move both together.
  private overtakenByReceived(index: number, stage: 'copied' | 'adopted' | 'recorded'): boolean {
    const receivedIndex = Math.max(this.lastSnapshotIndex, this.raft.status().firstIndex - 1);
    if (index > receivedIndex) return false;
    metadataSnapshots.inc({ origin: 'overtaken' });
    this.options.log.info(
      'metadata snapshot given up: a snapshot received from the leader passed it',
      {
        index,
        receivedIndex,
        installed: receivedIndex === this.lastSnapshotIndex,
        stage,
      },
    );
    return true;
  }

  // Resolves once the core's applied index (advanced a whole Ready at a time) reaches `index`,
  // or the replica stops (the caller checks).
  private coreApplied(index: number): Promise<void> {
    if (this.stopped || this.raft.status().appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve) => this.coreAppliedWaiters.push({ index, resolve }));
  }

  private releaseCoreAppliedWaiters(): void {
    if (this.coreAppliedWaiters.length === 0) return;
    const applied = this.raft.status().appliedIndex;
    const waiting = this.coreAppliedWaiters;
    this.coreAppliedWaiters = waiting.filter((w) => w.index > applied);
    for (const w of waiting) if (w.index <= applied) w.resolve();
  }

  // Segments a snapshot covers are unlinked (after the write that recorded the snapshot).
  private removeCompactedSoon(): void {
    if (this.removingCompacted || this.stopped) return;
    this.removingCompacted = true;
    void this.options.store.removeCompacted().then(
      (more) => {
        this.removingCompacted = false;
        if (more) this.removeCompactedSoon();
      },
      (error) => {
        this.removingCompacted = false;
        if (this.stopped) return;
        this.stop(error as Error);
      },
    );
  }

  private applyEntry(entry: Entry): void {
    const sm = this.options.stateMachine;
    if (entry.index <= sm.appliedIndex()) return; // applied before a restart
    let result: CommandResult;
    if (entry.type === 'normal') {
      const envelope = decodeEnvelope(entry.data);
      result = sm.apply(envelope.command, entry.index, envelope.session, envelope.leaderTimeMs);
      if (envelope.command.op === 'setMember' && result.ok) {
        this.options.onMember?.(envelope.command.nodeId, envelope.command.addr);
      }
    } else {
      sm.markApplied(entry.index);
      result = { ok: true };
    }
    const waiting = this.pending.get(entry.index);
    if (waiting) {
      this.pending.delete(entry.index);
      // Another leader's entry took this index: ours was lost, and the client retries it.
      if (waiting.term === entry.term) waiting.resolve(result);
      else waiting.reject(notLeader(this.leaderId));
    }
  }

  private releaseAppliedWaiters(): void {
    if (this.appliedWaiters.length === 0) return;
    const applied = this.options.stateMachine.appliedIndex();
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      if (this.appliedWaiters[i].index <= applied) {
        this.appliedWaiters[i].resolve();
        this.appliedWaiters.splice(i, 1);
      }
    }
  }

  private onReadState(index: number, context: string): void {
    const round = this.readRounds.get(context);
    if (!round) return;
    clearTimeout(round.timer);
    this.readRounds.delete(context);
    void this.waitApplied(index).then(() => {
      for (const w of round.waiters) w.resolve();
    });
    this.startReadRound();
  }

  private onSoftState(leaderId: NodeId, isLeader: boolean): void {
    const changed = leaderId !== this.leaderId || isLeader !== this.isLeader;
    const lostLeadership = this.isLeader && !isLeader;
    this.leaderId = leaderId;
    this.isLeader = isLeader;
    if (lostLeadership) {
      // Their entries may still commit under the next leader: clients retry with the same
      // session and sequence number, and the state machine applies each only once.
      const error = notLeader(leaderId);
      for (const [index, p] of this.pending) {
        this.pending.delete(index);
        p.reject(error);
      }
      for (const context of [...this.readRounds.keys()])
        this.failReadRound(context, 'leadership lost');
    }
    if (changed) {
      this.options.log.info('metadata leader', {
        leaderId,
        isLeader,
        term: this.raft.status().term,
      });
      this.options.onLeaderChange?.(leaderId, isLeader);
    }
  }

  // A leader whose disk is full refuses writes; the most caught-up other voter may have room, so
  // it is asked to take over and the cluster goes on taking writes (etcd makes the whole cluster
  // read-only instead). A transfer not done within an election timeout is abandoned by the core,
  // and asked for again here; a target whose disk is full too hands on in its turn.
  private handOffLeadership(): void {
    const status = this.raft.status();
    let target: NodeId | undefined;
    let targetMatch = -1;
    for (const id of status.confState.voters) {
      const match = id === this.nodeId ? -1 : (this.raft.progressOf(id)?.match ?? -1);
      if (match > targetMatch) [target, targetMatch] = [id, match];
    }
    if (target === undefined || status.leadTransferee === target) return;
    if (this.raft.transferLeadership(target).ok)
      this.options.log.warn('NOSPACE alarm: handing metadata leadership over', { to: target });
  }

  private checkAlive(): void {
    if (this.fatal) throw this.fatal;
    if (this.stopped) throw new StrataError('RPC_UNAVAILABLE', 'metadata replica stopped');
  }

  // A broken invariant or a disk fault stops the node loudly instead of serving wrong state.
  private stop(error: Error): void {
    this.fatal = error;
    // A disk that fails a write or an fsync (EIO; EROFS once the file system has remounted
    // itself read-only after such errors) is not trusted again by this process.
    const errno = systemErrorName(error);
    this.options.log.error(
      errno
        ? `metadata disk error (${errno}): stopping this node (fail-stop: a failed write or ` +
            'fsync is never retried, since the disk may have lost what it acknowledged). ' +
            'Check the disk, then restart: the node recovers from its Raft log'
        : 'metadata replica stopped',
      { error },
    );
    this.close();
    process.exitCode = 70;
    setImmediate(() => {
      throw error;
    });
  }

  // Resolves when no snapshot is being taken (after close(), before the environments close).
  async drained(): Promise<void> {
    await this.snapshotting;
  }

  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.commitNewsTimer);
    this.heldCommitNews.clear();
    this.diskSpace.close();
    this.options.files.close();
    const error = new StrataError('RPC_UNAVAILABLE', 'metadata replica stopped');
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    for (const w of this.readQueue) w.reject(error);
    this.readQueue = [];
    for (const w of this.coreAppliedWaiters) w.resolve(); // a snapshot in progress sees `stopped`
    this.coreAppliedWaiters = [];
    for (const context of [...this.readRounds.keys()]) this.failReadRound(context, 'stopped');
  }
}

// The existing state stands at its applied index; the snapshot record holds no file (one is
// taken when a follower first needs it). Also how a restored backup starts (restore.ts).
export function adoptStateMachine(
  stateMachine: MetadataStateMachine,
  nodeId: NodeId,
  voters: NodeId[] | undefined,
): PersistedState {
  const index = stateMachine.appliedIndex();
  const confState = { voters: voters ?? [nodeId], learners: [] };
  return {
    hardState: { term: 1, vote: 0, commit: index },
    snapshot: { meta: { index, term: 1, confState }, sizeBytes: 0, checksum: 0 },
    entries: [],
  };
}
