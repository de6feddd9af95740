// The seeded cluster simulator of issue 12: data servers that fail, hang, return and join while
// the metadata leader's failure detector, placement and repair scheduler run against them, all in
// simulated milliseconds from one seed. The cores are the real ones (LivenessTracker, diskUpdates,
// placeShards, planRepairs, advanceTask, commitRepair, mayDeleteShard); the I/O around them is a
// model (cluster.ts). Checked: no recorded shard's file is ever deleted, and no stripe loses more
// than m of its recorded shards for good (so none that had k is lost by repair); after the faults
// stop, every stripe converges to k+m healthy shards on up servers with nothing left to plan and
// no stale file left (invariants.ts).
import { diskUpdates, LivenessTracker } from '../../../../src/metadata/health/index.ts';
import { SeededPrng } from '../../../../src/raft/index.ts';
import { DISK_CAPACITY_BYTES, SimCluster } from './cluster.ts';
import { type CollectorStats, collect } from './collector.ts';
import {
  type DriverStats,
  finishPhase,
  PASS_INTERVAL_MS,
  SimRepairDriver,
  type TaskRun,
} from './driver.ts';
import { type FaultStats, injectFault } from './faults.ts';
import { checkSafety, convergenceGaps, deadlineMs } from './invariants.ts';
import { drawProfile, type Profile, SIM_POOL } from './profile.ts';
import { type WriteStats, writeStripe } from './writes.ts';

const TICK_MS = 250; // the leader's liveness check period (src/metadata/liveness-monitor.ts)
const HEARTBEAT_INTERVAL_MS = 1_000;
const CHECK_EVERY_TICKS = 4; // the whole-cluster invariants; deletes and commits check inline

export interface ClusterSimOptions {
  seed: number;
  testingFaults?: { deleteBeforeCommit?: boolean };
  adjustProfile?: (profile: Profile) => Profile;
  verbose?: boolean; // keep the whole trace (otherwise its last lines)
}

export interface ClusterSimStats {
  simulatedMs: number;
  stripes: number;
  convergedAfterMs: number | undefined; // after the faults stopped
  writes: WriteStats;
  faults: FaultStats;
  repair: DriverStats;
  collected: CollectorStats;
  ghostTasks: number; // tasks an earlier leader finished after losing leadership
}

export interface ClusterSimResult {
  seed: number;
  ok: boolean;
  failure?: string;
  profile: Profile;
  stats: ClusterSimStats;
  trace: string[];
}

class SimulationFailure extends Error {}

const poolLabel = (pool: string | undefined) => (pool === undefined ? {} : { pool });

const TRACE_TAIL = 60;

export function runClusterSimulation(options: ClusterSimOptions): ClusterSimResult {
  const sim = new Simulation(options);
  try {
    sim.run();
    return sim.result(undefined);
  } catch (error) {
    if (!(error instanceof SimulationFailure)) {
      const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
      return sim.result(`at ${sim.nowMs} ms, an assertion in a core or the model: ${stack}`);
    }
    return sim.result(error.message);
  }
}

class Simulation {
  readonly seed: number;
  readonly prng: SeededPrng;
  readonly profile: Profile;
  readonly cluster: SimCluster;
  readonly trace: string[] = [];
  readonly verbose: boolean;
  readonly deleteBeforeCommit: boolean;
  nowMs = 0;
  leaderUpAtMs = 0; // no leader before this (an election)
  tracker: LivenessTracker | undefined;
  driver: SimRepairDriver | undefined;
  ghosts: TaskRun[] = [];
  nextPassMs = 0;
  nextScrubMs = 0;
  nextFaultMs = 0;
  nextWriteMs = 0;
  convergedAtMs: number | undefined;
  readonly stats: ClusterSimStats;

  constructor(options: ClusterSimOptions) {
    this.seed = options.seed;
    this.prng = new SeededPrng(options.seed);
    const drawn = drawProfile(this.prng);
    this.profile = options.adjustProfile ? options.adjustProfile(drawn) : drawn;
    this.verbose = options.verbose ?? false;
    this.deleteBeforeCommit = options.testingFaults?.deleteBeforeCommit ?? false;
    this.cluster = new SimCluster(
      (message) => this.fail(message),
      (message) => this.note(message),
    );
    this.stats = {
      simulatedMs: 0,
      stripes: 0,
      convergedAfterMs: undefined,
      writes: { written: 0, noTargets: 0, failed: 0, retried: 0, degraded: 0 },
      faults: { kills: 0, killsForGood: 0, hangs: 0, diskFailures: 0, joins: 0, leaderChanges: 0 },
      repair: { passes: 0, walks: 0, done: 0, failed: 0, refused: 0, moves: 0, released: 0 },
      collected: { orphans: 0, stale: 0 },
      ghostTasks: 0,
    };
  }

  fail(message: string): never {
    throw new SimulationFailure(`seed ${this.seed}, at ${this.nowMs} ms: ${message}`);
  }

  note(message: string): void {
    this.trace.push(`${this.nowMs} ${message}`);
    if (!this.verbose && this.trace.length > 4 * TRACE_TAIL) this.trace.splice(0, 3 * TRACE_TAIL);
  }

  result(failure: string | undefined): ClusterSimResult {
    this.stats.simulatedMs = this.nowMs;
    this.stats.stripes = this.cluster.stripes.size;
    const trace = this.verbose ? this.trace : this.trace.slice(-TRACE_TAIL);
    return {
      seed: this.seed,
      ok: failure === undefined,
      failure,
      profile: this.profile,
      stats: this.stats,
      trace,
    };
  }

  run(): void {
    this.build();
    const deadline = deadlineMs(this.profile, this.cluster);
    this.nextFaultMs = this.drawFaultGap();
    for (let tick = 1; ; tick++) {
      this.nowMs = tick * TICK_MS;
      this.step();
      if (tick % CHECK_EVERY_TICKS === 0) checkSafety(this.cluster, (m) => this.fail(m));
      if (this.nowMs < this.profile.faultsUntilMs || tick % CHECK_EVERY_TICKS !== 0) continue;
      const gaps = convergenceGaps(this.cluster, this.profile, this.driver, this.ghosts);
      if (gaps.length === 0) {
        this.stats.convergedAfterMs = this.nowMs - this.profile.faultsUntilMs;
        this.note('converged');
        return;
      }
      if (this.nowMs > deadline)
        this.fail(
          `no convergence ${deadline - this.profile.faultsUntilMs} ms after the faults stopped: ${gaps.slice(0, 5).join('; ')}`,
        );
    }
  }

  // The initial cluster: zones x racks x servers, every server up and reported, and the first
  // stripes written before any fault.
  build(): void {
    const p = this.profile;
    for (const pool of p.pools ? [undefined, SIM_POOL] : [undefined]) {
      const prefix = pool === undefined ? 'd' : 'c';
      for (let z = 0; z < p.zones; z++)
        for (let r = 0; r < p.racksPerZone; r++)
          for (let s = 0; s < p.serversPerRack; s++)
            this.cluster.addServer(
              `${prefix}${z}${r}${s}`,
              { zone: `z${z}`, rack: `r${r}`, host: `h${prefix}${z}${r}${s}`, ...poolLabel(pool) },
              p.disksPerServer,
              0,
            );
    }
    for (const server of this.cluster.servers.values()) this.report(server.serverId);
    this.elect(0);
    for (let i = 0; i < p.initialStripes; i++)
      writeStripe(this.cluster, p, this.prng, 0, this.stats.writes, (m) => this.fail(m));
  }

  step(): void {
    const faulting = this.nowMs < this.profile.faultsUntilMs;
    if (faulting) {
      while (this.nextFaultMs <= this.nowMs) {
        injectFault(this.faultContext());
        this.nextFaultMs += this.drawFaultGap();
      }
    }
    this.returns(faulting);
    this.heartbeats();
    if (this.driver === undefined && this.nowMs >= this.leaderUpAtMs) this.elect(this.nowMs);
    this.ghostsStep();
    const { tracker, driver } = this;
    if (tracker === undefined || driver === undefined) return;
    for (const change of tracker.changes(this.nowMs, [...this.cluster.records.values()])) {
      this.note(`record ${change.serverId} ${change.from} -> ${change.to}`);
      this.cluster.setServerState(change.serverId, change.to, this.nowMs);
    }
    driver.step(this.nowMs);
    if (this.nowMs >= this.nextPassMs) {
      driver.pass(this.nowMs, `${this.cluster.epoch}/${this.cluster.crowdedWrites}`);
      this.nextPassMs = this.nowMs + PASS_INTERVAL_MS;
    }
    if (this.nowMs >= this.nextScrubMs) {
      collect(this.cluster, this.nowMs, this.profile.orphanGraceMs, this.stats.collected);
      this.nextScrubMs = this.nowMs + this.profile.scrubIntervalMs;
    }
    if (faulting && this.nowMs >= this.nextWriteMs) {
      writeStripe(this.cluster, this.profile, this.prng, this.nowMs, this.stats.writes, (m) =>
        this.fail(m),
      );
      this.nextWriteMs = this.nowMs + 1 + this.prng.nextInt(2 * this.profile.writeEveryMs);
    }
  }

  drawFaultGap(): number {
    return 1 + Math.floor(-Math.log(1 - this.prng.next()) * this.profile.faultEveryMsMean);
  }

  // Temporary faults end at their time, and all of them when the fault period ends.
  returns(faulting: boolean): void {
    for (const server of this.cluster.servers.values()) {
      if (server.returnAtMs === undefined) continue;
      if (faulting && server.returnAtMs > this.nowMs) continue;
      this.note(`return ${server.serverId} (was ${server.process})`);
      server.process = 'running';
      server.returnAtMs = undefined;
      server.nextHeartbeatMs = this.nowMs + this.prng.nextInt(HEARTBEAT_INTERVAL_MS);
    }
  }

  // Every running server sends a heartbeat each second, with jitter; the leader (if any) feeds
  // its detector and records disk changes through diskUpdates, as the metadata service does.
  heartbeats(): void {
    const jitter = this.profile.heartbeatJitterMs;
    for (const server of this.cluster.servers.values()) {
      if (server.process !== 'running') continue;
      while (server.nextHeartbeatMs <= this.nowMs) {
        const atMs = server.nextHeartbeatMs;
        if (this.tracker !== undefined && atMs >= this.tracker.beganAtMs) {
          this.tracker.heartbeat(server.serverId, atMs, HEARTBEAT_INTERVAL_MS);
          this.report(server.serverId);
        }
        server.nextHeartbeatMs +=
          HEARTBEAT_INTERVAL_MS - jitter + this.prng.nextInt(2 * jitter + 1);
      }
    }
  }

  report(serverId: string): void {
    const server = this.cluster.server(serverId);
    const record = this.cluster.records.get(serverId);
    if (record === undefined) return;
    const reported = server.disks.map((d) => ({
      disk: d.disk,
      online: !d.failed,
      capacityBytes: DISK_CAPACITY_BYTES,
      freeBytes: DISK_CAPACITY_BYTES - d.usedBytes,
    }));
    for (const update of diskUpdates(record.disks, reported)) {
      if (update.state !== (record.disks[update.disk].state ?? 'up'))
        this.note(`record disk ${serverId}/${update.disk} ${update.state}`);
      this.cluster.setDisk(serverId, update.disk, update);
    }
  }

  elect(nowMs: number): void {
    this.tracker = new LivenessTracker(nowMs, {
      liveness: { downAfterMs: this.profile.downAfterMs },
    });
    this.driver = new SimRepairDriver(
      this.cluster,
      this.driverSettings(),
      this.prng,
      (m) => this.note(m),
      this.stats.repair,
    );
    this.nextPassMs = nowMs + PASS_INTERVAL_MS;
    this.nextScrubMs = nowMs + this.profile.scrubIntervalMs;
    this.note('leader elected');
  }

  driverSettings() {
    const p = this.profile;
    return {
      strategy: p.strategy,
      tasksInFlightMax: p.tasksInFlightMax,
      repairBytesPerSecond: p.repairBytesPerSecond,
      commitLatencyMsMax: p.commitLatencyMsMax,
      occupiedForgetAfterMs: p.occupiedForgetAfterMs,
      deleteBeforeCommit: this.deleteBeforeCommit,
    };
  }

  // The leader goes away: an election of 1 to 5 s, during which nothing is recorded or planned.
  // Its tasks go on in its process if it lives (half the time), and their commits reach the next
  // leader; otherwise they vanish (only what was committed survives).
  changeLeader(): void {
    if (this.driver === undefined) return;
    const running = this.driver.resign();
    const survivors = this.prng.chance(0.5) ? running : [];
    this.ghosts.push(...survivors);
    this.stats.ghostTasks += survivors.length;
    this.note(`fault: leader lost (${survivors.length} tasks go on in its process)`);
    this.tracker = undefined;
    this.driver = undefined;
    this.leaderUpAtMs = this.nowMs + 1_000 + this.prng.nextInt(4_000);
  }

  // An old leader's tasks: a rebuild writes its shard whatever happens; a commit needs a leader.
  ghostsStep(): void {
    const settings = this.driverSettings();
    for (const run of [...this.ghosts]) {
      if (run.endMs > this.nowMs) continue;
      if (run.task.phase === 'commit' && this.driver === undefined) continue;
      const outcome = finishPhase(this.cluster, run, settings, this.prng, this.nowMs);
      if (outcome === 'continue') continue;
      this.note(`ghost task ${run.task.id} ${outcome}`);
      this.ghosts.splice(this.ghosts.indexOf(run), 1);
    }
  }

  addServer(): void {
    const p = this.profile;
    const n = this.cluster.servers.size;
    const zone = this.prng.nextInt(p.zones);
    const rack = this.prng.nextInt(p.racksPerZone);
    const id = `j${String(n).padStart(3, '0')}`;
    const pool = p.pools && this.prng.chance(0.5) ? SIM_POOL : undefined;
    this.cluster.addServer(
      id,
      { zone: `z${zone}`, rack: `r${rack}`, host: `h${id}`, ...poolLabel(pool) },
      p.disksPerServer,
      this.nowMs,
    );
    this.note(`fault: join ${id} in z${zone}/r${rack}${pool ? ` pool ${pool}` : ''}`);
  }

  faultContext() {
    return {
      cluster: this.cluster,
      profile: this.profile,
      prng: this.prng,
      nowMs: this.nowMs,
      stats: this.stats.faults,
      note: (m: string) => this.note(m),
      changeLeader: () => this.changeLeader(),
      addServer: () => this.addServer(),
      pendingTasks: () => [
        ...[...(this.driver?.running.values() ?? [])].map((r) => r.task),
        ...this.ghosts.map((r) => r.task),
      ],
    };
  }
}
