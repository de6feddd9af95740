// The leader's failure-detection loop: data servers' heartbeats go into a LivenessTracker (one
// phi accrual detector per server, src/metadata/health/tracker.ts), and when a verdict differs
// from the recorded state a setServerState command is proposed, so the state is replicated and
// every gateway and mount reads the same view. Nothing is proposed while verdicts hold, so an
// idle cluster's log does not grow. Disk status from heartbeats is recorded when it changes
// noticeably (health/disk-report.ts).
//
// Only the leader runs it. Each leadership starts a fresh tracker (no server goes down because
// the leader changed: see tracker.ts), and verdicts wait until the new leader has applied every
// entry committed before it, so they compare against the latest recorded states.
import { performance } from 'node:perf_hooks';
import { isStrataError, StrataError } from '../common/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { metadataCommands } from '../observability/metrics.ts';
import { diskUpdates, type ReportedDisk } from './health/disk-report.ts';
import type { PhiAccrualOptions } from './health/phi-accrual.ts';
import { LivenessTracker } from './health/tracker.ts';
import { notLeader } from './replication/replica.ts';
import type { MetadataCommitter } from './scrubber.ts';
import type { Command } from './types.ts';

export interface LeaderAccess extends MetadataCommitter {
  readBarrier(): Promise<void>; // resolves once everything committed so far is applied here
}

// What a data server sends every heartbeat interval (METADATA_RPC.heartbeat).
export interface HeartbeatReport {
  serverId: string;
  intervalMs: number; // the server's heartbeat interval: the detector's first estimate
  disks: ReportedDisk[];
}

export interface LivenessMonitorOptions {
  downAfterMs: number; // the repair delay (metadata.server_down_after_seconds)
  checkIntervalMs?: number;
  phi?: Partial<PhiAccrualOptions>;
}

// Verdicts are checked this often: a small fraction of the ~4.6 s it takes to suspect a server.
const CHECK_INTERVAL_MS = 250;
const HEARTBEAT_INTERVAL_MS_MIN = 100;
const HEARTBEAT_INTERVAL_MS_MAX = 60_000;
const REPORTED_DISKS_MAX = 256;

export class LivenessMonitor {
  readonly #leader: LeaderAccess;
  readonly #log: Logger;
  readonly #options: LivenessMonitorOptions;
  readonly #timer: NodeJS.Timeout;
  readonly #inFlight = new Set<string>(); // "<server> state" / "<server> disks": one proposal each
  #tracker: LivenessTracker | undefined;
  #caughtUp = false;
  #catchingUp = false;
  #generation = 0; // bumped on every leadership change, so a late catch-up of an old one is ignored

  constructor(leader: LeaderAccess, log: Logger, options: LivenessMonitorOptions) {
    this.#leader = leader;
    this.#log = log;
    this.#options = options;
    this.#timer = setInterval(() => this.#check(), options.checkIntervalMs ?? CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  // Called on every leadership change of this member.
  leadership(isLeader: boolean): void {
    this.#generation++;
    this.#caughtUp = false;
    this.#catchingUp = false;
    this.#tracker = isLeader
      ? new LivenessTracker(monotonicMs(), {
          phi: this.#options.phi,
          liveness: { downAfterMs: this.#options.downAfterMs },
        })
      : undefined;
    if (isLeader) this.#catchUp();
  }

  // A heartbeat arriving at the leader. ENOENT for a server the cluster does not know (it then
  // registers again). Before this leader has caught up, registration cannot be checked, so the
  // heartbeat is not counted (only registered servers ever get a detector): servers recorded up
  // are seeded when the leader starts checking, and a returning one is heard at its next beat.
  heartbeat(report: HeartbeatReport): void {
    const tracker = this.#tracker;
    if (tracker === undefined || !this.#leader.isLeader()) throw notLeader(0);
    const nowMs = monotonicMs();
    if (!this.#caughtUp) return;
    const server = this.#leader.reader.dataServer(report.serverId);
    if (server === undefined)
      throw new StrataError('ENOENT', `data server ${report.serverId} is not registered`);
    // Told, not tracked: removal is final, and the process should be stopped.
    if (server.state === 'removed')
      throw new StrataError('SERVER_REMOVED', `data server ${report.serverId} was removed`);
    tracker.heartbeat(report.serverId, nowMs, report.intervalMs);
    const held = new Map(
      this.#leader.reader.shardCounts(server.serverId).map((d) => [d.disk, d.shards]),
    );
    const updates = diskUpdates(server.disks, report.disks, (disk) => held.get(disk) ?? 0);
    for (const update of updates) {
      const recorded = server.disks.find((d) => d.disk === update.disk);
      const reported = report.disks.find((d) => d.disk === update.disk);
      if (update.state === 'failed' && reported?.online && recorded?.state !== 'failed')
        this.#log.warn('data server disk replaced: rebuilding the shards it held', {
          serverId: server.serverId,
          disk: update.disk,
          shards: held.get(update.disk) ?? 0,
        });
    }
    if (updates.length > 0) {
      const serverId = server.serverId;
      this.#propose(`${serverId} disks`, {
        op: 'setDiskStatus',
        nowMs: Date.now(),
        serverId,
        disks: updates,
      });
    }
    // A returning server is recorded up now rather than at the next check.
    if (server.state !== 'up') this.#check();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#tracker = undefined;
  }

  #catchUp(): void {
    if (this.#catchingUp) return;
    this.#catchingUp = true;
    const generation = this.#generation;
    this.#leader.readBarrier().then(
      () => {
        if (generation !== this.#generation) return;
        this.#catchingUp = false;
        this.#caughtUp = true;
      },
      (error) => {
        if (generation !== this.#generation) return;
        this.#catchingUp = false; // tried again at the next check
        this.#log.warn('liveness: cannot catch up with the log yet', { error });
      },
    );
  }

  #check(): void {
    const tracker = this.#tracker;
    if (tracker === undefined || !this.#leader.isLeader()) return;
    if (!this.#caughtUp) {
      this.#catchUp();
      return;
    }
    const servers = this.#leader.reader.dataServers();
    for (const change of tracker.changes(monotonicMs(), servers)) {
      this.#propose(`${change.serverId} state`, {
        op: 'setServerState',
        nowMs: Date.now(),
        serverId: change.serverId,
        state: change.to,
        ifState: change.from,
      });
    }
  }

  #propose(key: string, command: Command): void {
    if (this.#inFlight.has(key)) return;
    this.#inFlight.add(key);
    this.#leader
      .apply(command)
      .then(
        (result) => {
          metadataCommands.inc({ op: command.op, code: result.ok ? 'ok' : result.code });
          if (result.ok) this.#logRecorded(command);
          // A verdict overtaken by another change is dropped; the next check decides again.
          else if (result.code !== 'PRECONDITION_FAILED')
            this.#log.warn('liveness: change refused', { command, code: result.code });
        },
        (error) => {
          const code = isStrataError(error) ? error.code : 'INTERNAL';
          metadataCommands.inc({ op: command.op, code });
          this.#log.warn('liveness: cannot record a change', { op: command.op, error });
        },
      )
      .finally(() => this.#inFlight.delete(key));
  }

  #logRecorded(command: Command): void {
    if (command.op === 'setServerState') {
      const fields = { serverId: command.serverId, from: command.ifState, to: command.state };
      if (command.state === 'up') this.#log.info('data server up', fields);
      else this.#log.warn(`data server ${command.state}`, fields);
    } else if (command.op === 'setDiskStatus') {
      const failed = command.disks.filter((d) => d.state === 'failed').map((d) => d.disk);
      if (failed.length > 0)
        this.#log.warn('data server disk failed', { serverId: command.serverId, disks: failed });
    }
  }
}

// Detectors need a clock that never goes backwards (a wall clock can step under NTP).
function monotonicMs(): number {
  return performance.now();
}

// Checks a heartbeat from the network, field by field (a handler trusts nothing it receives).
export function parseHeartbeat(header: unknown): HeartbeatReport {
  const bad = (what: string): never => {
    throw new StrataError('EINVAL', `bad heartbeat: ${what}`);
  };
  if (typeof header !== 'object' || header === null) return bad('not an object');
  const h = header as Record<string, unknown>;
  if (typeof h.serverId !== 'string' || h.serverId.length === 0 || h.serverId.length > 128)
    bad('serverId is a string of 1-128 characters');
  const intervalMs = h.intervalMs;
  if (
    !Number.isSafeInteger(intervalMs) ||
    (intervalMs as number) < HEARTBEAT_INTERVAL_MS_MIN ||
    (intervalMs as number) > HEARTBEAT_INTERVAL_MS_MAX
  )
    bad(`intervalMs is an integer ${HEARTBEAT_INTERVAL_MS_MIN}-${HEARTBEAT_INTERVAL_MS_MAX}`);
  if (!Array.isArray(h.disks) || h.disks.length > REPORTED_DISKS_MAX)
    bad(`disks is a list of at most ${REPORTED_DISKS_MAX}`);
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const disks = (h.disks as unknown[]).map((d): ReportedDisk => {
    const disk = d as Record<string, unknown> | null;
    if (
      !disk ||
      !count(disk.disk) ||
      typeof disk.online !== 'boolean' ||
      !count(disk.capacityBytes) ||
      !count(disk.freeBytes)
    )
      return bad(`disk ${JSON.stringify(d)}`);
    if (disk.diskId !== undefined && (typeof disk.diskId !== 'string' || disk.diskId.length > 64))
      return bad(`disk ${JSON.stringify(d)}: diskId`);
    return {
      disk: disk.disk as number,
      online: disk.online,
      capacityBytes: disk.capacityBytes as number,
      freeBytes: disk.freeBytes as number,
      ...(disk.diskId === undefined ? {} : { diskId: disk.diskId as string }),
    };
  });
  return { serverId: h.serverId as string, intervalMs: intervalMs as number, disks };
}
