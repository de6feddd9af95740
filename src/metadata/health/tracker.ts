// The leader's view of data server liveness: one phi accrual detector per server, fed with
// heartbeat arrivals, and the state changes to record. Pure: time comes in as milliseconds, the
// replicated states come in as data, and the changes go out as data for the driver
// (src/metadata/liveness-monitor.ts) to propose through Raft.
//
// A tracker lives as long as one leadership. A new leader starts a fresh one, with no history:
// - a server recorded `up` is treated as heard from when the tracker first sees it (the new
//   leader's start, or the server's registration), so no server goes down merely because the
//   leader changed; a dead one is suspected one detection time later (about 4.6 s by default);
// - a server recorded `suspect` and never heard by this leader goes down once `downAfterMs` has
//   passed since the tracker began (never sooner than the old leader would have marked it);
// - a server recorded `down` stays down until it is heard from.
// draining and removed are the operator's decisions: the tracker never changes them.
import assert from 'node:assert/strict';
import type { ServerState } from '../placement/types.ts';
import {
  defaultLivenessOptions,
  type Liveness,
  type LivenessOptions,
  livenessAt,
} from './liveness.ts';
import { PhiAccrualDetector, type PhiAccrualOptions } from './phi-accrual.ts';

export interface TrackedServer {
  serverId: string;
  state: ServerState;
}

export interface StateChange {
  serverId: string;
  from: ServerState;
  to: Liveness;
}

export interface TrackerOptions {
  phi: Partial<PhiAccrualOptions>;
  liveness: LivenessOptions;
}

// A bound on the detectors kept (each holds up to maxSampleSize samples): far more data
// servers than one metadata leader is meant to watch.
export const TRACKED_SERVERS_MAX = 10_000;

const DETECTED_STATES: ReadonlySet<ServerState> = new Set(['up', 'suspect', 'down']);

export class LivenessTracker {
  readonly beganAtMs: number;
  readonly options: TrackerOptions;
  readonly #detectors = new Map<string, PhiAccrualDetector>();

  constructor(beganAtMs: number, options: Partial<TrackerOptions> = {}) {
    assert.ok(Number.isFinite(beganAtMs) && beganAtMs >= 0, 'beganAtMs is a time');
    this.beganAtMs = beganAtMs;
    this.options = { phi: options.phi ?? {}, liveness: options.liveness ?? defaultLivenessOptions };
  }

  get trackedCount(): number {
    return this.#detectors.size;
  }

  // A heartbeat from a registered server (the caller checks registration). intervalMs is the
  // server's own heartbeat interval: the detector's first estimate of the gap.
  heartbeat(serverId: string, nowMs: number, intervalMs: number): void {
    assert.ok(nowMs >= this.beganAtMs, 'a heartbeat before the tracker began');
    assert.ok(intervalMs > 0, 'a heartbeat interval is > 0');
    this.#detector(serverId, intervalMs).heartbeat(nowMs);
  }

  // The changes to record: every server whose liveness now differs from its recorded state.
  // A server recorded up and never seen is seeded here (see the top of the file); detectors of
  // servers no longer listed are dropped.
  changes(nowMs: number, servers: readonly TrackedServer[]): StateChange[] {
    assert.ok(nowMs >= this.beganAtMs, 'time went backwards');
    const listed = new Set(servers.map((s) => s.serverId));
    for (const id of this.#detectors.keys()) if (!listed.has(id)) this.#detectors.delete(id);
    const changes: StateChange[] = [];
    for (const server of servers) {
      const to = this.livenessOf(server, nowMs);
      if (to !== undefined && to !== server.state)
        changes.push({ serverId: server.serverId, from: server.state, to });
    }
    assert.ok(changes.length <= servers.length);
    return changes;
  }

  // This leader's verdict on one server, or undefined for states it does not decide.
  livenessOf(server: TrackedServer, nowMs: number): Liveness | undefined {
    if (!DETECTED_STATES.has(server.state)) return undefined;
    let detector = this.#detectors.get(server.serverId);
    if (detector === undefined) {
      if (server.state === 'down') return 'down';
      if (server.state === 'suspect') {
        const silentForMs = nowMs - this.beganAtMs;
        return silentForMs >= this.options.liveness.downAfterMs ? 'down' : 'suspect';
      }
      detector = this.#detector(server.serverId);
      detector.heartbeat(nowMs);
    }
    return livenessAt(detector, nowMs, this.options.liveness);
  }

  #detector(serverId: string, intervalMs?: number): PhiAccrualDetector {
    let detector = this.#detectors.get(serverId);
    if (detector === undefined) {
      assert.ok(this.#detectors.size < TRACKED_SERVERS_MAX, 'too many data servers tracked');
      const phi = { ...this.options.phi };
      if (intervalMs !== undefined) phi.firstHeartbeatEstimateMs = intervalMs;
      detector = new PhiAccrualDetector(phi);
      this.#detectors.set(serverId, detector);
    }
    return detector;
  }
}
