// A deterministic cluster simulation seeded by one integer: random partitions, message loss,
// duplication, reordering and delay, crashes that lose unsynced writes, restarts, snapshots and
// membership changes, under a key-value workload. Safety is checked on every simulated
// millisecond; the clients' history is checked for linearizability at the end.
import type { NodeId, RaftOptions, TestingFaults } from '../../../src/raft/index.ts';
import { bootstrapState, joiningState, SeededPrng } from '../../../src/raft/index.ts';
import { kvModel } from '../../helpers/kv-model.ts';
import { checkLinearizability } from '../../helpers/linearizability.ts';
import { SafetyChecker, SafetyViolation } from './invariants.ts';
import { type NetworkFaults, SimNetwork } from './network.ts';
import { type DurableState, type NodeHooks, SimNode } from './sim-node.ts';
import { Workload } from './workload.ts';

export interface SimulationOptions {
  seed: number;
  /** Simulated time with faults; a quiet period follows so outstanding requests finish. */
  durationMs?: number;
  quietMs?: number;
  testingFaults?: TestingFaults;
  /** Self-test of the simulator: members expire sessions by their own clocks (must be caught). */
  sessionExpiryByLocalClock?: boolean;
  /** A named fault profile that overrides parts of the seed's random one. */
  profileName?: ProfileName;
  /** Adjusts the profile after the named one applied (experiments, targeted tests). */
  adjustProfile?: (profile: Profile) => Profile;
}

export type ProfileName = 'random' | 'figure8';

/**
 * figure8: three nodes, new leaders that often die within a few message delays, leaders that
 * often die in the step their commit index moves, slow disks. That is the shape of Figure 8 in the Raft paper: a
 * leader commits an entry of an earlier term by counting replicas, dies before its own entry
 * spreads, and a server holding a conflicting entry of a later term wins the next election.
 */
const namedProfiles: Record<ProfileName, (profile: Profile) => Profile> = {
  random: (profile) => profile,
  figure8: (profile) => ({
    ...profile,
    clusterSize: 3,
    newLeaderCrashProbability: 0.7,
    commitCrashProbability: 0.6,
    maxDowntimeMs: 400,
    maxFsyncDelayMs: 8,
    leaderAppendsEarly: true,
    partitionRatePerMs: 0,
    confChangeRatePerMs: 0,
    transferRatePerMs: 0,
  }),
};

export interface SimulationResult {
  seed: number;
  ok: boolean;
  /** The broken property and how, when not ok. */
  failure?: string;
  profile: Profile;
  stats: {
    simulatedMs: number;
    messagesSent: number;
    committedEntries: number;
    maxTerm: number;
    acknowledgedOps: number;
    unknownOps: number;
    crashes: number;
    confChanges: number;
    snapshotsInstalled: number;
    /** Crashes in the middle of receiving or installing a snapshot. */
    snapshotInterruptions: number;
    /** Sessions expired by log time (summed over node incarnations). */
    sessionsExpired: number;
    checks: number;
    /** A write committed after the faults stopped (the cluster recovered). */
    recovered: boolean;
    /** The linearizability search hit its step limit (no verdict; not a failure). */
    linearizabilityUndecided: boolean;
  };
}

/** Fault and tuning parameters, all drawn from the seed. */
export interface Profile {
  clusterSize: 3 | 5;
  network: NetworkFaults;
  crashRatePerMs: number;
  /**
   * Probability that a newly elected leader crashes within a few message delays: leaders dying
   * with a partly replicated log is how Figure 8 of the Raft paper arises.
   */
  newLeaderCrashProbability: number;
  newLeaderCrashMaxDelayMs: number;
  /**
   * Probability that a leader crashes in the very step its commit index advanced, before the
   * Ready that announces the commit (and carries its next entries) is durable and sent.
   */
  commitCrashProbability: number;
  /** Crashed nodes restart after up to this long. */
  maxDowntimeMs: number;
  partitionRatePerMs: number;
  confChangeRatePerMs: number;
  transferRatePerMs: number;
  snapshotEveryEntries: number;
  /** Probability of a crash right after a snapshot chunk is written / a snapshot persisted. */
  snapshotChunkCrashProbability: number;
  snapshotInstallCrashProbability: number;
  maxFsyncDelayMs: number;
  /**
   * A leader's appends leave while its own write of the same Ready is on its way, as the
   * metadata driver's do (replica.ts, leadingAppends): its commit index may then count entries
   * only it and one follower hold, its own copy not yet durable.
   */
  leaderAppendsEarly: boolean;
  raft: Omit<RaftOptions, 'id' | 'random'>;
}

const tickMs = 10;

function drawProfile(prng: SeededPrng, testingFaults: TestingFaults | undefined): Profile {
  return {
    clusterSize: prng.chance(0.5) ? 3 : 5,
    network: {
      lossRate: prng.pick([0, 0.01, 0.05, 0.15]),
      duplicateRate: prng.pick([0, 0.01, 0.05]),
      longDelayRate: prng.pick([0, 0.02, 0.1]),
      minDelayMs: 1,
      maxDelayMs: prng.pick([2, 5, 10]),
      maxLongDelayMs: prng.pick([30, 100, 300]),
    },
    crashRatePerMs: prng.pick([0, 0.0005, 0.002]),
    newLeaderCrashProbability: prng.pick([0, 0.3, 0.7]),
    newLeaderCrashMaxDelayMs: prng.pick([20, 50, 100]),
    commitCrashProbability: prng.pick([0, 0.05, 0.2]),
    maxDowntimeMs: prng.pick([100, 400]),
    partitionRatePerMs: prng.pick([0, 0.001, 0.004]),
    confChangeRatePerMs: prng.pick([0, 0.002, 0.005]),
    transferRatePerMs: prng.pick([0, 0.0005, 0.002]),
    snapshotEveryEntries: prng.pick([4, 16, 64]),
    snapshotChunkCrashProbability: prng.pick([0, 0.02, 0.1]),
    snapshotInstallCrashProbability: prng.pick([0, 0.2, 0.5]),
    maxFsyncDelayMs: prng.pick([0, 2, 8]),
    raft: {
      electionTimeoutTicks: 10,
      heartbeatIntervalTicks: prng.pick([1, 2, 3]),
      maxEntriesPerMessage: prng.pick([1, 2, 4, 64]),
      maxMessageBytes: prng.pick([64, 4096]),
      maxInflightMessages: prng.pick([1, 2, 8]),
      maxSnapshotChunkBytes: prng.pick([16, 64, 100_000]),
      maxPromotionLagEntries: 8,
      // A tiny in-memory tail makes lagging followers and restarts read entries from the disk.
      maxLogEntriesInMemory: prng.pick([0, 2, 16, 4096]),
      maxLogBytesInMemory: prng.pick([0, 64, 1024 * 1024]),
      testingFaults,
    },
    // Drawn last, so that the draws before keep the values they had before it existed.
    leaderAppendsEarly: prng.chance(0.5),
  };
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  const sim = new Simulation(options);
  return sim.run();
}

class Simulation {
  readonly #options: SimulationOptions;
  readonly #prng: SeededPrng;
  readonly #profile: Profile;
  readonly #network: SimNetwork;
  readonly #nodes = new Map<NodeId, SimNode>();
  readonly #checker = new SafetyChecker();
  readonly #workload: Workload;
  /** When each crashed node comes back. */
  readonly #restartAtMs = new Map<NodeId, number>();
  #nextNodeId: NodeId;
  #nowMs = 0;
  /** Highest term whose leader was considered for a crash, and scheduled crashes. */
  #leaderTermSeen = 0;
  readonly #crashAtMs = new Map<NodeId, number>();
  /** Each leader's commit index at the end of the previous step. */
  readonly #leaderCommit = new Map<NodeId, number>();
  #crashes = 0;
  #confChanges = 0;
  #snapshotsInstalled = 0;
  #snapshotInterruptions = 0;
  #sessionsExpired = 0;
  #linearizabilityUndecided = false;
  /** Faults (crashes included) stop for the quiet period. */
  #crashesAllowed = true;
  readonly #hooks: NodeHooks;

  constructor(options: SimulationOptions) {
    this.#options = options;
    this.#prng = new SeededPrng(options.seed);
    const drawn = drawProfile(this.#prng, options.testingFaults);
    const named = namedProfiles[options.profileName ?? 'random'](drawn);
    this.#profile = options.adjustProfile ? options.adjustProfile(named) : named;
    this.#network = new SimNetwork(
      new SeededPrng(this.#prng.nextInt(2 ** 31)),
      this.#profile.network,
    );
    this.#workload = new Workload(new SeededPrng(this.#prng.nextInt(2 ** 31)), 4, 400);
    const voters = Array.from({ length: this.#profile.clusterSize }, (_, i) => i + 1);
    for (const id of voters) this.#addNode(id, bootstrapState(voters)).start();
    this.#nextNodeId = voters.length + 1;
    this.#hooks = {
      send: (message) => this.#network.send(message, this.#nowMs),
      onReadyTaken: (node, ready) => this.#checker.onReadyTaken(node, ready),
      onApplied: (node, entry, result) => {
        this.#checker.onApplied(node, entry);
        this.#checker.onStateDigest(node, node.kv.appliedIndex, node.kv.digest());
        this.#workload.onApplied(node, entry, result);
      },
      onSnapshotApplied: (node, snapshot) => {
        this.#snapshotsInstalled++;
        this.#checker.onSnapshotApplied(node, snapshot);
        this.#checker.onStateDigest(node, node.kv.appliedIndex, node.kv.digest());
        this.#workload.onSnapshotApplied(node, snapshot.meta.index);
      },
      onReadState: (node, readState) => this.#workload.onReadState(node, readState),
      interrupt: (node, point) => {
        const probability =
          point === 'snapshotPersisted'
            ? this.#profile.snapshotInstallCrashProbability
            : this.#profile.snapshotChunkCrashProbability;
        if (!this.#crashesAllowed || !this.#prng.chance(probability)) return false;
        this.#snapshotInterruptions++;
        this.#crash(node);
        return true;
      },
    };
  }

  #addNode(id: NodeId, initial: Pick<DurableState, 'hardState' | 'snapshot' | 'entries'>): SimNode {
    const prng = new SeededPrng(this.#prng.nextInt(2 ** 31));
    const node = new SimNode(id, initial, this.#profile.raft, prng, this.#profile.maxFsyncDelayMs);
    node.expireSessionsByLocalClock = this.#options.sessionExpiryByLocalClock === true;
    node.leaderAppendsEarly = this.#profile.leaderAppendsEarly;
    this.#nodes.set(id, node);
    return node;
  }

  run(): SimulationResult {
    const durationMs = this.#options.durationMs ?? 3000;
    const quietMs = this.#options.quietMs ?? 1500;
    let failure: string | undefined;
    let recovered = false;
    try {
      for (; this.#nowMs < durationMs; this.#nowMs++) this.#stepMs(true);
      this.#calm();
      this.#crashesAllowed = false;
      const committedBefore = this.#checker.committedCount;
      for (let end = this.#nowMs + quietMs; this.#nowMs < end; this.#nowMs++) this.#stepMs(false);
      recovered = this.#checker.committedCount > committedBefore;
      failure = this.#checkHistory();
      for (const node of this.#nodes.values())
        if (node.alive) this.#sessionsExpired += node.kv.expiredSessions;
    } catch (error) {
      if (!(error instanceof SafetyViolation) && !(error instanceof Error)) throw error;
      failure = `${error.name}: ${error.message}${error instanceof SafetyViolation ? '' : `\n${error.stack}`}`;
    }
    return this.#result(failure, recovered);
  }

  #result(failure: string | undefined, recovered: boolean): SimulationResult {
    return {
      seed: this.#options.seed,
      ok: failure === undefined,
      failure,
      profile: this.#profile,
      stats: {
        simulatedMs: this.#nowMs,
        messagesSent: this.#network.sent,
        committedEntries: this.#checker.committedCount,
        maxTerm: this.#checker.maxTerm,
        acknowledgedOps: this.#workload.acknowledged,
        unknownOps: this.#workload.unknown,
        crashes: this.#crashes,
        confChanges: this.#confChanges,
        snapshotsInstalled: this.#snapshotsInstalled,
        snapshotInterruptions: this.#snapshotInterruptions,
        sessionsExpired: this.#sessionsExpired,
        checks: this.#checker.checks,
        recovered,
        linearizabilityUndecided: this.#linearizabilityUndecided,
      },
    };
  }

  #stepMs(faulty: boolean): void {
    const now = this.#nowMs;
    if (faulty) this.#injectFaults();
    for (const [id, at] of this.#restartAtMs) {
      if (now >= at) {
        this.#restartAtMs.delete(id);
        (this.#nodes.get(id) as SimNode).start();
      }
    }
    if (now % tickMs === 0)
      for (const node of this.#nodes.values()) if (node.alive) node.raft.tick();
    // Client traffic keeps flowing in the quiet period (only new faults stop), so a write can
    // show that the cluster recovered; new operations stop in its last third.
    const quietEnd = (this.#options.durationMs ?? 3000) + (this.#options.quietMs ?? 1500);
    this.#workload.step(now, this.#nodes, faulty || now < quietEnd - 500);
    for (const message of this.#network.takeDue(now)) {
      const target = this.#nodes.get(message.to);
      if (target?.alive) target.raft.step(message);
    }
    for (const node of this.#nodes.values()) {
      node.pump(now, this.#hooks);
      if (
        node.alive &&
        node.kv.appliedIndex - node.durable.snapshot.meta.index >=
          this.#profile.snapshotEveryEntries
      ) {
        node.compact();
      }
    }
    this.#checker.checkStep(this.#nodes.values());
    if (faulty) this.#crashCommittingLeaders();
  }

  #crashCommittingLeaders(): void {
    for (const node of this.#nodes.values()) {
      if (!node.alive) continue;
      const status = node.raft.status();
      if (status.role !== 'leader') continue;
      const before = this.#leaderCommit.get(node.id) ?? status.commitIndex;
      this.#leaderCommit.set(node.id, status.commitIndex);
      if (status.commitIndex > before && this.#prng.chance(this.#profile.commitCrashProbability)) {
        this.#crash(node);
      }
    }
  }

  #injectFaults(): void {
    const profile = this.#profile;
    const prng = this.#prng;
    this.#crashNewLeaders();
    if (prng.chance(profile.crashRatePerMs)) this.#crashSomeone();
    if (prng.chance(profile.partitionRatePerMs)) this.#repartition();
    if (prng.chance(profile.confChangeRatePerMs)) this.#changeMembership();
    if (prng.chance(profile.transferRatePerMs)) {
      const leader = this.#leader();
      const voters = leader?.raft.status().confState.voters.filter((id) => id !== leader.id) ?? [];
      if (leader && voters.length > 0) leader.raft.transferLeadership(prng.pick(voters));
    }
  }

  #crashNewLeaders(): void {
    const leader = this.#leader();
    const term = leader?.raft.status().term ?? 0;
    if (leader !== undefined && term > this.#leaderTermSeen) {
      this.#leaderTermSeen = term;
      if (this.#prng.chance(this.#profile.newLeaderCrashProbability)) {
        const delayMs = this.#prng.nextInt(this.#profile.newLeaderCrashMaxDelayMs + 1);
        this.#crashAtMs.set(leader.id, this.#nowMs + delayMs);
      }
    }
    for (const [id, at] of this.#crashAtMs) {
      if (this.#nowMs < at) continue;
      this.#crashAtMs.delete(id);
      const node = this.#nodes.get(id) as SimNode;
      if (node.alive) this.#crash(node);
    }
  }

  #crash(victim: SimNode): void {
    this.#sessionsExpired += victim.kv.expiredSessions;
    victim.crash();
    this.#workload.onCrash(victim);
    this.#crashes++;
    this.#restartAtMs.set(
      victim.id,
      this.#nowMs + 1 + this.#prng.nextInt(this.#profile.maxDowntimeMs),
    );
  }

  #crashSomeone(): void {
    const alive = [...this.#nodes.values()].filter((node) => node.alive);
    if (alive.length === 0) return;
    // Usually a minority is down at once, so the cluster makes progress between faults.
    const downCount = this.#restartAtMs.size;
    if (downCount >= Math.floor(this.#profile.clusterSize / 2) && this.#prng.chance(0.8)) return;
    const leader = this.#leader();
    this.#crash(leader && this.#prng.chance(0.5) ? leader : this.#prng.pick(alive));
  }

  #repartition(): void {
    const network = this.#network;
    network.heal();
    const ids = [...this.#nodes.keys()];
    const kind = this.#prng.nextInt(4);
    if (kind === 1) {
      for (const id of ids) network.groups.set(id, this.#prng.nextInt(2));
    } else if (kind === 2) {
      const leader = this.#leader();
      if (leader) network.groups.set(leader.id, 1);
    } else if (kind === 3) {
      for (let cuts = 1 + this.#prng.nextInt(3); cuts > 0; cuts--) {
        network.cuts.add(`${this.#prng.pick(ids)}->${this.#prng.pick(ids)}`);
      }
    }
  }

  /** Add a learner, promote one, or remove a member; one server at a time. */
  #changeMembership(): void {
    const leader = this.#leader();
    if (leader === undefined) return;
    const { voters, learners } = leader.raft.status().confState;
    const roll = this.#prng.nextInt(3);
    if (roll === 0 && learners.length + voters.length < this.#profile.clusterSize + 2) {
      const id = this.#nextNodeId;
      const result = leader.raft.proposeConfChange({ type: 'addLearner', nodeId: id });
      if (!result.ok) return;
      this.#nextNodeId++;
      // A fresh server: empty disk, no membership; it learns everything from the leader.
      this.#addNode(id, joiningState()).start();
      this.#confChanges++;
    } else if (roll === 1 && learners.length > 0) {
      const result = leader.raft.proposeConfChange({
        type: 'addVoter',
        nodeId: this.#prng.pick(learners),
      });
      if (result.ok) this.#confChanges++;
    } else if (roll === 2) {
      // Keep at least three voters so a crash of one never makes the cluster a single point.
      const candidates = voters.length > 3 ? [...voters, ...learners] : learners;
      if (candidates.length === 0) return;
      const result = leader.raft.proposeConfChange({
        type: 'removeNode',
        nodeId: this.#prng.pick(candidates),
      });
      if (result.ok) this.#confChanges++;
    }
  }

  #leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const node of this.#nodes.values()) {
      if (!node.alive || node.raft.status().role !== 'leader') continue;
      if (best === undefined || node.raft.status().term > best.raft.status().term) best = node;
    }
    return best;
  }

  /** Faults stop: links heal, loss stops, crashed nodes come back. */
  #calm(): void {
    this.#network.heal();
    this.#network.faults = {
      ...this.#network.faults,
      lossRate: 0,
      duplicateRate: 0,
      longDelayRate: 0,
    };
    for (const id of this.#restartAtMs.keys()) this.#restartAtMs.set(id, this.#nowMs);
  }

  #checkHistory(): string | undefined {
    const outcome = checkLinearizability(kvModel, this.#workload.historyToCheck(), {
      maxStepsPerPartition: 2_000_000,
    });
    if (outcome.result === 'illegal') return `linearizability: ${outcome.explanation}`;
    // An undecided search is not a violation; it is counted and reported, never hidden.
    if (outcome.result === 'unknown') this.#linearizabilityUndecided = true;
    return undefined;
  }
}
